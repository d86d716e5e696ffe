package sasl

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// mutualFakeServer is a server that knows no password: it runs the first
// part of SCRAM or DIGEST-MD5 and then reports success without the proof
// a real server sends (SCRAM v=, DIGEST-MD5 rspauth).
func mutualFakeServer(mech string) Server {
	step := 0
	return xchgFuncServer(func(resp []byte) ([]byte, bool, error) {
		step++
		switch {
		case strings.HasPrefix(mech, "SCRAM") && step == 1:
			_, nonce, _ := strings.Cut(string(resp), ",r=")
			return []byte("r=" + nonce + "fake,s=c2FsdHNhbHRzYWx0,i=4096"), false, nil
		case mech == DigestMD5 && step == 1:
			return []byte(`realm="example.org",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,algorithm=md5-sess`), false, nil
		}
		return nil, true, nil // "OK", with nothing to show for it
	})
}

// TestMutualFakeServerRefused: a client of a mutual mechanism does not
// report a login when the server says OK before proving itself (defect:
// Exchange.Authenticate returned nil on the bare success reply).
func TestMutualFakeServerRefused(t *testing.T) {
	conn := ClientConnState(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13})
	for _, p := range xchgProtocols {
		for _, mech := range []string{SCRAMSHA256, SCRAMSHA1, DigestMD5} {
			t.Run(p.String()+"/"+mech, func(t *testing.T) {
				ccfg := &ClientConfig{Username: "alice", Password: "secret", Mechanisms: []string{mech}}
				c, err := ccfg.NewClient([]string{mech}, conn)
				require.NoError(t, err)
				require.Error(t, Finished(c), "not finished before the exchange")

				sc, cc := xchgPipe(t)
				srvErr := xchgGo(func() error {
					return xchgServeOne(&Exchange{Protocol: p}, sc, func(string) Server { return mutualFakeServer(mech) })
				})
				err = xchgAuth(&Exchange{Protocol: p, Tag: "a1", SASLIR: true}, cc, c)
				require.ErrorIs(t, err, ErrServerNotVerified)
				assert.ErrorIs(t, Finished(c), ErrServerNotVerified)
				require.NoError(t, <-srvErr)
			})
		}
	}
}

// TestMutualForeignClient: a client that cannot say whether it verified
// the server is not trusted for a mutual mechanism's name.
func TestMutualForeignClient(t *testing.T) {
	sc, cc := xchgPipe(t)
	srvErr := xchgGo(func() error {
		return xchgServeOne(&Exchange{Protocol: SMTP}, sc, func(string) Server { return mutualFakeServer(SCRAMSHA256) })
	})
	c := &xchgFuncClient{mech: SCRAMSHA256, ir: []byte("n,,n=alice,r=abc"),
		next: func([]byte) ([]byte, error) { return []byte("c=biws,r=abcfake,p=AAAA"), nil }}
	err := xchgAuth(&Exchange{Protocol: SMTP}, cc, c)
	require.ErrorIs(t, err, ErrServerNotVerified)
	require.NoError(t, <-srvErr)
}

// TestMutualRealServerFinished: against a real server, Finished is nil
// after the exchange, and ChosenMechanism names what ran.
func TestMutualRealServerFinished(t *testing.T) {
	st := scramTestUsers(t, "user")
	set := NewServerSet(&ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: st}, plainTLSConn())
	c, err := (&ClientConfig{Username: "user", Password: "pencil"}).NewClient(set.Mechanisms(), plainTLSConn())
	require.NoError(t, err)
	m, ok := ChosenMechanism(c)
	require.True(t, ok)
	assert.Equal(t, SCRAMSHA256, m.Name())
	assert.True(t, m.Security().Mutual)
	sc, cc := xchgPipe(t)
	srvErr := xchgGo(func() error {
		return xchgServeOne(&Exchange{Protocol: IMAP}, sc, func(mech string) Server {
			s, err := set.NewServer(t.Context(), mech)
			require.NoError(t, err)
			return s
		})
	})
	require.NoError(t, xchgAuth(&Exchange{Protocol: IMAP, Tag: "a1"}, cc, c))
	require.NoError(t, <-srvErr)
	assert.NoError(t, Finished(c))
}

