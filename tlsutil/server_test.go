package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var tlsSrvVersions = []struct {
	name string
	v    uint16
}{{"1.2", tls.VersionTLS12}, {"1.3", tls.VersionTLS13}}

// TestNewServerConfig: every security setting is explicit.
func TestNewServerConfig(t *testing.T) {
	c := NewServerConfig(nil)
	assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
	assert.Equal(t, uint16(tls.VersionTLS13), c.MaxVersion)
	assert.ElementsMatch(t, []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}, c.CipherSuites)
	assert.Equal(t, []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, c.CurvePreferences)
	assert.False(t, c.SessionTicketsDisabled)
	assert.Empty(t, c.Certificates)
	// Two configs share no slice.
	c.CipherSuites[0] = 0
	assert.NotZero(t, NewServerConfig(nil).CipherSuites[0])
}

// TestNewClientConfig: host name verification on, resumption cache set.
func TestNewClientConfig(t *testing.T) {
	pool := x509.NewCertPool()
	c := NewClientConfig("imap.example.org", pool)
	assert.Equal(t, "imap.example.org", c.ServerName)
	assert.Same(t, pool, c.RootCAs)
	assert.False(t, c.InsecureSkipVerify)
	assert.NotNil(t, c.ClientSessionCache)
	assert.Equal(t, tls.RenegotiateNever, c.Renegotiation)
	assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
	assert.Len(t, c.CipherSuites, 6)
}

// TestConfigNegotiation: our configs agree on a post-quantum group on TLS
// 1.3 and an AEAD suite on TLS 1.2, and refuse a CBC-only or TLS 1.1 peer.
func TestConfigNegotiation(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	_, cc := tlsSrvHandshakePair(t, pki.server, pki.client)
	cs := cc.ConnectionState()
	assert.Equal(t, uint16(tls.VersionTLS13), cs.Version)
	assert.Equal(t, tls.X25519MLKEM768, cs.CurveID)

	_, cc = tlsSrvHandshakePair(t, pki.server, tlsSrvClientVersion(pki.client, tls.VersionTLS12))
	cs = cc.ConnectionState()
	assert.Equal(t, uint16(tls.VersionTLS12), cs.Version)
	assert.Contains(t, pki.server.CipherSuites, cs.CipherSuite)
	assert.Contains(t, []tls.CurveID{tls.X25519, tls.CurveP256}, cs.CurveID)

	cbc := tlsSrvClientVersion(pki.client, tls.VersionTLS12)
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	_, _, serr, cerr := tlsSrvTryHandshake(pki.server, cbc)
	assert.Error(t, serr)
	assert.Error(t, cerr)

	old := pki.client.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	_, _, serr, _ = tlsSrvTryHandshake(pki.server, old)
	assert.Error(t, serr)
}

// TestClientConfigCertificates (checklist C10, EAST T_1–T_4): a client from
// NewClientConfig rejects a self-signed certificate, an unknown root, the
// wrong host and an expired certificate.
func TestClientConfigCertificates(t *testing.T) {
	ca, err := NewCA(nil)
	require.NoError(t, err)
	otherCA, err := NewCA(nil)
	require.NoError(t, err)
	good, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}})
	require.NoError(t, err)
	self, err := SelfSigned(&CertOptions{Hosts: []string{tlsSrvTestHost}})
	require.NoError(t, err)
	unknown, err := otherCA.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}})
	require.NoError(t, err)
	wrongHost, err := ca.Issue(&CertOptions{Hosts: []string{"other.example.org"}})
	require.NoError(t, err)
	expired, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)
	wildcard, err := ca.Issue(&CertOptions{Hosts: []string{"*.example.test"}})
	require.NoError(t, err)
	deepWildcard, err := ca.Issue(&CertOptions{Hosts: []string{"*.test"}})
	require.NoError(t, err)

	tests := []struct {
		name string
		kp   *KeyPair
		ok   bool
	}{
		{"valid", good, true},
		{"wildcard", wildcard, true},
		{"T1-self-signed", self, false},
		{"T2-unknown-root", unknown, false},
		{"T3-wrong-host", wrongHost, false},
		{"T4-expired", expired, false},
		{"wildcard-two-labels", deepWildcard, false},
	}
	for _, tt := range tests {
		for _, v := range tlsSrvVersions {
			t.Run(tt.name+"/"+v.name, func(t *testing.T) {
				cert := tt.kp.Certificate
				srv := NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
				cli := tlsSrvClientVersion(NewClientConfig(tlsSrvTestHost, ca.Pool()), v.v)
				_, _, _, cerr := tlsSrvTryHandshake(srv, cli)
				if tt.ok {
					assert.NoError(t, cerr)
				} else {
					assert.Error(t, cerr)
				}
			})
		}
	}
	t.Run("no-server-name", func(t *testing.T) {
		cert := good.Certificate
		srv := NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
		_, _, _, cerr := tlsSrvTryHandshake(srv, NewClientConfig("", ca.Pool()))
		assert.Error(t, cerr)
	})
}

