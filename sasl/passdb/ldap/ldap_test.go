package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

func passdbHash(scheme string) (string, error) { return passdb.Hash(scheme, storetest.Password) }

// sshaLDAP is {SSHA} as slapd reads it (Dovecot writes the same form).
func sshaLDAP(password string) string {
	h, err := passdb.Hash(passdb.SchemeSSHA, password)
	if err != nil {
		panic(err)
	}
	return h
}

// baseConfig is a search-mode configuration over StartTLS, verifying the
// test certificate.
func baseConfig(s *ldapServer) Config {
	return Config{
		URL: s.url(), TLS: &tls.Config{RootCAs: s.roots},
		BindDN: ldapService, BindPassword: ldapSvcPW,
		BaseDN: ldapPeople, Filter: "(&(objectClass=inetOrgPerson)(uid=%u))",
		Attributes:    []string{"homePhone"},
		DummyPassword: storetest.BcryptSecret, DigestRealm: storetest.Realm,
	}
}

func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.SCRAMSecret == nil {
		cfg.SCRAMSecret = storetest.SCRAMSecret() // PLAIN users get SCRAM keys
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := New(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// TestLogins logs every user in with every mechanism through the
// directory (search mode, StartTLS), and checks the NT-hash lookup.
func TestLogins(t *testing.T) {
	s := needLDAP(t)
	st := newStore(t, baseConfig(s))
	storetest.TestLogins(t, st, ldapUsers(t))
	storetest.TestNTHash(t, st)
}

// TestLDAPS: the same over ldaps://, and the entry's attributes.
func TestLDAPS(t *testing.T) {
	s := needLDAP(t)
	cfg := baseConfig(s)
	cfg.URL = s.tlsURL()
	st := newStore(t, cfg)
	ctx := context.Background()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "CRAM-MD5"} {
		id, err := storetest.Login(ctx, storetest.ServerConfig(st), mech, "cleartext", storetest.Password)
		require.NoError(t, err, mech)
		assert.Equal(t, "cleartext", id.Username)
	}
	f, ok, err := st.Lookup(ctx, "cleartext")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Contains(t, f["dn"], ldapPeople)
	assert.NotEmpty(t, f["homePhone"])
}

// TestInjection: names written to change the filter are unknown users.
func TestInjection(t *testing.T) {
	s := needLDAP(t)
	st := newStore(t, baseConfig(s))
	storetest.TestInjections(t, st)
	// With a filter that would match several entries if '*' got through.
	cfg := baseConfig(s)
	cfg.Filter = "(|(uid=%u)(cn=%u))"
	st = newStore(t, cfg)
	storetest.TestInjections(t, st)
}

// TestAuthBind: PLAIN and LOGIN verified by binding as the user; the
// directory checks its own schemes. Never an anonymous bind.
func TestAuthBind(t *testing.T) {
	s := needLDAP(t)
	cfg := baseConfig(s)
	cfg.AuthBind = true
	st := newStore(t, cfg)
	scfg := storetest.ServerConfig(st)
	ctx := context.Background()
	for _, user := range []string{"bind-ssha", "bind-crypt", "cleartext"} {
		for _, mech := range []string{"PLAIN", "LOGIN"} {
			id, err := storetest.Login(ctx, scfg, mech, user, storetest.Password)
			require.NoError(t, err, user)
			assert.Equal(t, user, id.Username)
			_, err = storetest.Login(ctx, scfg, mech, user, "wrong")
			require.ErrorIs(t, err, sasl.ErrAuthFailed)
			require.NotErrorIs(t, err, sasl.ErrTemporaryFailure)
		}
	}
	for _, user := range append([]string{"nobody-here", "locked"}, storetest.Injections...) {
		err := st.VerifyPassword(ctx, user, storetest.Password)
		require.True(t, errors.Is(err, sasl.ErrAuthFailed) || errors.Is(err, sasl.ErrUnknownUser), "%q: %v", user, err)
		require.NotErrorIs(t, err, sasl.ErrTemporaryFailure)
	}
	// An empty password would be an unauthenticated (anonymous) bind
	// that the directory accepts for any DN (RFC 4513, 5.1.2).
	for _, user := range []string{"bind-ssha", "nobody-here"} {
		err := st.VerifyPassword(ctx, user, "")
		require.ErrorIs(t, err, sasl.ErrAuthFailed)
	}
	// slapd does not know Dovecot's {PLAIN}: the bind fails like a
	// wrong password.
	_, err := storetest.Login(ctx, scfg, "PLAIN", "plain", storetest.Password)
	require.ErrorIs(t, err, sasl.ErrAuthFailed)
	// The other lookups still search.
	_, err = storetest.Login(ctx, scfg, "SCRAM-SHA-256", "scram256", storetest.Password)
	require.NoError(t, err)
}

// TestTLSVerification: the directory's certificate is verified by default.
func TestTLSVerification(t *testing.T) {
	s := needLDAP(t)
	ctx := context.Background()
	for _, url := range []string{s.url(), s.tlsURL()} {
		cfg := baseConfig(s)
		cfg.URL, cfg.TLS = url, nil // system roots: the test CA is not there
		_, err := New(ctx, cfg)
		require.ErrorIs(t, err, sasl.ErrTemporaryFailure, url)
		cfg.TLS = &tls.Config{InsecureSkipVerify: true}
		_, err = New(ctx, cfg)
		require.Error(t, err, url)
	}
	// Plaintext only when asked for.
	cfg := baseConfig(s)
	cfg.InsecurePlaintext = true
	st := newStore(t, cfg)
	require.NoError(t, st.VerifyPassword(ctx, "cleartext", storetest.Password))
}

// TestBindRefused: a directory that refuses the service account's bind is
// a temporary failure, at New and for a running store.
func TestBindRefused(t *testing.T) {
	s := needLDAP(t)
	cfg := baseConfig(s)
	cfg.BindPassword = "not-the-password"
	_, err := New(context.Background(), cfg)
	require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
	assert.True(t, goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials))
	assert.NotContains(t, err.Error(), "not-the-password")

	cfg = baseConfig(s)
	cfg.BindDN, cfg.BindPassword, cfg.AnonymousSearch = "", "", true
	st := newStore(t, cfg) // anonymous may search but not read passwords
	err = st.VerifyPassword(context.Background(), "cleartext", storetest.Password)
	require.ErrorIs(t, err, sasl.ErrAuthFailed, "no password readable: a locked user")
	require.NotErrorIs(t, err, sasl.ErrTemporaryFailure)
}

