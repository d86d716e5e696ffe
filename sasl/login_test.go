package sasl

import (
	"context"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loginTestConfig() *ServerConfig {
	return &ServerConfig{Plaintext: &plainTestStore{users: plainTestUsers()}}
}

func TestLoginRoundTrip(t *testing.T) {
	for user, pass := range plainTestUsers() {
		t.Run(user, func(t *testing.T) {
			s := NewLoginServer(context.Background(), loginTestConfig())
			cerr, serr := runExchange(t, NewLoginClient(user, pass), s)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			id, ok := s.(IdentityServer).Identity()
			require.True(t, ok)
			assert.Equal(t, Identity{Mechanism: Login, Username: user}, id)

			_, serr = runExchange(t, NewLoginClient(user, pass+"!"), NewLoginServer(context.Background(), loginTestConfig()))
			assert.Equal(t, ErrAuthFailed, serr)
		})
	}
}

// TestLoginGoSASLClient runs go-sasl's LOGIN client, which sends the
// username as initial response and demands exactly "Password:", against
// our server.
func TestLoginGoSASLClient(t *testing.T) {
	for user, pass := range plainTestUsers() {
		t.Run(user, func(t *testing.T) {
			s := NewLoginServer(context.Background(), loginTestConfig())
			cerr, serr := runExchange(t, gosasl.NewLoginClient(user, pass), s)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			id, ok := s.(IdentityServer).Identity()
			require.True(t, ok)
			assert.Equal(t, user, id.Username)

			_, serr = runExchange(t, gosasl.NewLoginClient(user, "wrong"), NewLoginServer(context.Background(), loginTestConfig()))
			assert.Equal(t, ErrAuthFailed, serr)
			_, serr = runExchange(t, gosasl.NewLoginClient("nobody", "wrong"), NewLoginServer(context.Background(), loginTestConfig()))
			assert.Equal(t, ErrAuthFailed, serr)
		})
	}
}

// TestLoginClientChallenges plays the challenge texts real servers send.
func TestLoginClientChallenges(t *testing.T) {
	for _, tt := range []struct {
		name       string
		challenges []string
		want       []string // responses; "" marks an expected error
	}{
		{"Username Password", []string{"Username:", "Password:"}, []string{"u", "p"}},
		{"lower case", []string{"username:", "password:"}, []string{"u", "p"}},
		{"draft names", []string{"User Name\x00", "Password\x00"}, []string{"u", "p"}},
		{"other text by position", []string{"Benutzername:", "Passwort:"}, []string{"u", "p"}},
		{"empty by position", []string{"", ""}, []string{"u", "p"}},
		{"password only (IR-style server)", []string{"Password:"}, []string{"p"}},
		{"third challenge", []string{"Username:", "Password:", "Again:"}, []string{"u", "p", ""}},
		{"username twice", []string{"Username:", "Username:"}, []string{"u", ""}},
		{"after password", []string{"Password:", "Username:"}, []string{"p", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewLoginClient("u", "p")
			mech, ir, err := c.Start()
			require.NoError(t, err)
			assert.Equal(t, Login, mech)
			assert.Nil(t, ir)
			for i, ch := range tt.challenges {
				resp, err := c.Next([]byte(ch))
				if tt.want[i] == "" {
					assert.ErrorIs(t, err, ErrUnexpectedServerChallenge)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.want[i], string(resp))
			}
		})
	}
}

func TestLoginClientStart(t *testing.T) {
	long := strings.Repeat("a", loginMaxField+1)
	for _, tt := range []struct {
		name, user, pass string
		wantErr          error
	}{
		{"empty username", "", "p", ErrMalformed},
		{"empty password", "u", "", ErrMalformed},
		{"NUL", "u\x00", "p", ErrMalformed},
		{"long password", "u", long, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewLoginClient(tt.user, tt.pass).Start()
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestLoginServerSteps(t *testing.T) {
	user, pass := []byte("tim"), []byte("tanstaaftanstaaf")
	uc, pc := []byte("Username:"), []byte("Password:")
	long := []byte(strings.Repeat("a", loginMaxField+1))
	tests := []struct {
		name  string
		steps []plainStep
	}{
		{"no initial response", []plainStep{{resp: nil, wantChal: uc}, {resp: user, wantChal: pc}, {resp: pass, wantDone: true}}},
		{"empty initial response", []plainStep{{resp: []byte{}, wantChal: uc}, {resp: user, wantChal: pc}, {resp: pass, wantDone: true}}},
		{"username as initial response", []plainStep{{resp: user, wantChal: pc}, {resp: pass, wantDone: true}}},
		{"extra round after done", []plainStep{{resp: user, wantChal: pc}, {resp: pass, wantDone: true}, {resp: []byte{}, wantErr: ErrUnexpectedClientResponse}}},
		{"response after failure", []plainStep{{resp: user, wantChal: pc}, {resp: []byte("x"), wantErr: ErrAuthFailed}, {resp: pass, wantErr: ErrUnexpectedClientResponse}}},
		{"empty username", []plainStep{{resp: nil, wantChal: uc}, {resp: []byte{}, wantErr: ErrMalformed}, {resp: user, wantErr: ErrUnexpectedClientResponse}}},
		{"empty password", []plainStep{{resp: user, wantChal: pc}, {resp: []byte{}, wantErr: ErrMalformed}}},
		{"nil password", []plainStep{{resp: user, wantChal: pc}, {resp: nil, wantErr: ErrMalformed}}},
		{"NUL in username", []plainStep{{resp: []byte("t\x00im"), wantErr: ErrMalformed}}},
		{"NUL in password", []plainStep{{resp: user, wantChal: pc}, {resp: []byte("tanstaaf\x00"), wantErr: ErrMalformed}}},
		{"username not UTF-8", []plainStep{{resp: []byte("t\xffim"), wantErr: ErrMalformed}}},
		{"username too long", []plainStep{{resp: long, wantErr: ErrTooLarge}}},
		{"password too long", []plainStep{{resp: user, wantChal: pc}, {resp: long, wantErr: ErrTooLarge}}},
		{"wrong password", []plainStep{{resp: user, wantChal: pc}, {resp: []byte("nope"), wantErr: ErrAuthFailed}}},
		{"unknown user", []plainStep{{resp: []byte("bob"), wantChal: pc}, {resp: pass, wantErr: ErrAuthFailed}}},
		{"non-UTF-8 password is passed on", []plainStep{{resp: user, wantChal: pc}, {resp: []byte("\xfftanstaaf"), wantErr: ErrAuthFailed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plainRunSteps(t, NewLoginServer(context.Background(), loginTestConfig()), tt.steps)
		})
	}
}

func TestLoginStoreErrors(t *testing.T) {
	cfg := &ServerConfig{Plaintext: &plainTestStore{err: plainTestStoreErr}}
	s := NewLoginServer(nil, cfg)
	_, _, err := s.Next([]byte("tim"))
	require.NoError(t, err)
	_, _, err = s.Next([]byte("pw"))
	assert.Same(t, plainTestStoreErr, err)

	// Unknown user and wrong password: the same value.
	var errs []error
	for _, u := range []string{"tim", "nobody"} {
		s := NewLoginServer(nil, loginTestConfig())
		_, _, err := s.Next([]byte(u))
		require.NoError(t, err)
		_, _, err = s.Next([]byte("wrong"))
		errs = append(errs, err)
	}
	assert.Equal(t, errs[0], errs[1])
	assert.Equal(t, ErrAuthFailed, errs[0])
}

func FuzzLoginServer(f *testing.F) {
	f.Add([]byte("tim"), []byte("tanstaaftanstaaf"), true)
	f.Add([]byte{}, []byte("x"), false)
	f.Add([]byte("t\xffim"), []byte("\x00"), true)
	cfg := loginTestConfig()
	f.Fuzz(func(t *testing.T, user, pass []byte, ir bool) {
		s := NewLoginServer(context.Background(), cfg)
		if !ir {
			chal, done, err := s.Next(nil)
			require.NoError(t, err)
			require.False(t, done)
			require.Equal(t, "Username:", string(chal))
		}
		chal, done, err := s.Next(user)
		if err != nil {
			require.False(t, done)
			require.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
			return
		}
		if len(user) == 0 && ir {
			// An empty initial response is treated as none.
			require.Equal(t, "Username:", string(chal))
			return
		}
		require.Equal(t, "Password:", string(chal))
		_, done, err = s.Next(pass)
		if err == nil {
			require.True(t, done)
			require.Equal(t, plainTestUsers()[string(user)], string(pass))
		} else {
			require.False(t, done)
			require.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
		}
		_, _, err = s.Next(pass)
		require.ErrorIs(t, err, ErrUnexpectedClientResponse)
	})
}

// FuzzLoginClient feeds the LOGIN client arbitrary prompts: it answers at
// most two, each with exactly the username or the password, sends the
// password at most once and never the username after it, and never
// panics.
func FuzzLoginClient(f *testing.F) {
	f.Add([]byte("Username:"), []byte("Password:"), []byte("Password:"))
	f.Add([]byte("User Name\x00"), []byte(" pass"), []byte{})
	f.Add([]byte("Password:"), []byte("Username:"), []byte("x"))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add([]byte("VXNlcm5hbWU6"), []byte("\xff\xfe"), []byte("USER"))
	const user, pass = "user@example.org", "secret"
	f.Fuzz(func(t *testing.T, c1, c2, c3 []byte) {
		c := NewLoginClient(user, pass)
		_, ir, err := c.Start()
		require.NoError(t, err)
		require.Nil(t, ir)
		sentPass := false
		for i, chal := range [][]byte{c1, c2, c3} {
			resp, err := c.Next(chal)
			if err != nil {
				require.ErrorIs(t, err, ErrUnexpectedServerChallenge)
				continue
			}
			require.Less(t, i, loginMaxRounds, "answered a third prompt")
			require.False(t, sentPass, "answered after sending the password")
			switch string(resp) {
			case pass:
				sentPass = true
			case user:
			default:
				t.Fatalf("answer %q is neither the username nor the password", resp)
			}
		}
	})
}
