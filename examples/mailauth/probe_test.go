package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// probeJSON runs probe -json and decodes the report.
func probeJSON(t *testing.T, args ...string) (int, *probeReport) {
	t.Helper()
	code, out, errOut := runCLI(t, nil, append([]string{"probe", "-json", "-wait", "300ms"}, args...)...)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "stdout %q stderr %q", out, errOut)
	return code, &rep
}

// findings returns the findings of check with severity sev.
func findings(rep *probeReport, sev, check string) []finding {
	var out []finding
	for _, f := range rep.Findings {
		if f.Severity == sev && f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// TestProbeGoodServer: examples/mailserver passes every check that
// decides the exit status, over each protocol.
func TestProbeGoodServer(t *testing.T) {
	for _, proto := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		s := startServer(t, proto, nil)
		t.Run(proto.String(), func(t *testing.T) {
			code, rep := probeJSON(t, "-ca", s.pki.caFile, s.url(false))
			for _, f := range rep.Findings {
				assert.NotEqual(t, sevFail, f.Severity, "%+v", f)
			}
			assert.Equal(t, exitOK, code)
			require.NotNil(t, rep.StartTLS)
			assert.True(t, rep.StartTLS.Offered)
			assert.NotEqual(t, "executed", rep.StartTLS.InjectOne.Outcome)
			assert.NotEqual(t, "executed", rep.StartTLS.InjectSplit.Outcome)
			assert.True(t, strings.HasPrefix(rep.StartTLS.Again, "refused"), rep.StartTLS.Again)
			assert.Equal(t, "ok", rep.TLS.Verify)
			assert.NotEmpty(t, findings(rep, sevOK, "certificate"))
			assert.NotEmpty(t, findings(rep, sevOK, "tls-version"))
			require.NotNil(t, rep.PostTLS)
			var names []string
			for _, m := range rep.PostTLS.Mechanisms {
				names = append(names, m.Name)
				if m.Name == "PLAIN" {
					require.NotNil(t, m.Sec)
					assert.True(t, m.Sec.PlaintextEquivalent)
				}
			}
			assert.Contains(t, names, "SCRAM-SHA-256-PLUS")
			for _, m := range rep.PreTLS.Mechanisms {
				assert.NotEqual(t, "PLAIN", m.Name, "no PLAIN before TLS")
			}
		})
	}
	t.Run("implicit", func(t *testing.T) {
		s := startServer(t, sasl.IMAP, nil)
		code, rep := probeJSON(t, "-ca", s.pki.caFile, "-noscan", s.url(true))
		assert.Equal(t, exitOK, code)
		assert.Nil(t, rep.PreTLS)
		assert.Equal(t, "ok", rep.TLS.Verify)
	})
}

// TestProbePlaintextAuth: a server that offers AUTH PLAIN (and LOGIN,
// USER) before TLS is flagged, for each protocol.
func TestProbePlaintextAuth(t *testing.T) {
	for _, proto := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		s := startServer(t, proto, nil, insecureAuth)
		t.Run(proto.String(), func(t *testing.T) {
			code, rep := probeJSON(t, "-ca", s.pki.caFile, "-noscan", s.url(false))
			assert.Equal(t, exitFindings, code)
			fails := findings(rep, sevFail, "plaintext-auth")
			require.NotEmpty(t, fails, "%+v", rep.Findings)
			assert.Contains(t, fails[0].Verdict, "PLAIN")
			if proto == sasl.IMAP {
				assert.NotEmpty(t, findings(rep, sevFail, "plaintext-login"), "no LOGINDISABLED")
			}
			if proto == sasl.POP3 {
				assert.NotEmpty(t, findings(rep, sevFail, "plaintext-login"), "USER before TLS")
			}
		})
	}
}

// TestProbeExpiredCertificate: an expired certificate is flagged, and
// login refuses it.
func TestProbeExpiredCertificate(t *testing.T) {
	pki := newTestPKI(t, &tlsutil.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	s := startServer(t, sasl.IMAP, pki)
	code, rep := probeJSON(t, "-ca", pki.caFile, "-noscan", s.url(true))
	assert.Equal(t, exitFindings, code)
	fails := findings(rep, sevFail, "certificate")
	require.NotEmpty(t, fails, "%+v", rep.Findings)
	assert.Contains(t, fails[0].Verdict, "expired")
	assert.NotEqual(t, "ok", rep.TLS.Verify)

	code, _, errOut := runCLI(t, pwEnv(), "login", "-ca", pki.caFile, s.url(true))
	assert.Equal(t, exitTLS, code)
	assert.Contains(t, errOut, "expired")
}

// TestProbeInjection: a server that answers commands pipelined after
// STARTTLS inside TLS is flagged (CVE-2011-0411), as are its TLS 1.0 and
// its weak suites and its plaintext AUTH=PLAIN.
func TestProbeInjection(t *testing.T) {
	pki := newTestPKI(t, nil)
	s := startInjectableIMAP(t, pki)
	code, rep := probeJSON(t, "-ca", pki.caFile, "imap://"+s.addr)
	assert.Equal(t, exitFindings, code)
	require.NotNil(t, rep.StartTLS)
	assert.Equal(t, "executed", rep.StartTLS.InjectOne.Outcome, "%+v", rep.StartTLS.InjectOne)
	inj := findings(rep, sevFail, "starttls-injection")
	require.NotEmpty(t, inj, "%+v", rep.Findings)
	assert.Contains(t, inj[0].Ref, "CVE-2011-0411")
	assert.NotEmpty(t, findings(rep, sevFail, "plaintext-auth"))
	assert.NotEmpty(t, findings(rep, sevFail, "tls-version"), "TLS 1.0 accepted")
	assert.NotEmpty(t, findings(rep, sevFail, "tls-suites"), "3DES/RC4 accepted")
	assert.NotEmpty(t, findings(rep, sevWarn, "starttls-again"))

	// The table form says the same, one finding per line.
	code, out, _ := runCLI(t, nil, "probe", "-wait", "300ms", "-noscan", "-ca", pki.caFile, "imap://"+s.addr)
	assert.Equal(t, exitFindings, code)
	assert.Contains(t, out, "FAIL  starttls-injection")
	assert.Contains(t, out, "executed")
}

// TestProbeCredentials: with -u the probe logs in with each mechanism
// offered after TLS, only once the certificate verified.
func TestProbeCredentials(t *testing.T) {
	s := startServer(t, sasl.SMTP, nil)
	code, out, errOut := runCLI(t, pwEnv(), "probe", "-noscan", "-wait", "200ms", "-u", testUser, "-ca", s.pki.caFile, s.url(true))
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "logins (inside TLS)")
	assert.Contains(t, out, "SCRAM-SHA-256-PLUS  ok")
	assert.NotContains(t, out, testPassword)
	// Without -ca the certificate does not verify: nothing is sent.
	code, out, _ = runCLI(t, pwEnv(), "probe", "-noscan", "-wait", "200ms", "-u", testUser, s.url(true))
	assert.Equal(t, exitFindings, code)
	assert.NotContains(t, out, "logins (inside TLS)")
	assert.Contains(t, out, "credentials not sent")
}

func TestProbeUnreachable(t *testing.T) {
	code, _, errOut := runCLI(t, nil, "probe", "-proto", "imap", "127.0.0.1:1")
	assert.Equal(t, exitNetwork, code, errOut)
	assert.Contains(t, errOut, "imap://127.0.0.1:1: connect: ")
}
