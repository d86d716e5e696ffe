//go:build interop

package interop

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// tlsPair is both ends of a real TLS connection made in memory, so that
// channel-binding data is computed independently on each side, as two
// peers on a network would.
type tlsPair struct {
	Client, Server *tls.ConnectionState
	// ServerLeaf is the certificate the server served (what the client
	// received), for the server's tls-server-end-point.
	ServerLeaf *x509.Certificate
}

// newTLSPair handshakes a TLS connection over net.Pipe with the given
// maximum version (0: TLS 1.3) and returns both sides' state.
func newTLSPair(t *testing.T, pki *testPKI, version uint16) tlsPair {
	t.Helper()
	return newTLSPairCert(t, pki, version, nil)
}

// newTLSPairCert is newTLSPair with a client certificate (for EXTERNAL).
func newTLSPairCert(t *testing.T, pki *testPKI, version uint16, clientCert *tls.Certificate) tlsPair {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	scfg := pki.serverTLS(version)
	srv := tls.Server(a, scfg)
	cli := tls.Client(b, pki.clientTLS(clientCert, version))
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("tls pair: client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("tls pair: server handshake: %v", err)
	}
	cs, ss := cli.ConnectionState(), srv.ConnectionState()
	return tlsPair{Client: &cs, Server: &ss, ServerLeaf: cs.PeerCertificates[0]}
}

// cbOf returns channel-binding data of typ from one side of a connection.
func cbOf(cs *tls.ConnectionState, typ string) []byte {
	b, err := tlsutil.ChannelBinding(cs, typ, nil)
	if err != nil {
		return nil
	}
	return b
}

// memStore is the credential store of our servers in these tests: it holds
// plaintext passwords and derives what each mechanism needs. It
// implements sasl.PasswordVerifier, PlaintextLookup, DigestMD5Lookup and
// SCRAMLookup.
type memStore struct {
	users map[string]string
}

func (m memStore) get(user string) (string, error) {
	pw, ok := m.users[user]
	if !ok {
		return "", fmt.Errorf("interop store: %w", sasl.ErrUnknownUser)
	}
	return pw, nil
}

func (m memStore) VerifyPassword(_ context.Context, user, password string) error {
	pw, err := m.get(user)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(pw), []byte(password)) { // test store; lengths may leak
		return sasl.ErrAuthFailed
	}
	return nil
}

func (m memStore) LookupPassword(_ context.Context, user string) (string, error) {
	return m.get(user)
}

func (m memStore) LookupDigestMD5(_ context.Context, user, realm string) ([16]byte, error) {
	pw, err := m.get(user)
	if err != nil {
		return [16]byte{}, err
	}
	return md5.Sum([]byte(user + ":" + realm + ":" + pw)), nil
}

func (m memStore) LookupSCRAM(_ context.Context, mech, user string) (sasl.SCRAMCredentials, error) {
	pw, err := m.get(user)
	if err != nil {
		return sasl.SCRAMCredentials{}, err
	}
	var h func() hash.Hash
	switch strings.TrimSuffix(mech, "-PLUS") {
	case "SCRAM-SHA-1":
		h = sha1.New
	case "SCRAM-SHA-256":
		h = sha256.New
	case "SCRAM-SHA-512":
		h = sha512.New
	default:
		return sasl.SCRAMCredentials{}, fmt.Errorf("interop store: no SCRAM hash for %q", mech)
	}
	salt := []byte("interop-salt-" + user)
	salted, err := pbkdf2.Key(h, pw, salt, 4096, h().Size())
	if err != nil {
		return sasl.SCRAMCredentials{}, err
	}
	mac := func(msg string) []byte {
		m := hmac.New(h, salted)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	sh := h()
	sh.Write(mac("Client Key"))
	return sasl.SCRAMCredentials{Salt: salt, Iterations: 4096, StoredKey: sh.Sum(nil), ServerKey: mac("Server Key")}, nil
}

// peerUsers are the users our servers know in these tests.
var peerUsers = map[string]string{
	"gsasluser": "gsaslpass",
	"plain":     "plainpass",
	"utf8":      "päss wörd",
}

// ourServerConfig is the ServerConfig of our servers facing peer clients.
func ourServerConfig(hostname string) *sasl.ServerConfig {
	st := memStore{users: peerUsers}
	return &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"),
		Passwords: st,
		Plaintext: st,
		DigestMD5: st,
		SCRAM:     st,
		Hostname:  hostname,
		Anonymous: func(context.Context, string) error { return nil },
		Legacy:    true, // the peers speak LOGIN, CRAM-MD5, DIGEST-MD5 too
	}
}

// errPeerRefused wraps a peer program's refusal to authenticate (a SASL
// server that exits with an error, a client that rejects our server).
var errPeerRefused = errors.New("peer refused")

// properRefusal reports whether err is an authentication refusal by the
// authenticating side: a peer's refusal, our server's or client's
// sentinel for bad credentials or channel binding, or a protocol server's
// final negative reply.
func properRefusal(err error) bool {
	return errors.Is(err, errPeerRefused) || errors.Is(err, sasl.ErrAuthFailed) ||
		errors.Is(err, sasl.ErrChannelBinding) || errors.Is(err, sasl.ErrAuthzFailed)
}

// ourClient returns our Client for mech, forced through ClientConfig.
func ourClient(cfg sasl.ClientConfig, mech string, conn *sasl.ConnState) (sasl.Client, error) {
	cfg.Mechanisms = []string{mech}
	return cfg.NewClient([]string{mech}, conn)
}

// ourServer returns our Server for mech on conn.
func ourServer(cfg *sasl.ServerConfig, mech string, conn *sasl.ConnState) (sasl.Server, error) {
	s, err := sasl.NewServerSet(cfg, conn).NewServer(context.Background(), mech)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// serverFirst lists mechanisms whose first message is the server's: a
// client's empty first output means "no initial response" for them.
func serverFirst(mech string) bool {
	switch mech {
	case "CRAM-MD5", "DIGEST-MD5", "LOGIN":
		return true
	}
	return false
}

// newTLSPairRogue makes a TLS 1.3 pair whose client presents the rogue
// certificate and whose server requests but does not verify certificates,
// so the unverified certificate reaches the SASL layer.
func newTLSPairRogue(t *testing.T, pki *testPKI) tlsPair {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	scfg := pki.serverTLS(0)
	scfg.ClientAuth = tls.RequestClientCert
	srv := tls.Server(a, scfg)
	cli := tls.Client(b, pki.clientTLS(&pki.Rogue, 0))
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("tls pair: client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("tls pair: server handshake: %v", err)
	}
	cs, ss := cli.ConnectionState(), srv.ConnectionState()
	return tlsPair{Client: &cs, Server: &ss, ServerLeaf: cs.PeerCertificates[0]}
}
