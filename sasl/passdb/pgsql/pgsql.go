// Package pgsql is a credential store on PostgreSQL: Dovecot's "passdb
// sql" for mailauth. A configurable query returns a user's password field
// in any scheme sasl/passdb reads ("{SCHEME}data", the same strings as a
// passwd-file), and a [*Store] serves every lookup sasl's mechanisms ask
// for from it, so users move from a passwd-file into a table without
// re-hashing anything. It uses github.com/jackc/pgx/v5 and its pool; a
// passwd-file user does not compile it.
//
// For most uses:
//
//	st, err := pgsql.New(ctx, pgsql.Config{
//		ConnString: "postgres://mail:secret@db.example.org/mail?sslmode=verify-full",
//		Query:      "SELECT password FROM users WHERE username = $1",
//	})
//	cfg := &sasl.ServerConfig{SCRAMSecret: secret, Passwords: st, Plaintext: st, CRAMMD5: st, DigestMD5: st, SCRAM: st}
//
// # The query
//
// Config.Query is Dovecot's password_query with PostgreSQL placeholders:
// $1 is the user name as the client gave it (Dovecot's %u), $2 its part
// before the last '@' (%n) and $3 the part after it (%d, "" without one);
// use any of them. It is prepared once on every pooled connection and run
// with the name as a parameter, never spliced into the SQL, so no user
// name can inject SQL. The column named "password" (else the first) holds
// the password field; NULL or "" locks the user. Every other column is
// returned, as text, by [Store.Lookup] (Dovecot's extra fields; mailauth
// interprets none of them). No row is an unknown user; more than one row
// is a misconfigured query and a temporary failure, since which password
// applies must not depend on row order.
//
// # Failures
//
// Each lookup is bounded by the caller's context and Config.Timeout.
// A database that is down, slow or misconfigured (a query that does not
// prepare, a column that is not text, a field that does not parse) makes
// the lookup fail with an error wrapping sasl.ErrTemporaryFailure and the
// cause (errors.As finds the *pgconn.PgError); the cause is logged to
// Config.Logger, and the error's text carries no user name. sasl's
// mechanisms pass it through, and mail servers answer with a temporary
// failure ("NO [UNAVAILABLE]", "454 4.7.0"), never "wrong password". A
// connection whose query timed out is closed, not returned to the pool.
//
// # Security
//
// An unknown user costs what a typical user costs and fails like a wrong
// password: VerifyPassword checks the password against
// Config.DummyPassword, the derived lookups (SCRAM from a PLAIN field, one
// PBKDF2) derive from it, and the error wraps sasl.ErrUnknownUser, which
// sasl's mechanisms turn into the wrong-password reply after their own
// fake work. Set DummyPassword to a field in the scheme and cost most of
// your users have; the default is BLF-CRYPT at passdb.HashBcryptCost.
// User names a table cannot hold (longer than passdb.MaxUsername, not
// UTF-8, with control characters) are unknown users without a query, so
// that they cannot turn into a database error. A user without the
// credential a mechanism needs (no SCRAM keys, a scheme this module cannot
// verify) gets an error wrapping sasl.ErrNoCredentials that says what was
// missing, which sasl answers exactly like a wrong password.
//
// Accepted risk: a SCRAM lookup of a cleartext (PLAIN) value derives the
// keys, one PBKDF2, where stored SCRAM keys cost nothing, so a store that
// mixes the two forms lets a timing observer tell which form a user has
// (the network round trip to the database hides less than a PBKDF2).
// Keep one form per store, and DummyPassword in it.
//
// Use sslmode=verify-full for a database that is not on loopback: pgx's
// default, "prefer", does not verify the server.
//
// # Cache
//
// Config.Cache keeps fetched password fields in memory, bounded in
// entries, for Cache.TTL after a lookup that found the user and
// Cache.NegativeTTL after one that did not (Dovecot's auth_cache). The
// trade-off: a changed or locked password keeps working, and a new user
// stays unknown, until the entry expires (use [Store.Forget] after a
// change); the process holds password hashes and password-equivalents
// (CRAM-MD5, SCRAM keys, PLAIN) in memory; and a cached user answers
// faster than an uncached one, so an observer who can time logins learns
// that a name was looked up within the TTL (who exists, when negative
// caching is off or its TTL differs). The cache never holds the result of
// a verification: a cached bcrypt user still costs a bcrypt per login.
// It is off by default.
//
// # Concurrency
//
// A Store is safe for concurrent use. Close it to close the pool.
package pgsql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storecore"
)

