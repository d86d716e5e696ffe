package mailserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// msTestCerts makes a self-signed server certificate for localhost and the
// client config that trusts it.
func msTestCerts(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	kp, err := tlsutil.SelfSigned(nil)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(kp.Leaf())
	return &tls.Config{Certificates: []tls.Certificate{kp.Certificate}}, tlsutil.NewClientConfig("localhost", pool)
}

// msUsers is a password store: alice / secret.
type msUsers struct{}

func (msUsers) VerifyPassword(ctx context.Context, user, pass string) error {
	if user == "alice" && pass == "secret" {
		return nil
	}
	return sasl.ErrAuthFailed
}

// msSCRAM enables the SCRAM rows of the ServerSet (for advertisement
// tests); every lookup fails.
type msSCRAM struct{}

func (msSCRAM) LookupSCRAM(ctx context.Context, mech, user string) (sasl.SCRAMCredentials, error) {
	return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
}

type msEnv struct {
	srv       *Server
	addr      string
	tlsAddr   string
	clientTLS *tls.Config
	done      chan error
}

func msStart(t *testing.T, proto sasl.Protocol, mutate func(*Config)) *msEnv {
	t.Helper()
	stls, ctls := msTestCerts(t)
	cfg := &Config{
		SASL:     &sasl.ServerConfig{Passwords: msUsers{}, Legacy: true, SCRAMSecret: []byte("test scram secret")},
		TLS:      stls,
		Hostname: "mail.test",
	}
	if mutate != nil {
		mutate(cfg)
	}
	srv := New(proto, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &msEnv{srv: srv, addr: ln.Addr().String(), tlsAddr: tln.Addr().String(), clientTLS: ctls, done: make(chan error, 2)}
	go func() { e.done <- srv.Serve(ln) }()
	if cfg.TLS != nil {
		go func() { e.done <- srv.ServeTLS(tln) }()
	} else {
		tln.Close()
		e.done <- ErrServerClosed
	}
	t.Cleanup(func() { srv.Close() })
	return e
}

// msClient is a scripted client on one connection.
type msClient struct {
	t         *testing.T
	conn      net.Conn
	tp        *textproto.Conn
	clientTLS *tls.Config // trusts the server's certificate
}

func (e *msEnv) dial(t *testing.T) *msClient {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	require.NoError(t, err)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &msClient{t: t, conn: c, tp: textproto.NewConn(c), clientTLS: e.clientTLS}
}

// msOpen starts a server for proto, dials it and reads the greeting.
func msOpen(t *testing.T, proto sasl.Protocol, mutate func(*Config)) (c *msClient, greeting string) {
	t.Helper()
	c = msStart(t, proto, mutate).dial(t)
	return c, c.read()
}

func (c *msClient) send(line string) {
	c.t.Helper()
	require.NoError(c.t, c.tp.PrintfLine("%s", line))
}

func (c *msClient) read() string {
	c.t.Helper()
	line, err := c.tp.ReadLine()
	require.NoError(c.t, err)
	return line
}

// until reads lines up to and including one starting with prefix, and
// returns them all.
func (c *msClient) until(prefix string) []string {
	c.t.Helper()
	var lines []string
	for range 50 {
		l := c.read()
		lines = append(lines, l)
		if strings.HasPrefix(l, prefix) {
			return lines
		}
	}
	c.t.Fatalf("no line starting with %q in %q", prefix, lines)
	return nil
}

func (c *msClient) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, cfg)
	require.NoError(c.t, tc.Handshake())
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

// msExpectClosed checks that the server closed the connection without
// sending anything more.
func (c *msClient) expectClosed() {
	c.t.Helper()
	line, err := c.tp.ReadLine()
	require.Error(c.t, err, "got %q", line)
}

func msPlainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestIMAPBeforeTLS(t *testing.T) {
	c, greet := msOpen(t, sasl.IMAP, func(c *Config) { c.SASL.SCRAM = msSCRAM{} })
	assert.True(t, strings.HasPrefix(greet, "* OK [CAPABILITY "), greet)
	for _, want := range []string{"IMAP4rev1", "STARTTLS", "LOGINDISABLED", "SASL-IR"} {
		assert.Contains(t, greet, want)
	}
	assert.NotContains(t, greet, "AUTH=PLAIN", "no plaintext mechanism before TLS")
	assert.NotContains(t, greet, "AUTH=SCRAM", "no password mechanism before TLS (RFC 5802, Section 9)")
	assert.NotContains(t, greet, "-PLUS", "no channel binding without TLS")
	c.send("a LOGIN alice secret")
	assert.Equal(t, "a NO [PRIVACYREQUIRED] LOGIN is disabled without TLS", c.read())
	c.send("b AUTHENTICATE PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "b NO [PRIVACYREQUIRED] Mechanism requires TLS", c.read())
	c.send("c SELECT INBOX")
	assert.Equal(t, "c BAD Command not valid before authentication", c.read())
	c.send("d NOOP")
	assert.Equal(t, "d OK NOOP completed", c.read())
	c.send("e LOGOUT")
	assert.Equal(t, []string{"* BYE mail.test logging out", "e OK LOGOUT completed"}, c.until("e "))
	c.expectClosed()
}

func TestIMAPStartTLS(t *testing.T) {
	c, _ := msOpen(t, sasl.IMAP, func(c *Config) { c.SASL.SCRAM = msSCRAM{} })
	c.send("a STARTTLS")
	assert.Equal(t, "a OK Begin TLS negotiation now", c.read())
	c.startTLS(c.clientTLS)
	c.send("b CAPABILITY")
	lines := c.until("b ")
	require.Len(t, lines, 2)
	caps := lines[0]
	assert.NotContains(t, caps, "STARTTLS", "no STARTTLS inside TLS")
	assert.NotContains(t, caps, "LOGINDISABLED")
	assert.Contains(t, caps, "AUTH=PLAIN")
	// The set was made anew from the TLS state: channel binding exists
	// now (tls-exporter on TLS 1.3, tls-server-end-point from the leaf).
	assert.Contains(t, caps, "AUTH=SCRAM-SHA-256-PLUS")
	c.send("c STARTTLS")
	assert.Equal(t, "c BAD TLS is already active", c.read())
}

// TestStartTLSInjection: plaintext pipelined after STARTTLS must never be
// run (CVE-2011-0411): the server hangs up without the go-ahead.
func TestStartTLSInjection(t *testing.T) {
	for _, tc := range []struct {
		proto  sasl.Protocol
		prefix []string
		inject string
	}{
		{sasl.IMAP, nil, "A STARTTLS\r\nXYZZY NOOP\r\n"},
		{sasl.POP3, nil, "STLS\r\nCAPA\r\n"},
		{sasl.SMTP, []string{"EHLO x"}, "STARTTLS\r\nEHLO x\r\n"},
	} {
		t.Run(tc.proto.String(), func(t *testing.T) {
			e := msStart(t, tc.proto, nil)
			c := e.dial(t)
			if tc.proto == sasl.SMTP {
				c.read()
				c.send("EHLO x")
				c.until("250 ")
			} else {
				c.read()
			}
			_, err := io.WriteString(c.conn, tc.inject)
			require.NoError(t, err)
			c.expectClosed()
		})
	}
}

func TestIMAPAuthenticate(t *testing.T) {
	c, _ := msOpen(t, sasl.IMAP, nil)
	c.send("a STARTTLS")
	c.read()
	c.startTLS(c.clientTLS)
	c.send("b AUTHENTICATE PLAIN " + msPlainIR("alice", "wrong"))
	assert.Equal(t, "b NO [AUTHENTICATIONFAILED] Authentication failed", c.read())
	c.send("c AUTHENTICATE PLAIN")
	assert.Equal(t, "+ ", c.read())
	c.send(msPlainIR("alice", "secret"))
	assert.Equal(t, "c OK [CAPABILITY IMAP4rev1 LITERAL+ ID] Authenticated", c.read())
	c.send("d AUTHENTICATE PLAIN")
	assert.Equal(t, "d BAD Already authenticated", c.read())
	c.send("e STARTTLS")
	assert.Equal(t, "e BAD TLS is already active", c.read())
	c.send("f SELECT INBOX")
	lines := c.until("f ")
	assert.Contains(t, lines, "* 0 EXISTS")
	assert.Equal(t, "f OK [READ-WRITE] SELECT completed", lines[len(lines)-1])
	c.send(`g LIST "" "*"`)
	assert.Equal(t, []string{`* LIST (\HasNoChildren) "/" INBOX`, "g OK LIST completed"}, c.until("g "))
	c.send(`h LIST "" ""`)
	assert.Equal(t, []string{`* LIST (\Noselect) "/" ""`, "h OK LIST completed"}, c.until("h "))
	c.send("i UID SEARCH ALL")
	assert.Equal(t, []string{"* SEARCH", "i OK SEARCH completed"}, c.until("i "))
	c.send("j SELECT Other")
	assert.Equal(t, "j NO [NONEXISTENT] No such mailbox", c.read())
}

// TestIMAPLoginInsecure: LOGIN over plaintext with the opt-in, with a
// quoted string and a literal.
func TestIMAPLoginInsecure(t *testing.T) {
	c, greet := msOpen(t, sasl.IMAP, func(c *Config) { c.InsecureAuth = true })
	assert.NotContains(t, greet, "LOGINDISABLED")
	assert.Contains(t, greet, "AUTH=PLAIN")
	c.send(`a LOGIN "alice" "wrong\"pw"`)
	assert.Equal(t, "a NO [AUTHENTICATIONFAILED] Authentication failed", c.read())
	c.send("b LOGIN alice {6}")
	assert.Equal(t, "+ Ready for literal data", c.read())
	_, err := io.WriteString(c.conn, "secret\r\n")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(c.read(), "b OK [CAPABILITY IMAP4rev1"))
	// No STARTTLS once authenticated (session fixation, checklist S5).
	c.send("c STARTTLS")
	assert.Equal(t, "c BAD STARTTLS is not allowed after authentication", c.read())
}

