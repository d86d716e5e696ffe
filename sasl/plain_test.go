package sasl

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainTestStore is an in-memory credential store for the password
// mechanisms' tests. err, if set, is returned by every lookup.
type plainTestStore struct {
	users map[string]string
	err   error
}

func (s *plainTestStore) LookupPassword(ctx context.Context, username string) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	p, ok := s.users[username]
	if !ok {
		return "", ErrUnknownUser
	}
	return p, nil
}

func (s *plainTestStore) LookupCRAMMD5(ctx context.Context, username string) (CRAMMD5Secret, error) {
	if s.err != nil {
		return CRAMMD5Secret{}, s.err
	}
	p, ok := s.users[username]
	if !ok {
		return CRAMMD5Secret{}, ErrUnknownUser
	}
	return NewCRAMMD5Secret(p), nil
}

// plainTestVerifier is a PasswordVerifier over a plainTestStore that
// reports failures the way a real store would, with its own wrapping.
type plainTestVerifier struct{ plainTestStore }

func (v *plainTestVerifier) VerifyPassword(ctx context.Context, username, password string) error {
	p, err := v.LookupPassword(ctx, username)
	if err != nil {
		return err
	}
	if p != password {
		return errors.Join(errors.New("store: bad password"), ErrAuthFailed)
	}
	return nil
}

// plainTestUsers are the users of the tests: RFC 4616's and RFC 2195's.
func plainTestUsers() map[string]string {
	return map[string]string{
		"tim":          "tanstaaftanstaaf",
		"Kurt":         "xipj3plmq",
		"user name":    "pass word",
		"jürgen":       "päss wörd",
		"alice@ex.org": "alice-secret",
	}
}

var plainTestStoreErr = errors.New("store: database down")

type plainVector struct {
	Name          string `json:"name"`
	MessageBase64 string `json:"message_base64"`
	Authzid       string `json:"authzid"`
	Authcid       string `json:"authcid"`
	Passwd        string `json:"passwd"`
}

func plainVectors(t testing.TB) []plainVector {
	t.Helper()
	b, err := os.ReadFile("testdata/plain/rfc4616.json")
	require.NoError(t, err)
	var v []plainVector
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v)
	return v
}

func TestPlainRFC4616Vectors(t *testing.T) {
	for _, v := range plainVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			msg, err := base64.StdEncoding.DecodeString(v.MessageBase64)
			require.NoError(t, err)

			mech, ir, err := NewPlainClient(v.Authzid, v.Authcid, v.Passwd).Start()
			require.NoError(t, err)
			assert.Equal(t, Plain, mech)
			assert.Equal(t, msg, ir)

			z, c, p, err := plainParse(msg)
			require.NoError(t, err)
			assert.Equal(t, v.Authzid, z)
			assert.Equal(t, v.Authcid, c)
			assert.Equal(t, v.Passwd, p)

			// Kurt may act as Ursel only with an Authorize policy.
			var asked Identity
			cfg := &ServerConfig{
				Plaintext: &plainTestStore{users: plainTestUsers()},
				Authorize: func(ctx context.Context, id Identity) error { asked = id; return nil },
			}
			s := NewPlainServer(context.Background(), cfg)
			chal, done, err := s.Next(msg)
			require.NoError(t, err)
			assert.True(t, done)
			assert.Nil(t, chal)
			want := Identity{Mechanism: Plain, Username: v.Authcid, Authzid: v.Authzid}
			assert.Equal(t, want, asked)
			id, ok := s.(IdentityServer).Identity()
			assert.True(t, ok)
			assert.Equal(t, want, id)
		})
	}
}

