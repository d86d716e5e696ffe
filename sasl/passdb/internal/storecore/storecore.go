// Package storecore is what the database-backed credential stores under
// sasl/passdb (pgsql, ldap) share: it turns the password fields a backend
// fetched for a user into every lookup sasl's mechanisms ask for, with the
// per-lookup timeout, the dummy work for users that do not exist, the
// error rules and the optional cache. A backend supplies only a Fetcher.
package storecore

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
)

// DefaultTimeout bounds one lookup when Options.Timeout is 0: long enough
// for a loaded database, short enough that a client waiting on a dead one
// gets a temporary failure before it gives up itself.
const DefaultTimeout = 5 * time.Second

// Record is what a backend fetched for one user.
type Record struct {
	// Fields are the user's password fields, "{SCHEME}data" (a field
	// without a scheme is read with Options.DefaultScheme), in order of
	// preference. None means the user exists but has no password: no
	// password verifies (a locked user).
	Fields []string
	// DN is the user's LDAP entry, for an authentication bind.
	DN string
	// Extra holds the per-user fields a backend returns beside the
	// password (SQL columns, LDAP attributes), uninterpreted.
	Extra map[string]string
}

// Fetcher fetches the record of username. It returns (nil, nil) for a user
// the database does not hold, and an error only when the database could
// not answer (down, slow, misconfigured). It must honour ctx.
type Fetcher func(ctx context.Context, username string) (*Record, error)

// Options configure a Core.
type Options struct {
	// Name prefixes error text and log messages ("pgsql", "ldap").
	Name string
	// Timeout bounds each lookup, beside the caller's context. If 0,
	// DefaultTimeout.
	Timeout time.Duration
	// DefaultScheme is the scheme of a field without "{SCHEME}"; "" is
	// CRYPT, as in passdb.
	DefaultScheme string
	// DummyPassword is the password field an unknown user is verified
	// against; if "", a BLF-CRYPT hash at passdb.HashBcryptCost of a
	// random password.
	DummyPassword string
	// SCRAMSecret keys the salts of SCRAM credentials derived from PLAIN
	// fields; nil: PLAIN fields give no SCRAM credentials (a salt random
	// per process would change at a restart and tell those users from
	// unknown ones, whose fake salts do not).
	SCRAMSecret []byte
	// SCRAMIterations is the count of derived SCRAM credentials; 0: 4096.
	SCRAMIterations int
	// DigestRealm is the realm stored {DIGEST-MD5} fields were made for.
	DigestRealm string
	// Cache, if MaxEntries > 0, keeps fetched records in memory.
	Cache CacheOptions
	// Logger receives the cause of temporary failures; nil: discarded.
	Logger *slog.Logger
	// Describe turns a backend error into text for the returned error,
	// which must not carry user names; nil: "database error".
	Describe func(error) string
}

// Core serves sasl's lookups from a Fetcher. It is safe for concurrent
// use.
type Core struct {
	opts       Options
	derive     bool // Options.SCRAMSecret was set: PLAIN fields give SCRAM keys
	fetch      Fetcher
	dummy      *passdb.Password
	log        *slog.Logger
	cache      *cache
	errUnknown error
	errLocked  error
	errWrong   error
	errNoCreds map[string]error // by lookup: wrap sasl.ErrNoCredentials
	// hashing bounds the password hashes (bcrypt, Argon2, PBKDF2) that
	// run at once to the number of CPUs. Without it, 64 concurrent
	// bcrypt logins keep every CPU busy and starve the goroutines
	// waiting on the database, whose lookups then time out (measured:
	// BenchmarkLogins at conc=64); with it the extra logins queue here,
	// asleep, and lookups stay prompt.
	hashing chan struct{}
}

// The lookups, naming what a user without it lacks (sasl.ErrNoCredentials).
const (
	whatVerify    = "a password this module can verify"
	whatPlaintext = "a plaintext password"
	whatCRAM      = "a CRAM-MD5 secret"
	whatDigest    = "a DIGEST-MD5 hash for this realm"
	whatSCRAM     = "SCRAM credentials for this hash"
	whatNT        = "an NT hash"
)