// TestServedCertificateResumption: the served leaf is known on full and on
// resumed handshakes (TLS 1.2 and 1.3), even after the server's certificate
// changed in between: a resumed session is bound to the certificate of its
// original handshake, the one the client has in PeerCertificates.
func TestServedCertificateResumption(t *testing.T) {
	for _, v := range tlsSrvVersions {
		t.Run(v.name, func(t *testing.T) {
			ca, err := NewCA(nil)
			require.NoError(t, err)
			first, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}})
			require.NoError(t, err)
			second, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}})
			require.NoError(t, err)
			var current atomic.Pointer[tls.Certificate]
			current.Store(&first.Certificate)
			srv := NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load(), nil })
			cli := tlsSrvClientVersion(NewClientConfig(tlsSrvTestHost, ca.Pool()), v.v)

			sc, cc := tlsSrvHandshakePair(t, srv, cli)
			require.False(t, cc.ConnectionState().DidResume)
			require.Equal(t, first.Leaf().Raw, ServedCertificate(sc).Raw)

			current.Store(&second.Certificate) // a reload between connections
			sc, cc = tlsSrvHandshakePair(t, srv, cli)
			require.True(t, cc.ConnectionState().DidResume, "session not resumed")
			require.NotNil(t, ServedCertificate(sc))
			assert.Equal(t, first.Leaf().Raw, ServedCertificate(sc).Raw)
			assert.Equal(t, cc.ConnectionState().PeerCertificates[0].Raw, ServedCertificate(sc).Raw)
			scb, err := ServerChannelBinding(sc, TLSServerEndPoint)
			require.NoError(t, err)
			cs := cc.ConnectionState()
			ccb, err := ChannelBinding(&cs, TLSServerEndPoint, nil)
			require.NoError(t, err)
			assert.Equal(t, ccb, scb)

			// A resumption of the resumed session still knows the leaf.
			sc, cc = tlsSrvHandshakePair(t, srv, cli)
			require.True(t, cc.ConnectionState().DidResume)
			assert.Equal(t, first.Leaf().Raw, ServedCertificate(sc).Raw)
		})
	}
}

// TestServerDeclinesForeignTicket: a ticket issued by a plain tls.Server
// (no leaf inside) is not resumed by Server, so the full handshake records
// the leaf.
func TestServerDeclinesForeignTicket(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	c1, c2 := tlsSrvPipe()
	errc := make(chan error, 1)
	go func() {
		sc := tls.Server(c1, pki.server)
		err := sc.Handshake()
		if err == nil {
			_, err = sc.Write([]byte{'!'})
		}
		errc <- err
	}()
	cc := tls.Client(c2, pki.client)
	require.NoError(t, cc.Handshake())
	_, err := cc.Read(make([]byte, 1))
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.Nil(t, ServedCertificate(cc), "a client conn has no served leaf")

	sc, cc := tlsSrvHandshakePair(t, pki.server, pki.client)
	assert.False(t, cc.ConnectionState().DidResume)
	assert.Equal(t, pki.leaf.Leaf().Raw, ServedCertificate(sc).Raw)
}