func TestPlainRoundTrip(t *testing.T) {
	stores := map[string]*ServerConfig{
		"Plaintext": {Plaintext: &plainTestStore{users: plainTestUsers()}},
		"Passwords": {Passwords: &plainTestVerifier{plainTestStore{users: plainTestUsers()}}},
	}
	for name, cfg := range stores {
		for user, pass := range plainTestUsers() {
			t.Run(name+"/"+user, func(t *testing.T) {
				s := NewPlainServer(context.Background(), cfg)
				cerr, serr := runExchange(t, NewPlainClient("", user, pass), s)
				require.NoError(t, cerr)
				require.NoError(t, serr)
				id, ok := s.(IdentityServer).Identity()
				require.True(t, ok)
				assert.Equal(t, Identity{Mechanism: Plain, Username: user}, id)
				assert.Equal(t, user, id.User())

				s = NewPlainServer(context.Background(), cfg)
				_, serr = runExchange(t, NewPlainClient("", user, pass+"x"), s)
				require.ErrorIs(t, serr, ErrAuthFailed)
				_, ok = s.(IdentityServer).Identity()
				assert.False(t, ok)
			})
		}
	}
}

// plainStep is one response given to a server and what it must answer.
type plainStep struct {
	resp     []byte
	wantChal []byte // checked when wantErr is nil and the step is not done
	wantDone bool
	wantErr  error
}

// plainRunSteps feeds steps to s and checks every answer.
func plainRunSteps(t *testing.T, s Server, steps []plainStep) {
	t.Helper()
	for i, st := range steps {
		chal, done, err := s.Next(st.resp)
		if st.wantErr != nil {
			require.ErrorIs(t, err, st.wantErr, "step %d", i)
			assert.False(t, done, "step %d", i)
			assert.True(t, strings.HasPrefix(err.Error(), "sasl: "), "step %d: %q", i, err)
			continue
		}
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, st.wantDone, done, "step %d", i)
		if !done {
			assert.Equal(t, st.wantChal, chal, "step %d", i)
			assert.NotNil(t, chal, "step %d: a challenge is never nil", i)
		} else {
			assert.Nil(t, chal, "step %d: nothing rides on success", i)
		}
	}
}

