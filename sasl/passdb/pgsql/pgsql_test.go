package pgsql

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

// testUsers makes a table of storetest's users and returns it.
func testUsers(t testing.TB, s *pgServer) string {
	users := map[string]string{}
	for _, u := range storetest.Users(t) {
		users[u.Name] = u.Field
	}
	return s.table(t, users)
}

// newStore opens a Store on s with query (table substituted for %s),
// closed at the end of the test.
func newStore(t testing.TB, s *pgServer, cfg Config) *Store {
	t.Helper()
	cfg.ConnString = s.connString()
	if cfg.DummyPassword == "" {
		cfg.DummyPassword = storetest.BcryptSecret // cost 4: fast tests
	}
	cfg.DigestRealm = storetest.Realm
	if cfg.SCRAMSecret == nil {
		cfg.SCRAMSecret = storetest.SCRAMSecret() // PLAIN users get SCRAM keys
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := New(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// TestLogins logs every test user in with every mechanism through
// PostgreSQL, and checks the NT-hash lookup.
func TestLogins(t *testing.T) {
	s := needPG(t)
	tbl := testUsers(t, s)
	st := newStore(t, s, Config{Query: "SELECT password FROM " + tbl + " WHERE username = $1"})
	storetest.TestLogins(t, st, storetest.Users(t))
	storetest.TestNTHash(t, st)
	assertReleased(t, st)
}

// TestInjection: user names written to break a spliced query are unknown
// users, and the table is still there afterwards.
func TestInjection(t *testing.T) {
	s := needPG(t)
	tbl := testUsers(t, s)
	st := newStore(t, s, Config{Query: "SELECT password FROM " + tbl + " WHERE username = $1"})
	storetest.TestInjections(t, st)
	require.NoError(t, st.VerifyPassword(context.Background(), "plain", storetest.Password), "table intact")
}

// TestLookupFields: the other columns come back as text; $2 and $3 are the
// local part and the domain.
func TestLookupFields(t *testing.T) {
	s := needPG(t)
	tbl := s.table(t, map[string]string{"alice@example.org": "{PLAIN}secret"})
	st := newStore(t, s, Config{Query: "SELECT home, password, uid FROM " + tbl + " WHERE username = $2 || '@' || $3"})
	ctx := context.Background()
	f, ok, err := st.Lookup(ctx, "alice@example.org")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, map[string]string{"home": "/home/alice@example.org", "uid": "1000"}, f)
	require.NoError(t, st.VerifyPassword(ctx, "alice@example.org", "secret"))
	_, ok, err = st.Lookup(ctx, "alice")
	require.NoError(t, err)
	assert.False(t, ok)
}

// TestMisconfigured: what no retry fixes is an error at New; what the data
// gets wrong is a temporary failure at the lookup, never a wrong password.
func TestMisconfigured(t *testing.T) {
	s := needPG(t)
	tbl := s.table(t, map[string]string{"plain": "{PLAIN}secret", "bad": "{NO-SUCH-SCHEME}x", "a": "{PLAIN}1", "b": "{PLAIN}2"})
	ctx := context.Background()
	t.Run("query", func(t *testing.T) {
		for _, q := range []string{"SELECT password FROM no_such_table WHERE username = $1", "SELECT password FROM " + tbl,
			"SELECT password FROM " + tbl + " WHERE username = $1 AND $2 = $3 AND $4 = ''", "NOT SQL $1"} {
			_, err := New(ctx, Config{ConnString: s.connString(), Query: q, DummyPassword: storetest.BcryptSecret})
			assert.Error(t, err, q)
		}
	})
	t.Run("password", func(t *testing.T) {
		cs := fmt.Sprintf("postgres://%s:wrong@127.0.0.1:%d/%s?sslmode=disable", pgSuperuser, s.port, pgDatabase)
		_, err := New(ctx, Config{ConnString: cs, DummyPassword: storetest.BcryptSecret})
		require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
		assert.NotContains(t, err.Error(), "wrong")
	})
	t.Run("field", func(t *testing.T) {
		st := newStore(t, s, Config{Query: "SELECT password FROM " + tbl + " WHERE username = $1"})
		err := st.VerifyPassword(ctx, "bad", "x")
		require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
		_, err = storetest.Login(ctx, storetest.ServerConfig(st), "SCRAM-SHA-256", "bad", "x")
		require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
	})
	t.Run("not-a-field", func(t *testing.T) {
		// Columns are read as text: an integer is a CRYPT field (the
		// default scheme) that cannot be verified: sasl.ErrNoCredentials,
		// which PLAIN answers like a wrong password; a broken field is a
		// temporary failure.
		st := newStore(t, s, Config{Query: "SELECT uid AS password FROM " + tbl + " WHERE username = $1"})
		err := st.VerifyPassword(ctx, "plain", "secret")
		require.ErrorIs(t, err, sasl.ErrNoCredentials)
		require.NotErrorIs(t, err, sasl.ErrTemporaryFailure)
		_, err = storetest.Login(ctx, storetest.ServerConfig(st), "PLAIN", "plain", "secret")
		require.ErrorIs(t, err, sasl.ErrAuthFailed)
		st = newStore(t, s, Config{Query: "SELECT '{PLAIN' AS password FROM " + tbl + " WHERE username = $1"})
		require.ErrorIs(t, st.VerifyPassword(ctx, "plain", "secret"), sasl.ErrTemporaryFailure)
	})
	t.Run("rows", func(t *testing.T) {
		// LIKE turns '%' and '_' in a name into wildcards: a query that
		// matches several users fails, it never picks one.
		st := newStore(t, s, Config{Query: "SELECT password FROM " + tbl + " WHERE username LIKE $1"})
		for _, name := range []string{"%", "_"} {
			_, err := storetest.Login(ctx, storetest.ServerConfig(st), "PLAIN", name, "1")
			require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
			assert.NotContains(t, err.Error(), name)
		}
	})
}

// TestQueryTimeout: a query that hangs past Config.Timeout is a temporary
// failure after the timeout, its connection is not reused, and the next
// lookup works.
func TestQueryTimeout(t *testing.T) {
	s := needPG(t)
	tbl := testUsers(t, s)
	st := newStore(t, s, Config{
		Query:   "SELECT password FROM " + tbl + ", pg_sleep(CASE WHEN $1 = 'plain' THEN 30 ELSE 0 END) WHERE username = $1",
		Timeout: time.Second, MaxConns: 2,
	})
	cfg := storetest.ServerConfig(st)
	ctx := context.Background()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "APOP"} {
		start := time.Now()
		_, err := storetest.Login(ctx, cfg, mech, "plain", storetest.Password)
		require.ErrorIs(t, err, sasl.ErrTemporaryFailure, mech)
		require.NotErrorIs(t, err, sasl.ErrAuthFailed, mech)
		assert.Less(t, time.Since(start), 5*time.Second, mech)
		// The pool was not drained by the hung queries (the next lookup
		// may have to connect anew).
		_, err = storetest.Login(ctx, cfg, mech, "cram", storetest.Password)
		if mech == "PLAIN" {
			require.NoError(t, err, mech)
		} else {
			require.ErrorIs(t, err, sasl.ErrAuthFailed, mech) // cram has no SCRAM keys, no plaintext
		}
	}
	// The caller's context bounds the lookup too.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := st.VerifyPassword(cctx, "plain", storetest.Password)
	require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assertReleased(t, st)
}

// TestServerStopped: the database goes away mid-run. Lookups fail fast as
// temporary failures with the cause, nothing panics or leaks, and the pool
// reconnects once the database is back.
func TestServerStopped(t *testing.T) {
	s := needPG(t)
	tbl := testUsers(t, s)
	st := newStore(t, s, Config{Query: "SELECT password FROM " + tbl + " WHERE username = $1", Timeout: 2 * time.Second})
	cfg := storetest.ServerConfig(st)
	ctx := context.Background()
	_, err := storetest.Login(ctx, cfg, "SCRAM-SHA-256", "scram256", storetest.Password)
	require.NoError(t, err)

	s.stop()
	restarted := false
	defer func() {
		if !restarted {
			require.NoError(t, s.start())
		}
	}()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "CRAM-MD5", "APOP"} {
		for _, user := range []string{"scram256", "nobody-here"} {
			start := time.Now()
			_, err := storetest.Login(ctx, cfg, mech, user, storetest.Password)
			require.ErrorIs(t, err, sasl.ErrTemporaryFailure, mech)
			require.NotErrorIs(t, err, sasl.ErrAuthFailed, mech)
			assert.NotContains(t, err.Error(), user)
			assert.Less(t, time.Since(start), 3*time.Second)
			var pe *pgconn.PgError
			var ce *pgconn.ConnectError
			assert.True(t, errors.As(err, &ce) || errors.As(err, &pe) || errors.Is(err, context.DeadlineExceeded),
				"the cause is kept: %v", err)
		}
	}
	assertReleased(t, st)

	require.NoError(t, s.start())
	restarted = true
	_, err = storetest.Login(ctx, cfg, "SCRAM-SHA-256", "scram256", storetest.Password)
	require.NoError(t, err, "reconnected")
	_, err = storetest.Login(ctx, cfg, "PLAIN", "plain", "wrong")
	require.ErrorIs(t, err, sasl.ErrAuthFailed)
}

