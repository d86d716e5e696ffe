package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type cramVector struct {
	Name            string `json:"name"`
	Username        string `json:"username"`
	Password        string `json:"password"`
	ChallengeBase64 string `json:"challenge_base64"`
	ResponseBase64  string `json:"response_base64"`
}

func cramVectors(t testing.TB) []cramVector {
	t.Helper()
	b, err := os.ReadFile("testdata/crammd5/rfc2195.json")
	require.NoError(t, err)
	var v []cramVector
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v)
	return v
}

type cramDovecotVector struct {
	Password string `json:"password"`
	Secret   string `json:"secret"`
}

func cramDovecotVectors(t testing.TB) []cramDovecotVector {
	t.Helper()
	b, err := os.ReadFile("testdata/crammd5/dovecot.json")
	require.NoError(t, err)
	var v struct {
		Vectors []cramDovecotVector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.Vectors)
	return v.Vectors
}

func cramB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

// cramTestServer returns a CRAM-MD5 server whose challenge is fixed.
func cramTestServer(cfg *ServerConfig, challenge []byte) Server {
	s := NewCRAMMD5Server(context.Background(), cfg)
	inner(s).(*cramServer).challenge = challenge
	return s
}

func TestCRAMMD5RFC2195(t *testing.T) {
	for _, v := range cramVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			chal, want := cramB64(t, v.ChallengeBase64), cramB64(t, v.ResponseBase64)

			c := NewCRAMMD5Client(v.Username, v.Password)
			mech, ir, err := c.Start()
			require.NoError(t, err)
			assert.Equal(t, CRAMMD5, mech)
			assert.Nil(t, ir)
			resp, err := c.Next(chal)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(resp))

			users := map[string]string{v.Username: v.Password}
			for name, cfg := range map[string]*ServerConfig{
				"midstates": {CRAMMD5: &plainTestStore{users: users}},
				"plaintext": {Plaintext: &plainTestStore{users: users}},
			} {
				s := cramTestServer(cfg, chal)
				plainRunSteps(t, s, []plainStep{{resp: nil, wantChal: chal}, {resp: want, wantDone: true}})
				id, ok := s.(IdentityServer).Identity()
				require.True(t, ok, name)
				assert.Equal(t, Identity{Mechanism: CRAMMD5, Username: v.Username}, id, name)
			}
		})
	}
}

// TestCRAMMD5SecretDovecot checks our midstates against `doveadm pw -s
// CRAM-MD5` output and the secrets' use against crypto/hmac.
func TestCRAMMD5SecretDovecot(t *testing.T) {
	chal := []byte("<12345.67890@mail.example.org>")
	for _, v := range cramDovecotVectors(t) {
		t.Run(v.Password, func(t *testing.T) {
			sec := NewCRAMMD5Secret(v.Password)
			assert.Equal(t, v.Secret, sec.String())

			parsed, err := ParseCRAMMD5Secret(v.Secret)
			require.NoError(t, err)
			assert.Equal(t, sec, parsed)
			parsed, err = ParseCRAMMD5Secret(strings.TrimPrefix(v.Secret, "{CRAM-MD5}"))
			require.NoError(t, err)
			assert.Equal(t, sec, parsed)
			parsed, err = ParseCRAMMD5Secret(strings.ToUpper(v.Secret))
			require.NoError(t, err)
			assert.Equal(t, sec, parsed)

			var got [md5.Size]byte
			require.NoError(t, cramDigest(&parsed, chal, &got))
			m := hmac.New(md5.New, []byte(v.Password))
			m.Write(chal)
			assert.Equal(t, m.Sum(nil), got[:])
		})
	}
}

func TestParseCRAMMD5SecretErrors(t *testing.T) {
	good := NewCRAMMD5Secret("plainpass").String()
	for _, s := range []string{
		"",
		"{CRAM-MD5}",
		good[:len(good)-1],
		good + "0",
		strings.Replace(good, "8", "g", 1),
		"{SHA256}" + good[len("{CRAM-MD5}"):],
		"{CRAM-MD5}" + good,
	} {
		_, err := ParseCRAMMD5Secret(s)
		require.ErrorIs(t, err, ErrMalformed, "%q", s)
		hx := strings.TrimPrefix(s, "{CRAM-MD5}")
		if len(hx) > 8 {
			assert.NotContains(t, err.Error(), hx[:8], "the error must not echo the secret")
		}
	}
}

