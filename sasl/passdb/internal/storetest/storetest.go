// Package storetest holds the tests that every database-backed credential
// store under sasl/passdb runs against its real server: the same users in
// every scheme, every mechanism logging in through the store, injection
// attempts as user names, and the benchmark harness. Only tests import it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
)

// Password is every test user's password.
const Password = "secret"

// Realm is the server's hostname and DIGEST-MD5 realm, and the realm the
// {DIGEST-MD5} user's hash was made for.
const Realm = "example.org"

// BcryptSecret is {BLF-CRYPT} of Password at cost 4 (fast tests).
const BcryptSecret = "{BLF-CRYPT}$2y$04$524hLWsCh04eU9k5mGNbLeK7rfcZcfxAlLzKnJheXZy3eSC8Fhcy."

// SHA512CryptSecret is {SHA512-CRYPT} of Password (openssl passwd -6 -salt
// mailauthsalt secret): Dovecot's common default, which passdb may not
// verify yet; either way it must never be a temporary failure.
const SHA512CryptSecret = "{SHA512-CRYPT}$6$mailauthsalt$3YYRHuDzP/3zohl8zck1K/fk2UHAaTvSXATqwEtkDNfmT31eysKAw6YwdXw0Hyczr51ZvzzTUlfMZLhwl0KSF1"

// Mechanisms are the mechanisms every store is tested with; APOP is
// checked beside them through apop.Server.
var Mechanisms = []string{"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "NTLM", "APOP"}

// User is one test user: its password field and the mechanisms that can
// log it in.
type User struct {
	Name  string
	Field string // "" locks the user
	OK    []string
}

var all = Mechanisms

// SCRAMSecret returns the SCRAM secret of the stores and servers under
// test: the same on both, as a deployment sets them.
func SCRAMSecret() []byte { return []byte("test scram secret") }

// Users returns the test users, with fresh salts for the schemes that
// have them.
func Users(t testing.TB) []User {
	t.Helper()
	h := func(scheme string) string {
		s, err := passdb.HashUser(scheme, "digest@"+Realm, Password)
		require.NoError(t, err)
		return s
	}
	return []User{
		{"plain", "{PLAIN}" + Password, all},
		{"cram", h(passdb.SchemeCRAMMD5), []string{"PLAIN", "LOGIN", "CRAM-MD5"}},
		{"digest", h(passdb.SchemeDigestMD5), []string{"PLAIN", "LOGIN", "DIGEST-MD5"}},
		{"scram1", h(passdb.SchemeSCRAMSHA1), []string{"PLAIN", "LOGIN", "SCRAM-SHA-1"}},
		{"scram256", h(passdb.SchemeSCRAMSHA256), []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}},
		{"scram512", h(passdb.SchemeSCRAMSHA512), []string{"PLAIN", "LOGIN", "SCRAM-SHA-512"}},
		{"bcrypt", BcryptSecret, []string{"PLAIN", "LOGIN"}},
		{"ssha512", h(passdb.SchemeSSHA512), []string{"PLAIN", "LOGIN"}},
		{"ntlm", h(passdb.SchemeNTLM), []string{"PLAIN", "LOGIN", "NTLM"}},
		{"locked", "", nil},
		{"sha512crypt", SHA512CryptSecret, sha512CryptOK(t)},
		// Names that would break a query built by string splicing.
		{"o'brien", "{PLAIN}" + Password, all},
		{`back\slash*(x)`, "{PLAIN}" + Password, all},
		{"ünïcødé@example.org", "{SSHA256}" + strings.TrimPrefix(h(passdb.SchemeSSHA256), "{SSHA256}"), []string{"PLAIN", "LOGIN"}},
	}
}

// Injections are user names that try to inject into SQL or an LDAP filter
// (or a DN). Each must be an unknown user: a login fails like a wrong
// password, never a temporary failure, and nothing else changes.
var Injections = []string{
	"' OR '1'='1", "plain' --", "plain'; DROP TABLE users; --", `plain" OR "1"="1`,
	"*", "plain*", "p*", "*)(uid=*", "plain)(|(uid=*)", "*)(|(objectClass=*)", "plain)(objectClass=*",
	`\2a`, "plain\x00", "plain\x00' OR 1=1", "\xff\xfe", "%", "_lain", "plain,ou=people", "cn=admin,dc=example,dc=org",
	"plain\n", strings.Repeat("a", 2000),
}