func TestOnLogin(t *testing.T) {
	ids := make(chan sasl.Identity, 1)
	e := msStart(t, sasl.SMTP, func(c *Config) {
		c.InsecureAuth = true
		c.OnLogin = func(_ net.Addr, id sasl.Identity) { ids <- id }
	})
	c := e.dial(t)
	c.read()
	c.send("EHLO x")
	c.until("250 ")
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "235 2.7.0 Authentication successful", c.read())
	id := <-ids
	assert.Equal(t, "alice", id.User())
	assert.Equal(t, sasl.Plain, id.Mechanism)
}

func TestIMAPNonSyncLiteral(t *testing.T) {
	c, _ := msOpen(t, sasl.IMAP, func(c *Config) { c.InsecureAuth = true })
	c.send("a APPEND INBOX {5+}")
	assert.Equal(t, "* BYE Literal not accepted here", c.read())
	c.expectClosed()
}

func TestIMAPTooManyFailures(t *testing.T) {
	c, _ := msOpen(t, sasl.IMAP, func(c *Config) { c.InsecureAuth = true })
	for i := range maxAuthFailures {
		c.send("a LOGIN alice wrong")
		assert.Equal(t, "a NO [AUTHENTICATIONFAILED] Authentication failed", c.read(), i)
	}
	c.expectClosed()
}

func TestIMAPCancelAndLongLine(t *testing.T) {
	c, _ := msOpen(t, sasl.IMAP, func(c *Config) { c.InsecureAuth = true; c.MaxLineLength = 200 })
	c.send("a AUTHENTICATE PLAIN")
	if line := c.read(); line == "+ " {
		c.send("*")
		assert.Equal(t, "a BAD Authentication cancelled", c.read())
	} else {
		// A placeholder PLAIN fails at once.
		assert.True(t, strings.HasPrefix(line, "a NO"), line)
	}
	c.send("b NOOP " + strings.Repeat("x", 300))
	assert.Equal(t, "* BYE Command line too long", c.read())
	c.expectClosed()
}

