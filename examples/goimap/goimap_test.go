package goimap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/examples/mailclient"
	"github.com/go-mailauth/mailauth/internal/sasltest"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

type giStore struct{}

func (giStore) VerifyPassword(ctx context.Context, user, pass string) error {
	if user == "alice" && pass == "secret" {
		return nil
	}
	return sasl.ErrAuthFailed
}

func (giStore) LookupPassword(ctx context.Context, user string) (string, error) {
	if user == "alice" {
		return "secret", nil
	}
	return "", sasl.ErrUnknownUser
}

func giCert(t *testing.T) (*tls.Config, *tls.Config, *x509.Certificate) {
	kp, err := tlsutil.SelfSigned(nil)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(kp.Leaf())
	return &tls.Config{Certificates: []tls.Certificate{kp.Certificate}}, tlsutil.NewClientConfig("localhost", pool), kp.Leaf()
}

func (giStore) LookupSCRAM(ctx context.Context, mech, user string) (sasl.SCRAMCredentials, error) {
	if user != "alice" {
		return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	}
	return sasl.NewSCRAMCredentials(mech, "secret", []byte("fixed salt"), 4096)
}

func giStart(t *testing.T) (addr string, clientTLS *tls.Config) {
	stls, ctls, leaf := giCert(t)
	b := NewBackend(&sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: giStore{}, Plaintext: giStore{}, SCRAM: giStore{}, Legacy: true}, leaf)
	b.AddUser("alice")
	srv := imapserver.New(&imapserver.Options{
		NewSession: b.NewSession,
		Caps:       imap.CapSet{imap.CapIMAP4rev1: {}},
		TLSConfig:  stls,
		Logger:     nopLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), ctls
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func TestGoIMAP(t *testing.T) {
	addr, ctls := giStart(t)
	for _, tc := range []struct {
		name   string
		client sasl.Client
		want   imap.ResponseCode
	}{
		{"PLAIN", sasltest.Plain("", "alice", "secret"), ""},
		{"CRAM-MD5", sasltest.CRAMMD5("alice", "secret"), ""},
		{"PLAIN wrong", sasltest.Plain("", "alice", "nope"), imap.ResponseCodeAuthenticationFailed},
		{"PLAIN authz", sasltest.Plain("root", "alice", "secret"), imap.ResponseCodeAuthorizationFailed},
		{"CRAM-MD5 unknown", sasltest.CRAMMD5("bob", "secret"), imap.ResponseCodeAuthenticationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: ctls})
			require.NoError(t, err)
			defer c.Close()
			caps, err := c.Capability().Wait()
			require.NoError(t, err)
			assert.True(t, caps.Has("AUTH=PLAIN"), "PLAIN offered after STARTTLS: %v", caps)
			err = c.Authenticate(tc.client)
			if tc.want != "" {
				var ie *imap.Error
				require.True(t, errors.As(err, &ie), "%v", err)
				assert.Equal(t, tc.want, ie.Code)
				return
			}
			require.NoError(t, err)
			_, err = c.Select("INBOX", nil).Wait()
			require.NoError(t, err)
			require.NoError(t, c.Logout().Wait())
		})
	}
}

// TestGoIMAPBeforeTLS: without TLS go-imap advertises nothing, and the
// set offers no plaintext mechanism anyway.
func TestGoIMAPBeforeTLS(t *testing.T) {
	addr, _ := giStart(t)
	c, err := imapclient.DialInsecure(addr, nil)
	require.NoError(t, err)
	defer c.Close()
	caps, err := c.Capability().Wait()
	require.NoError(t, err)
	assert.False(t, caps.Has("AUTH=PLAIN"))
	assert.True(t, caps.Has(imap.CapLoginDisabled))
	err = c.Authenticate(sasltest.Plain("", "alice", "secret"))
	var ie *imap.Error
	require.True(t, errors.As(err, &ie), "%v", err)
	assert.Equal(t, imap.ResponseCodePrivacyRequired, ie.Code)
}

// TestGoIMAPOurClient logs in to go-imap's server with mailauth's own
// client framing (sasl.Exchange via mailclient), every mechanism it
// offers after STARTTLS, SCRAM-*-PLUS with the served leaf included.
func TestGoIMAPOurClient(t *testing.T) {
	addr, ctls := giStart(t)
	for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "CRAM-MD5", "DIGEST-MD5", "LOGIN", "PLAIN"} {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		res, err := mailclient.Login(context.Background(), conn, &mailclient.Options{
			Protocol: sasl.IMAP, TLS: ctls, SASL: &sasl.ClientConfig{Username: "alice", Password: "secret", Mechanisms: []string{mech}, Host: "localhost"},
		})
		conn.Close()
		require.NoError(t, err, mech)
		assert.Equal(t, mech, res.Mechanism)
	}
}