func TestCRAMMD5RoundTrip(t *testing.T) {
	for name, cfg := range map[string]*ServerConfig{
		"midstates": {CRAMMD5: &plainTestStore{users: plainTestUsers()}, Hostname: "mail.example.org"},
		"plaintext": {Plaintext: &plainTestStore{users: plainTestUsers()}},
	} {
		for user, pass := range plainTestUsers() {
			t.Run(name+"/"+user, func(t *testing.T) {
				s := NewCRAMMD5Server(context.Background(), cfg)
				cerr, serr := runExchange(t, NewCRAMMD5Client(user, pass), s)
				require.NoError(t, cerr)
				require.NoError(t, serr)
				id, ok := s.(IdentityServer).Identity()
				require.True(t, ok)
				assert.Equal(t, user, id.Username)

				_, serr = runExchange(t, NewCRAMMD5Client(user, pass+"x"), NewCRAMMD5Server(context.Background(), cfg))
				assert.Equal(t, ErrAuthFailed, serr)
			})
		}
	}
}

func TestCRAMMD5Challenge(t *testing.T) {
	re := regexp.MustCompile(`^<[0-9]+\.[0-9]+@mail\.example\.org>$`)
	seen := map[string]bool{}
	for range 20 {
		chal, done, err := NewCRAMMD5Server(nil, &ServerConfig{Hostname: "mail.example.org"}).Next(nil)
		require.NoError(t, err)
		require.False(t, done)
		assert.Regexp(t, re, string(chal))
		assert.False(t, seen[string(chal)], "challenge repeated")
		seen[string(chal)] = true
	}
	chal, _, err := NewCRAMMD5Server(nil, nil).Next([]byte{})
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(chal), "@localhost>"), string(chal))
}

func TestCRAMMD5ServerSteps(t *testing.T) {
	v := cramVectors(t)[0]
	chal, good := cramB64(t, v.ChallengeBase64), cramB64(t, v.ResponseBase64)
	digest := string(good[len("tim "):])
	wrong := "tim " + strings.Repeat("0", 32)
	tests := []struct {
		name  string
		steps []plainStep
	}{
		{"ok", []plainStep{{resp: nil, wantChal: chal}, {resp: good, wantDone: true}}},
		{"empty initial response", []plainStep{{resp: []byte{}, wantChal: chal}, {resp: good, wantDone: true}}},
		{"initial response", []plainStep{{resp: good, wantErr: ErrMalformed}, {resp: good, wantErr: ErrUnexpectedClientResponse}}},
		{"extra round after done", []plainStep{{resp: nil, wantChal: chal}, {resp: good, wantDone: true}, {resp: []byte{}, wantErr: ErrUnexpectedClientResponse}}},
		{"response after failure", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte(wrong), wantErr: ErrAuthFailed}, {resp: good, wantErr: ErrUnexpectedClientResponse}}},
		{"wrong digest", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte(wrong), wantErr: ErrAuthFailed}}},
		{"unknown user", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte("bob " + digest), wantErr: ErrAuthFailed}}},
		{"uppercase hex", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte("tim " + strings.ToUpper(digest)), wantErr: ErrMalformed}}},
		{"non-hex digest", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte("tim " + strings.Repeat("z", 32)), wantErr: ErrMalformed}}},
		{"short digest", []plainStep{{resp: nil, wantChal: chal}, {resp: good[:len(good)-1], wantErr: ErrMalformed}}},
		{"long digest", []plainStep{{resp: nil, wantChal: chal}, {resp: append(append([]byte{}, good...), '0'), wantErr: ErrMalformed}}},
		{"no space", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte("tim" + digest), wantErr: ErrMalformed}}},
		{"empty username", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte(" " + digest), wantErr: ErrMalformed}}},
		{"empty response", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte{}, wantErr: ErrMalformed}}},
		{"NUL in username", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte("t\x00m " + digest), wantErr: ErrMalformed}}},
		{"username not UTF-8", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte("t\xffm " + digest), wantErr: ErrMalformed}}},
		{"too long", []plainStep{{resp: nil, wantChal: chal}, {resp: []byte(strings.Repeat("a", cramMaxUsername+1) + " " + digest), wantErr: ErrTooLarge}}},
		{"trailing space", []plainStep{{resp: nil, wantChal: chal}, {resp: append(append([]byte{}, good...), ' '), wantErr: ErrMalformed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &ServerConfig{CRAMMD5: &plainTestStore{users: plainTestUsers()}}
			plainRunSteps(t, cramTestServer(cfg, chal), tt.steps)
		})
	}
}