func TestPlainServerSteps(t *testing.T) {
	good := []byte("\x00tim\x00tanstaaftanstaaf")
	long := strings.Repeat("a", plainMaxField+1)
	tests := []struct {
		name  string
		steps []plainStep
	}{
		{"initial response", []plainStep{{resp: good, wantDone: true}}},
		{"no initial response", []plainStep{{resp: nil, wantChal: []byte{}}, {resp: good, wantDone: true}}},
		{"extra round after done", []plainStep{{resp: good, wantDone: true}, {resp: []byte{}, wantErr: ErrUnexpectedClientResponse}}},
		{"response after failure", []plainStep{{resp: []byte("x"), wantErr: ErrMalformed}, {resp: good, wantErr: ErrUnexpectedClientResponse}}},
		{"empty initial response", []plainStep{{resp: []byte{}, wantErr: ErrMalformed}}},
		{"nil after empty challenge", []plainStep{{resp: nil, wantChal: []byte{}}, {resp: nil, wantErr: ErrMalformed}}},
		{"missing NUL", []plainStep{{resp: []byte("timtanstaaftanstaaf"), wantErr: ErrMalformed}}},
		{"one NUL", []plainStep{{resp: []byte("tim\x00tanstaaftanstaaf"), wantErr: ErrMalformed}}},
		{"extra NUL", []plainStep{{resp: []byte("\x00tim\x00tanstaaf\x00tanstaaf"), wantErr: ErrMalformed}}},
		{"trailing NUL", []plainStep{{resp: []byte("\x00tim\x00tanstaaftanstaaf\x00"), wantErr: ErrMalformed}}},
		{"empty authcid", []plainStep{{resp: []byte("\x00\x00tanstaaftanstaaf"), wantErr: ErrMalformed}}},
		{"empty passwd", []plainStep{{resp: []byte("\x00tim\x00"), wantErr: ErrMalformed}}},
		{"only NULs", []plainStep{{resp: []byte("\x00\x00"), wantErr: ErrMalformed}}},
		{"invalid UTF-8 passwd", []plainStep{{resp: []byte("\x00tim\x00\xff\xfe"), wantErr: ErrMalformed}}},
		{"invalid UTF-8 authzid", []plainStep{{resp: []byte("\xc3\x00tim\x00x"), wantErr: ErrMalformed}}},
		{"authzid too long", []plainStep{{resp: []byte(long + "\x00tim\x00x"), wantErr: ErrTooLarge}}},
		{"authcid too long", []plainStep{{resp: []byte("\x00" + long + "\x00x"), wantErr: ErrTooLarge}}},
		{"passwd too long", []plainStep{{resp: []byte("\x00tim\x00" + long), wantErr: ErrTooLarge}}},
		{"message too long", []plainStep{{resp: []byte(strings.Repeat("a", plainMaxMessage+1)), wantErr: ErrTooLarge}}},
		{"wrong password", []plainStep{{resp: []byte("\x00tim\x00tanstaaf"), wantErr: ErrAuthFailed}}},
		{"unknown user", []plainStep{{resp: []byte("\x00bob\x00tanstaaftanstaaf"), wantErr: ErrAuthFailed}}},
		{"authzid of another user", []plainStep{{resp: []byte("Kurt\x00tim\x00tanstaaftanstaaf"), wantErr: ErrAuthzFailed}}},
		{"authzid equal to authcid", []plainStep{{resp: []byte("tim\x00tim\x00tanstaaftanstaaf"), wantDone: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &ServerConfig{Plaintext: &plainTestStore{users: plainTestUsers()}}
			plainRunSteps(t, NewPlainServer(context.Background(), cfg), tt.steps)
			// The ServerSet's PLAIN server behaves the same.
			s, err := NewServerSet(cfg, plainTLSConn()).NewServer(context.Background(), Plain)
			require.NoError(t, err)
			plainRunSteps(t, s, tt.steps)
		})
	}
}

// TestPlainUnknownUserLikeWrongPassword checks that the two failures are
// one and the same error value, on every password source.
func TestPlainUnknownUserLikeWrongPassword(t *testing.T) {
	for name, cfg := range map[string]*ServerConfig{
		"Plaintext": {Plaintext: &plainTestStore{users: plainTestUsers()}},
		"Passwords": {Passwords: &plainTestVerifier{plainTestStore{users: plainTestUsers()}}},
		"SCRAM":     {SCRAMSecret: []byte("test scram secret"), SCRAM: plainTestSCRAMStore{}},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, e1 := NewPlainServer(nil, cfg).Next([]byte("\x00tim\x00wrong"))
			_, _, e2 := NewPlainServer(nil, cfg).Next([]byte("\x00nobody\x00wrong"))
			require.ErrorIs(t, e1, ErrAuthFailed)
			assert.Equal(t, e1, e2)
			assert.Equal(t, e1.Error(), e2.Error())
			assert.NotContains(t, e1.Error(), "tim")
		})
	}
}

// plainTestSCRAMStore answers every SCRAM lookup with "unknown user".
type plainTestSCRAMStore struct{}

func (plainTestSCRAMStore) LookupSCRAM(ctx context.Context, mech, username string) (SCRAMCredentials, error) {
	return SCRAMCredentials{}, ErrUnknownUser
}

func TestPlainStoreErrorPassesThrough(t *testing.T) {
	for name, cfg := range map[string]*ServerConfig{
		"Plaintext": {Plaintext: &plainTestStore{err: plainTestStoreErr}},
		"Passwords": {Passwords: &plainTestVerifier{plainTestStore{err: plainTestStoreErr}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := NewPlainServer(nil, cfg).Next([]byte("\x00tim\x00tanstaaftanstaaf"))
			assert.Same(t, plainTestStoreErr, err)
		})
	}
}

func TestPlainAuthorizeErrorPassesThrough(t *testing.T) {
	authzErr := errors.New("policy: no")
	cfg := &ServerConfig{
		Plaintext: &plainTestStore{users: plainTestUsers()},
		Authorize: func(ctx context.Context, id Identity) error { return authzErr },
	}
	_, _, err := NewPlainServer(nil, cfg).Next([]byte("\x00tim\x00tanstaaftanstaaf"))
	assert.Same(t, authzErr, err)
	// Authorize is not reached with a wrong password.
	_, _, err = NewPlainServer(nil, cfg).Next([]byte("\x00tim\x00nope"))
	assert.Equal(t, ErrAuthFailed, err)
}

