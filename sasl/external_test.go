package sasl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// extTestVerifier takes the user from the client certificate's common
// name, as a server with TLS client certificates would.
type extTestVerifier struct {
	err     error
	gotConn *ConnState
	gotZ    string
}

func (v *extTestVerifier) VerifyExternal(ctx context.Context, conn *ConnState, authzid string) (string, error) {
	v.gotConn, v.gotZ = conn, authzid
	if v.err != nil {
		return "", v.err
	}
	if !conn.isTLS() || len(conn.TLS().PeerCertificates) == 0 {
		return "", ErrAuthFailed
	}
	return conn.TLS().PeerCertificates[0].Subject.CommonName, nil
}

func extTestConn(cn string) *ConnState {
	return ServerConnState(&tls.ConnectionState{
		HandshakeComplete: true,
		PeerCertificates:  []*x509.Certificate{{Subject: pkix.Name{CommonName: cn}}},
	}, nil, nil)
}

func TestExternalRoundTrip(t *testing.T) {
	for _, authzid := range []string{"", "extuser"} {
		t.Run("authzid="+authzid, func(t *testing.T) {
			v := &extTestVerifier{}
			conn := extTestConn("extuser")
			s := NewExternalServer(context.Background(), &ServerConfig{External: v}, conn)
			cerr, serr := runExchange(t, NewExternalClient(authzid), s)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			id, ok := s.(IdentityServer).Identity()
			require.True(t, ok)
			assert.Equal(t, Identity{Mechanism: External, Username: "extuser", Authzid: authzid}, id)
			assert.Equal(t, "extuser", id.User())
			assert.Equal(t, authzid, v.gotZ)
			assert.Same(t, conn.TLS(), v.gotConn.TLS())

			// go-sasl's client against our server.
			s = NewExternalServer(context.Background(), &ServerConfig{External: v}, conn)
			cerr, serr = runExchange(t, gosasl.NewExternalClient(authzid), s)
			require.NoError(t, cerr)
			require.NoError(t, serr)

			// Our client against go-sasl's server.
			got := "unset"
			gs := gosasl.NewExternalServer(func(identity string) error { got = identity; return nil })
			cerr, serr = runExchange(t, NewExternalClient(authzid), gs)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			assert.Equal(t, authzid, got)
		})
	}
}

func TestExternalClient(t *testing.T) {
	_, ir, err := NewExternalClient("").Start()
	require.NoError(t, err)
	assert.NotNil(t, ir, "an empty authzid is an empty response, not none")
	assert.Empty(t, ir)
	for _, z := range []string{"a\x00b", "\xff", strings.Repeat("a", extMaxAuthzid+1)} {
		_, _, err := NewExternalClient(z).Start()
		assert.Error(t, err)
	}
	c := NewExternalClient("z")
	_, err = c.Next([]byte{})
	assert.ErrorIs(t, err, ErrUnexpectedServerChallenge, "Next before Start")
	_, _, err = c.Start()
	require.NoError(t, err)
	resp, err := c.Next([]byte{})
	require.NoError(t, err)
	assert.Equal(t, "z", string(resp))
	_, err = c.Next([]byte{})
	assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
}

func TestExternalServerSteps(t *testing.T) {
	tests := []struct {
		name  string
		steps []plainStep
	}{
		{"empty initial response", []plainStep{{resp: []byte{}, wantDone: true}}},
		{"no initial response", []plainStep{{resp: nil, wantChal: []byte{}}, {resp: []byte{}, wantDone: true}}},
		{"own authzid", []plainStep{{resp: []byte("extuser"), wantDone: true}}},
		{"extra round after done", []plainStep{{resp: []byte{}, wantDone: true}, {resp: []byte{}, wantErr: ErrUnexpectedClientResponse}}},
		{"other authzid", []plainStep{{resp: []byte("root"), wantErr: ErrAuthzFailed}, {resp: []byte{}, wantErr: ErrUnexpectedClientResponse}}},
		{"NUL", []plainStep{{resp: []byte("a\x00b"), wantErr: ErrMalformed}}},
		{"not UTF-8", []plainStep{{resp: []byte("\xc3"), wantErr: ErrMalformed}}},
		{"too long", []plainStep{{resp: []byte(strings.Repeat("a", extMaxAuthzid+1)), wantErr: ErrTooLarge}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewExternalServer(context.Background(), &ServerConfig{External: &extTestVerifier{}}, extTestConn("extuser"))
			plainRunSteps(t, s, tt.steps)
		})
	}
}

func TestExternalServerErrors(t *testing.T) {
	run := func(cfg *ServerConfig, conn *ConnState) error {
		_, _, err := NewExternalServer(nil, cfg, conn).Next([]byte{})
		return err
	}
	// No TLS client certificate.
	assert.Equal(t, ErrAuthFailed, run(&ServerConfig{External: &extTestVerifier{}}, nil))
	assert.Equal(t, ErrAuthFailed, run(&ServerConfig{External: &extTestVerifier{err: ErrUnknownUser}}, extTestConn("x")))
	// A verifier that names nobody.
	assert.Equal(t, ErrAuthFailed, run(&ServerConfig{External: &extTestVerifier{}}, extTestConn("")))
	assert.Same(t, plainTestStoreErr, run(&ServerConfig{External: &extTestVerifier{err: plainTestStoreErr}}, extTestConn("x")))
	assert.ErrorIs(t, run(&ServerConfig{}, extTestConn("x")), ErrUnsupportedMechanism)
	authzErr := &ServerConfig{External: &extTestVerifier{}, Authorize: func(ctx context.Context, id Identity) error { return plainTestStoreErr }}
	assert.Same(t, plainTestStoreErr, run(authzErr, extTestConn("x")))
}

func FuzzExternalServer(f *testing.F) {
	f.Add([]byte{}, true)
	f.Add([]byte("extuser"), false)
	f.Add([]byte("a\x00b"), true)
	f.Add([]byte("\xff"), true)
	cfg := &ServerConfig{External: &extTestVerifier{}}
	conn := extTestConn("extuser")
	f.Fuzz(func(t *testing.T, resp []byte, ir bool) {
		if resp == nil {
			resp = []byte{} // nil would mean "no initial response"
		}
		s := NewExternalServer(context.Background(), cfg, conn)
		if !ir {
			chal, done, err := s.Next(nil)
			require.NoError(t, err)
			require.False(t, done)
			require.Equal(t, []byte{}, chal)
		}
		_, done, err := s.Next(resp)
		if err == nil {
			require.True(t, done)
			require.True(t, len(resp) == 0 || string(resp) == "extuser")
		} else {
			require.False(t, done)
			require.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
		}
		_, _, err = s.Next(resp)
		require.ErrorIs(t, err, ErrUnexpectedClientResponse)
	})
}
