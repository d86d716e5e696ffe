package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// TestLogin logs in to examples/mailserver over every protocol, with
// STARTTLS and implicit TLS, letting the command choose.
func TestLogin(t *testing.T) {
	for _, proto := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		s := startServer(t, proto, nil)
		for _, implicit := range []bool{false, true} {
			t.Run(s.url(implicit), func(t *testing.T) {
				code, out, errOut := runCLI(t, pwEnv(), "login", "-ca", s.pki.caFile, s.url(implicit))
				require.Equal(t, exitOK, code, errOut)
				assert.Contains(t, out, "result           authenticated")
				// The strongest both sides have: SCRAM-SHA-256-PLUS
				// (mailserver does not offer SHA-512 unless listed).
				assert.Contains(t, out, "mechanism        SCRAM-SHA-256-PLUS")
				assert.Contains(t, out, "channel binding  tls-exporter")
				assert.Contains(t, out, "TLS 1.3")
				assert.Contains(t, out, "offered")
				assert.NotContains(t, out+errOut, testPassword)
			})
		}
	}
}

// TestLoginMechanisms: -mech picks each mechanism; the transcript masks
// every secret.
func TestLoginMechanisms(t *testing.T) {
	s := startServer(t, sasl.IMAP, nil)
	for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"} {
		t.Run(mech, func(t *testing.T) {
			code, out, errOut := runCLI(t, pwEnv(), "login", "-v", "-mech", mech, "-ca", s.pki.caFile, s.url(false))
			require.Equal(t, exitOK, code, errOut)
			assert.Contains(t, out, "mechanism        "+mech)
			assert.Contains(t, errOut, "AUTHENTICATE "+mech)
			assert.Contains(t, errOut, "LOGOUT")
			assert.NotContains(t, errOut, testPassword, "transcript must mask the password")
			assert.NotContains(t, out, testPassword)
			if strings.HasPrefix(mech, "SCRAM") {
				assert.Contains(t, errOut, "p=<proof hidden>")
			}
		})
	}
	t.Run("NTLM", func(t *testing.T) {
		code, out, errOut := runCLI(t, pwEnv(), "login", "-v", "-mech", "NTLM", "-ca", s.pki.caFile, s.url(true))
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "mechanism        NTLM")
		assert.Contains(t, out, "server verified  no (NTLM is not mutual")
		assert.Contains(t, errOut, "bytes, hidden", "NTLM messages are shown by size only")
		assert.NotContains(t, out+errOut, testPassword)
	})
	t.Run("GSSAPI without credentials", func(t *testing.T) {
		env := map[string]string{"KRB5CCNAME": filepath.Join(t.TempDir(), "no-such-ccache"), "KRB5_CONFIG": filepath.Join(t.TempDir(), "krb5.conf")}
		code, _, errOut := runCLI(t, env, "login", "-mech", "GSSAPI", "-krb5conf", os.DevNull, "-ca", s.pki.caFile, s.url(true))
		assert.NotEqual(t, exitOK, code)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	})
	t.Run("ANONYMOUS", func(t *testing.T) {
		code, out, errOut := runCLI(t, nil, "login", "-anonymous", "probe@example.org", "-ca", s.pki.caFile, s.url(false))
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "mechanism        ANONYMOUS")
	})
	t.Run("APOP", func(t *testing.T) {
		code, _, errOut := runCLI(t, pwEnv(), "login", "-apop", "-ca", s.pki.caFile, s.url(false))
		assert.Equal(t, exitUsage, code, errOut)
	})
}

// TestLoginFailures: each failure has its exit status and a one-line
// error naming host, step and cause.
func TestLoginFailures(t *testing.T) {
	s := startServer(t, sasl.SMTP, nil)
	t.Run("wrong password", func(t *testing.T) {
		code, out, errOut := runCLI(t, map[string]string{envPassword: "wrong"}, "login", "-ca", s.pki.caFile, s.url(true))
		assert.Equal(t, exitAuth, code)
		assert.Contains(t, out, "FAILED (auth refused)")
		assert.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		assert.Contains(t, errOut, "smtps://"+s.implicit+": AUTH SCRAM-SHA-256-PLUS: ")
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		code, _, errOut := runCLI(t, pwEnv(), "login", s.url(false))
		assert.Equal(t, exitTLS, code)
		assert.Contains(t, errOut, "smtp://"+s.starttls+": STARTTLS: ")
		assert.Contains(t, errOut, "certificate")
	})
	t.Run("wrong name", func(t *testing.T) {
		code, _, errOut := runCLI(t, pwEnv(), "login", "-ca", s.pki.caFile, "-servername", "other.example", s.url(true))
		assert.Equal(t, exitTLS, code, errOut)
		assert.Contains(t, errOut, "TLS handshake")
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		code, _, errOut := runCLI(t, pwEnv(), "login", "smtps://alice@"+addr)
		assert.Equal(t, exitNetwork, code)
		assert.Contains(t, errOut, ": connect: ")
	})
	t.Run("no mechanism", func(t *testing.T) {
		code, _, errOut := runCLI(t, map[string]string{envToken: "tok"}, "login", "-mech", "XOAUTH2", "-ca", s.pki.caFile, s.url(true))
		assert.Equal(t, exitProtocol, code, errOut)
		assert.Contains(t, errOut, "choose mechanism")
	})
	t.Run("server not verified", func(t *testing.T) {
		// An impostor that skips SCRAM's v=: the login must fail as a
		// TLS-class failure (exit 4), never as a success.
		addr := startUnverifiedSCRAM(t, s.pki)
		code, out, errOut := runCLI(t, pwEnv(), "login", "-ca", s.pki.caFile, "imaps://alice@"+addr)
		assert.Equal(t, exitTLS, code, out+errOut)
		assert.NotContains(t, out, "result           authenticated")
		assert.Contains(t, errOut, "verified")
	})
	t.Run("STARTTLS missing", func(t *testing.T) {
		// A plaintext-only server: the injectable fixture does STARTTLS,
		// so use a listener that greets and offers nothing.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.Write([]byte("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] plaintext only\r\n"))
			buf := make([]byte, 512)
			c.Read(buf)
		}()
		code, _, errOut := runCLI(t, pwEnv(), "login", "imap://alice@"+ln.Addr().String())
		assert.Equal(t, exitTLS, code, errOut)
		assert.Contains(t, errOut, "STARTTLS not available")
	})
}

func TestLoginUsage(t *testing.T) {
	for _, args := range [][]string{
		{"login"},
		{"login", "imap://alice:secret@localhost"}, // password on the command line
		{"login", "ftp://localhost"},
		{"login", "localhost:143"},
		{"login", "imap://localhost"}, // no user for a password login
		{"login", "imaps://alice@localhost:99999"},
	} {
		code, _, errOut := runCLI(t, pwEnv(), args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
	// No password source and no terminal.
	code, _, errOut := runCLI(t, nil, "login", "imaps://alice@localhost")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "no password")
}