// DefaultQuery is the query of a zero Config.Query.
const DefaultQuery = "SELECT password FROM users WHERE username = $1"

// DefaultTimeout bounds one lookup when Config.Timeout is 0.
const DefaultTimeout = storecore.DefaultTimeout

// stmtName names the prepared password query on every connection.
const stmtName = "mailauth_password_query"

// maxParams is the number of placeholders a query may use: user, local
// part, domain; the query is prepared with all three.
const maxParams = 3

// Cache configures the optional in-process cache (see the package doc for
// its security trade-off).
type Cache struct {
	// MaxEntries bounds the users held; the least recently used gives
	// way. 0 turns the cache off.
	MaxEntries int
	// TTL is how long a found user's fields are kept; 0 is one minute.
	TTL time.Duration
	// NegativeTTL is how long an unknown user is remembered; 0 is 10
	// seconds, negative is never.
	NegativeTTL time.Duration
}

// Config configures a Store. Only ConnString is required.
type Config struct {
	// ConnString is a pgx connection string, a URL
	// ("postgres://user:password@host:5432/db?sslmode=verify-full") or
	// key=value pairs.
	ConnString string
	// Query is the password query (see the package doc); "" is
	// DefaultQuery.
	Query string
	// Timeout bounds each lookup beside the caller's context, connecting
	// included. If 0, DefaultTimeout.
	Timeout time.Duration
	// MaxConns bounds the pool; 0 is pgxpool's default (4 or the number
	// of CPUs, whichever is greater).
	MaxConns int32
	// DefaultScheme is the scheme of a field without "{SCHEME}"; "" is
	// CRYPT, Dovecot's default_pass_scheme.
	DefaultScheme string
	// DummyPassword is the password field unknown users are verified
	// against: one in the scheme and cost of a typical user. If "", a
	// BLF-CRYPT hash at passdb.HashBcryptCost of a random password.
	DummyPassword string
	// SCRAMSecret keys the salts of SCRAM credentials derived from PLAIN
	// fields; set it to sasl.ServerConfig.SCRAMSecret so that they look
	// like the fake salts of unknown users and stay stable across
	// restarts and replicas. If nil, a random key per Store.
	SCRAMSecret []byte
	// SCRAMIterations is the iteration count of SCRAM credentials derived
	// from PLAIN fields; 0 is 4096. Set sasl.ServerConfig.SCRAMIterations
	// to the same value.
	SCRAMIterations int
	// DigestRealm is the realm {DIGEST-MD5} fields were made for
	// (MD5(user:realm:password)); they serve only that realm. Set it to
	// sasl.ServerConfig.Hostname.
	DigestRealm string
	// Cache configures the in-process cache; the zero value is off.
	Cache Cache
	// Logger receives the causes of temporary failures. If nil, they are
	// not logged.
	Logger *slog.Logger
}

// Store is a credential store on PostgreSQL. It implements
// sasl.PasswordVerifier, sasl.PlaintextLookup, sasl.CRAMMD5Lookup,
// sasl.DigestMD5Lookup, sasl.SCRAMLookup and an NT-hash lookup
// (LookupNTHash), like passdb.DB.
type Store struct {
	pool  *pgxpool.Pool
	core  *storecore.Core
	desc  atomic.Pointer[pgconn.StatementDescription] // the first connection's
	pwCol int
	cols  []string
}

var (
	_ sasl.PasswordVerifier = (*Store)(nil)
	_ sasl.PlaintextLookup  = (*Store)(nil)
	_ sasl.CRAMMD5Lookup    = (*Store)(nil)
	_ sasl.DigestMD5Lookup  = (*Store)(nil)
	_ sasl.SCRAMLookup      = (*Store)(nil)
)

