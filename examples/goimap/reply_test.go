package goimap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// giReplyErrors are the outcomes whose replies must agree: every sentinel
// the table names, wrapped ones, and errors it does not know.
func giReplyErrors() []error {
	return []error{
		sasl.ErrCanceled, sasl.ErrTooLarge, sasl.ErrMalformed, sasl.ErrUnexpectedClientResponse,
		sasl.ErrAuthzFailed, sasl.ErrAuthFailed, sasl.ErrUnknownUser, sasl.ErrChannelBinding,
		sasl.ErrNeedsTLS, sasl.ErrUnsupportedMechanism, sasl.ErrTemporaryFailure,
		fmt.Errorf("sasl: SCRAM-SHA-256 server-final-message: %w", sasl.ErrAuthFailed),
		sasl.ErrServerNotVerified, context.DeadlineExceeded, errors.New("store: connection refused (password hunter2)"),
	}
}

// giFailSession is a go-imap session whose every mechanism fails with err
// mapped by IMAPError.
type giFailSession struct {
	*imapmemserver.UserSession // never used: the session stays unauthenticated
	err                        *error
}

func (s giFailSession) Close() error                     { return nil }
func (s giFailSession) AuthenticateMechanisms() []string { return []string{"X"} }
func (s giFailSession) Authenticate(string) (sasl.Server, error) {
	return giFailServer{s.err}, nil
}

type giFailServer struct{ err *error }

func (f giFailServer) Next([]byte) ([]byte, bool, error) { return nil, false, IMAPError(*f.err) }

// TestIMAPErrorAgreesWithExchange runs go-imap's own server and checks that
// for every outcome the reply it writes from IMAPError is the line
// sasl.Exchange writes for the same outcome.
func TestIMAPErrorAgreesWithExchange(t *testing.T) {
	var current error
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return giFailSession{err: &current}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapSASLIR: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	_, err = tp.ReadLine() // greeting
	require.NoError(t, err)
	for i, e := range giReplyErrors() {
		current = e
		tag := fmt.Sprintf("a%d", i)
		require.NoError(t, tp.PrintfLine("%s AUTHENTICATE X =", tag))
		got, err := tp.ReadLine()
		require.NoError(t, err)
		want := (&sasl.Exchange{Protocol: sasl.IMAP, Tag: tag}).Reply(e)
		assert.Equal(t, want, got, "%v", e)
		assert.NotContains(t, got, "hunter2")
	}
}

// TestIMAPError: a caller's *imap.Error passes through, nil is nil, and the
// rest comes from sasl.ReplyFor.
func TestIMAPError(t *testing.T) {
	custom := &imap.Error{Type: imap.StatusResponseTypeNo, Text: "custom"}
	assert.Same(t, custom, IMAPError(custom))
	assert.Same(t, custom, IMAPError(fmt.Errorf("wrapped: %w", custom)))
	assert.NoError(t, IMAPError(nil))
	for _, e := range giReplyErrors() {
		var ie *imap.Error
		require.ErrorAs(t, IMAPError(e), &ie)
		r := sasl.ReplyFor(e)
		assert.Equal(t, imap.StatusResponseType(r.IMAPStatus), ie.Type)
		assert.Equal(t, imap.ResponseCode(r.IMAPCode), ie.Code)
	}
	// The codes the table promises (RFC 5530).
	for e, code := range map[error]imap.ResponseCode{
		sasl.ErrAuthFailed:           imap.ResponseCodeAuthenticationFailed,
		sasl.ErrChannelBinding:       imap.ResponseCodeAuthenticationFailed,
		sasl.ErrAuthzFailed:          imap.ResponseCodeAuthorizationFailed,
		sasl.ErrNeedsTLS:             imap.ResponseCodePrivacyRequired,
		sasl.ErrTemporaryFailure:     imap.ResponseCodeUnavailable,
		errors.New("unknown"):        imap.ResponseCodeUnavailable,
		sasl.ErrUnsupportedMechanism: imap.ResponseCodeCannot,
	} {
		assert.Equal(t, code, IMAPError(e).(*imap.Error).Code, "%v", e)
	}
	assert.Equal(t, imap.StatusResponseTypeBad, IMAPError(sasl.ErrCanceled).(*imap.Error).Type)
}
