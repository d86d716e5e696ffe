package sasl

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainSetConfig enables PLAIN, LOGIN, CRAM-MD5, EXTERNAL and ANONYMOUS
// (and, through Plaintext, DIGEST-MD5).
func plainSetConfig() *ServerConfig {
	return &ServerConfig{
		Plaintext: &plainTestStore{users: plainTestUsers()},
		CRAMMD5:   &plainTestStore{users: plainTestUsers()},
		External:  &extTestVerifier{},
		Anonymous: func(ctx context.Context, trace string) error { return nil },
		Legacy:    true,
	}
}

func plainTLSConn() *ConnState {
	return ClientConnState(&tls.ConnectionState{HandshakeComplete: true})
}

func plainContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestPlainServerSetPolicy checks what a ServerSet offers and accepts with
// and without TLS.
func TestPlainServerSetPolicy(t *testing.T) {
	needTLS := []string{Plain, Login, CRAMMD5}
	always := []string{Anonymous}

	cfg := plainSetConfig()
	set := NewServerSet(cfg, nil)
	offered := set.Mechanisms()
	for _, m := range needTLS {
		assert.False(t, plainContains(offered, m), "%s offered without TLS", m)
		_, err := set.NewServer(context.Background(), m)
		assert.ErrorIs(t, err, ErrNeedsTLS, m)
	}
	for _, m := range always {
		assert.True(t, plainContains(offered, m), "%s not offered", m)
	}

	for name, set := range map[string]*ServerSet{
		"TLS":          NewServerSet(cfg, plainTLSConn()),
		"InsecureAuth": NewServerSet(&ServerConfig{Plaintext: cfg.Plaintext, CRAMMD5: cfg.CRAMMD5, External: cfg.External, Anonymous: cfg.Anonymous, InsecureAuth: true, Legacy: true}, nil),
	} {
		offered := set.Mechanisms()
		for _, m := range append(needTLS, always...) {
			assert.True(t, plainContains(offered, m), "%s: %s not offered", name, m)
			s, err := set.NewServer(context.Background(), m)
			require.NoError(t, err, "%s: %s", name, m)
			_, ok := s.(IdentityServer)
			assert.True(t, ok, "%s: %s is not an IdentityServer", name, m)
		}
	}

	// EXTERNAL needs a TLS client certificate, InsecureAuth or not.
	for _, set := range []*ServerSet{NewServerSet(cfg, nil), NewServerSet(cfg, plainTLSConn()),
		NewServerSet(&ServerConfig{External: cfg.External, InsecureAuth: true}, nil)} {
		assert.False(t, plainContains(set.Mechanisms(), External))
		_, err := set.NewServer(context.Background(), External)
		assert.ErrorIs(t, err, ErrUnsupportedMechanism)
	}
	assert.True(t, plainContains(NewServerSet(cfg, extTestConn("extuser")).Mechanisms(), External))

	// Legacy mechanisms need Legacy, or a Mechanisms list that names them.
	noLegacy := *cfg
	noLegacy.Legacy = false
	assert.Equal(t, []string{Plain, Anonymous}, NewServerSet(&noLegacy, plainTLSConn()).Mechanisms())
	noLegacy.Mechanisms = []string{Login, Plain}
	assert.Equal(t, []string{Login, Plain}, NewServerSet(&noLegacy, plainTLSConn()).Mechanisms())

	// A mechanism without credentials is neither offered nor served.
	set = NewServerSet(&ServerConfig{Anonymous: cfg.Anonymous}, plainTLSConn())
	assert.Equal(t, []string{Anonymous}, set.Mechanisms())
	_, err := set.NewServer(context.Background(), Plain)
	assert.ErrorIs(t, err, ErrUnsupportedMechanism)
}