// Store is what a backend implements.
type Store interface {
	sasl.PasswordVerifier
	sasl.PlaintextLookup
	sasl.CRAMMD5Lookup
	sasl.DigestMD5Lookup
	sasl.SCRAMLookup
	LookupNTHash(ctx context.Context, username string) ([16]byte, error)
}

// ServerConfig returns a sasl configuration that takes every credential
// from st and offers every mechanism, NTLM included, without TLS (in
// memory).
func ServerConfig(st Store) *sasl.ServerConfig {
	return &sasl.ServerConfig{SCRAMSecret: SCRAMSecret(),
		Passwords: st, Plaintext: st, CRAMMD5: st, DigestMD5: st, SCRAM: st,
		Extra:    []sasl.ServerMechanism{ntlm.NewServerMechanism(&ntlm.ServerConfig{Hashes: st})},
		Hostname: Realm, InsecureAuth: true,
		Mechanisms: []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "NTLM", "PLAIN", "LOGIN"},
	}
}

// Exchange drives client c against server s in memory and returns both
// sides' errors.
func Exchange(c sasl.Client, s sasl.Server) (clientErr, serverErr error) {
	_, resp, err := c.Start()
	if err != nil {
		return err, nil
	}
	for range 16 {
		chal, done, err := s.Next(resp)
		if err != nil {
			return nil, err
		}
		if done {
			return nil, nil
		}
		if resp, err = c.Next(chal); err != nil {
			return err, nil
		}
		if resp == nil {
			resp = []byte{}
		}
	}
	return nil, errors.New("exchange did not finish")
}

// Login logs user in with mech through cfg (APOP through apop.Server) and
// returns the identity and the server's error (the client's, if it failed
// first).
func Login(ctx context.Context, cfg *sasl.ServerConfig, mech, user, password string) (sasl.Identity, error) {
	return login(ctx, cfg, mech, user, password, nil)
}

// login is Login with an optional client-side SCRAM key cache (the
// benchmarks' clients skip PBKDF2, so that what is timed is the server
// and its store).
func login(ctx context.Context, cfg *sasl.ServerConfig, mech, user, password string, cache *sasl.SCRAMCache) (sasl.Identity, error) {
	if mech == "APOP" {
		srv, err := apop.NewServer(&apop.ServerConfig{Plaintext: cfg.Plaintext, Hostname: Realm, InsecureAuth: true})
		if err != nil {
			return sasl.Identity{}, err
		}
		cmd, err := apop.Command(nil, "+OK "+srv.Timestamp(), user, password, &apop.ClientConfig{InsecureAuth: true})
		if err != nil {
			// A name APOP cannot carry: not a store question.
			return sasl.Identity{}, fmt.Errorf("%w: %w", sasl.ErrAuthFailed, err)
		}
		return srv.Verify(ctx, nil, strings.TrimPrefix(cmd, "APOP "))
	}
	set := sasl.NewServerSet(cfg, nil)
	s, err := set.NewServer(ctx, mech)
	if err != nil {
		return sasl.Identity{}, err
	}
	ccfg := &sasl.ClientConfig{Username: user, Password: password, Mechanisms: []string{mech},
		InsecureAuth: true, Host: Realm, SCRAMCache: cache}
	if mech == ntlm.MechanismName {
		ccfg.Extra = []sasl.ClientMechanism{ntlm.NewClientMechanism(&ntlm.ClientConfig{Username: user, Password: password})}
	}
	c, err := ccfg.NewClient([]string{mech}, nil)
	if err != nil {
		return sasl.Identity{}, fmt.Errorf("client: %w", err)
	}
	cerr, serr := Exchange(c, s)
	if serr != nil {
		return sasl.Identity{}, serr
	}
	if cerr != nil {
		return sasl.Identity{}, fmt.Errorf("client: %w", cerr)
	}
	id, ok := set.Identity()
	if !ok {
		return sasl.Identity{}, errors.New("no identity after success")
	}
	return id, nil
}