func TestPlainVerifyPasswordDispatch(t *testing.T) {
	users := plainTestUsers()
	called := ""
	pv := plainTestFuncVerifier(func(u, p string) error { called = "Passwords"; return nil })
	// Passwords wins over Plaintext and SCRAM.
	env := newServerEnv(nil, &ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: pv, Plaintext: &plainTestStore{err: plainTestStoreErr}, SCRAM: plainTestSCRAMStore{}}, nil)
	user, err := env.verifyPassword("tim", "anything")
	require.NoError(t, err)
	assert.Equal(t, "tim", user)
	assert.Equal(t, "Passwords", called)
	// Plaintext before SCRAM.
	env = newServerEnv(nil, &ServerConfig{SCRAMSecret: []byte("test scram secret"), Plaintext: &plainTestStore{users: users}, SCRAM: plainTestSCRAMStore{}}, nil)
	_, err = env.verifyPassword("tim", "tanstaaftanstaaf")
	require.NoError(t, err)
	// SCRAM alone (the placeholder, or the real one, refuses this user).
	env = newServerEnv(nil, &ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: plainTestSCRAMStore{}}, nil)
	_, err = env.verifyPassword("tim", "tanstaaftanstaaf")
	assert.Equal(t, ErrAuthFailed, err)
	// Nothing configured.
	env = newServerEnv(nil, nil, nil)
	_, err = env.verifyPassword("tim", "tanstaaftanstaaf")
	assert.ErrorIs(t, err, ErrUnsupportedMechanism)
	_, _, err = NewPlainServer(nil, nil).Next([]byte("\x00tim\x00tanstaaftanstaaf"))
	assert.ErrorIs(t, err, ErrUnsupportedMechanism)
}

type plainTestFuncVerifier func(username, password string) error

func (f plainTestFuncVerifier) VerifyPassword(ctx context.Context, username, password string) error {
	return f(username, password)
}

func TestPlainClient(t *testing.T) {
	long := strings.Repeat("a", plainMaxField+1)
	for _, tt := range []struct {
		name                string
		authzid, user, pass string
		wantErr             error
	}{
		{"empty username", "", "", "p", ErrMalformed},
		{"empty password", "", "u", "", ErrMalformed},
		{"NUL in username", "", "u\x00v", "p", ErrMalformed},
		{"NUL in password", "", "u", "p\x00", ErrMalformed},
		{"NUL in authzid", "a\x00", "u", "p", ErrMalformed},
		{"long authzid", long, "u", "p", ErrTooLarge},
		{"long username", "", long, "p", ErrTooLarge},
		{"long password", "", "u", long, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewPlainClient(tt.authzid, tt.user, tt.pass).Start()
			require.ErrorIs(t, err, tt.wantErr)
			assert.NotContains(t, err.Error(), tt.pass+"\x00")
		})
	}

	c := NewPlainClient("", "tim", "tanstaaftanstaaf")
	_, ir, err := c.Start()
	require.NoError(t, err)
	// A layer that dropped the initial response gets it on the empty
	// challenge, once.
	resp, err := c.Next([]byte{})
	require.NoError(t, err)
	assert.Equal(t, ir, resp)
	_, err = c.Next([]byte{})
	assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
	_, err = NewPlainClient("", "tim", "x").Next([]byte("hello"))
	assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
}

