package tlsutil

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsSrvLoopbackPair connects a client to an implicit-TLS Listener on
// 127.0.0.1 and returns both handshaken ends.
func tlsSrvLoopbackPair(t *testing.T, server, client *tls.Config) (sc, cc *tls.Conn) {
	t.Helper()
	l := tlsSrvListen(t, server, nil)
	acc := tlsSrvAccept(l)
	cc, err := tls.Dial("tcp", l.Addr().String(), client)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	conn, ok := <-acc
	require.True(t, ok, "accept failed")
	t.Cleanup(func() { _ = conn.Close() })
	return conn.(*tls.Conn), cc
}

// tlsSrvBothBindings returns the server's and the client's channel-binding
// data of typ, with their errors.
func tlsSrvBothBindings(sc, cc *tls.Conn, typ string) (s, c []byte, serr, cerr error) {
	s, serr = ServerChannelBinding(sc, typ)
	cs := cc.ConnectionState()
	c, cerr = ChannelBinding(&cs, typ, nil)
	return
}

// TestChannelBindingLoopback: both ends of a real loopback connection
// compute the same data for every type the TLS version defines, and refuse
// the others (RFC 5929, RFC 9266).
func TestChannelBindingLoopback(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	for _, v := range tlsSrvVersions {
		t.Run(v.name, func(t *testing.T) {
			sc, cc := tlsSrvLoopbackPair(t, pki.server, tlsSrvClientVersion(pki.client, v.v))
			require.Equal(t, v.v, cc.ConnectionState().Version)

			// tls-exporter: TLS 1.3, and TLS 1.2 with extended master
			// secret, which Go always negotiates.
			s, c, serr, cerr := tlsSrvBothBindings(sc, cc, TLSExporter)
			require.NoError(t, serr)
			require.NoError(t, cerr)
			assert.Len(t, s, 32)
			assert.Equal(t, c, s)

			// tls-unique: TLS 1.2 only.
			s, c, serr, cerr = tlsSrvBothBindings(sc, cc, TLSUnique)
			if v.v == tls.VersionTLS12 {
				require.NoError(t, serr)
				require.NoError(t, cerr)
				assert.Len(t, s, 12) // verify_data length, RFC 5246 Section 7.4.9
				assert.Equal(t, c, s)
			} else {
				assert.ErrorIs(t, serr, ErrChannelBindingUnavailable)
				assert.ErrorIs(t, cerr, ErrChannelBindingUnavailable)
			}

			// tls-server-end-point: the served leaf against the peer's.
			s, c, serr, cerr = tlsSrvBothBindings(sc, cc, TLSServerEndPoint)
			require.NoError(t, serr)
			require.NoError(t, cerr)
			want := sha256.Sum256(pki.leaf.Leaf().Raw)
			assert.Equal(t, want[:], s)
			assert.Equal(t, c, s)

			// Two connections never share session bindings.
			sc2, cc2 := tlsSrvLoopbackPair(t, pki.server, tlsSrvClientVersion(pki.client, v.v))
			s2, _, err, _ := tlsSrvBothBindings(sc2, cc2, TLSExporter)
			require.NoError(t, err)
			assert.NotEqual(t, s2, s)
		})
	}
}