// TestLogins logs every user in with every mechanism through st: the
// right password succeeds exactly where the user's scheme serves the
// mechanism and reports exactly that user; a wrong password, a scheme
// that cannot serve, a locked and an unknown user all fail with
// sasl.ErrAuthFailed, never a temporary failure.
func TestLogins(t *testing.T, st Store, users []User) {
	cfg := ServerConfig(st)
	ctx := context.Background()
	for _, u := range append(users, User{Name: "nobody-here", Field: "{PLAIN}" + Password}) {
		for _, mech := range Mechanisms {
			t.Run(mech+"/"+u.Name, func(t *testing.T) {
				if mech == "APOP" && strings.ContainsAny(u.Name, " \\") {
					t.Skip("APOP cannot carry this name")
				}
				if mech == "NTLM" && strings.ContainsAny(u.Name, "\\") {
					t.Skip("NTLM reads DOMAIN\\user: the name is not one user name")
				}
				id, err := Login(ctx, cfg, mech, u.Name, Password)
				if slices.Contains(u.OK, mech) {
					require.NoError(t, err)
					assert.Equal(t, u.Name, id.Username, "the identity is the entry verified")
					_, err = Login(ctx, cfg, mech, u.Name, "wrong")
				}
				require.ErrorIs(t, err, sasl.ErrAuthFailed)
				require.NotErrorIs(t, err, sasl.ErrTemporaryFailure)
			})
		}
	}
}

// TestNTHash checks the NT-hash lookup against passdb's NTHash.
func TestNTHash(t *testing.T, st Store) {
	ctx := context.Background()
	want := passdb.NTHash(Password)
	for _, user := range []string{"plain", "ntlm"} {
		got, err := st.LookupNTHash(ctx, user)
		require.NoError(t, err, user)
		assert.Equal(t, want, got, user)
	}
	for _, user := range []string{"bcrypt", "locked", "nobody-here"} {
		_, err := st.LookupNTHash(ctx, user)
		assert.ErrorIs(t, err, sasl.ErrUnknownUser, user)
	}
}

// TestInjections logs in as each injection name with PLAIN and SCRAM: all
// fail like an unknown user.
func TestInjections(t *testing.T, st Store) {
	cfg := ServerConfig(st)
	ctx := context.Background()
	for i, name := range Injections {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "CRAM-MD5", "NTLM"} {
				_, err := Login(ctx, cfg, mech, name, Password)
				require.Error(t, err, mech)
				// sasl may refuse the name itself (NUL, not UTF-8).
				if !strings.HasPrefix(err.Error(), "client:") && !errors.Is(err, sasl.ErrMalformed) {
					require.ErrorIs(t, err, sasl.ErrAuthFailed, mech)
				}
				require.NotErrorIs(t, err, sasl.ErrTemporaryFailure, mech)
			}
			// The store itself, whatever sasl lets through.
			err := st.VerifyPassword(ctx, name, Password)
			require.ErrorIs(t, err, sasl.ErrUnknownUser)
			_, err = st.LookupSCRAM(ctx, "SCRAM-SHA-256", name)
			require.ErrorIs(t, err, sasl.ErrUnknownUser)
		})
	}
}

// BenchLogins runs b.N logins of user with mech through cfg from
// conc goroutines and reports logins/s and the p99 latency. The SCRAM
// client caches its keys (one PBKDF2 before the timer starts), as a
// reconnecting client may (RFC 5802, Section 5.1): what is timed is the
// server, its store and the exchange.
func BenchLogins(b *testing.B, cfg *sasl.ServerConfig, mech, user string, conc int) {
	b.ReportAllocs()
	ctx := context.Background()
	cache := new(sasl.SCRAMCache)
	if _, err := login(ctx, cfg, mech, user, Password, cache); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	var next sync.WaitGroup
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	var firstErr error
	failed := 0
	b.ResetTimer()
	start := time.Now()
	for range conc {
		next.Add(1)
		go func() {
			defer next.Done()
			local := make([]time.Duration, 0, b.N/conc+1)
			for range work {
				t0 := time.Now()
				_, err := login(ctx, cfg, mech, user, Password, cache)
				local = append(local, time.Since(t0))
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					failed++
					mu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	next.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	// Failures under overload (a lookup that timed out) are counted and
	// shown, not hidden: a benchmark that only fails is a failure.
	if failed == b.N {
		b.Fatal(firstErr)
	}
	if failed > 0 {
		b.Logf("%d of %d logins failed; the first: %v", failed, b.N, firstErr)
	}
	b.ReportMetric(float64(failed), "failed")
	slices.Sort(lat)
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// sha512CryptOK is where the SHA512-CRYPT user logs in: PLAIN and LOGIN
// once passdb verifies the scheme, nowhere before.
func sha512CryptOK(t testing.TB) []string {
	p, err := passdb.ParsePassword(SHA512CryptSecret, "")
	require.NoError(t, err)
	if p.Supported() {
		return []string{"PLAIN", "LOGIN"}
	}
	return nil
}
