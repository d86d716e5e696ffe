package gosmtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/internal/sasltest"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

type gsStore struct{ err error }

func (s gsStore) VerifyPassword(ctx context.Context, user, pass string) error {
	if s.err != nil {
		return s.err
	}
	if user == "alice" && pass == "secret" {
		return nil
	}
	return sasl.ErrAuthFailed
}

func gsStart(t *testing.T, store gsStore) (string, *tls.Config) {
	kp, err := tlsutil.SelfSigned(nil)
	require.NoError(t, err)
	leaf := kp.Leaf()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	srv := smtp.NewServer(NewBackend(&sasl.ServerConfig{Passwords: store, Legacy: true}, leaf))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{kp.Certificate}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), tlsutil.NewClientConfig("localhost", pool)
}

func TestGoSMTP(t *testing.T) {
	addr, ctls := gsStart(t, gsStore{})
	for _, tc := range []struct {
		name   string
		client sasl.Client
		code   int
	}{
		{"PLAIN", sasltest.Plain("", "alice", "secret"), 0},
		{"LOGIN", sasltest.Login("alice", "secret"), 0},
		{"PLAIN wrong", sasltest.Plain("", "alice", "nope"), 535},
		{"LOGIN unknown", sasltest.Login("bob", "secret"), 535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := smtp.DialStartTLS(addr, ctls)
			require.NoError(t, err)
			defer c.Close()
			assert.True(t, c.SupportsAuth("PLAIN"))
			err = c.Auth(tc.client)
			if tc.code != 0 {
				var se *smtp.SMTPError
				require.True(t, errors.As(err, &se), "%v", err)
				assert.Equal(t, tc.code, se.Code)
				return
			}
			require.NoError(t, err)
			require.NoError(t, c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader("Subject: hi\r\n\r\nhi\r\n")))
			require.NoError(t, c.Quit())
		})
	}
}

// TestGoSMTPCallbackError: a store's own *smtp.SMTPError reaches the
// client unchanged.
func TestGoSMTPCallbackError(t *testing.T) {
	custom := &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Store busy"}
	addr, ctls := gsStart(t, gsStore{err: custom})
	c, err := smtp.DialStartTLS(addr, ctls)
	require.NoError(t, err)
	defer c.Close()
	err = c.Auth(sasltest.Plain("", "alice", "secret"))
	var se *smtp.SMTPError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, 421, se.Code)
	assert.Equal(t, "Store busy", se.Message)
}

func TestGoSMTPBeforeTLS(t *testing.T) {
	addr, _ := gsStart(t, gsStore{})
	c, err := smtp.Dial(addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("localhost"))
	assert.False(t, c.SupportsAuth("PLAIN"), "no plaintext mechanism before TLS")
	require.Error(t, c.Mail("a@example.org", nil))
}

func TestSMTPError(t *testing.T) {
	for err, code := range map[error]int{
		sasl.ErrAuthFailed: 535, sasl.ErrAuthzFailed: 535, sasl.ErrNeedsTLS: 538,
		sasl.ErrUnsupportedMechanism: 504, sasl.ErrMalformed: 501, sasl.ErrTooLarge: 500,
		errors.New("db down: secret detail"): 454,
	} {
		var se *smtp.SMTPError
		require.True(t, errors.As(SMTPError(err), &se))
		assert.Equal(t, code, se.Code, err.Error())
		assert.NotContains(t, se.Message, "secret")
	}
}