func TestPOP3(t *testing.T) {
	e := msStart(t, sasl.POP3, func(c *Config) {
		c.APOP = func() (APOPServer, error) { return msAPOP{}, nil }
	})
	c := e.dial(t)
	greet := c.read()
	assert.Equal(t, "+OK mail.test POP3 ready", greet, "no APOP timestamp before TLS")
	c.send("CAPA")
	capa := c.until(".")
	assert.Contains(t, capa, "STLS")
	assert.NotContains(t, capa, "USER", "no USER/PASS before TLS")
	c.send("USER alice")
	assert.Equal(t, "-ERR [AUTH] USER/PASS needs TLS", c.read())
	c.send("STAT")
	assert.True(t, strings.HasPrefix(c.read(), "-ERR"))
	c.send("STLS")
	assert.Equal(t, "+OK Begin TLS negotiation", c.read())
	c.startTLS(c.clientTLS)
	c.send("CAPA")
	capa = c.until(".")
	assert.Contains(t, capa, "USER")
	assert.Contains(t, capa, "SASL PLAIN LOGIN")
	assert.NotContains(t, capa, "STLS")
	c.send("STLS")
	assert.Equal(t, "-ERR TLS is already active", c.read())
	c.send("AUTH")
	assert.Equal(t, []string{"+OK Methods follow", "PLAIN", "LOGIN", "."}, c.until("."))
	c.send("PASS secret")
	assert.Equal(t, "-ERR USER first", c.read())
	c.send("USER alice")
	assert.Equal(t, "+OK Send PASS", c.read())
	c.send("PASS wrong")
	assert.Equal(t, "-ERR [AUTH] Authentication failed", c.read())
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "+OK Authenticated", c.read())
	c.send("STAT")
	assert.Equal(t, "+OK 0 0", c.read())
	c.send("LIST")
	assert.Equal(t, []string{"+OK 0 messages", "."}, c.until("."))
	c.send("UIDL")
	assert.Equal(t, []string{"+OK 0 messages", "."}, c.until("."))
	c.send("RETR 1")
	assert.Equal(t, "-ERR No such message", c.read())
	c.send("QUIT")
	assert.Equal(t, "+OK mail.test signing off", c.read())
	c.expectClosed()
}

// msAPOP is a fake APOP server: "alice good" is accepted.
type msAPOP struct{}

func (msAPOP) Timestamp() string { return "<1.2@mail.test>" }
func (msAPOP) Verify(ctx context.Context, conn *sasl.ConnState, args string) (sasl.Identity, error) {
	if args == "alice good" {
		return sasl.Identity{Mechanism: "APOP", Username: "alice"}, nil
	}
	return sasl.Identity{}, sasl.ErrAuthFailed
}

// TestPOP3APOPStampOnlyWhereUsable (issue 8, defect 9): the APOP timestamp
// is offered only in a greeting sent where APOP may be used. On the STLS
// port (no InsecureAuth) the plaintext greeting carries none, so no client
// is lured into sending the digest before TLS; on the implicit-TLS port it
// does, and APOP works. Before the fix the plaintext greeting of the STLS
// port carried the stamp.
func TestPOP3APOPStampOnlyWhereUsable(t *testing.T) {
	e := msStart(t, sasl.POP3, func(c *Config) {
		c.APOP = func() (APOPServer, error) { return msAPOP{}, nil }
	})
	c := e.dial(t)
	greet := c.read()
	assert.NotContains(t, greet, "<", "APOP timestamp in a plaintext greeting")
	c.send("APOP alice good")
	assert.Equal(t, "-ERR [AUTH] APOP needs TLS", c.read())

	tc, err := tls.Dial("tcp", e.tlsAddr, e.clientTLS)
	require.NoError(t, err)
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(tc)
	greet, err = tp.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "+OK mail.test POP3 ready <1.2@mail.test>", greet)
	require.NoError(t, tp.PrintfLine("APOP alice good"))
	line, err := tp.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "+OK Logged in", line)
}

func TestPOP3APOPHook(t *testing.T) {
	e := msStart(t, sasl.POP3, func(c *Config) {
		c.APOP = func() (APOPServer, error) { return msAPOP{}, nil }
		c.InsecureAuth = true // APOP before TLS
	})
	c := e.dial(t)
	c.read()
	c.send("APOP alice bad")
	assert.Equal(t, "-ERR [AUTH] Authentication failed", c.read())
	c.send("APOP alice good")
	assert.Equal(t, "+OK Logged in", c.read())
	c.send("STLS")
	assert.Equal(t, "-ERR STLS is not allowed after authentication", c.read())
}