// New opens a pool for cfg and prepares the query on one connection, so
// that a wrong connection string, password or query is an error now rather
// than at the first login. ctx bounds that first connection. The error of a
// database that cannot be reached wraps sasl.ErrTemporaryFailure.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Query == "" {
		cfg.Query = DefaultQuery
	}
	pcfg, err := pgxpool.ParseConfig(cfg.ConnString)
	if err != nil {
		// pgx's message may quote the string, password included.
		return nil, errors.New("pgsql: Config.ConnString does not parse")
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	// The client gives up on a query at the timeout by closing the
	// connection; statement_timeout makes the server give up too, half a
	// second later, so that a hung query does not hold a backend and its
	// locks for long after the client left.
	if _, ok := pcfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok && timeout > 0 {
		pcfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt((timeout + 500*time.Millisecond).Milliseconds(), 10)
	}
	query := cfg.Query
	if !placeholder.MatchString(query) {
		return nil, errors.New("pgsql: Config.Query uses none of $1, $2, $3: it would not depend on the user")
	}
	s := &Store{}
	// Statements prepared once per connection, when it joins the pool,
	// with three text parameters whether the query uses them all or not
	// (PostgreSQL allows unused declared parameters); lookups name the
	// statement and send only the parameters, and read every column as
	// text.
	pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		sd, err := c.PgConn().Prepare(ctx, stmtName, query, []uint32{pgtype.TextOID, pgtype.TextOID, pgtype.TextOID})
		if err == nil {
			s.desc.CompareAndSwap(nil, sd)
		}
		return err
	}
	s.core, err = storecore.New(storecore.Options{
		Name: "pgsql", Timeout: cfg.Timeout, DefaultScheme: cfg.DefaultScheme,
		DummyPassword: cfg.DummyPassword, SCRAMSecret: cfg.SCRAMSecret,
		SCRAMIterations: cfg.SCRAMIterations, DigestRealm: cfg.DigestRealm,
		Cache: storecore.CacheOptions(cfg.Cache), Logger: cfg.Logger, Describe: describe,
	}, s.fetch)
	if err != nil {
		return nil, err
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, s.core.Temporary("connect", err)
	}
	if err := s.describeQuery(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// describeQuery checks the prepared query's placeholders and columns.
func (s *Store) describeQuery(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.core.Timeout())
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code[:2] == "42" {
			// Class 42, syntax error or access rule violation: the
			// query is wrong, which no retry fixes.
			return fmt.Errorf("pgsql: Config.Query does not prepare: %s: %w", describe(err), err)
		}
		return s.core.Temporary("connect", err)
	}
	conn.Release()
	desc := s.desc.Load()
	if n := len(desc.ParamOIDs); n != maxParams {
		return fmt.Errorf("pgsql: Config.Query has placeholders beyond $%d", maxParams)
	}
	if len(desc.Fields) == 0 {
		return errors.New("pgsql: Config.Query returns no columns")
	}
	for i, f := range desc.Fields {
		s.cols = append(s.cols, f.Name)
		if f.Name == "password" && s.pwCol == 0 {
			s.pwCol = i
		}
	}
	return nil
}

// Close closes the pool; lookups then fail with a temporary failure.
func (s *Store) Close() { s.pool.Close() }

// Stat returns the pool's statistics.
func (s *Store) Stat() *pgxpool.Stat { return s.pool.Stat() }