// New returns a Core that fetches with fetch.
func New(opts Options, fetch Fetcher) (*Core, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("%s: negative Timeout", opts.Name)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.SCRAMIterations == 0 {
		opts.SCRAMIterations = passdb.HashSCRAMIterations
	}
	if opts.SCRAMIterations < passdb.HashSCRAMIterations || opts.SCRAMIterations > 10_000_000 {
		return nil, fmt.Errorf("%s: SCRAMIterations outside [4096, 10000000]", opts.Name)
	}
	derive := len(opts.SCRAMSecret) > 0
	if !derive {
		// Keys only the dummy derivation, whose result is never shown.
		opts.SCRAMSecret = make([]byte, 32)
		rand.Read(opts.SCRAMSecret)
	}
	if opts.DummyPassword == "" {
		pw := make([]byte, 16)
		rand.Read(pw)
		h, err := passdb.Hash(passdb.SchemeBLFCrypt, fmt.Sprintf("%x", pw))
		if err != nil {
			return nil, err
		}
		opts.DummyPassword = h
	}
	dummy, err := passdb.ParsePassword(opts.DummyPassword, opts.DefaultScheme)
	if err != nil {
		return nil, fmt.Errorf("%s: DummyPassword: %w", opts.Name, err)
	}
	if !dummy.Supported() {
		return nil, fmt.Errorf("%s: DummyPassword: %w", opts.Name, passdb.ErrUnsupportedScheme)
	}
	c := &Core{
		opts:       opts,
		derive:     derive,
		fetch:      fetch,
		dummy:      dummy,
		log:        opts.Logger,
		errUnknown: fmt.Errorf("%w: %s: no such user", sasl.ErrUnknownUser, opts.Name),
		errLocked:  fmt.Errorf("%w: %s: the user has no password", sasl.ErrAuthFailed, opts.Name),
		errWrong:   fmt.Errorf("%w: %s: password does not match", sasl.ErrAuthFailed, opts.Name),
		errNoCreds: map[string]error{},
		hashing:    make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	// Made once: the failure paths cost no allocation a success does not.
	for _, what := range []string{whatPlaintext, whatCRAM, whatDigest, whatSCRAM, whatNT} {
		c.errNoCreds[what] = fmt.Errorf("%w: %s: the user has no %s", sasl.ErrNoCredentials, opts.Name, strings.TrimPrefix(strings.TrimPrefix(what, "a "), "an "))
	}
	c.errNoCreds[whatVerify] = fmt.Errorf("%w: %s: the user's password scheme cannot be verified (%w)", sasl.ErrNoCredentials, opts.Name, passdb.ErrUnsupportedScheme)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if opts.Cache.MaxEntries > 0 {
		c.cache = newCache(opts.Cache)
	}
	return c, nil
}

// TempError is a temporary failure: the database could not answer. It
// wraps sasl.ErrTemporaryFailure and the cause, and its text carries no
// user name (Describe's text of the cause).
type TempError struct {
	Name, Op, Text string
	Err            error
}

// Error returns "name: op: temporary failure: text".
func (e *TempError) Error() string {
	return e.Name + ": " + e.Op + ": " + "temporary failure: " + e.Text
}

// Unwrap returns sasl.ErrTemporaryFailure and the cause.
func (e *TempError) Unwrap() []error { return []error{sasl.ErrTemporaryFailure, e.Err} }

// Temporary wraps err, a backend's failure during op, as a *TempError and
// logs its full cause.
func (c *Core) Temporary(op string, err error) error {
	text := "database error"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		text = "timed out"
	case errors.Is(err, context.Canceled):
		text = "canceled"
	case c.opts.Describe != nil:
		text = c.opts.Describe(err)
	}
	c.log.Warn(c.opts.Name+": "+op+" failed", "err", err)
	return &TempError{Name: c.opts.Name, Op: op, Text: text, Err: err}
}

// Logger returns the logger of Options, never nil.
func (c *Core) Logger() *slog.Logger { return c.log }

// Timeout returns the bound of one lookup.
func (c *Core) Timeout() time.Duration { return c.opts.Timeout }

// Entry is a fetched user with parsed password fields.
type Entry struct {
	Record
	pws         []*passdb.Password
	unsupported int // fields that parse but cannot be verified
}

