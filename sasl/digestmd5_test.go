package sasl

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digestVector is one exchange of testdata/digestmd5/*.json.
type digestVector struct {
	Username, Password, Realm, Service, Host string
	Nonce, Cnonce                            string
	Challenge, Response, Rspauth             string
	Exact                                    bool // written by this package
}

// digestLoadVector returns the RFC 2831 example.
func digestLoadVector(t testing.TB) digestVector {
	t.Helper()
	return digestReadVector(t, "testdata/digestmd5/rfc2831.json")
}

func digestReadVector(t testing.TB, file string) digestVector {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var v digestVector
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

// digestTestStore holds plaintext passwords and serves both lookups a
// DIGEST-MD5 server can use.
type digestTestStore struct {
	users map[string]string
	err   error // returned by every lookup when set
}

func (s *digestTestStore) LookupPassword(ctx context.Context, username string) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	p, ok := s.users[username]
	if !ok {
		return "", ErrUnknownUser
	}
	return p, nil
}

func (s *digestTestStore) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	if s.err != nil {
		return [16]byte{}, s.err
	}
	p, ok := s.users[username]
	if !ok {
		return [16]byte{}, ErrUnknownUser
	}
	return md5.Sum([]byte(username + ":" + realm + ":" + p)), nil
}

// digestTestServer returns a server for the vector's realm with a fixed
// nonce; plaintext selects the lookup it uses.
func digestTestServer(v digestVector, store *digestTestStore, plaintext bool) *digestMD5Server {
	cfg := &ServerConfig{Hostname: v.Realm}
	if plaintext {
		cfg.Plaintext = store
	} else {
		cfg.DigestMD5 = store
	}
	s := inner(NewDigestMD5Server(context.Background(), cfg)).(*digestMD5Server)
	s.nonce = v.Nonce
	return s
}

// TestDigestMD5Vector replays testdata/digestmd5: the RFC 2831 example
// and exchanges recorded with GNU SASL on either side. Messages written by
// another implementation are compared by content; ours ("exact") by byte.
func TestDigestMD5Vector(t *testing.T) {
	files, err := filepath.Glob("testdata/digestmd5/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			digestTestVector(t, digestReadVector(t, file))
		})
	}
}

func digestTestVector(t *testing.T, v digestVector) {
	t.Run("side=client", func(t *testing.T) {
		c := NewDigestMD5Client(v.Username, v.Password, "", v.Service, v.Host).(*digestMD5Client)
		c.cnonce = v.Cnonce
		mech, ir, err := c.Start()
		require.NoError(t, err)
		assert.Equal(t, DigestMD5, mech)
		assert.Nil(t, ir)
		resp, err := c.Next([]byte(v.Challenge))
		require.NoError(t, err)
		if v.Exact {
			assert.Equal(t, v.Response, string(resp))
		}
		got, err := digestParseResponse(resp)
		require.NoError(t, err)
		want, err := digestParseResponse([]byte(v.Response))
		require.NoError(t, err)
		// Whether to send charset=utf-8 is the client's choice; for
		// ASCII names it changes nothing.
		got.utf8 = want.utf8
		assert.Equal(t, want, got)
		final, err := c.Next([]byte(v.Rspauth))
		require.NoError(t, err)
		assert.Equal(t, []byte{}, final)
		_, err = c.Next(nil)
		assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
	})

	for _, plaintext := range []bool{true, false} {
		name := "side=server/lookup=digest-md5"
		if plaintext {
			name = "side=server/lookup=plaintext"
		}
		t.Run(name, func(t *testing.T) {
			s := digestTestServer(v, &digestTestStore{users: map[string]string{v.Username: v.Password}}, plaintext)
			chal, done, err := s.Next(nil)
			require.NoError(t, err)
			assert.False(t, done)
			if v.Exact {
				assert.Equal(t, v.Challenge, string(chal))
			}
			chal, done, err = s.Next([]byte(v.Response))
			require.NoError(t, err)
			assert.False(t, done, "rspauth must go as a challenge")
			assert.Equal(t, v.Rspauth, string(chal))
			_, ok := s.Identity()
			assert.False(t, ok, "no identity before the final response")
			chal, done, err = s.Next([]byte{})
			require.NoError(t, err)
			assert.True(t, done)
			assert.Nil(t, chal)
			id, ok := s.Identity()
			require.True(t, ok)
			assert.Equal(t, Identity{Mechanism: DigestMD5, Username: v.Username}, id)
			_, _, err = s.Next([]byte{})
			assert.ErrorIs(t, err, ErrUnexpectedClientResponse)
		})
	}
}

func TestDigestMD5RoundTrip(t *testing.T) {
	store := &digestTestStore{users: map[string]string{"alice": "pa\"ss\\wörd", "bob": "hunter2"}}
	for _, tt := range []struct {
		name                      string
		user, pass, authzid, host string
		authorize                 bool
		plaintext                 bool
		wantErr                   error
		wantID                    Identity
	}{
		{name: "plaintext", user: "alice", pass: "pa\"ss\\wörd", plaintext: true,
			wantID: Identity{Mechanism: DigestMD5, Username: "alice"}},
		{name: "digest-lookup", user: "bob", pass: "hunter2",
			wantID: Identity{Mechanism: DigestMD5, Username: "bob"}},
		{name: "no-host", user: "bob", pass: "hunter2", host: "-",
			wantID: Identity{Mechanism: DigestMD5, Username: "bob"}},
		{name: "authzid-allowed", user: "bob", pass: "hunter2", authzid: "shared", authorize: true,
			wantID: Identity{Mechanism: DigestMD5, Username: "bob", Authzid: "shared"}},
		{name: "authzid-denied", user: "bob", pass: "hunter2", authzid: "shared", wantErr: ErrAuthzFailed},
		{name: "wrong-password", user: "bob", pass: "hunter3", wantErr: ErrAuthFailed},
		{name: "unknown-user", user: "carol", pass: "hunter2", wantErr: ErrAuthFailed},
		{name: "unknown-user-plaintext", user: "carol", pass: "hunter2", plaintext: true, wantErr: ErrAuthFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &ServerConfig{Hostname: "mail.example.org"}
			if tt.plaintext {
				cfg.Plaintext = store
			} else {
				cfg.DigestMD5 = store
			}
			if tt.authorize {
				cfg.Authorize = func(ctx context.Context, id Identity) error { return nil }
			}
			host := "mail.example.org"
			if tt.host == "-" {
				host = ""
			}
			s := NewDigestMD5Server(context.Background(), cfg)
			cerr, serr := runExchange(t, NewDigestMD5Client(tt.user, tt.pass, tt.authzid, "smtp", host), s)
			require.NoError(t, cerr)
			id, ok := s.(IdentityServer).Identity()
			if tt.wantErr != nil {
				require.ErrorIs(t, serr, tt.wantErr)
				assert.False(t, ok)
				assert.NotContains(t, serr.Error(), tt.user, "error text names no user")
				return
			}
			require.NoError(t, serr)
			require.True(t, ok)
			assert.Equal(t, tt.wantID, id)
		})
	}
}

// TestDigestMD5ServerSet runs the mechanism through the shared
// ServerSet/ClientConfig choice.
func TestDigestMD5ServerSet(t *testing.T) {
	store := &digestTestStore{users: map[string]string{"bob": "hunter2"}}
	set := NewServerSet(&ServerConfig{DigestMD5: store, InsecureAuth: true, Mechanisms: []string{DigestMD5}}, nil)
	require.Equal(t, []string{DigestMD5}, set.Mechanisms())
	s, err := set.NewServer(context.Background(), "digest-md5")
	require.NoError(t, err)
	c, err := (&ClientConfig{Username: "bob", Password: "hunter2", InsecureAuth: true, Service: "pop"}).NewClient(set.Mechanisms(), nil)
	require.NoError(t, err)
	cerr, serr := runExchange(t, c, s)
	require.NoError(t, cerr)
	require.NoError(t, serr)
	id, ok := set.Identity()
	require.True(t, ok)
	assert.Equal(t, "bob", id.Username)
}

// TestDigestMD5UnknownEqualsWrong shows that an unknown user and a wrong
// password give the server's caller and the client the same answer.
func TestDigestMD5UnknownEqualsWrong(t *testing.T) {
	store := &digestTestStore{users: map[string]string{"bob": "hunter2"}}
	for _, plaintext := range []bool{true, false} {
		run := func(user string) error {
			cfg := &ServerConfig{Hostname: "h"}
			if plaintext {
				cfg.Plaintext = store
			} else {
				cfg.DigestMD5 = store
			}
			_, serr := runExchange(t, NewDigestMD5Client(user, "wrong", "", "imap", "h"), NewDigestMD5Server(context.Background(), cfg))
			return serr
		}
		wrong, unknown := run("bob"), run("nobody")
		require.ErrorIs(t, wrong, ErrAuthFailed)
		require.ErrorIs(t, unknown, ErrAuthFailed)
		assert.Equal(t, wrong.Error(), unknown.Error())
	}
}

// digestRespond answers the vector server's challenge with the vector
// response edited by edit.
func digestRespond(t *testing.T, v digestVector, s *digestMD5Server, resp string) error {
	t.Helper()
	_, _, err := s.Next(nil)
	require.NoError(t, err)
	_, _, err = s.Next([]byte(resp))
	return err
}

func TestDigestMD5ServerFailures(t *testing.T) {
	v := digestLoadVector(t)
	good := v.Response
	replace := func(old, new string) string {
		require.Contains(t, good, old)
		return strings.Replace(good, old, new, 1)
	}
	for _, tt := range []struct {
		name, resp string
		wantErr    error
	}{
		{"wrong-response", replace("d388dad9", "d388dad8"), ErrAuthFailed},
		{"foreign-nonce", replace(`nonce="OA6MG9tEQGm2hh"`, `nonce="OA6MG9tEQGm2hX"`), ErrAuthFailed},
		{"nc-2", replace("nc=00000001", "nc=00000002"), ErrAuthFailed},
		{"foreign-realm", replace(`realm="elwood.innosoft.com"`, `realm="other"`), ErrAuthFailed},
		{"unknown-user", replace(`username="chris"`, `username="chrix"`), ErrAuthFailed},
		{"wrong-uri", replace(`imap/elwood`, `smtp/elwood`), ErrAuthFailed},
		{"authzid-added", good + `,authzid="root"`, ErrAuthFailed},
		{"empty", "", ErrMalformed},
		{"garbage", "\x00\xff", ErrMalformed},
		{"no-username", replace(`username="chris",`, ``), ErrMalformed},
		{"empty-username", replace(`username="chris"`, `username=""`), ErrMalformed},
		{"no-nonce", replace(`nonce="OA6MG9tEQGm2hh",`, ``), ErrMalformed},
		{"no-cnonce", replace(`cnonce="OA6MHXh6VqTrRk",`, ``), ErrMalformed},
		{"no-nc", replace(`nc=00000001,`, ``), ErrMalformed},
		{"nc-short", replace(`nc=00000001`, `nc=1`), ErrMalformed},
		{"nc-not-hex", replace(`nc=00000001`, `nc=0000000g`), ErrMalformed},
		{"no-uri", replace(`digest-uri="imap/elwood.innosoft.com",`, ``), ErrMalformed},
		{"uri-no-host", replace(`imap/elwood.innosoft.com`, `imap/`), ErrMalformed},
		{"uri-no-slash", replace(`imap/elwood.innosoft.com`, `imap`), ErrMalformed},
		{"no-response", replace(`response=d388dad90d4bbd760a152321f2143af7,`, ``), ErrMalformed},
		{"response-short", replace(`d388dad90d4bbd760a152321f2143af7`, `d388dad90d4bbd760a152321f2143af`), ErrMalformed},
		{"response-not-hex", replace(`d388dad90d4bbd760a152321f2143af7`, `z388dad90d4bbd760a152321f2143af7`), ErrMalformed},
		{"qop-auth-int", replace(`qop=auth`, `qop=auth-int`), ErrMalformed},
		{"qop-auth-conf", replace(`qop=auth`, `qop=auth-conf,cipher=rc4`), ErrMalformed},
		{"charset-latin1", replace(`charset=utf-8`, `charset=iso-8859-1`), ErrMalformed},
		{"duplicate-username", good + `,username="chris"`, ErrMalformed},
		{"duplicate-response", good + `,response=d388dad90d4bbd760a152321f2143af7`, ErrMalformed},
		{"duplicate-unknown", good + `,x=1,x=2`, ErrMalformed},
		{"unterminated-quote", replace(`username="chris"`, `username="chris`), ErrMalformed},
		{"ctl-in-quote", replace(`username="chris"`, "username=\"ch\x01ris\""), ErrMalformed},
		{"no-equals", good + `,foo`, ErrMalformed},
		{"no-comma", replace(`,nc=`, ` nc=`), ErrMalformed},
		{"too-many-directives", good + digestManyUnknown(40), ErrTooLarge},
		{"too-large", good + `,x="` + strings.Repeat("a", maxDigestResponse) + `"`, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := digestTestServer(v, &digestTestStore{users: map[string]string{"chris": "secret"}}, true)
			err := digestRespond(t, v, s, tt.resp)
			require.ErrorIs(t, err, tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
			assert.NotContains(t, err.Error(), "secret")
			_, _, err = s.Next([]byte{})
			assert.ErrorIs(t, err, ErrUnexpectedClientResponse, "a failed exchange stays failed")
			_, ok := s.Identity()
			assert.False(t, ok)
		})
	}
}

func digestManyUnknown(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(",x")
		b.WriteString(strings.Repeat("y", i))
		b.WriteString("=1")
	}
	return b.String()
}

func TestDigestMD5ServerSteps(t *testing.T) {
	v := digestLoadVector(t)
	store := &digestTestStore{users: map[string]string{"chris": "secret"}}

	t.Run("initial-response-refused", func(t *testing.T) {
		s := digestTestServer(v, store, true)
		_, _, err := s.Next([]byte("username=x"))
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("empty-initial-response", func(t *testing.T) {
		s := digestTestServer(v, store, true)
		chal, done, err := s.Next([]byte{})
		require.NoError(t, err)
		assert.False(t, done)
		assert.Equal(t, v.Challenge, string(chal))
	})
	t.Run("data-after-rspauth", func(t *testing.T) {
		s := digestTestServer(v, store, true)
		require.NoError(t, digestRespond(t, v, s, v.Response))
		_, _, err := s.Next([]byte("x"))
		require.ErrorIs(t, err, ErrMalformed)
		_, ok := s.Identity()
		assert.False(t, ok)
	})
	t.Run("random-nonce", func(t *testing.T) {
		s1 := NewDigestMD5Server(context.Background(), nil)
		s2 := NewDigestMD5Server(context.Background(), nil)
		c1, _, err := s1.Next(nil)
		require.NoError(t, err)
		c2, _, err := s2.Next(nil)
		require.NoError(t, err)
		assert.NotEqual(t, c1, c2)
		ch, err := digestParseChallenge(c1)
		require.NoError(t, err)
		assert.Equal(t, []string{"localhost"}, ch.realms)
		assert.Len(t, ch.nonce, 24)
	})
	t.Run("hostname-too-long", func(t *testing.T) {
		s := NewDigestMD5Server(context.Background(), &ServerConfig{Hostname: strings.Repeat("h", maxDigestChallenge)})
		_, _, err := s.Next(nil)
		require.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("no-store", func(t *testing.T) {
		s := inner(NewDigestMD5Server(context.Background(), &ServerConfig{Hostname: v.Realm})).(*digestMD5Server)
		s.nonce = v.Nonce
		require.ErrorIs(t, digestRespond(t, v, s, v.Response), ErrAuthFailed)
	})
	t.Run("store-error-passes-through", func(t *testing.T) {
		down := errors.New("database down")
		for _, plaintext := range []bool{true, false} {
			s := digestTestServer(v, &digestTestStore{err: down}, plaintext)
			assert.Equal(t, down, digestRespond(t, v, s, v.Response))
		}
	})
	t.Run("digest-unknown-falls-back-to-plaintext", func(t *testing.T) {
		cfg := &ServerConfig{Hostname: v.Realm, DigestMD5: &digestTestStore{}, Plaintext: store}
		s := inner(NewDigestMD5Server(context.Background(), cfg)).(*digestMD5Server)
		s.nonce = v.Nonce
		require.NoError(t, digestRespond(t, v, s, v.Response))
	})
	t.Run("unquoted-and-quoted-values", func(t *testing.T) {
		// Every value quoted (as digestAppendDirectives writes), spaces
		// around separators, upper-case names and hex.
		ds, err := digestParse([]byte(v.Response))
		require.NoError(t, err)
		resp := string(digestAppendDirectives(nil, ds))
		resp = strings.ReplaceAll(resp, ",", " , ")
		resp = strings.Replace(resp, "username=", "USERNAME = ", 1)
		resp = strings.Replace(resp, "d388dad90d4bbd760a152321f2143af7", "D388DAD90D4BBD760A152321F2143AF7", 1)
		s := digestTestServer(v, store, true)
		require.NoError(t, digestRespond(t, v, s, resp))
	})
}

func TestDigestMD5ClientFailures(t *testing.T) {
	v := digestLoadVector(t)
	good := v.Challenge
	for _, tt := range []struct {
		name, chal string
		wantErr    error
	}{
		{"empty", "", ErrMalformed},
		{"no-nonce", `realm="r",qop="auth",algorithm=md5-sess`, ErrMalformed},
		{"empty-nonce", `nonce="",qop="auth",algorithm=md5-sess`, ErrMalformed},
		{"no-algorithm", `nonce="n",qop="auth"`, ErrMalformed},
		{"algorithm-md5", `nonce="n",qop="auth",algorithm=md5`, ErrMalformed},
		{"qop-auth-int-only", `nonce="n",qop="auth-int,auth-conf",algorithm=md5-sess`, ErrMalformed},
		{"qop-auth-conf", `nonce="n",qop=auth-conf,algorithm=md5-sess`, ErrMalformed},
		{"charset-latin1", `nonce="n",charset=iso-8859-1,algorithm=md5-sess`, ErrMalformed},
		{"duplicate-nonce", good + `,nonce="x"`, ErrMalformed},
		{"duplicate-qop", good + `,qop="auth"`, ErrMalformed},
		{"duplicate-algorithm", good + `,algorithm=md5-sess`, ErrMalformed},
		{"bad-syntax", `nonce=="n"`, ErrMalformed},
		{"unterminated", `nonce="n`, ErrMalformed},
		{"escape-at-end", `nonce="n\`, ErrMalformed},
		{"too-large", good + `,x="` + strings.Repeat("a", maxDigestChallenge) + `"`, ErrTooLarge},
		{"too-many", good + digestManyUnknown(40), ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDigestMD5Client("chris", "secret", "", "imap", "h")
			_, _, err := c.Start()
			require.NoError(t, err)
			resp, err := c.Next([]byte(tt.chal))
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, resp)
			assert.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
			_, err = c.Next([]byte(v.Rspauth))
			assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
		})
	}

	for _, tt := range []struct {
		name, rspauth string
		wantErr       error
	}{
		{"wrong", "rspauth=ea40f60335c427b5527b84dbabcdfffe", ErrAuthFailed},
		{"short", "rspauth=ea40f60335c427b5527b84dbabcdfff", ErrMalformed},
		{"not-hex", "rspauth=ga40f60335c427b5527b84dbabcdfffd", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"bad-syntax", `rspauth="ea40`, ErrMalformed},
		{"second-challenge", v.Challenge, ErrMalformed},
		{"extra-directive", v.Rspauth + ",x=1", ErrMalformed},
		{"too-large", v.Rspauth + `,x="` + strings.Repeat("a", maxDigestChallenge) + `"`, ErrTooLarge},
	} {
		t.Run("rspauth-"+tt.name, func(t *testing.T) {
			c := NewDigestMD5Client(v.Username, v.Password, "", v.Service, v.Host).(*digestMD5Client)
			c.cnonce = v.Cnonce
			_, _, err := c.Start()
			require.NoError(t, err)
			_, err = c.Next([]byte(v.Challenge))
			require.NoError(t, err)
			resp, err := c.Next([]byte(tt.rspauth))
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, resp)
		})
	}

	t.Run("response-too-large", func(t *testing.T) {
		c := NewDigestMD5Client(strings.Repeat("u", maxDigestResponse), "p", "", "", "")
		_, _, err := c.Start()
		require.NoError(t, err)
		_, err = c.Next([]byte(`nonce="n",algorithm=md5-sess`))
		require.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("no-username", func(t *testing.T) {
		_, _, err := NewDigestMD5Client("", "p", "", "", "").Start()
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("start-twice", func(t *testing.T) {
		c := NewDigestMD5Client("u", "p", "", "", "")
		_, _, err := c.Start()
		require.NoError(t, err)
		_, _, err = c.Start()
		require.ErrorIs(t, err, ErrUnexpectedServerChallenge)
	})
}

// TestDigestMD5ClientQuirks covers challenges as real servers write them.
func TestDigestMD5ClientQuirks(t *testing.T) {
	for _, tt := range []struct {
		name, chal, wantRealm, wantURI string
	}{
		// Dovecot quotes algorithm and charset (curl 7.88 fails on it).
		{"dovecot", `realm="",nonce="abc",qop="auth",charset="utf-8",algorithm="md5-sess"`, "", "imap/localhost"},
		// gsasl and Cyrus leave them unquoted.
		{"gsasl", `realm="peers-lab",nonce="abc",qop="auth",charset=utf-8,algorithm=md5-sess`, "peers-lab", "imap/peers-lab"},
		{"no-qop-means-auth", `nonce="abc",algorithm=md5-sess`, "", "imap/localhost"},
		{"qop-list", `nonce="abc",qop="auth-conf, auth-int , auth",algorithm=MD5-SESS,maxbuf=65536,stale=true,cipher="rc4"`, "", "imap/localhost"},
		{"several-realms", `realm="one",realm="two",nonce="abc",algorithm=md5-sess,unknown=x`, "one", "imap/one"},
		{"unquoted-nonce", `nonce=a+b/c=,algorithm=md5-sess`, "", "imap/localhost"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDigestMD5Client("u", "p", "", "", "")
			_, _, err := c.Start()
			require.NoError(t, err)
			resp, err := c.Next([]byte(tt.chal))
			require.NoError(t, err)
			r, err := digestParseResponse(resp)
			require.NoError(t, err)
			assert.Equal(t, tt.wantRealm, r.realm)
			assert.Equal(t, tt.wantURI, r.digestURI)
			assert.Equal(t, "auth", r.qop)
			assert.Len(t, r.cnonce, 24)
		})
	}
}

// TestDigestMD5Latin1 checks RFC 2831, Section 2.1.2.1: with
// charset=utf-8, strings that fit ISO 8859-1 are hashed in ISO 8859-1.
func TestDigestMD5Latin1(t *testing.T) {
	latin1 := md5.Sum([]byte("j\xfcrgen:r\xe9alm:p\xe4ss"))
	assert.Equal(t, latin1, digestURP("jürgen", "réalm", "päss", true))
	assert.Equal(t, md5.Sum([]byte("jürgen:réalm:päss")), digestURP("jürgen", "réalm", "päss", false))
	// A password with a character outside ISO 8859-1 stays UTF-8, while
	// the user name is still converted.
	assert.Equal(t, md5.Sum([]byte("j\xfcrgen:r:€")), digestURP("jürgen", "r", "€", true))
	assert.Equal(t, hex.EncodeToString(func() []byte { h := digestURP("chris", "elwood.innosoft.com", "secret", true); return h[:] }()),
		"eb5a750053e4d2c34aa84bbc9b0b6ee7")
}

func TestDigestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []digestDirective
	}{
		{``, nil},
		{` , ,`, nil},
		{`a=b`, []digestDirective{{"a", "b"}}},
		{`A = "b c" ,, d=e,`, []digestDirective{{"a", "b c"}, {"d", "e"}}},
		{`q="x\"y\\z\w"`, []digestDirective{{"q", `x"y\zw`}}},
		{`q=""`, []digestDirective{{"q", ""}}},
		{"q=\"t\tab\"", []digestDirective{{"q", "t\tab"}}},
		{`uri=imap/host,n=ab+/=`, []digestDirective{{"uri", "imap/host"}, {"n", "ab+/="}}},
	} {
		got, err := digestParse([]byte(tt.in))
		require.NoError(t, err, tt.in)
		if tt.want == nil {
			assert.Empty(t, got, tt.in)
			continue
		}
		assert.Equal(t, tt.want, got, tt.in)
	}
	for _, in := range []string{`=b`, `a`, `a=`, `a= ,`, `a="b`, `a=b c`, `a="b"c`, "a=\"\x00\"", "a=\x7f", `a@=b`, `a="\`, "a=\"\\\x01\""} {
		_, err := digestParse([]byte(in))
		assert.ErrorIs(t, err, ErrMalformed, "%q", in)
	}
}

// digestSentinel reports whether err wraps one of the errors a DIGEST-MD5
// peer's bad input may cause.
func digestSentinel(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrAuthFailed)
}

func FuzzDigestMD5Server(f *testing.F) {
	v := digestLoadVector(f)
	f.Add([]byte(v.Response))
	f.Add([]byte(v.Response + `,authzid="x\"y"`))
	f.Add([]byte(digestReadVector(f, "testdata/digestmd5/gsasl-client.json").Response))
	f.Add([]byte(`username=chris,nonce=OA6MG9tEQGm2hh,cnonce=x,nc=00000001,digest-uri=imap/h,response=d388dad90d4bbd760a152321f2143af7`))
	f.Add([]byte(`username="a",realm="",qop=auth-int,cipher=rc4,maxbuf=1,x=y,,`))
	store := &digestTestStore{users: map[string]string{v.Username: v.Password}}
	f.Fuzz(func(t *testing.T, resp []byte) {
		s := digestTestServer(v, store, true)
		_, _, err := s.Next(nil)
		require.NoError(t, err)
		chal, done, err := s.Next(resp)
		require.False(t, done)
		if err != nil {
			require.True(t, digestSentinel(err), "unexpected error %v", err)
			require.Nil(t, chal)
			return
		}
		// Only a correct response gets here, and it earns rspauth.
		require.Len(t, chal, len("rspauth=")+32)
		_, done, err = s.Next([]byte{})
		require.NoError(t, err)
		require.True(t, done)
	})
}

func FuzzDigestMD5Client(f *testing.F) {
	v := digestLoadVector(f)
	f.Add([]byte(v.Challenge))
	f.Add([]byte(`realm="",nonce="abc",qop="auth",charset="utf-8",algorithm="md5-sess"`))
	f.Add([]byte(`realm="a",realm="b",nonce=n,qop="auth-conf, auth",algorithm=md5-sess,stale=true,maxbuf=1024,cipher="rc4,des"`))
	f.Add([]byte(`nonce="a\"b\\c",algorithm=md5-sess`))
	f.Add([]byte(digestReadVector(f, "testdata/digestmd5/gsasl-server.json").Challenge))
	f.Fuzz(func(t *testing.T, chal []byte) {
		c := NewDigestMD5Client("chris", "secret", "admin", "imap", "")
		_, _, err := c.Start()
		require.NoError(t, err)
		resp, err := c.Next(chal)
		if err != nil {
			require.True(t, digestSentinel(err), "unexpected error %v", err)
			require.Nil(t, resp)
			return
		}
		// What we send must be a response our own server can read.
		r, err := digestParseResponse(resp)
		require.NoError(t, err, "%q", resp)
		require.Equal(t, "chris", r.username)
		require.Equal(t, "admin", r.authzid)
		ch, err := digestParseChallenge(chal)
		require.NoError(t, err)
		require.Equal(t, ch.nonce, r.nonce)
	})
}

func FuzzDigestDirectives(f *testing.F) {
	v := digestLoadVector(f)
	for _, s := range []string{v.Challenge, v.Response, v.Rspauth, `a = "b\"c" ,, d=e,`, "q=\"t\tab\"", `n=ab+/=,u=imap/h`} {
		f.Add([]byte(s))
	}
	for _, file := range []string{"gsasl-client.json", "gsasl-server.json"} {
		g := digestReadVector(f, "testdata/digestmd5/"+file)
		f.Add([]byte(g.Challenge))
		f.Add([]byte(g.Response))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ds, err := digestParse(in)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge), "unexpected error %v", err)
			return
		}
		require.LessOrEqual(t, len(ds), maxDigestDirectives)
		// Rendering and parsing again gives the same directives.
		out := digestAppendDirectives(nil, ds)
		again, err := digestParse(out)
		require.NoError(t, err, "%q", out)
		require.Equal(t, ds, again)
	})
}

// digestBenchStore returns one precomputed MD5(user:realm:pass), as a
// passwd-file with {DIGEST-MD5} entries does.
type digestBenchStore [16]byte

func (s *digestBenchStore) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	return *s, nil
}

func BenchmarkDigestMD5(b *testing.B) {
	v := digestLoadVector(b)
	store := digestBenchStore(md5.Sum([]byte(v.Username + ":" + v.Realm + ":" + v.Password)))
	cfg := &ServerConfig{Hostname: v.Realm, DigestMD5: &store}
	resp, rspauth, chal := []byte(v.Response), []byte(v.Rspauth), []byte(v.Challenge)

	// The whole server side of one exchange: challenge (with the
	// vector's nonce instead of 18 bytes from crypto/rand), verify,
	// rspauth, final empty response.
	b.Run("side=server", bench(func() {
		s := newDigestMD5Server(newServerEnv(context.Background(), cfg, nil), DigestMD5).(*digestMD5Server)
		s.nonce = v.Nonce
		s.Next(nil)
		s.Next(resp)
		if _, done, _ := s.Next([]byte{}); !done {
			b.Fatal("exchange failed")
		}
	}))
	b.Run("side=client", bench(func() {
		c := NewDigestMD5Client(v.Username, v.Password, "", v.Service, v.Host).(*digestMD5Client)
		c.cnonce = v.Cnonce
		c.Start()
		c.Next(chal)
		if _, err := c.Next(rspauth); err != nil {
			b.Fatal(err)
		}
	}))

	// raw=md5: the MD5 work a server holding MD5(user:realm:pass) cannot
	// avoid: H(A1), H(A2) and KD for the response, H(A2') and KD for
	// rspauth, as one-shot md5.Sum calls on prebuilt inputs.
	urp := [16]byte(store)
	a1 := append(urp[:], ":"+v.Nonce+":"+v.Cnonce...)
	a2 := []byte("AUTHENTICATE:imap/elwood.innosoft.com")
	a2r := []byte(":imap/elwood.innosoft.com")
	kdIn := func(ha1, ha2 [16]byte) []byte {
		return []byte(hex.EncodeToString(ha1[:]) + ":" + v.Nonce + ":00000001:" + v.Cnonce + ":auth:" + hex.EncodeToString(ha2[:]))
	}
	ha1 := md5.Sum(a1)
	k1, k2 := kdIn(ha1, md5.Sum(a2)), kdIn(ha1, md5.Sum(a2r))
	raw := func() ([16]byte, [16]byte) {
		md5.Sum(a1)
		md5.Sum(a2)
		md5.Sum(a2r)
		return md5.Sum(k1), md5.Sum(k2)
	}
	r1, r2 := raw()
	require.Equal(b, "d388dad90d4bbd760a152321f2143af7", hex.EncodeToString(r1[:]))
	require.Equal(b, "rspauth=ea40f60335c427b5527b84dbabcdfffd", "rspauth="+hex.EncodeToString(r2[:]))
	b.Run("raw=md5", bench(func() { raw() }))
}

// TestDigestMD5NoCharset runs an exchange in which the challenge lacks
// charset=utf-8, so names and passwords travel and are hashed in ISO
// 8859-1 (RFC 2831, Section 2.1.1).
func TestDigestMD5NoCharset(t *testing.T) {
	store := &digestTestStore{users: map[string]string{"jürgen": "pässword"}}
	for _, plaintext := range []bool{true, false} {
		s := inner(NewDigestMD5Server(context.Background(), &ServerConfig{Hostname: "h", Plaintext: store})).(*digestMD5Server)
		if !plaintext {
			// The store's hash, made in ISO 8859-1 as the RFC says.
			s.cfg = &ServerConfig{Hostname: "h", DigestMD5: digestLatin1Store{}}
		}
		chal, _, err := s.Next(nil)
		require.NoError(t, err)
		chal = []byte(strings.Replace(string(chal), ",charset=utf-8", "", 1))

		c := NewDigestMD5Client("jürgen", "pässword", "", "imap", "h")
		_, _, err = c.Start()
		require.NoError(t, err)
		resp, err := c.Next(chal)
		require.NoError(t, err)
		assert.Contains(t, string(resp), "username=\"j\xfcrgen\"")
		assert.NotContains(t, string(resp), "charset")
		rspauth, _, err := s.Next(resp)
		require.NoError(t, err)
		_, err = c.Next(rspauth)
		require.NoError(t, err)
		_, done, err := s.Next([]byte{})
		require.NoError(t, err)
		require.True(t, done)
		id, _ := s.Identity()
		assert.Equal(t, "jürgen", id.Username, "the Identity is UTF-8")
	}

	c := NewDigestMD5Client("Jürgen €", "p", "", "imap", "h")
	_, _, _ = c.Start()
	_, err := c.Next([]byte(`nonce="n",algorithm=md5-sess`))
	require.ErrorIs(t, err, ErrMalformed)
}

type digestLatin1Store struct{}

func (digestLatin1Store) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	if username != "jürgen" {
		return [16]byte{}, ErrUnknownUser
	}
	return md5.Sum([]byte("j\xfcrgen:" + realm + ":p\xe4ssword")), nil
}

// digestRawResponse builds a digest-response the way Dovecot and curl do
// for non-ASCII input: names and password hashed as raw UTF-8, with or
// without charset=utf-8.
func digestRawResponse(user, pass, realm, nonce, cnonce, uri string, charset bool) string {
	ha1 := digestHA1(digestURP(user, realm, pass, false), nonce, cnonce, "")
	resp := digestKD(&ha1, nonce, cnonce, "AUTHENTICATE:", uri)
	out := ""
	if charset {
		out = "charset=utf-8,"
	}
	return out + `username="` + user + `",realm="` + realm + `",nonce="` + nonce + `",nc=00000001,cnonce="` + cnonce +
		`",digest-uri="` + uri + `",response=` + hex.EncodeToString(resp[:]) + `,qop=auth`
}

// TestDigestMD5ServerUTF8Forms shows that from a plaintext password the
// server accepts both the RFC form (ISO 8859-1 where it fits) and the raw
// UTF-8 form of Dovecot and curl, and only the right password in either.
func TestDigestMD5ServerUTF8Forms(t *testing.T) {
	store := &digestTestStore{users: map[string]string{"jürgen": "päss wörd"}}
	for _, tt := range []struct {
		name    string
		resp    func(nonce string) string
		wantErr error
	}{
		{"raw-utf8-with-charset", func(n string) string {
			return digestRawResponse("jürgen", "päss wörd", "h", n, "c", "imap/h", true)
		}, nil},
		{"raw-utf8-without-charset", func(n string) string {
			return digestRawResponse("jürgen", "päss wörd", "h", n, "c", "imap/h", false)
		}, nil},
		{"raw-utf8-wrong-password", func(n string) string {
			return digestRawResponse("jürgen", "pass wörd", "h", n, "c", "imap/h", true)
		}, ErrAuthFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := inner(NewDigestMD5Server(context.Background(), &ServerConfig{Hostname: "h", Plaintext: store})).(*digestMD5Server)
			s.nonce = "n"
			_, _, err := s.Next(nil)
			require.NoError(t, err)
			_, _, err = s.Next([]byte(tt.resp("n")))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			_, done, err := s.Next([]byte{})
			require.NoError(t, err)
			require.True(t, done)
			id, _ := s.Identity()
			assert.Equal(t, "jürgen", id.Username)
		})
	}

	// Our own client (RFC form) against the same server.
	s := NewDigestMD5Server(context.Background(), &ServerConfig{Hostname: "h", Plaintext: store})
	cerr, serr := runExchange(t, NewDigestMD5Client("jürgen", "päss wörd", "", "imap", "h"), s)
	require.NoError(t, cerr)
	require.NoError(t, serr)
}