// TestCache: a cached user keeps logging in while the database is down;
// a change shows after Forget.
func TestCache(t *testing.T) {
	s := needPG(t)
	tbl := testUsers(t, s)
	st := newStore(t, s, Config{Query: "SELECT password FROM " + tbl + " WHERE username = $1",
		Cache: Cache{MaxEntries: 10, TTL: time.Minute, NegativeTTL: time.Minute}})
	ctx := context.Background()
	require.NoError(t, st.VerifyPassword(ctx, "plain", "secret"))
	require.ErrorIs(t, st.VerifyPassword(ctx, "newcomer", "pw"), sasl.ErrUnknownUser)
	s.exec(t, "UPDATE "+tbl+" SET password = '{PLAIN}changed' WHERE username = 'plain'",
		"INSERT INTO "+tbl+" (username, password) VALUES ('newcomer', '{PLAIN}pw')")
	require.NoError(t, st.VerifyPassword(ctx, "plain", "secret"), "cached")
	require.ErrorIs(t, st.VerifyPassword(ctx, "newcomer", "pw"), sasl.ErrUnknownUser, "negative entry cached")
	st.Forget("plain")
	st.Forget("newcomer")
	require.ErrorIs(t, st.VerifyPassword(ctx, "plain", "secret"), sasl.ErrAuthFailed)
	require.NoError(t, st.VerifyPassword(ctx, "plain", "changed"))
	require.NoError(t, st.VerifyPassword(ctx, "newcomer", "pw"))
}

// assertReleased checks that no connection is left acquired (a connection
// whose query was cut short is destroyed in the background).
func assertReleased(t *testing.T, st *Store) {
	t.Helper()
	assert.Eventually(t, func() bool { return st.Stat().AcquiredConns() == 0 }, 5*time.Second, 10*time.Millisecond,
		"every connection back in the pool or closed")
}
