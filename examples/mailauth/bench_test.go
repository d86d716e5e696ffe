package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

func TestBench(t *testing.T) {
	s := startServer(t, sasl.IMAP, nil)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"implicit SCRAM", []string{"-mech", "SCRAM-SHA-256", s.url(true)}},
		{"STARTTLS PLAIN no resumption", []string{"-mech", "PLAIN", "-noresume", s.url(false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "-json", "-n", "24", "-c", "4", "-ca", s.pki.caFile}, tc.args...)
			code, out, errOut := runCLI(t, pwEnv(), args...)
			require.Equal(t, exitOK, code, errOut)
			var rep benchReport
			require.NoError(t, json.Unmarshal([]byte(out), &rep))
			assert.Equal(t, 24, rep.OK)
			assert.Zero(t, rep.Failed)
			assert.Positive(t, rep.Rate)
			assert.Positive(t, rep.Latency.P50)
			assert.LessOrEqual(t, rep.Latency.P50, rep.Latency.P99)
			assert.LessOrEqual(t, rep.Latency.P99, rep.Latency.Max)
			assert.Positive(t, rep.Handshake.P50)
			assert.Positive(t, rep.SASL.P50)
			if strings.Contains(tc.name, "no resumption") {
				assert.Zero(t, rep.Resumed)
				assert.Equal(t, "STARTTLS", rep.Transport)
			} else {
				assert.Positive(t, rep.Resumed, "later logins resume the session")
			}
		})
	}
	t.Run("table", func(t *testing.T) {
		code, out, errOut := runCLI(t, pwEnv(), "bench", "-n", "4", "-c", "2", "-ca", s.pki.caFile, s.url(true))
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "4 ok, 0 failed")
		assert.Contains(t, out, "TLS handshake")
		assert.Contains(t, out, "mechanism        SCRAM-SHA-256-PLUS")
	})
	t.Run("failures are counted by cause", func(t *testing.T) {
		code, out, _ := runCLI(t, map[string]string{envPassword: "wrong"}, "bench", "-json", "-n", "4", "-c", "2", "-ca", s.pki.caFile, s.url(true))
		assert.Equal(t, exitFindings, code)
		var rep benchReport
		require.NoError(t, json.Unmarshal([]byte(out), &rep))
		assert.Equal(t, 4, rep.Failed)
		assert.Equal(t, map[string]int{"auth refused": 4}, rep.Errors)
		assert.NotContains(t, out, "wrong")
	})
}

func TestBenchBounds(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"}, {"-n", "2000000"}, {"-c", "0"}, {"-c", "5000"}, {"-d", "0s"}, {"-d", "2h"},
	} {
		code, _, errOut := runCLI(t, pwEnv(), append(append([]string{"bench"}, args...), "imaps://alice@127.0.0.1:1")...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
	// Not loopback: refused before anything is sent, unless overridden.
	code, _, errOut := runCLI(t, pwEnv(), "bench", "-n", "1", "imaps://alice@192.0.2.1:993")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-allow-remote")
	code, _, _ = runCLI(t, pwEnv(), "bench", "-n", "1", "imaps://alice@[::1]:1")
	assert.NotEqual(t, exitUsage, code, "::1 is loopback")
}

// BenchmarkLogin is one whole login as bench runs it (dial, TLS, greeting,
// capabilities, the exchange, LOGOUT) against examples/mailserver on
// loopback, beside the TLS handshake alone.
func BenchmarkLogin(b *testing.B) {
	pki := newTestPKI(b, nil)
	s := startServer(b, sasl.IMAP, pki)
	for _, mech := range []string{"SCRAM-SHA-256", "PLAIN"} {
		for _, resume := range []bool{true, false} {
			b.Run(fmt.Sprintf("mech=%s/resume=%v", mech, resume), func(b *testing.B) {
				tg, err := parseTarget(s.url(true), "")
				require.NoError(b, err)
				o := &loginOpts{mech: mech, user: testUser, noResume: !resume, timeout: 10 * time.Second}
				o.tls.caFile = pki.caFile
				sess, err := newSession(tg, o, credentials{password: testPassword})
				require.NoError(b, err)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := sess.login(context.Background(), nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
