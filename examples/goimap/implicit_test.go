package goimap

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/internal/sasltest"
	"github.com/go-mailauth/mailauth/sasl"
)

// giFreeAddr returns a 127.0.0.1 address with a port that was free a
// moment ago, for go-imap's ListenAndServeTLS, which takes an address and
// does not report the port it bound.
func giFreeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestGoIMAPListenAndServeTLS runs go-imap's own implicit-TLS listener
// (ListenAndServeTLS: crypto/tls's tls.Listen, whose connections handshake
// lazily). go-imap asks the session for its mechanisms for the greeting
// before the handshake has run; the set must still be made with TLS, so
// the greeting and CAPABILITY advertise PLAIN, and PLAIN is accepted, not
// refused with NO [PRIVACYREQUIRED].
func TestGoIMAPListenAndServeTLS(t *testing.T) {
	stls, ctls, leaf := giCert(t)
	b := NewBackend(&sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: giStore{}, SCRAM: giStore{}}, leaf)
	b.AddUser("alice")
	srv := imapserver.New(&imapserver.Options{
		NewSession: b.NewSession,
		Caps:       imap.CapSet{imap.CapIMAP4rev1: {}},
		TLSConfig:  stls,
		Logger:     nopLogger{},
	})
	addr := giFreeAddr(t)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServeTLS(addr) }()
	t.Cleanup(func() { srv.Close() })

	var c *imapclient.Client
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err = imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: ctls}); err == nil {
			break
		}
		select {
		case serr := <-served:
			t.Fatalf("ListenAndServeTLS: %v", serr)
		default:
		}
	}
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.WaitGreeting())
	// The greeting's capabilities were computed before the handshake.
	caps := c.Caps()
	assert.True(t, caps.Has("AUTH=PLAIN"), "greeting capabilities: %v", caps)
	assert.True(t, caps.Has("AUTH=SCRAM-SHA-256-PLUS"), "greeting capabilities: %v", caps)

	got, err := c.Capability().Wait()
	require.NoError(t, err)
	assert.True(t, got.Has("AUTH=PLAIN"), "CAPABILITY: %v", got)

	err = c.Authenticate(sasltest.Plain("", "alice", "secret"))
	var ie *imap.Error
	if errors.As(err, &ie) {
		t.Fatalf("PLAIN inside implicit TLS refused: %v", ie)
	}
	require.NoError(t, err)
	_, err = c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	require.NoError(t, c.Logout().Wait())
}