// TestMultipleEntries: a filter matching several entries is a temporary
// failure, never a login as one of them.
func TestMultipleEntries(t *testing.T) {
	s := needLDAP(t)
	cfg := baseConfig(s)
	cfg.Filter = "(uid=*%u*)"
	st := newStore(t, cfg)
	_, err := storetest.Login(context.Background(), storetest.ServerConfig(st), "PLAIN", "a", storetest.Password)
	require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
}

// TestDirectoryHangs: a directory that stops answering (SIGSTOP) makes
// lookups temporary failures after the timeout; once it answers again the
// store recovers.
func TestDirectoryHangs(t *testing.T) {
	s := needLDAP(t)
	cfg := baseConfig(s)
	cfg.Timeout = time.Second // a loaded machine needs it to reconnect
	for _, ab := range []bool{false, true} {
		cfg.AuthBind = ab
		sb := newStore(t, cfg)
		scfg := storetest.ServerConfig(sb)
		ctx := context.Background()
		_, err := storetest.Login(ctx, scfg, "PLAIN", "bind-ssha", storetest.Password)
		require.NoError(t, err)
		s.pause()
		t.Cleanup(s.resume)
		for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
			start := time.Now()
			_, err := storetest.Login(ctx, scfg, mech, "bind-ssha", storetest.Password)
			require.ErrorIs(t, err, sasl.ErrTemporaryFailure, mech)
			require.ErrorIs(t, err, context.DeadlineExceeded, mech)
			assert.Less(t, time.Since(start), 4*time.Second, mech)
		}
		s.resume()
		_, err = storetest.Login(ctx, scfg, "PLAIN", "bind-ssha", storetest.Password)
		require.NoError(t, err, "recovered")
		assertReleased(t, sb)
	}
}

// TestServerStopped: the directory goes away mid-run and comes back.
func TestServerStopped(t *testing.T) {
	s := needLDAP(t)
	for _, ab := range []bool{false, true} {
		cfg := baseConfig(s)
		cfg.Timeout, cfg.AuthBind = 2*time.Second, ab
		st := newStore(t, cfg)
		scfg := storetest.ServerConfig(st)
		ctx := context.Background()
		_, err := storetest.Login(ctx, scfg, "PLAIN", "bind-ssha", storetest.Password)
		require.NoError(t, err)
		s.stop()
		for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "APOP"} {
			for _, user := range []string{"bind-ssha", "nobody-here"} {
				_, err := storetest.Login(ctx, scfg, mech, user, storetest.Password)
				require.ErrorIs(t, err, sasl.ErrTemporaryFailure, mech)
				require.NotErrorIs(t, err, sasl.ErrAuthFailed, mech)
				assert.NotContains(t, err.Error(), user)
				var le *goldap.Error
				assert.True(t, errors.As(err, &le), "the cause is kept: %v", err)
			}
		}
		require.NoError(t, s.start())
		_, err = storetest.Login(ctx, scfg, "PLAIN", "bind-ssha", storetest.Password)
		require.NoError(t, err, "reconnected")
		_, err = storetest.Login(ctx, scfg, "SCRAM-SHA-256", "scram256", storetest.Password)
		require.NoError(t, err, "reconnected")
		assertReleased(t, st)
	}
}

func TestAuthPasswordField(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy", "{SCRAM-SHA-256}4096,c2FsdA==,c3RvcmVk,c2VydmVy"},
		{"scram-sha-1 $ 4096:c2FsdA== $ c3RvcmVk:c2VydmVy", "{SCRAM-SHA-1}4096,c2FsdA==,c3RvcmVk,c2VydmVy"},
		{"MD5$c2FsdA==$aGFzaA==", ""}, // RFC 3112's own example: not SCRAM
		{"SCRAM-SHA-256$4096$c3RvcmVk:c2VydmVy", ""},
		{"SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk", ""},
		{"SCRAM-SHA-256$a$b$c", ""},
		{"", ""},
	} {
		got, ok := authPasswordField(tt.in)
		assert.Equal(t, tt.want != "", ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestExpandFilter(t *testing.T) {
	assert.Equal(t, `(&(uid=a\2a\28\29\5c\00)(mail=x@d)(dom=d)(pct=%))`,
		expandFilter("(&(uid=%n)(mail=x@%d)(dom=%d)(pct=%%))", "a*()\\\x00@d"))
	assert.Equal(t, `(uid=o'brien@\2a)`, expandFilter("(uid=%u)", "o'brien@*"))
	assert.Equal(t, `(uid=x)(y=%q%`, expandFilter("(uid=%u)(y=%q%", "x"))
}

// assertReleased checks that every connection a lookup took was given
// back or closed: no pool slot is held.
func assertReleased(t *testing.T, st *Store) {
	t.Helper()
	assert.Zero(t, len(st.search.tokens), "search connections held")
	assert.Zero(t, len(st.binds.tokens), "bind connections held")
}