// validName reports whether username can be looked up at all: a name no
// database can hold (too long, not UTF-8, NUL or another control
// character) is an unknown user without a query, so that it cannot make
// the database fail (PostgreSQL refuses NUL and invalid UTF-8 in text)
// and turn into a temporary failure that tells it apart.
func validName(username string) bool {
	return username != "" && len(username) <= passdb.MaxUsername && utf8.ValidString(username) &&
		!strings.ContainsFunc(username, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Get returns the entry of username, bounded by ctx and the timeout; (nil,
// nil) for an unknown user; a *TempError when the database failed.
func (c *Core) Get(ctx context.Context, username string) (*Entry, error) {
	if !validName(username) {
		return nil, nil
	}
	if c.cache != nil {
		if e, ok := c.cache.get(username); ok {
			return e, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	rec, err := c.fetch(ctx, username)
	if err != nil {
		return nil, c.Temporary("lookup", err)
	}
	var e *Entry
	if rec != nil {
		if e, err = c.parse(rec); err != nil {
			return nil, err
		}
	}
	if c.cache != nil {
		c.cache.put(username, e)
	}
	return e, nil
}

// parse decodes the record's fields. A field that does not parse is the
// operator's error: it is logged, and if no field parses the lookup is a
// temporary failure (misconfigured, not a wrong password).
func (c *Core) parse(rec *Record) (*Entry, error) {
	e := &Entry{Record: *rec}
	var bad error
	for _, f := range rec.Fields {
		if f == "" {
			continue
		}
		p, err := passdb.ParsePassword(f, c.opts.DefaultScheme)
		if err != nil {
			bad = err
			continue
		}
		if !p.Supported() {
			e.unsupported++
		}
		e.pws = append(e.pws, p)
	}
	if bad != nil {
		if len(e.pws) == 0 {
			return nil, c.Temporary("password field", bad)
		}
		c.log.Warn(c.opts.Name+": a password field does not parse; using the others", "err", bad)
	}
	return e, nil
}

// VerifyPassword checks password against the first field of the user that
// this module can verify (sasl.PasswordVerifier). Unknown users are
// verified against the dummy password first and wrap sasl.ErrUnknownUser;
// users whose only fields cannot be verified (SHA512-CRYPT before passdb
// has it) wrap sasl.ErrNoCredentials after the same work, which sasl
// answers like a wrong password; wrong passwords and locked users wrap
// sasl.ErrAuthFailed.
func (c *Core) VerifyPassword(ctx context.Context, username, password string) error {
	e, err := c.Get(ctx, username)
	if err != nil {
		return err
	}
	if err := c.acquireHash(ctx); err != nil {
		return err
	}
	defer c.releaseHash()
	if e == nil {
		c.dummy.Verify(username, password) // the cost of a typical user; result discarded
		return c.errUnknown
	}
	for _, p := range e.pws {
		if !p.Supported() {
			continue
		}
		if want, ok := p.StoredDigestMD5(); ok {
			// DIGEST-MD5 hashes the name and realm: made for ours.
			got := md5.Sum([]byte(username + ":" + c.opts.DigestRealm + ":" + password))
			// Constant time: the stored hash is password-equivalent.
			if !hmac.Equal(got[:], want[:]) {
				return c.errWrong
			}
			return nil
		}
		if err := p.Verify(username, password); err != nil {
			return c.errWrong
		}
		return nil
	}
	c.dummy.Verify(username, password)
	if e.unsupported > 0 {
		// An unsupported scheme must look like a wrong password to the
		// peer (sasl does that with ErrNoCredentials); the text tells
		// the operator.
		return c.errNoCreds[whatVerify]
	}
	return c.errLocked
}

// acquireHash waits, within ctx, for a turn to run a password hash.
func (c *Core) acquireHash(ctx context.Context) error {
	select {
	case c.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return c.Temporary("waiting to verify", ctx.Err())
	}
}

func (c *Core) releaseHash() { <-c.hashing }

// lookup is the shape of every derived lookup: serve from the first field
// that can, else do the dummy's work and report an unknown user, or a
// user without what (sasl.ErrNoCredentials); sasl turns both into a
// wrong-password failure after its own fake work.
func lookup[T any](c *Core, ctx context.Context, username, what string, serve func(p *passdb.Password) (T, bool)) (T, error) {
	var zero T
	e, err := c.Get(ctx, username)
	if err != nil {
		return zero, err
	}
	if e != nil {
		for _, p := range e.pws {
			if v, ok := serve(p); ok {
				return v, nil
			}
		}
	}
	serve(c.dummy) // same derivation as a typical user; result discarded
	if e != nil {
		return zero, c.errNoCreds[what]
	}
	return zero, c.errUnknown
}

// LookupPassword returns the plaintext of a PLAIN field
// (sasl.PlaintextLookup).
func (c *Core) LookupPassword(ctx context.Context, username string) (string, error) {
	return lookup(c, ctx, username, whatPlaintext, (*passdb.Password).Plaintext)
}

// LookupCRAMMD5 returns the CRAM-MD5 secret of a {CRAM-MD5} field or
// derives it from a PLAIN one (sasl.CRAMMD5Lookup).
func (c *Core) LookupCRAMMD5(ctx context.Context, username string) (sasl.CRAMMD5Secret, error) {
	return lookup(c, ctx, username, whatCRAM, (*passdb.Password).CRAMMD5)
}

// LookupDigestMD5 derives MD5(username:realm:password) from a PLAIN field,
// or returns a {DIGEST-MD5} field when realm is Options.DigestRealm
// (sasl.DigestMD5Lookup). The identity is the user looked up, never a
// different entry.
func (c *Core) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	return lookup(c, ctx, username, whatDigest, func(p *passdb.Password) ([16]byte, bool) {
		if h, ok := p.DigestMD5(username, realm); ok {
			return h, true
		}
		// Not secret: realm names.
		if realm == c.opts.DigestRealm {
			return p.StoredDigestMD5()
		}
		return [16]byte{}, false
	})
}

// LookupSCRAM returns stored SCRAM credentials for mech or derives them
// from a PLAIN field (sasl.SCRAMLookup).
func (c *Core) LookupSCRAM(ctx context.Context, mech, username string) (sasl.SCRAMCredentials, error) {
	base := strings.TrimSuffix(mech, "-PLUS")
	switch base {
	case passdb.SchemeSCRAMSHA1, passdb.SchemeSCRAMSHA256, passdb.SchemeSCRAMSHA512:
	default:
		return sasl.SCRAMCredentials{}, fmt.Errorf("%w: not a SCRAM mechanism", sasl.ErrUnsupportedMechanism)
	}
	salt := c.scramSalt(base, username)
	return lookup(c, ctx, username, whatSCRAM, func(p *passdb.Password) (sasl.SCRAMCredentials, bool) {
		if p.Scheme() == passdb.SchemePlain {
			// A derivation is one PBKDF2: take a turn, as VerifyPassword
			// does. A ctx that ends while waiting only skips the turn.
			if c.acquireHash(ctx) == nil {
				defer c.releaseHash()
			}
		}
		creds, ok := p.SCRAM(base, salt, c.opts.SCRAMIterations)
		if p.Scheme() == passdb.SchemePlain && !c.derive {
			return sasl.SCRAMCredentials{}, false // the same work, no keys
		}
		return creds, ok
	})
}

// LookupNTHash returns the NT hash of an {NTLM} field or derives it from a
// PLAIN one, for NTLM servers.
func (c *Core) LookupNTHash(ctx context.Context, username string) ([16]byte, error) {
	return lookup(c, ctx, username, whatNT, (*passdb.Password).NTHash)
}

// scramSalt is passdb's salt of derived credentials: HMAC-SHA256(secret,
// mech 0 user "salt"), 16 bytes, sasl's fake-salt construction, so that a
// derived salt and an unknown user's fake one look alike.
func (c *Core) scramSalt(mech, username string) []byte {
	m := hmac.New(sha256.New, c.opts.SCRAMSecret)
	m.Write([]byte(mech))
	m.Write([]byte{0})
	m.Write([]byte(username))
	m.Write([]byte("salt"))
	return m.Sum(nil)[:passdb.HashSaltLen]
}

// Dummy returns the password unknown users are verified against.
func (c *Core) Dummy() *passdb.Password { return c.dummy }

// ErrUnknown returns the error of an unknown user.
func (c *Core) ErrUnknown() error { return c.errUnknown }

// ErrWrong returns the error of a wrong password.
func (c *Core) ErrWrong() error { return c.errWrong }

// Forget drops username from the cache, if any.
func (c *Core) Forget(username string) {
	if c.cache != nil {
		c.cache.forget(username)
	}
}