func TestCRAMMD5ServerErrors(t *testing.T) {
	chal := []byte("<1.2@h>")
	run := func(cfg *ServerConfig, resp string) error {
		s := cramTestServer(cfg, chal)
		_, _, err := s.Next(nil)
		require.NoError(t, err)
		_, _, err = s.Next([]byte(resp))
		return err
	}
	resp := func(user, pass string) string {
		r, err := NewCRAMMD5Client(user, pass).Next(chal)
		require.NoError(t, err)
		return string(r)
	}
	for name, cfg := range map[string]*ServerConfig{
		"midstates": {CRAMMD5: &plainTestStore{err: plainTestStoreErr}},
		"plaintext": {Plaintext: &plainTestStore{err: plainTestStoreErr}},
	} {
		assert.Same(t, plainTestStoreErr, run(cfg, resp("tim", "x")), name)
	}
	for name, cfg := range map[string]*ServerConfig{
		"midstates": {CRAMMD5: &plainTestStore{users: plainTestUsers()}},
		"plaintext": {Plaintext: &plainTestStore{users: plainTestUsers()}},
	} {
		e1, e2 := run(cfg, resp("tim", "wrong")), run(cfg, resp("nobody", "wrong"))
		assert.Equal(t, ErrAuthFailed, e1, name)
		assert.Equal(t, e1, e2, name)
		// Even the dummy secret's password does not let an unknown user in.
		assert.Equal(t, ErrAuthFailed, run(cfg, resp("nobody", "")), name)
	}
	assert.ErrorIs(t, run(&ServerConfig{}, resp("tim", "x")), ErrUnsupportedMechanism)
	cfg := &ServerConfig{CRAMMD5: &plainTestStore{users: plainTestUsers()}, Authorize: func(ctx context.Context, id Identity) error {
		return plainTestStoreErr
	}}
	assert.Same(t, plainTestStoreErr, run(cfg, resp("tim", "tanstaaftanstaaf")))
}

func TestCRAMMD5Client(t *testing.T) {
	_, _, err := NewCRAMMD5Client("", "p").Start()
	assert.ErrorIs(t, err, ErrMalformed)
	_, _, err = NewCRAMMD5Client("u", "").Start()
	assert.ErrorIs(t, err, ErrMalformed)
	_, _, err = NewCRAMMD5Client(strings.Repeat("u", cramMaxUsername+1), "p").Start()
	assert.ErrorIs(t, err, ErrTooLarge)

	_, err = NewCRAMMD5Client("u", "p").Next(nil)
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = NewCRAMMD5Client("u", "p").Next(make([]byte, cramMaxChallenge+1))
	assert.ErrorIs(t, err, ErrTooLarge)
	c := NewCRAMMD5Client("u", "p")
	_, err = c.Next([]byte("<1@h>"))
	require.NoError(t, err)
	_, err = c.Next([]byte("<1@h>"))
	assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
}

func FuzzCRAMMD5Server(f *testing.F) {
	for _, v := range cramVectors(f) {
		f.Add(cramB64(f, v.ResponseBase64))
	}
	f.Add([]byte("tim B913A602C7EDA7A495B4E6E7334D3890"))
	f.Add([]byte(" b913a602c7eda7a495b4e6e7334d3890"))
	f.Add([]byte("a b c"))
	chal := cramB64(f, cramVectors(f)[0].ChallengeBase64)
	cfg := &ServerConfig{CRAMMD5: &plainTestStore{users: plainTestUsers()}}
	f.Fuzz(func(t *testing.T, resp []byte) {
		s := cramTestServer(cfg, chal)
		_, _, err := s.Next(nil)
		require.NoError(t, err)
		chal2, done, err := s.Next(resp)
		if err == nil {
			require.True(t, done)
			require.Nil(t, chal2)
			id, ok := s.(IdentityServer).Identity()
			require.True(t, ok)
			want, err := NewCRAMMD5Client(id.Username, plainTestUsers()[id.Username]).Next(chal)
			require.NoError(t, err)
			require.Equal(t, string(want), string(resp))
		} else {
			require.False(t, done)
			require.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
		}
		_, _, err = s.Next(resp)
		require.ErrorIs(t, err, ErrUnexpectedClientResponse)
	})
}