func TestSMTP(t *testing.T) {
	e := msStart(t, sasl.SMTP, func(c *Config) { c.MaxMessageSize = 100 })
	c := e.dial(t)
	assert.Equal(t, "220 mail.test ESMTP ready", c.read())
	c.send("MAIL FROM:<a@b>")
	assert.Equal(t, "503 5.5.1 EHLO first", c.read())
	c.send("EHLO client")
	ehlo := c.until("250 ")
	assert.Contains(t, ehlo, "250 STARTTLS")
	for _, l := range ehlo {
		assert.False(t, strings.Contains(l, "AUTH"), "no AUTH before TLS: %q", l)
	}
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "530 5.7.0 Must issue a STARTTLS command first", c.read())
	c.send("MAIL FROM:<a@b>")
	assert.Equal(t, "530 5.7.0 Authentication required", c.read())
	c.send("STARTTLS")
	assert.Equal(t, "220 2.0.0 Ready to start TLS", c.read())
	c.startTLS(c.clientTLS)
	// RFC 3207, Section 4.2: the EHLO before TLS is forgotten.
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "503 5.5.1 EHLO first", c.read())
	c.send("EHLO client")
	ehlo = c.until("250 ")
	assert.Contains(t, ehlo, "250 AUTH PLAIN LOGIN")
	assert.NotContains(t, strings.Join(ehlo, "\n"), "STARTTLS")
	c.send("STARTTLS")
	assert.Equal(t, "503 5.5.1 TLS is already active", c.read())
	c.send("AUTH PLAIN " + msPlainIR("alice", "wrong"))
	assert.Equal(t, "535 5.7.8 Authentication credentials invalid", c.read())
	c.send("AUTH PLAIN")
	assert.Equal(t, "334 ", c.read())
	c.send("*")
	assert.Equal(t, "501 5.0.0 Authentication cancelled", c.read())
	c.send("AUTH PLAIN =")
	assert.Equal(t, "501 5.5.2 Cannot decode authentication exchange", c.read())
	c.send("AUTH NOSUCH")
	assert.Equal(t, "504 5.5.4 Unrecognized authentication type", c.read())
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "235 2.7.0 Authentication successful", c.read())
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "503 5.5.1 Already authenticated", c.read())
	c.send("RCPT TO:<c@d>")
	assert.Equal(t, "503 5.5.1 MAIL first", c.read())
	c.send("MAIL FROM:<a@b>")
	assert.Equal(t, "250 2.1.0 Ok", c.read())
	c.send("RCPT TO:<c@d>")
	assert.Equal(t, "250 2.1.5 Ok", c.read())
	c.send("DATA")
	assert.Equal(t, "354 End data with <CR><LF>.<CR><LF>", c.read())
	// A bare-LF dot does not end the message (SMTP smuggling).
	_, err := io.WriteString(c.conn, "Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@x>\r\n..dot\r\n.\r\n")
	require.NoError(t, err)
	assert.Equal(t, "250 2.0.0 Ok: discarded", c.read())
	c.send("MAIL FROM:<a@b>")
	assert.Equal(t, "250 2.1.0 Ok", c.read())
	c.send("RCPT TO:<c@d>")
	c.read()
	c.send("DATA")
	c.read()
	_, err = io.WriteString(c.conn, strings.Repeat("0123456789\r\n", 20)+".\r\n")
	require.NoError(t, err)
	assert.Equal(t, "552 5.3.4 Message too big", c.read())
	c.send("STARTTLS")
	assert.Equal(t, "503 5.5.1 TLS is already active", c.read())
	c.send("QUIT")
	assert.Equal(t, "221 2.0.0 Bye", c.read())
	c.expectClosed()
}

func TestSMTPStartTLSAfterAuthInsecure(t *testing.T) {
	c, _ := msOpen(t, sasl.SMTP, func(c *Config) { c.InsecureAuth = true })
	c.send("EHLO x")
	c.until("250 ")
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "235 2.7.0 Authentication successful", c.read())
	c.send("STARTTLS")
	assert.Equal(t, "503 5.5.1 STARTTLS is not allowed after authentication", c.read())
}