// TestPlainGoSASL runs go-sasl's PLAIN client against our server and our
// client against go-sasl's server.
func TestPlainGoSASL(t *testing.T) {
	cfg := &ServerConfig{Plaintext: &plainTestStore{users: plainTestUsers()}}
	for user, pass := range plainTestUsers() {
		t.Run(user, func(t *testing.T) {
			s := NewPlainServer(context.Background(), cfg)
			cerr, serr := runExchange(t, gosasl.NewPlainClient("", user, pass), s)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			id, ok := s.(IdentityServer).Identity()
			require.True(t, ok)
			assert.Equal(t, user, id.Username)

			_, serr = runExchange(t, gosasl.NewPlainClient("", user, "bad"), NewPlainServer(context.Background(), cfg))
			assert.ErrorIs(t, serr, ErrAuthFailed)

			var got [3]string
			gs := gosasl.NewPlainServer(func(identity, username, password string) error {
				got = [3]string{identity, username, password}
				return nil
			})
			cerr, serr = runExchange(t, NewPlainClient("", user, pass), gs)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			assert.Equal(t, [3]string{"", user, pass}, got)
		})
	}
	// go-sasl's server with our client's authzid.
	var got [3]string
	gs := gosasl.NewPlainServer(func(identity, username, password string) error {
		got = [3]string{identity, username, password}
		return nil
	})
	_, serr := runExchange(t, NewPlainClient("Ursel", "Kurt", "xipj3plmq"), gs)
	require.NoError(t, serr)
	assert.Equal(t, [3]string{"Ursel", "Kurt", "xipj3plmq"}, got)
}

func FuzzPlainServer(f *testing.F) {
	for _, v := range plainVectors(f) {
		msg, err := base64.StdEncoding.DecodeString(v.MessageBase64)
		require.NoError(f, err)
		f.Add(msg)
	}
	f.Add([]byte("\x00tim\x00tanstaaftanstaaf"))
	f.Add([]byte("tim\x00tim\x00\xff"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte{})
	cfg := &ServerConfig{Plaintext: &plainTestStore{users: plainTestUsers()}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if msg == nil {
			msg = []byte{} // nil would mean "no initial response"
		}
		s := NewPlainServer(context.Background(), cfg)
		chal, done, err := s.Next(msg)
		if err == nil {
			require.True(t, done)
			require.Nil(t, chal)
			id, ok := s.(IdentityServer).Identity()
			require.True(t, ok)
			require.Equal(t, plainTestUsers()[id.Username], string(msg[strings.LastIndexByte(string(msg), 0)+1:]))
		} else {
			require.False(t, done)
			require.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
		}
		_, _, err = s.Next(msg)
		require.ErrorIs(t, err, ErrUnexpectedClientResponse)
	})
}

// plainBenchSink makes benchmarked servers escape to the heap.
var plainBenchSink Server

// BenchmarkPlain times one whole PLAIN server exchange (construction,
// parse, a trivial verifier, authorization) beside go-sasl's.
func BenchmarkPlain(b *testing.B) {
	msg := []byte("\x00tim\x00tanstaaftanstaaf")
	ctx := context.Background()
	cfg := &ServerConfig{Passwords: plainTestFuncVerifier(func(u, p string) error {
		if p != "tanstaaftanstaaf" {
			return ErrAuthFailed
		}
		return nil
	})}
	if _, done, err := NewPlainServer(ctx, cfg).Next(msg); !done || err != nil {
		b.Fatal("our server refused the message", err)
	}
	auth := func(identity, username, password string) error {
		if password != "tanstaaftanstaaf" {
			return ErrAuthFailed
		}
		return nil
	}
	if _, done, err := gosasl.NewPlainServer(auth).Next(msg); !done || err != nil {
		b.Fatal("go-sasl refused the message", err)
	}
	// Both servers are stored in a sink so that they reach the heap, as
	// they do when returned to go-imap or go-smtp; otherwise the compiler
	// may keep an inlined server on the stack.
	b.Run("side=server", bench(func() {
		s := NewPlainServer(ctx, cfg)
		plainBenchSink = s
		s.Next(msg)
	}))
	b.Run("competitor=go-sasl", bench(func() {
		s := gosasl.NewPlainServer(auth)
		plainBenchSink = s
		s.Next(msg)
	}))
	b.Run("side=client", bench(func() {
		NewPlainClient("", "tim", "tanstaaftanstaaf").Start()
	}))
}
