package mailserver

import (
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// The NO STARTTLS server checklist (tls-security.md §1.4) end to end, for
// the cases the protocol tests in mailserver_test.go do not already walk
// through.

// msChecklistStart starts proto with PLAIN, LOGIN, SCRAM and an APOP hook
// that accepts "alice good" without looking at TLS, so that what is
// refused before TLS is refused by the server itself.
func msChecklistStart(t *testing.T, proto sasl.Protocol) *msClient {
	t.Helper()
	e := msStart(t, proto, func(c *Config) {
		c.SASL.SCRAM = msSCRAM{}
		c.APOP = func() (APOPServer, error) { return msAPOP{}, nil }
	})
	return e.dial(t)
}

// TestS7NoPlaintextCredentials: before TLS nothing that exposes a password
// is advertised, and it is refused when tried anyway (RFC 2595, Section
// 2.3; RFC 4616, Section 6). Afterwards the session is still not
// authenticated.
func TestS7NoPlaintextCredentials(t *testing.T) {
	ir := msPlainIR("alice", "secret")
	t.Run("IMAP", func(t *testing.T) {
		c := msChecklistStart(t, sasl.IMAP)
		greet := c.read()
		c.send("a CAPABILITY")
		caps := c.until("a ")
		for _, adv := range []string{greet, caps[0]} {
			assert.Contains(t, adv, "LOGINDISABLED")
			assert.NotContains(t, adv, "AUTH=PLAIN")
			assert.NotContains(t, adv, "AUTH=LOGIN")
		}
		c.send("b LOGIN alice secret")
		assert.Equal(t, "b NO [PRIVACYREQUIRED] LOGIN is disabled without TLS", c.read())
		c.send("c AUTHENTICATE PLAIN " + ir)
		assert.Equal(t, "c NO [PRIVACYREQUIRED] Mechanism requires TLS", c.read())
		c.send("d AUTHENTICATE LOGIN")
		assert.Equal(t, "d NO [PRIVACYREQUIRED] Mechanism requires TLS", c.read())
		c.send("e SELECT INBOX")
		assert.Equal(t, "e BAD Command not valid before authentication", c.read())
	})
	t.Run("POP3", func(t *testing.T) {
		c := msChecklistStart(t, sasl.POP3)
		c.read()
		c.send("CAPA")
		capa := c.until(".")
		assert.NotContains(t, capa, "USER")
		for _, l := range capa {
			if strings.HasPrefix(l, "SASL ") {
				assert.NotContains(t, l, "PLAIN")
				assert.NotContains(t, l, "LOGIN")
			}
		}
		c.send("AUTH")
		assert.NotContains(t, c.until("."), "PLAIN")
		c.send("USER alice")
		assert.Equal(t, "-ERR [AUTH] USER/PASS needs TLS", c.read())
		c.send("PASS secret")
		assert.Equal(t, "-ERR [AUTH] USER/PASS needs TLS", c.read())
		c.send("APOP alice good")
		assert.Equal(t, "-ERR [AUTH] APOP needs TLS", c.read())
		c.send("AUTH PLAIN " + ir)
		assert.True(t, strings.HasPrefix(c.read(), "-ERR"))
		c.send("AUTH LOGIN")
		assert.True(t, strings.HasPrefix(c.read(), "-ERR"))
		c.send("STAT")
		assert.True(t, strings.HasPrefix(c.read(), "-ERR"), "not authenticated")
		// The plaintext greeting offered no APOP timestamp, and POP3
		// sends no new greeting after STLS: APOP stays unavailable on
		// this connection (issue 8, defect 9), USER/PASS works.
		c.send("STLS")
		assert.Equal(t, "+OK Begin TLS negotiation", c.read())
		c.startTLS(c.clientTLS)
		c.send("APOP alice good")
		assert.Equal(t, "-ERR [AUTH] APOP needs TLS", c.read())
	})
	t.Run("SMTP", func(t *testing.T) {
		c := msChecklistStart(t, sasl.SMTP)
		c.read()
		c.send("AUTH PLAIN " + ir)
		assert.Equal(t, "503 5.5.1 EHLO first", c.read())
		c.send("EHLO x")
		for _, l := range c.until("250 ") {
			// Nothing is offered before TLS, SCRAM included: its
			// proof could be attacked offline (RFC 5802, Section 9).
			assert.NotContains(t, l, "AUTH")
		}
		for _, cmd := range []string{"AUTH PLAIN " + ir, "AUTH LOGIN", "AUTH PLAIN", "AUTH SCRAM-SHA-256"} {
			c.send(cmd)
			assert.Equal(t, "530 5.7.0 Must issue a STARTTLS command first", c.read(), cmd)
		}
		c.send("MAIL FROM:<a@b>")
		assert.Equal(t, "530 5.7.0 Authentication required", c.read())
	})
}

// TestS4ResetAfterTLS: after STARTTLS the session is not authenticated and
// SMTP needs a new EHLO before MAIL (RFC 3207, Section 4.2).
func TestS4ResetAfterTLS(t *testing.T) {
	t.Run("IMAP", func(t *testing.T) {
		c := msChecklistStart(t, sasl.IMAP)
		c.read()
		c.send("a STARTTLS")
		assert.Equal(t, "a OK Begin TLS negotiation now", c.read())
		c.startTLS(c.clientTLS)
		c.send("b SELECT INBOX")
		assert.Equal(t, "b BAD Command not valid before authentication", c.read())
	})
	t.Run("POP3", func(t *testing.T) {
		c := msChecklistStart(t, sasl.POP3)
		c.read()
		c.send("STLS")
		assert.Equal(t, "+OK Begin TLS negotiation", c.read())
		c.startTLS(c.clientTLS)
		c.send("STAT")
		assert.True(t, strings.HasPrefix(c.read(), "-ERR"))
	})
	t.Run("SMTP", func(t *testing.T) {
		c := msChecklistStart(t, sasl.SMTP)
		c.read()
		c.send("EHLO x")
		c.until("250 ")
		c.send("STARTTLS")
		assert.Equal(t, "220 2.0.0 Ready to start TLS", c.read())
		c.startTLS(c.clientTLS)
		c.send("MAIL FROM:<a@b>")
		assert.Equal(t, "503 5.5.1 EHLO first", c.read())
		c.send("RCPT TO:<a@b>")
		assert.Equal(t, "503 5.5.1 MAIL first", c.read())
	})
}

// TestS1InjectionAfterGoAhead: plaintext sent after the go-ahead line (the
// checklist's way (c)) reaches the TLS handshake, which fails; the server
// hangs up without replying to it.
func TestS1InjectionAfterGoAhead(t *testing.T) {
	for _, tc := range []struct {
		proto        sasl.Protocol
		ehlo         bool
		cmd, goAhead string
		inject       string
	}{
		{sasl.IMAP, false, "A STARTTLS", "A OK Begin TLS negotiation now", "XYZZY NOOP\r\n"},
		{sasl.POP3, false, "STLS", "+OK Begin TLS negotiation", "CAPA\r\n"},
		{sasl.SMTP, true, "STARTTLS", "220 2.0.0 Ready to start TLS", "EHLO x\r\n"},
	} {
		t.Run(tc.proto.String(), func(t *testing.T) {
			c := msChecklistStart(t, tc.proto)
			c.read()
			if tc.ehlo {
				c.send("EHLO x")
				c.until("250 ")
			}
			c.send(tc.cmd)
			assert.Equal(t, tc.goAhead, c.read())
			_, err := io.WriteString(c.conn, tc.inject)
			require.NoError(t, err)
			// No reply at all, not even a TLS alert: srvConn refuses the
			// record header before crypto/tls sees it.
			b, err := io.ReadAll(c.conn)
			assert.Empty(t, b)
			_ = err // EOF or a reset, depending on timing
		})
	}
}

// TestMaxConnections: at the bound, with every session logged in, a new
// client gets no greeting (it waits in the backlog) until a session ends:
// an authenticated session never gives way.
func TestMaxConnections(t *testing.T) {
	e := msStart(t, sasl.POP3, func(c *Config) { c.MaxConnections = 1; c.InsecureAuth = true })
	first := e.dial(t)
	assert.Equal(t, "+OK mail.test POP3 ready", first.read())
	first.send("USER alice")
	first.read()
	first.send("PASS secret")
	require.Equal(t, "+OK Logged in", first.read())
	second := e.dial(t)
	// No greeting while the first session runs. A slow machine can only
	// make this pass more easily, never fail.
	require.NoError(t, second.conn.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err := second.tp.ReadLine()
	var ne net.Error
	require.ErrorAs(t, err, &ne, "a greeting beyond MaxConnections")
	require.True(t, ne.Timeout(), "%v", err)
	first.send("QUIT")
	first.read()
	// The timed-out read left tp's reader with a sticky error: read anew.
	require.NoError(t, second.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	second.tp = textproto.NewConn(second.conn)
	assert.Equal(t, "+OK mail.test POP3 ready", second.read())
}

// TestCloseWhileAtMaxConnections: Close returns, and Serve with it, while
// Serve waits for a free slot.
func TestCloseWhileAtMaxConnections(t *testing.T) {
	e := msStart(t, sasl.POP3, func(c *Config) { c.MaxConnections = 1 })
	c := e.dial(t)
	c.read()
	require.NoError(t, e.srv.Close())
	for range 2 {
		select {
		case err := <-e.done:
			require.ErrorIs(t, err, ErrServerClosed)
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after Close")
		}
	}
}

// TestIdleTimeout: a client that goes silent is hung up on after
// IdleTimeout wherever the server waits for it: the next command, a SASL
// continuation, an IMAP literal, SMTP DATA, and inside TLS.
func TestIdleTimeout(t *testing.T) {
	// 1 s, not less: the server also hangs up if the client takes longer
	// than this between steps of a script, which a loaded CI machine
	// must not make it do. The subtests run in parallel to pay it once.
	const idle = time.Second
	insecure := func(c *Config) { c.InsecureAuth = true; c.IdleTimeout = idle }
	for _, tc := range []struct {
		name   string
		proto  sasl.Protocol
		script func(c *msClient)
	}{
		{"IMAP command", sasl.IMAP, func(c *msClient) {}},
		{"IMAP AUTHENTICATE continuation", sasl.IMAP, func(c *msClient) {
			c.send("a AUTHENTICATE PLAIN")
			assert.Equal(t, "+ ", c.read())
		}},
		{"IMAP literal", sasl.IMAP, func(c *msClient) {
			c.send("a LOGIN alice {6}")
			assert.Equal(t, "+ Ready for literal data", c.read())
		}},
		{"POP3 command", sasl.POP3, func(c *msClient) {}},
		{"POP3 inside TLS", sasl.POP3, func(c *msClient) {
			c.send("STLS")
			c.read()
			c.startTLS(c.clientTLS)
		}},
		{"SMTP command", sasl.SMTP, func(c *msClient) {}},
		{"SMTP DATA", sasl.SMTP, func(c *msClient) {
			c.send("EHLO x")
			c.until("250 ")
			c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
			assert.Equal(t, "235 2.7.0 Authentication successful", c.read())
			c.send("MAIL FROM:<a@b>")
			c.read()
			c.send("RCPT TO:<c@d>")
			c.read()
			c.send("DATA")
			assert.Equal(t, "354 End data with <CR><LF>.<CR><LF>", c.read())
			_, err := io.WriteString(c.conn, "Subject: half a message\r\n")
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := msOpen(t, tc.proto, insecure)
			tc.script(c)
			// The client's own deadline is 10 s; the server must hang up
			// long before, whatever the machine's load.
			_, err := io.ReadAll(c.conn)
			var ne net.Error
			assert.False(t, errors.As(err, &ne) && ne.Timeout(), "server did not hang up on a silent client: %v", err)
		})
	}
}

// TestIMAPNonSyncLiteralUnread: a LITERAL+ argument of a command answered
// without reading it (LOGIN refused before TLS, SELECT before
// authentication) ends the session: its data, a password for LOGIN, must
// not be read as the next command.
func TestIMAPNonSyncLiteralUnread(t *testing.T) {
	for _, line := range []string{"a LOGIN alice {6+}", "a SELECT {5+}"} {
		t.Run(line, func(t *testing.T) {
			c, _ := msOpen(t, sasl.IMAP, nil)
			_, err := io.WriteString(c.conn, line+"\r\nsecret\r\n")
			require.NoError(t, err)
			assert.Equal(t, "* BYE Literal not accepted here", c.read())
			c.expectClosed()
		})
	}
}