// fetch runs the prepared query for username.
func (s *Store) fetch(ctx context.Context, username string) (*storecore.Record, error) {
	local, domain := username, ""
	if i := strings.LastIndexByte(username, '@'); i >= 0 {
		local, domain = username[:i], username[i+1:]
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// A query cut short by ctx closes the connection; Release then
	// destroys it instead of returning it to the pool.
	defer conn.Release()
	rr := conn.Conn().PgConn().ExecPrepared(ctx, stmtName,
		[][]byte{[]byte(username), []byte(local), []byte(domain)}, nil, nil)
	var rec *storecore.Record
	var multi bool
	for rr.NextRow() {
		if rec != nil {
			multi = true
			continue // read to the end, so the connection stays usable
		}
		vals := rr.Values()
		rec = &storecore.Record{}
		if len(vals) > 1 {
			rec.Extra = make(map[string]string, len(vals)-1)
		}
		for i, v := range vals {
			switch {
			case i == s.pwCol && v != nil:
				rec.Fields = []string{string(v)}
			case i != s.pwCol && v != nil && i < len(s.cols):
				rec.Extra[s.cols[i]] = string(v)
			}
		}
	}
	if _, err := rr.Close(); err != nil {
		return nil, err
	}
	if multi {
		return nil, errMultipleRows
	}
	return rec, nil
}

// placeholder finds $1, $2 or $3 in a query.
var placeholder = regexp.MustCompile(`\$[1-3]([^0-9]|$)`)

var errMultipleRows = errors.New("pgsql: the query returned more than one row for a user")

// describe is the text of a temporary failure's cause without user data:
// PostgreSQL's messages may quote the parameter (invalid input syntax for
// type integer: "alice"), so only its SQLSTATE is kept.
func describe(err error) string {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &pe):
		return "SQLSTATE " + pe.Code
	case errors.As(err, &ce):
		return "cannot connect to the database"
	case errors.Is(err, errMultipleRows):
		return strings.TrimPrefix(err.Error(), "pgsql: ")
	}
	return "database connection failed"
}

// VerifyPassword checks a plaintext password, as PLAIN and LOGIN receive
// it, against the user's field (sasl.PasswordVerifier). A wrong password
// or a locked user wraps sasl.ErrAuthFailed; an unknown user wraps
// sasl.ErrUnknownUser after the same work; a failed query wraps
// sasl.ErrTemporaryFailure.
func (s *Store) VerifyPassword(ctx context.Context, username, password string) error {
	return s.core.VerifyPassword(ctx, username, password)
}

// LookupPassword returns the plaintext of a PLAIN field
// (sasl.PlaintextLookup), as APOP needs. Other schemes and unknown users
// wrap sasl.ErrUnknownUser.
func (s *Store) LookupPassword(ctx context.Context, username string) (string, error) {
	return s.core.LookupPassword(ctx, username)
}

// LookupCRAMMD5 returns the secret of a {CRAM-MD5} field or derives it
// from a PLAIN one (sasl.CRAMMD5Lookup).
func (s *Store) LookupCRAMMD5(ctx context.Context, username string) (sasl.CRAMMD5Secret, error) {
	return s.core.LookupCRAMMD5(ctx, username)
}

// LookupDigestMD5 derives MD5(username:realm:password) from a PLAIN field,
// or returns a {DIGEST-MD5} field for Config.DigestRealm
// (sasl.DigestMD5Lookup).
func (s *Store) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	return s.core.LookupDigestMD5(ctx, username, realm)
}

// LookupSCRAM returns the credentials of a {SCRAM-SHA-*} field for mech,
// or derives them from a PLAIN field with Config.SCRAMIterations
// (sasl.SCRAMLookup).
func (s *Store) LookupSCRAM(ctx context.Context, mech, username string) (sasl.SCRAMCredentials, error) {
	return s.core.LookupSCRAM(ctx, mech, username)
}

// LookupNTHash returns the NT hash of an {NTLM} field or derives it from a
// PLAIN one, for NTLM servers.
func (s *Store) LookupNTHash(ctx context.Context, username string) ([16]byte, error) {
	return s.core.LookupNTHash(ctx, username)
}

// Lookup returns the columns other than the password of username's row,
// as text (a userdb's uid, home, quota), and whether the user exists.
func (s *Store) Lookup(ctx context.Context, username string) (map[string]string, bool, error) {
	e, err := s.core.Get(ctx, username)
	if err != nil || e == nil {
		return nil, false, err
	}
	return maps.Clone(e.Extra), true, nil // the cache may share e
}

// Forget drops username from the cache, after its password changed.
func (s *Store) Forget(username string) { s.core.Forget(username) }
