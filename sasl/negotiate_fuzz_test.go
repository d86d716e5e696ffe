package sasl

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// cliFuzzConn is a net.Conn whose reads come from a fixed byte string and
// whose writes are discarded: a server that says exactly the fuzz input.
type cliFuzzConn struct {
	r *bytes.Reader
}

func (c *cliFuzzConn) Read(b []byte) (int, error)         { return c.r.Read(b) }
func (c *cliFuzzConn) Write(b []byte) (int, error)        { return len(b), nil }
func (c *cliFuzzConn) Close() error                       { return nil }
func (c *cliFuzzConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *cliFuzzConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *cliFuzzConn) SetDeadline(t time.Time) error      { return nil }
func (c *cliFuzzConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *cliFuzzConn) SetWriteDeadline(t time.Time) error { return nil }

func cliFuzzText(data []byte) *textproto.Conn {
	return textproto.NewConn(&cliFuzzConn{r: bytes.NewReader(data)})
}

// cliEASTSeeds are server byte strings from the NO STARTTLS tests
// (tls-security.md §1.1) and ordinary replies.
var cliEASTSeeds = []string{
	"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n",
	"a1 OK begin STARTTLS now.\r\n* CAPABILITY IMAP4REV1 AUTH=PLAIN AUTH=LOGIN\r\n2 OK capability done.\r\n",
	"* OK [ALERT] Attacker-controlled text\r\na1 OK begin\r\n",
	"* BYE\r\n",
	"a1 BAD STARTTLS not supported.\r\n",
	"a1 NO do not begin TLS now.\r\n",
	"+ continue with something.\r\n",
	"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hello\r\n",
	"* NO [PARSE] uNiQTghK\r\n",
	"* LIST () \"/\" 7XiYhgS7\r\n* 54321 EXISTS\r\n* 1 FETCH (BODY[] {5}\r\nhello)\r\na1 OK\r\n",
	"* OK [REFERRAL imaps://example.org:993] go\r\n",
	"* CAPABILITY IDLE\r\na1 OK ready for starttls\r\n",
	"a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] go\r\n",
	"220 Ready to start TLS\r\n250-example.org\r\n250 AUTH LOGIN\r\n",
	"502 Command not implemented\r\n",
	"454 TLS not available due to temporary reason\r\n",
	"354 do something else\r\n",
	"220-mail.example.org ESMTP\r\n220 hi\r\n250-mail.example.org\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
	"+OK Begin fake TLS negotiation now.\r\n+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n",
	"+OK\r\n\x00\xff\xfe\x80garbage\r\n",
	"-ERR STARTTLS not supported.\r\n",
	"+OK ready <1234.123456789@example.org>\r\n+OK\r\nSTLS\r\nSASL PLAIN\r\n.\r\n",
	"* 1 FETCH (BODY[] {99999999999}\r\n",
	"* 1 FETCH (BODY[] ~{3+}\r\nabc)\r\n",
}

func cliAddSeeds(f *testing.F) {
	for _, s := range cliEASTSeeds {
		f.Add([]byte(s))
	}
}

// cliCheckCaps checks the invariants of any Capabilities the client builds.
func cliCheckCaps(t *testing.T, c Capabilities) {
	for _, e := range c.List() {
		if e == "" || strings.ContainsAny(e, "\r\n") {
			t.Fatalf("bad capability %q", e)
		}
	}
	for _, m := range c.AuthMechanisms() {
		if m == "" || m != strings.ToUpper(m) {
			t.Fatalf("bad mechanism %q", m)
		}
	}
}

func FuzzIMAPResponse(f *testing.F) {
	cliAddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range strings.Split(string(data), "\n") {
			r, err := cliParseIMAPResponse(strings.TrimSuffix(line, "\r"))
			if err != nil {
				continue
			}
			if r.tag != "*" && r.tag != "+" && !cliValidIMAPTag(r.tag) {
				t.Fatalf("invalid tag %q accepted", r.tag)
			}
			if r.tag != "*" && r.tag != "+" && r.kind != "OK" && r.kind != "NO" && r.kind != "BAD" {
				t.Fatalf("tagged %q accepted", r.kind)
			}
		}
		var skipped int64
		br := bufio.NewReader(bytes.NewReader(data))
		for range 100 {
			if _, err := cliReadIMAPResponse(br, &skipped); err != nil {
				break
			}
		}
		if skipped > cliMaxLiteralSkip {
			t.Fatalf("skipped %d literal octets", skipped)
		}
		caps, err := cliReadIMAPCapabilities(cliFuzzText(data), "a1")
		if err == nil {
			cliCheckCaps(t, caps)
		}
		_ = cliIMAPGoAhead(cliFuzzText(data), "a1")
		_, _ = cliReadGreeting(cliFuzzText(data), IMAP)
	})
}

func FuzzSMTPReply(f *testing.F) {
	cliAddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for range 100 {
			code, lines, err := cliReadSMTPReply(br)
			if err != nil {
				break
			}
			if code < 200 || code > 559 || len(lines) == 0 || len(lines) > cliMaxResponseLines {
				t.Fatalf("reply %d with %d lines accepted", code, len(lines))
			}
			for _, l := range lines {
				if len(l) > cliMaxLineLength || strings.ContainsAny(l, "\n") {
					t.Fatalf("bad line %q", l)
				}
			}
		}
		caps, err := SMTPEhlo(cliFuzzText(data), "localhost")
		if err == nil {
			cliCheckCaps(t, caps)
		}
		_ = cliSMTPGoAhead(cliFuzzText(data))
		_, _ = cliReadGreeting(cliFuzzText(data), SMTP)
	})
}

func FuzzPOP3Reply(f *testing.F) {
	cliAddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range strings.Split(string(data), "\n") {
			ok, err := cliParsePOP3Status(strings.TrimSuffix(line, "\r"))
			if err == nil && ok != strings.HasPrefix(line, "+OK") {
				t.Fatalf("status of %q is %v", line, ok)
			}
		}
		caps, err := POP3Capabilities(cliFuzzText(data))
		if err == nil {
			cliCheckCaps(t, caps)
		}
		_ = cliPOP3GoAhead(cliFuzzText(data))
		_, _ = cliReadGreeting(cliFuzzText(data), POP3)
	})
}

// FuzzNegotiateClient plays the fuzz input as a whole server session. Except
// in plaintext mode, it must never succeed: the input holds no valid TLS
// server with the test name (the handshake has no roots to verify against).
func FuzzNegotiateClient(f *testing.F) {
	for _, s := range cliEASTSeeds {
		for p := range 3 {
			f.Add(byte(p), byte(0), []byte(s))
		}
	}
	f.Add(byte(0), byte(0), []byte("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\na1 OK go\r\n\x16\x03\x01\x00\x02hi"))
	f.Add(byte(1), byte(2), []byte("220 hi\r\n250-x\r\n250 AUTH PLAIN\r\n"))
	f.Fuzz(func(t *testing.T, proto, mode byte, data []byte) {
		opts := ClientOptions{
			Protocol:  Protocol(proto%3 + 1),
			Mode:      ClientMode(mode % 3),
			TLSConfig: &tls.Config{ServerName: cliTestHost, RootCAs: nil},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cc, err := NegotiateClient(ctx, &cliFuzzConn{r: bytes.NewReader(data)}, opts)
		if err == nil {
			if opts.Mode != InsecurePlaintext {
				t.Fatalf("%v negotiation succeeded on fuzz input", opts.Mode)
			}
			cliCheckCaps(t, cc.Capabilities)
		}
	})
}