func FuzzParseCRAMMD5Secret(f *testing.F) {
	for _, v := range cramDovecotVectors(f) {
		f.Add(v.Secret)
	}
	f.Add("")
	f.Add("{cram-md5}00")
	f.Fuzz(func(t *testing.T, s string) {
		sec, err := ParseCRAMMD5Secret(s)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Equal(t, CRAMMD5Secret{}, sec)
			return
		}
		// Round trip: String is canonical, and parses back to the same.
		again, err := ParseCRAMMD5Secret(sec.String())
		require.NoError(t, err)
		require.Equal(t, sec, again)
		require.True(t, strings.EqualFold(strings.TrimPrefix(strings.ToUpper(s), "{CRAM-MD5}"), hex.EncodeToString(sec[:])))
	})
}

// BenchmarkCRAMMD5 times the server's digest check from stored midstates
// beside the naive hmac.New path and the raw primitives.
func BenchmarkCRAMMD5(b *testing.B) {
	v := cramVectors(b)[0]
	chal, resp := cramB64(b, v.ChallengeBase64), cramB64(b, v.ResponseBase64)
	_, digest, err := cramParseResponse(resp)
	require.NoError(b, err)
	sec := NewCRAMMD5Secret(v.Password)
	key := []byte(v.Password)

	midstate := func() bool {
		var want [md5.Size]byte
		if cramDigest(&sec, chal, &want) != nil {
			return false
		}
		return hmac.Equal(want[:], digest[:])
	}
	naive := func() bool {
		m := hmac.New(md5.New, key)
		m.Write(chal)
		return hmac.Equal(m.Sum(nil), digest[:])
	}
	prepared := hmac.New(md5.New, key)
	var sum [md5.Size]byte
	rawHMAC := func() {
		prepared.Reset()
		prepared.Write(chal)
		prepared.Sum(sum[:0])
	}
	rawHMAC()
	require.True(b, midstate())
	require.True(b, naive())
	require.Equal(b, digest, sum)

	cfg := &ServerConfig{CRAMMD5: &plainTestStore{users: plainTestUsers()}}
	b.Run("side=server-midstate", bench(func() { midstate() }))
	b.Run("naive=hmac-new", bench(func() { naive() }))
	b.Run("raw=hmac-md5", bench(rawHMAC))
	b.Run("raw=compare", bench(func() { hmac.Equal(sum[:], digest[:]) }))
	b.Run("side=server", bench(func() {
		s := cramTestServer(cfg, chal)
		s.Next(nil)
		s.Next(resp)
	}))
	b.Run("side=client", bench(func() {
		c := NewCRAMMD5Client("tim", v.Password)
		c.Next(chal)
	}))
}

// FuzzCRAMMD5Client feeds the CRAM-MD5 client arbitrary challenges: it
// answers the first one within bounds with username SP 32 lowercase hex
// digits that a server holding the password accepts, refuses the rest, and
// never panics.
func FuzzCRAMMD5Client(f *testing.F) {
	f.Add([]byte("<1896.697170952@postoffice.reston.mci.com>"), []byte{})
	f.Add([]byte{}, []byte("x"))
	f.Add([]byte(strings.Repeat("a", cramMaxChallenge+1)), []byte("<a@b>"))
	const user, pass = "tim", "tanstaaftanstaaf"
	sec := NewCRAMMD5Secret(pass)
	f.Fuzz(func(t *testing.T, chal, again []byte) {
		c := NewCRAMMD5Client(user, pass)
		_, _, err := c.Start()
		require.NoError(t, err)
		resp, err := c.Next(chal)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge), err.Error())
			require.True(t, len(chal) == 0 || len(chal) > cramMaxChallenge)
		} else {
			require.Len(t, resp, len(user)+1+2*md5.Size)
			u, digest, err := cramParseResponse(resp)
			require.NoError(t, err)
			require.Equal(t, user, u)
			var want [md5.Size]byte
			require.NoError(t, cramDigest(&sec, chal, &want))
			require.Equal(t, want, digest)
		}
		_, err = c.Next(again)
		require.ErrorIs(t, err, ErrUnexpectedServerChallenge)
	})
}