func TestDiscardData(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		rest string
	}{
		{".\r\nNEXT", 0, "NEXT"},
		{"a\r\n.\r\nNEXT", 3, "NEXT"},
		{"a\n.\n\r\n.\r\nNEXT", 6, "NEXT"},
		{"a\r\n..\r\n.\r\n", 7, ""},
		{"a\r\n.\n.\r\n\r\n.\r\n", 10, ""},
	} {
		r := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
		n, err := discardData(r, func() {})
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.n, n, tc.in)
		rest, _ := io.ReadAll(r)
		assert.Equal(t, tc.rest, string(rest), tc.in)
	}
	// No terminator: the end of the stream is an error.
	_, err := discardData(bufio.NewReader(strings.NewReader("a\r\n.\n")), func() {})
	require.ErrorIs(t, err, io.EOF)
	// A long line is streamed, not buffered.
	r := bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 100_000)+"\r\n.\r\n"), 16)
	n, err := discardData(r, func() {})
	require.NoError(t, err)
	assert.Equal(t, 100_002, n)
}

// TestImplicitTLS: no greeting before the handshake; a plaintext client
// gets nothing.
func TestImplicitTLS(t *testing.T) {
	for _, p := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		e := msStart(t, p, nil)
		conn, err := tls.Dial("tcp", e.tlsAddr, e.clientTLS)
		require.NoError(t, err)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := textproto.NewConn(conn).ReadLine()
		require.NoError(t, err)
		assert.Regexp(t, `^(\* OK|\+OK|220 )`, line)
		if p == sasl.IMAP {
			assert.NotContains(t, line, "STARTTLS")
			assert.NotContains(t, line, "LOGINDISABLED")
			assert.Contains(t, line, "AUTH=PLAIN")
		}
		conn.Close()

		raw, err := net.Dial("tcp", e.tlsAddr)
		require.NoError(t, err)
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.WriteString(raw, "A1 CAPABILITY\r\n")
		require.NoError(t, err)
		b, err := io.ReadAll(raw)
		assert.Empty(t, b, "no reply to plaintext on an implicit-TLS port")
		raw.Close()
		_ = err
	}
}

func TestServeTLSNeedsConfig(t *testing.T) {
	srv := New(sasl.IMAP, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.Error(t, srv.ServeTLS(ln))
}

func TestClose(t *testing.T) {
	e := msStart(t, sasl.SMTP, nil)
	c := e.dial(t)
	c.read()
	require.NoError(t, e.srv.Close())
	for range 2 {
		err := <-e.done
		require.True(t, errors.Is(err, ErrServerClosed), "%v", err)
	}
	c.expectClosed()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.ErrorIs(t, e.srv.Serve(ln), ErrServerClosed)
}

// msSCRAMStore holds alice / secret as SCRAM keys.
type msSCRAMStore struct {
	msUsers
	keys map[string]sasl.SCRAMCredentials
}

func (s msSCRAMStore) LookupSCRAM(ctx context.Context, mech, user string) (sasl.SCRAMCredentials, error) {
	if user != "alice" {
		return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	}
	return s.keys[mech], nil
}

func newMSSCRAMStore(t *testing.T) msSCRAMStore {
	s := msSCRAMStore{keys: map[string]sasl.SCRAMCredentials{}}
	for _, m := range []string{sasl.SCRAMSHA1, sasl.SCRAMSHA256, sasl.SCRAMSHA512} {
		c, err := sasl.NewSCRAMCredentials(m, "secret", nil, 4096)
		require.NoError(t, err)
		s.keys[m] = c
	}
	return s
}

// TestThirdPartyClients logs in to our servers with go-imap's imapclient
// and go-smtp's client, with SCRAM-SHA-256: go-imap sends "=" for the
// final empty response (go-imap#760), which the exchange accepts.
func TestThirdPartyClients(t *testing.T) {
	store := newMSSCRAMStore(t)
	scram := func(pass string) sasl.Client {
		c, err := (&sasl.ClientConfig{Username: "alice", Password: pass, Mechanisms: []string{sasl.SCRAMSHA256}}).NewClient([]string{sasl.SCRAMSHA256}, sasl.ClientConnState(&tls.ConnectionState{HandshakeComplete: true}))
		require.NoError(t, err)
		return c
	}
	t.Run("imapclient", func(t *testing.T) {
		e := msStart(t, sasl.IMAP, func(c *Config) { c.SASL.SCRAM = store })
		for _, pass := range []string{"secret", "wrong"} {
			c, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: e.clientTLS})
			require.NoError(t, err)
			err = c.Authenticate(scram(pass))
			if pass == "wrong" {
				var ie *imap.Error
				require.True(t, errors.As(err, &ie), "%v", err)
				assert.Equal(t, imap.ResponseCodeAuthenticationFailed, ie.Code)
			} else {
				require.NoError(t, err)
				_, err = c.Select("INBOX", nil).Wait()
				require.NoError(t, err)
			}
			c.Close()
		}
	})
	t.Run("go-smtp", func(t *testing.T) {
		e := msStart(t, sasl.SMTP, func(c *Config) { c.SASL.SCRAM = store })
		for _, pass := range []string{"secret", "wrong"} {
			c, err := smtp.DialStartTLS(e.addr, e.clientTLS)
			require.NoError(t, err)
			err = c.Auth(scram(pass))
			if pass == "wrong" {
				var se *smtp.SMTPError
				require.True(t, errors.As(err, &se), "%v", err)
				assert.Equal(t, 535, se.Code)
			} else {
				require.NoError(t, err)
				require.NoError(t, c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")))
			}
			c.Close()
		}
	})
}

