package mailserver

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
)

// msFuzzConn is a net.Conn that reads a fixed input and discards output.
type msFuzzConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *msFuzzConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *msFuzzConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *msFuzzConn) Close() error                     { return nil }
func (c *msFuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *msFuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *msFuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *msFuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *msFuzzConn) SetWriteDeadline(time.Time) error { return nil }

// msFuzzSession runs one session of proto on input. The property: no
// panic (handle would recover one, so it is checked here by calling the
// protocol loop directly), no hang, bounded output.
func msFuzzSession(t *testing.T, proto sasl.Protocol, input string) {
	stls, _ := msTestCerts(t)
	srv := New(proto, &Config{
		SASL:          &sasl.ServerConfig{Passwords: msUsers{}},
		TLS:           stls,
		InsecureAuth:  true,
		MaxLineLength: 512,
		APOP:          func() (APOPServer, error) { return msAPOP{}, nil },
	})
	fc := &msFuzzConn{r: strings.NewReader(input)}
	c := &conn{srv: srv, raw: fc, net: fc, log: srv.log}
	c.setPlain()
	switch proto {
	case sasl.IMAP:
		c.serveIMAP()
	case sasl.POP3:
		c.servePOP3()
	default:
		c.serveSMTP()
	}
	// Each input line yields a bounded reply (the longest: CAPA, EHLO,
	// a SELECT's untagged lines).
	if limit := 64*len(input) + 4096; fc.out.Len() > limit {
		t.Fatalf("%d bytes of output for %d bytes of input", fc.out.Len(), len(input))
	}
}

func FuzzIMAPSession(f *testing.F) {
	for _, s := range []string{
		"a CAPABILITY\r\nb LOGIN alice secret\r\nc SELECT INBOX\r\nd LIST \"\" *\r\ne LOGOUT\r\n",
		"a LOGIN {5}\r\nalice {6+}\r\nsecret\r\nb STATUS INBOX (MESSAGES)\r\n",
		"a AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nb UID FETCH 1:* FLAGS\r\n",
		"a AUTHENTICATE PLAIN\r\n*\r\nb STARTTLS\r\nc NOOP\r\n",
		"a LOGIN \"al\\\"ice\" x\r\n* BAD\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { msFuzzSession(t, sasl.IMAP, in) })
}

func FuzzPOP3Session(f *testing.F) {
	for _, s := range []string{
		"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nQUIT\r\n",
		"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nRETR 1\r\n",
		"AUTH\r\nAPOP alice good\r\nSTLS\r\n",
		"AUTH PLAIN\r\n*\r\nSTLS\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { msFuzzSession(t, sasl.POP3, in) })
}

func FuzzSMTPSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nRSET\r\nNOOP\r\n",
		"EHLO x\r\nAUTH PLAIN\r\n=\r\nSTARTTLS\r\n",
		"HELO x\r\nMAIL FROM:<a>\r\nDATA\r\n\n.\n\r\n.\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { msFuzzSession(t, sasl.SMTP, in) })
}
