package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
)

// FuzzParseTarget: any argument gives a target or a usage error, never a
// panic, and a target never carries a password.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"imaps://alice@mail.example.org:993", "imap://[::1]:143", "pop3://a:b@h", "smtp://h:0", "h:25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := parseTarget(s, "smtp")
		if err != nil {
			if exitCode(err) != exitUsage {
				t.Fatalf("error %v is not a usage error", err)
			}
			return
		}
		if tg.host == "" || tg.port < 1 || tg.port > 65535 {
			t.Fatalf("bad target %+v from %q", tg, s)
		}
	})
}

// pipeConn is a net.Conn that reads a fixed server script and discards
// writes.
type pipeConn struct {
	net.Conn
	r io.Reader
}

func (p pipeConn) Read(b []byte) (int, error)       { return p.r.Read(b) }
func (p pipeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (p pipeConn) SetDeadline(time.Time) error      { return nil }
func (p pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p pipeConn) SetWriteDeadline(time.Time) error { return nil }
func (p pipeConn) Close() error                     { return nil }
func (p pipeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (p pipeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// FuzzWire: the probe's reply readers take any server bytes without a
// panic, and never return a line longer than their bound.
func FuzzWire(f *testing.F) {
	f.Add([]byte("* OK ready\r\nP1 OK go\r\n"), uint8(0))
	f.Add([]byte("+OK hi <1.2@x>\r\n+OK begin\r\n"), uint8(1))
	f.Add([]byte("220-a\r\n220 b\r\n250-x\r\n250 STARTTLS\r\n220 go\r\n"), uint8(2))
	f.Add([]byte("220"+strings.Repeat("-", 20000)+"\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, script []byte, p uint8) {
		proto := []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP}[p%3]
		w := newWire(pipeConn{r: bytes.NewReader(script)}, proto)
		if _, err := w.greet(); err != nil {
			return
		}
		_, reply, _ := w.goAhead("P1")
		for _, l := range reply {
			if len(l) > maxProbeLine {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
	})
}

// FuzzTrace: the transcript never shows the secret, whatever the client
// sends in an exchange, and never panics on a server line.
func FuzzTrace(f *testing.F) {
	f.Add("PLAIN", []byte("\x00alice\x00s3cret-pw"), "+ ")
	f.Add("LOGIN", []byte("s3cret-pw"), "+ UGFzc3dvcmQ6")
	f.Add("SCRAM-SHA-256", []byte("c=biws,r=abc,p=s3cret-pw"), "+ cj1hYmM=")
	f.Add("XOAUTH2", []byte("user=a\x01auth=Bearer s3cret-pw\x01\x01"), "334 ")
	f.Add("NTLM", []byte("NTLMSSP\x00s3cret-pw"), "+ ")
	f.Fuzz(func(t *testing.T, mech string, msg []byte, serverLine string) {
		const secret = "s3cret-pw"
		var out bytes.Buffer
		tr := newTracer(&out, []string{secret})
		tr.data(false, []byte(serverLine+"\r\n"), true)
		tr.data(true, []byte("a1 AUTHENTICATE "+strings.Fields(mech + " X")[0]+" "+base64.StdEncoding.EncodeToString(msg)+"\r\n"), true)
		tr.data(false, []byte("+ \r\n"), true)
		tr.data(true, []byte(base64.StdEncoding.EncodeToString(msg)+"\r\n"), true)
		if strings.Contains(out.String(), secret) {
			t.Fatalf("secret in transcript:\n%s", out.String())
		}
	})
}