// TestServerEndPointNeverPeerCert: on the server side, tls-server-end-point
// is the certificate the server served, never PeerCertificates[0] (the
// client's). Defect: with no served certificate recorded, the binding fell
// back to the client's certificate, which a man in the middle controls.
func TestServerEndPointNeverPeerCert(t *testing.T) {
	kp, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: []string{"mitm.example"}})
	require.NoError(t, err)
	clientCert := kp.Leaf()
	cs := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13,
		PeerCertificates: []*x509.Certificate{clientCert}}
	want, err := tlsutil.ServerEndPoint(clientCert)
	require.NoError(t, err)

	for name, conn := range map[string]*ConnState{
		"ServerConnState without served": ServerConnState(cs, nil, nil),
		"client state given to a set":    ClientConnState(cs),
		"zero-side literal":              {tls: cs},
	} {
		t.Run(name, func(t *testing.T) {
			set := NewServerSet(&ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: scramTestUsers(t, "user")}, conn)
			_, err := set.conn.ChannelBinding(tlsutil.TLSServerEndPoint)
			require.ErrorIs(t, err, tlsutil.ErrChannelBindingUnavailable)
			// A client bound to that certificate's hash is refused.
			ccfg := &ClientConfig{Username: "user", Password: "pencil", ChannelBindingType: tlsutil.TLSServerEndPoint}
			c, err := ccfg.NewClient([]string{SCRAMSHA256Plus}, ClientConnState(cs))
			require.NoError(t, err)
			s, err := testServer(t.Context(), set.cfg, &set.conn, SCRAMSHA256Plus)
			if err != nil {
				return // not even offered: no binding data at all
			}
			_, serr := runExchange(t, c, s)
			require.ErrorIs(t, serr, ErrChannelBinding)
			_, ok := set.Identity()
			assert.False(t, ok)
		})
	}
	// With the served certificate known, it is that one.
	served := ServerConnState(cs, kp.Leaf(), nil)
	got, err := served.ChannelBinding(tlsutil.TLSServerEndPoint)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	other, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: []string{"mail.example"}})
	require.NoError(t, err)
	got, err = ServerConnState(cs, other.Leaf(), nil).ChannelBinding(tlsutil.TLSServerEndPoint)
	require.NoError(t, err)
	assert.NotEqual(t, want, got)
}

// TestSCRAMNeedsSecret: without ServerConfig.SCRAMSecret SCRAM is neither
// offered nor accepted. The fake salt of an unknown user is keyed by it; a
// key random per process would change that salt at a restart or between
// replicas while real users' salts stay (issue 8, defect 7). With the
// secret, two servers (two processes) give an unknown user the same salt.
func TestSCRAMNeedsSecret(t *testing.T) {
	st := scramTestUsers(t, "user")
	set := NewServerSet(&ServerConfig{SCRAM: st}, plainTLSConn())
	assert.NotContains(t, set.Mechanisms(), SCRAMSHA256)
	_, err := set.NewServer(t.Context(), SCRAMSHA256)
	require.ErrorIs(t, err, ErrUnsupportedMechanism)
	assert.ErrorContains(t, err, "SCRAMSecret")

	firstSalt := func() string {
		cfg := &ServerConfig{SCRAM: st, SCRAMSecret: []byte("shared by every replica")}
		s, err := NewServerSet(cfg, plainTLSConn()).NewServer(t.Context(), SCRAMSHA256)
		require.NoError(t, err)
		chal, _, err := s.Next([]byte("n,,n=nobody,r=abcdef"))
		require.NoError(t, err)
		_, rest, _ := strings.Cut(string(chal), ",s=")
		salt, _, _ := strings.Cut(rest, ",")
		return salt
	}
	a, b := firstSalt(), firstSalt()
	require.NotEmpty(t, a)
	assert.Equal(t, a, b)
}
