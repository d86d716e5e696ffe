package gosmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// gsReplyErrors are the outcomes whose replies must agree: every sentinel
// the table names, wrapped ones, and errors it does not know.
func gsReplyErrors() []error {
	return []error{
		sasl.ErrCanceled, sasl.ErrTooLarge, sasl.ErrMalformed, sasl.ErrUnexpectedClientResponse,
		sasl.ErrAuthzFailed, sasl.ErrAuthFailed, sasl.ErrUnknownUser, sasl.ErrChannelBinding,
		sasl.ErrNeedsTLS, sasl.ErrUnsupportedMechanism, sasl.ErrTemporaryFailure,
		fmt.Errorf("sasl: SCRAM-SHA-256 server-final-message: %w", sasl.ErrAuthFailed),
		sasl.ErrServerNotVerified, context.DeadlineExceeded, errors.New("store: connection refused (password hunter2)"),
	}
}

// gsFailBackend makes sessions whose every mechanism fails with *err
// mapped by SMTPError.
type gsFailBackend struct{ err *error }

func (b gsFailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return gsFailSession(b), nil }

type gsFailSession struct{ err *error }

func (gsFailSession) AuthMechanisms() []string             { return []string{"X"} }
func (s gsFailSession) Auth(string) (sasl.Server, error)   { return gsFailServer(s), nil }
func (gsFailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (gsFailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (gsFailSession) Data(io.Reader) error                 { return nil }
func (gsFailSession) Reset()                               {}
func (gsFailSession) Logout() error                        { return nil }

type gsFailServer struct{ err *error }

func (f gsFailServer) Next([]byte) ([]byte, bool, error) { return nil, false, SMTPError(*f.err) }

// TestSMTPErrorAgreesWithExchange runs go-smtp's own server and checks that
// for every outcome the reply it writes from SMTPError is the line
// sasl.Exchange writes for the same outcome.
func TestSMTPErrorAgreesWithExchange(t *testing.T) {
	var current error
	srv := smtp.NewServer(gsFailBackend{&current})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	_, _, err = tp.ReadResponse(220)
	require.NoError(t, err)
	require.NoError(t, tp.PrintfLine("EHLO client.test"))
	_, _, err = tp.ReadResponse(250)
	require.NoError(t, err)
	for _, e := range gsReplyErrors() {
		current = e
		require.NoError(t, tp.PrintfLine("AUTH X ="))
		got, err := tp.ReadLine()
		require.NoError(t, err)
		want := (&sasl.Exchange{Protocol: sasl.SMTP}).Reply(e)
		assert.Equal(t, want, got, "%v", e)
		assert.NotContains(t, got, "hunter2")
	}
}