// TestServedCertificateStatic: with Certificates instead of GetCertificate,
// Server records the certificate crypto/tls would pick: the first one the
// client supports.
func TestServedCertificateStatic(t *testing.T) {
	ca, err := NewCA(nil)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaCert, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}, Key: rsaKey})
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecCert, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}, Key: ecKey})
	require.NoError(t, err)

	srv := NewServerConfig(nil)
	srv.Certificates = []tls.Certificate{ecCert.Certificate, rsaCert.Certificate}
	for _, tt := range []struct {
		name   string
		suites []uint16
		want   *KeyPair
	}{
		{"ecdsa", nil, ecCert},
		{"rsa-only-client", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, rsaCert},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cli := tlsSrvClientVersion(NewClientConfig(tlsSrvTestHost, ca.Pool()), tls.VersionTLS12)
			if tt.suites != nil {
				cli.CipherSuites = tt.suites
			}
			sc, cc := tlsSrvHandshakePair(t, srv, cli)
			assert.Equal(t, tt.want.Leaf().Raw, ServedCertificate(sc).Raw)
			assert.Equal(t, cc.ConnectionState().PeerCertificates[0].Raw, ServedCertificate(sc).Raw)
		})
	}

	// GetConfigForClient: the Config it returns is instrumented too.
	gc := NewServerConfig(nil)
	gc.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := NewServerConfig(nil)
		c.Certificates = []tls.Certificate{rsaCert.Certificate}
		return c, nil
	}
	sc, _ := tlsSrvHandshakePair(t, gc, NewClientConfig(tlsSrvTestHost, ca.Pool()))
	assert.Equal(t, rsaCert.Leaf().Raw, ServedCertificate(sc).Raw)
}

// TestServerCertificateErrors: GetCertificate's error fails the handshake
// and nothing is recorded; a Config without certificates fails too.
func TestServerCertificateErrors(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	srv := NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, assert.AnError
	})
	sc, _, serr, cerr := tlsSrvTryHandshake(srv, pki.client)
	assert.ErrorIs(t, serr, assert.AnError)
	assert.Error(t, cerr)
	assert.Nil(t, ServedCertificate(sc))
	_, _, serr, _ = tlsSrvTryHandshake(NewServerConfig(nil), pki.client)
	assert.ErrorContains(t, serr, "no certificates")
	assert.Nil(t, ServedCertificate(nil))
}

// TestServerChannelBindingNoLeaf: on a tls.Server connection the served leaf
// is unknown, and tls-server-end-point is refused rather than taken from
// the client's certificate.
func TestServerChannelBindingNoLeaf(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	c1, c2 := tlsSrvPipe()
	errc := make(chan error, 1)
	sc := tls.Server(c1, pki.server)
	go func() { errc <- sc.Handshake() }()
	cc := tls.Client(c2, pki.client)
	require.NoError(t, cc.Handshake())
	require.NoError(t, <-errc)
	_, err := ServerChannelBinding(sc, TLSServerEndPoint)
	assert.ErrorIs(t, err, ErrChannelBindingUnavailable)
	cb, err := ServerChannelBinding(sc, TLSExporter)
	require.NoError(t, err)
	assert.Len(t, cb, 32)
}

// TestCheckRecordHeader covers the first-bytes sniffing rule.
func TestCheckRecordHeader(t *testing.T) {
	ok := [][]byte{
		{0x16, 3, 1, 0x02, 0x00}, // TLS 1.2/1.3 ClientHello record
		{0x16, 3, 0, 0x00, 0x01},
		{0x16, 3, 3, 0x40, 0x00}, // 2^14
	}
	bad := [][]byte{
		nil, {0x16, 3, 1, 0},
		[]byte("A1 CA"), []byte("EHLO "), []byte("STLS\r"),
		{0x16, 3, 1, 0, 0},       // empty record
		{0x16, 3, 1, 0x40, 0x01}, // over 2^14
		{0x16, 3, 5, 0, 1},       // unknown minor version
		{0x16, 2, 0, 0, 1},       // SSL 2 version
		{0x15, 3, 1, 0, 2},       // alert
		{0x17, 3, 3, 0, 2},       // application data
		{0x80, 0x2e, 1, 3, 1},    // SSLv2-compatible ClientHello
	}
	for _, b := range ok {
		assert.NoError(t, srvCheckRecordHeader(b), "%x", b)
	}
	for _, b := range bad {
		assert.ErrorIs(t, srvCheckRecordHeader(b), ErrNotTLS, "%x", b)
	}
}
