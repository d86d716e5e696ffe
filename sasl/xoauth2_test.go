package sasl

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// xoauth2Vector is testdata/xoauth2/google.json.
type xoauth2Vector struct {
	User, Token    string
	ClientResponse string `json:"client_response"`
	ErrorChallenge string `json:"error_challenge"`
}

func TestXOAuth2Vector(t *testing.T) {
	var v xoauth2Vector
	oauthLoad(t, "testdata/xoauth2/google.json", &v)
	msg := oauthB64(t, v.ClientResponse)
	errJSON := oauthB64(t, v.ErrorChallenge)

	t.Run("side=client", func(t *testing.T) {
		c := NewXOAuth2Client(v.User, v.Token)
		mech, ir, err := c.Start()
		require.NoError(t, err)
		assert.Equal(t, XOAuth2, mech)
		assert.Equal(t, msg, ir)
		resp, err := c.Next(errJSON)
		assert.Equal(t, []byte{}, resp, "Google expects an empty response")
		require.ErrorIs(t, err, ErrAuthFailed)
		var oe *OAuthBearerError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, OAuthBearerError{Status: "401", Schemes: "Bearer", Scope: "https://mail.google.com/"}, *oe)
		_, err = c.Next(errJSON)
		assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
	})

	t.Run("side=server/success", func(t *testing.T) {
		ver := &oauthTestVerifier{tokens: map[string]string{v.Token: v.User}}
		s := NewXOAuth2Server(context.Background(), &ServerConfig{Tokens: ver})
		chal, done, err := s.Next(msg)
		require.NoError(t, err)
		assert.True(t, done)
		assert.Nil(t, chal)
		assert.Equal(t, v.User, ver.gotUser)
		id, ok := s.(IdentityServer).Identity()
		require.True(t, ok)
		assert.Equal(t, Identity{Mechanism: XOAuth2, Username: v.User}, id)
	})

	t.Run("side=server/failure", func(t *testing.T) {
		var want OAuthBearerError
		require.NoError(t, json.Unmarshal(errJSON, &want))
		s := NewXOAuth2Server(context.Background(), &ServerConfig{Tokens: &oauthTestVerifier{err: &want}})
		chal, done, err := s.Next(msg)
		require.NoError(t, err)
		assert.False(t, done)
		assert.Equal(t, string(errJSON), string(chal), "Google's error, byte for byte")
		_, _, err = s.Next([]byte{})
		assert.ErrorIs(t, err, ErrAuthFailed)
	})
}

func TestXOAuth2RoundTrip(t *testing.T) {
	ver := &oauthTestVerifier{
		tokens:  map[string]string{"tok-alice": "alice"},
		unknown: map[string]bool{"tok-gone": true},
	}
	for _, tt := range []struct {
		name, user, token string
		authorize         bool
		wantErr           error
		wantID            Identity
	}{
		{name: "own-mailbox", user: "alice", token: "tok-alice", wantID: Identity{Mechanism: XOAuth2, Username: "alice"}},
		{name: "shared-mailbox-allowed", user: "shared@example.org", token: "tok-alice", authorize: true,
			wantID: Identity{Mechanism: XOAuth2, Username: "alice", Authzid: "shared@example.org"}},
		{name: "shared-mailbox-denied", user: "shared@example.org", token: "tok-alice", wantErr: ErrAuthzFailed},
		{name: "bad-token", user: "alice", token: "tok-bad", wantErr: ErrAuthFailed},
		{name: "unknown-subject", user: "alice", token: "tok-gone", wantErr: ErrAuthFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &ServerConfig{Tokens: ver}
			if tt.authorize {
				cfg.Authorize = func(ctx context.Context, id Identity) error { return nil }
			}
			s := NewXOAuth2Server(context.Background(), cfg)
			cerr, serr := oauthExchange(t, NewXOAuth2Client(tt.user, tt.token), s)
			id, ok := s.(IdentityServer).Identity()
			if tt.wantErr != nil {
				require.ErrorIs(t, serr, tt.wantErr)
				assert.False(t, ok)
				if tt.wantErr == ErrAuthFailed {
					var oe *OAuthBearerError
					require.ErrorAs(t, cerr, &oe)
					assert.Equal(t, OAuthBearerError{Status: "401", Schemes: "bearer"}, *oe)
				}
				return
			}
			require.NoError(t, cerr)
			require.NoError(t, serr)
			require.True(t, ok)
			assert.Equal(t, tt.wantID, id)
		})
	}
}

func TestXOAuth2ServerFailures(t *testing.T) {
	for _, tt := range []struct {
		name, msg string
		wantErr   error
	}{
		{"empty", "", ErrMalformed},
		{"kvsep-only", "\x01", ErrMalformed},
		{"two-kvsep", "\x01\x01", ErrMalformed},
		{"no-final-kvsep", "user=u\x01auth=Bearer tok\x01", ErrMalformed},
		{"no-kvsep", "user=u\x01auth=Bearer tok", ErrMalformed},
		{"no-user", "auth=Bearer tok\x01\x01", ErrMalformed},
		{"no-auth", "user=u\x01\x01", ErrMalformed},
		{"empty-user", "user=\x01auth=Bearer tok\x01\x01", ErrMalformed},
		{"user-ctl", "user=u\x00\x01auth=Bearer tok\x01\x01", ErrMalformed},
		{"user-not-utf8", "user=\xff\x01auth=Bearer tok\x01\x01", ErrMalformed},
		{"user-twice", "user=u\x01user=v\x01auth=Bearer tok\x01\x01", ErrMalformed},
		{"auth-twice", "user=u\x01auth=Bearer tok\x01auth=Bearer tok\x01\x01", ErrMalformed},
		{"unknown-key", "user=u\x01host=h\x01auth=Bearer tok\x01\x01", ErrMalformed},
		{"empty-field", "user=u\x01\x01auth=Bearer tok\x01\x01", ErrMalformed},
		{"scheme-basic", "user=u\x01auth=Basic tok\x01\x01", ErrMalformed},
		{"token-bad", "user=u\x01auth=Bearer t,k\x01\x01", ErrMalformed},
		{"too-large", "user=u\x01auth=Bearer " + strings.Repeat("a", maxOAuthMessage) + "\x01\x01", ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ver := &oauthTestVerifier{tokens: map[string]string{"tok": "u"}}
			s := NewXOAuth2Server(context.Background(), &ServerConfig{Tokens: ver})
			chal, _, err := s.Next([]byte(tt.msg))
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, chal)
			assert.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
			assert.Zero(t, ver.calls)
			_, _, err = s.Next([]byte{})
			assert.ErrorIs(t, err, ErrUnexpectedClientResponse)
		})
	}
}