// TestPlainClientChoice runs ClientConfig.NewClient's choice against a
// ServerSet's offer, then the chosen client against the set's server, and
// checks ServerSet.Identity.
func TestPlainClientChoice(t *testing.T) {
	all := []string{Plain, Login, CRAMMD5, External, Anonymous}
	tests := []struct {
		name     string
		client   ClientConfig
		offered  []string
		conn     *ConnState
		wantMech string // "" means ErrNoMechanism
		wantID   Identity
	}{
		{"PLAIN over TLS", ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}, all, plainTLSConn(), Plain,
			Identity{Mechanism: Plain, Username: "tim"}},
		{"no password mechanism without TLS", ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}, []string{Plain, Login, CRAMMD5}, nil, "", Identity{}},
		{"InsecureAuth", ClientConfig{Username: "tim", Password: "tanstaaftanstaaf", InsecureAuth: true}, []string{Plain, Login, CRAMMD5}, nil, Plain,
			Identity{Mechanism: Plain, Username: "tim"}},
		{"LOGIN only", ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}, []string{Login}, plainTLSConn(), Login,
			Identity{Mechanism: Login, Username: "tim"}},
		{"CRAM-MD5 preferred by the client", ClientConfig{Username: "tim", Password: "tanstaaftanstaaf", Mechanisms: []string{"cram-md5", Plain}}, all, plainTLSConn(), CRAMMD5,
			Identity{Mechanism: CRAMMD5, Username: "tim"}},
		{"authzid rules out LOGIN and CRAM-MD5", ClientConfig{Username: "tim", Password: "tanstaaftanstaaf", Authzid: "tim"}, []string{Login, CRAMMD5}, plainTLSConn(), "", Identity{}},
		{"authzid with PLAIN", ClientConfig{Username: "tim", Password: "tanstaaftanstaaf", Authzid: "tim"}, all, plainTLSConn(), Plain,
			Identity{Mechanism: Plain, Username: "tim", Authzid: "tim"}},
		{"EXTERNAL", ClientConfig{External: true}, all, extTestConn("extuser"), External,
			Identity{Mechanism: External, Username: "extuser"}},
		{"ANONYMOUS", ClientConfig{Anonymous: true, Trace: "sirhc"}, all, nil, Anonymous,
			Identity{Mechanism: Anonymous, Anonymous: true}},
		{"ANONYMOUS with a bad trace", ClientConfig{Anonymous: true, Trace: "a\nb"}, all, nil, "", Identity{}},
		{"no credentials", ClientConfig{}, all, plainTLSConn(), "", Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.client.NewClient(tt.offered, tt.conn)
			if tt.wantMech == "" {
				require.ErrorIs(t, err, ErrNoMechanism)
				return
			}
			require.NoError(t, err)
			mech, _, err := c.Start()
			require.NoError(t, err)
			require.Equal(t, tt.wantMech, mech)

			cfg := plainSetConfig()
			cfg.InsecureAuth = tt.client.InsecureAuth
			set := NewServerSet(cfg, tt.conn)
			_, ok := set.Identity()
			require.False(t, ok)
			s, err := set.NewServer(context.Background(), mech)
			require.NoError(t, err)
			c, err = tt.client.NewClient(tt.offered, tt.conn) // fresh: Start was called
			require.NoError(t, err)
			cerr, serr := runExchange(t, c, s)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			id, ok := set.Identity()
			require.True(t, ok)
			assert.Equal(t, tt.wantID, id)
		})
	}
}

func TestPlainServerSetIdentityAfterFailure(t *testing.T) {
	set := NewServerSet(plainSetConfig(), plainTLSConn())
	s, err := set.NewServer(context.Background(), Plain)
	require.NoError(t, err)
	_, serr := runExchange(t, NewPlainClient("", "tim", "wrong"), s)
	require.ErrorIs(t, serr, ErrAuthFailed)
	_, ok := set.Identity()
	assert.False(t, ok)

	// A second attempt on the same connection succeeds and is recorded.
	s, err = set.NewServer(context.Background(), Login)
	require.NoError(t, err)
	_, serr = runExchange(t, NewLoginClient("Kurt", "xipj3plmq"), s)
	require.NoError(t, serr)
	id, ok := set.Identity()
	require.True(t, ok)
	assert.Equal(t, Identity{Mechanism: Login, Username: "Kurt"}, id)
}