func TestIMAPMatchesInbox(t *testing.T) {
	for p, want := range map[string]bool{
		"*": true, "%": true, "INBOX": true, "inbox": true, "IN*": true, "*X": true, "%%%%%": true,
		"I*B*X": true, "*N*O*": true, "**": true, "I%%%%%X": true, "*BOX": true, "IN%OX": true, "*INBOX*": true,
		"Sent": false, "INBOX/*": false, "": false, "*Y": false, "IN": false, "INBOXX": false, "*X*X": false,
		"I*B*B": false, "XINBOX": false, "%%%%%%%": true, "INBO": false, "*I*N*B*O*X*Z": false,
	} {
		assert.Equal(t, want, imapMatchesInbox(p), p)
	}
}

// TestIMAPMatchesInboxCost: a pattern of wildcards that cannot match must
// not cost exponential time. Recursion over every split took ~0.6 s of CPU
// for one such pattern; 1000 of them must fit in a bound that only the old
// cost could break.
func TestIMAPMatchesInboxCost(t *testing.T) {
	p := strings.Repeat("*", 63) + "Z"
	start := time.Now()
	for range 1000 {
		require.False(t, imapMatchesInbox(p))
		if time.Since(start) > 10*time.Second {
			t.Fatal("LIST pattern matching is super-linear")
		}
	}
}

// TestAuthTrailingSpace: "AUTHENTICATE PLAIN " and "AUTH PLAIN " (a
// trailing space and nothing after it, as mutt with GNU SASL sends for
// CRAM-MD5 and DIGEST-MD5) start an exchange without an initial response,
// as Dovecot takes them, in all three protocols.
func TestAuthTrailingSpace(t *testing.T) {
	for _, tt := range []struct {
		proto         sasl.Protocol
		cmd, cont, ok string
	}{
		{sasl.IMAP, "a AUTHENTICATE PLAIN ", "+ ", "a OK"},
		{sasl.POP3, "AUTH PLAIN ", "+ ", "+OK"},
		{sasl.SMTP, "AUTH PLAIN ", "334 ", "235 "},
	} {
		t.Run(tt.proto.String(), func(t *testing.T) {
			c, _ := msOpen(t, tt.proto, func(c *Config) { c.SASL.InsecureAuth = true })
			if tt.proto == sasl.SMTP {
				c.send("EHLO client.test")
				c.until("250 ")
			}
			c.send(tt.cmd)
			assert.Equal(t, tt.cont, c.read())
			c.send(msPlainIR("alice", "secret"))
			assert.True(t, strings.HasPrefix(c.read(), tt.ok))
		})
	}
}