func TestXOAuth2ServerSteps(t *testing.T) {
	ver := &oauthTestVerifier{tokens: map[string]string{"tok": "u"}}
	t.Run("reversed-order", func(t *testing.T) {
		user, token, err := oauthParseXOAuth2([]byte("auth=Bearer tok\x01user=u\x01\x01"))
		require.NoError(t, err)
		assert.Equal(t, "u", user)
		assert.Equal(t, "tok", token)
	})
	t.Run("no-initial-response", func(t *testing.T) {
		s := NewXOAuth2Server(context.Background(), &ServerConfig{Tokens: ver})
		chal, done, err := s.Next(nil)
		require.NoError(t, err)
		assert.False(t, done)
		assert.Equal(t, []byte{}, chal)
		_, done, err = s.Next([]byte("user=u\x01auth=Bearer tok\x01\x01"))
		require.NoError(t, err)
		assert.True(t, done)
	})
	t.Run("store-error-passes-through", func(t *testing.T) {
		down := errors.New("introspection endpoint down")
		s := NewXOAuth2Server(context.Background(), &ServerConfig{Tokens: &oauthTestVerifier{err: down}})
		_, _, err := s.Next([]byte("user=u\x01auth=Bearer tok\x01\x01"))
		assert.Equal(t, down, err)
	})
}

func TestXOAuth2ClientFailures(t *testing.T) {
	for _, tt := range []struct{ name, user, token string }{
		{"no-user", "", "t"},
		{"no-token", "u", ""},
		{"user-ctl", "u\x01", "t"},
		{"token-ctl", "u", "t\x01"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ir, err := NewXOAuth2Client(tt.user, tt.token).Start()
			require.ErrorIs(t, err, ErrMalformed)
			assert.Nil(t, ir)
		})
	}
	t.Run("not-json", func(t *testing.T) {
		c := NewXOAuth2Client("u", "t")
		_, _, err := c.Start()
		require.NoError(t, err)
		resp, err := c.Next([]byte("+ go away"))
		require.ErrorIs(t, err, ErrMalformed)
		assert.Equal(t, []byte{}, resp)
	})
	t.Run("start-twice", func(t *testing.T) {
		c := NewXOAuth2Client("u", "t")
		_, _, err := c.Start()
		require.NoError(t, err)
		_, _, err = c.Start()
		require.ErrorIs(t, err, ErrUnexpectedServerChallenge)
	})
	t.Run("client-config-authzid-is-mailbox", func(t *testing.T) {
		c, err := newXOAuth2ClientFor(&ClientConfig{Username: "me", Authzid: "shared", Token: "t"}, nil, nil)
		require.NoError(t, err)
		_, ir, err := c.Start()
		require.NoError(t, err)
		assert.Equal(t, "user=shared\x01auth=Bearer t\x01\x01", string(ir))
	})
}

func FuzzXOAuth2Server(f *testing.F) {
	var v xoauth2Vector
	oauthLoad(f, "testdata/xoauth2/google.json", &v)
	f.Add(oauthB64(f, v.ClientResponse))
	f.Add([]byte("user=alice\x01auth=Bearer tok\x01\x01"))
	f.Add([]byte("auth=BEARER tok=\x01user=bob\x01\x01"))
	f.Add([]byte("\x01\x01"))
	oauthAddPeerSeeds(f, XOAuth2)
	f.Fuzz(func(t *testing.T, msg []byte) {
		oauthFuzzServer(t, NewXOAuth2Server, msg)
		user, token, err := oauthParseXOAuth2(msg)
		if err != nil {
			return
		}
		_, ir, err := NewXOAuth2Client(user, token).Start()
		require.NoError(t, err)
		user2, token2, err := oauthParseXOAuth2(ir)
		require.NoError(t, err)
		require.Equal(t, user, user2)
		require.Equal(t, token, token2)
	})
}

func BenchmarkXOAuth2(b *testing.B) {
	var v xoauth2Vector
	oauthLoad(b, "testdata/xoauth2/google.json", &v)
	msg := oauthB64(b, v.ClientResponse)
	cfg := &ServerConfig{Tokens: oauthBenchVerifier{}, Authorize: func(context.Context, Identity) error { return nil }}
	b.Run("side=server", bench(func() {
		s := newXOAuth2Server(newServerEnv(context.Background(), cfg, nil), XOAuth2)
		if _, done, err := s.Next(msg); !done || err != nil {
			b.Fatal("exchange failed", err)
		}
	}))
	b.Run("side=client", bench(func() { NewXOAuth2Client(v.User, v.Token).Start() }))
}