// TestChannelBindingEndPointHashes: tls-server-end-point hashes with the
// certificate's signature hash (SHA-256 for ECDSA P-256 and RSA-SHA256,
// SHA-384 for RSA-SHA384 and ECDSA-SHA384, SHA-512 for RSA-SHA512), and
// Ed25519, which has no such hash, is refused on both ends (RFC 5929,
// Section 4.1).
func TestChannelBindingEndPointHashes(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	sum256 := func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
	sum384 := func(b []byte) []byte { h := sha512.Sum384(b); return h[:] }
	sum512 := func(b []byte) []byte { h := sha512.Sum512(b); return h[:] }
	tests := []struct {
		name   string
		caOpts CertOptions
		leaf   CertOptions
		hash   func([]byte) []byte // nil: unavailable
	}{
		{"ecdsa-p256", CertOptions{}, CertOptions{}, sum256},
		{"rsa-sha256", CertOptions{Key: rsaKey}, CertOptions{Key: rsaKey, SignatureAlgorithm: x509.SHA256WithRSA}, sum256},
		{"rsa-sha384", CertOptions{Key: rsaKey}, CertOptions{Key: rsaKey, SignatureAlgorithm: x509.SHA384WithRSA}, sum384},
		{"rsa-pss-sha512", CertOptions{Key: rsaKey}, CertOptions{Key: rsaKey, SignatureAlgorithm: x509.SHA512WithRSAPSS}, sum512},
		{"ecdsa-p384-sha384", CertOptions{Key: p384}, CertOptions{Key: p384, SignatureAlgorithm: x509.ECDSAWithSHA384}, sum384},
		{"ed25519", CertOptions{Key: edKey}, CertOptions{Key: edKey}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := NewCA(&tt.caOpts)
			require.NoError(t, err)
			lo := tt.leaf
			lo.Hosts = []string{tlsSrvTestHost}
			leaf, err := ca.Issue(&lo)
			require.NoError(t, err)
			cert := leaf.Certificate
			srv := NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
			for _, v := range tlsSrvVersions {
				sc, cc := tlsSrvLoopbackPair(t, srv, tlsSrvClientVersion(NewClientConfig(tlsSrvTestHost, ca.Pool()), v.v))
				s, c, serr, cerr := tlsSrvBothBindings(sc, cc, TLSServerEndPoint)
				if tt.hash == nil {
					assert.ErrorIs(t, serr, ErrChannelBindingUnavailable, v.name)
					assert.ErrorIs(t, cerr, ErrChannelBindingUnavailable, v.name)
					continue
				}
				require.NoError(t, serr, v.name)
				require.NoError(t, cerr, v.name)
				assert.Equal(t, tt.hash(leaf.Leaf().Raw), s, v.name)
				assert.Equal(t, c, s, v.name)
			}
		})
	}
}

// TestChannelBindingErrors: no handshake, unknown type, no certificate.
func TestChannelBindingErrors(t *testing.T) {
	_, err := ChannelBinding(nil, TLSExporter, nil)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
	_, err = ChannelBinding(&tls.ConnectionState{}, TLSExporter, nil)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
	done := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	_, err = ChannelBinding(done, "tls-bogus", nil)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
	_, err = ChannelBinding(done, TLSServerEndPoint, nil)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
	_, err = ChannelBinding(done, TLSUnique, nil)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
	old := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS11}
	_, err = ChannelBinding(old, TLSExporter, nil)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
	// MD5 and SHA-1 signatures hash with SHA-256 (RFC 5929, Section 4.1).
	c := &x509.Certificate{Raw: []byte("cert"), SignatureAlgorithm: x509.SHA1WithRSA}
	got, err := ServerEndPoint(c)
	require.NoError(t, err)
	want := sha256.Sum256([]byte("cert"))
	assert.Equal(t, want[:], got)
	_, err = ServerEndPoint(&x509.Certificate{Raw: []byte("cert"), SignatureAlgorithm: x509.UnknownSignatureAlgorithm})
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
}

// TestChannelBindingCopies: the returned tls-unique is a copy, so a caller
// changing it cannot change the connection's state.
func TestChannelBindingCopies(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	sc, _ := tlsSrvLoopbackPair(t, pki.server, tlsSrvClientVersion(pki.client, tls.VersionTLS12))
	a, err := ServerChannelBinding(sc, TLSUnique)
	require.NoError(t, err)
	a[0] ^= 0xff
	b, err := ServerChannelBinding(sc, TLSUnique)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

// TestChannelBindingHandBuiltState: a ConnectionState not made by crypto/tls
// has no exporter; tls-exporter is an error, not a panic.
func TestChannelBindingHandBuiltState(t *testing.T) {
	cs := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	_, err := ChannelBinding(cs, TLSExporter, nil)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
}
