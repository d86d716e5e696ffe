// Package passdb is a credential store that reads Dovecot's passwd-file
// format and password schemes, so that an existing Dovecot installation
// can switch to mailauth with its user file, and so that every mechanism
// gets the credential form it needs.
//
// For most uses, [Open] the file and put the [*DB] in every credential
// field of a [sasl.ServerConfig]; a DB satisfies the lookup interfaces by
// method set:
//
//	db, err := passdb.Open("/etc/dovecot/users")
//	cfg := &sasl.ServerConfig{SCRAMSecret: secret, Passwords: db, Plaintext: db, CRAMMD5: db, DigestMD5: db, SCRAM: db}
//
// Use a [Reloader] to re-read the file without a restart, and [Hash] to
// write password fields.
//
// # File format
//
// One user per line, fields separated by ':' (doc.dovecot.org,
// "passwd-file"):
//
//	user:password:uid:gid:(gecos):home:(shell):extra_fields
//
// Only user is required. Lines that are empty, all blanks, or begin with
// '#' are skipped; a trailing "\r" is dropped. The name is matched exactly:
// Dovecot 2.3 lowercases login names first (auth_username_format = %Lu),
// so do the same before the lookup if the file relies on it. "user@domain" names are ordinary names, except for DIGEST-MD5
// (below). extra_fields is everything after the seventh ':' and is kept
// uninterpreted in [Entry.Extra]; in particular "nopassword" is not
// honoured. An empty password field locks the user: it exists, but no
// password verifies.
//
// A user named on two lines is an error (Dovecot logs it and keeps the
// first line): which password applies must not depend on the order of
// lines. The file is bounded by [MaxFileSize], [MaxLineLength], [MaxUsers]
// and [MaxPasswordField]. Parse errors are [*ParseError] values that give
// the line number and what was wrong, never the line's content.
//
// # Schemes
//
// The password field is "{SCHEME}data"; without a scheme,
// [Config.DefaultScheme] applies (CRYPT when empty, Dovecot's
// default_pass_scheme; crypt(3) then tells the hash by its prefix, which
// covers libpam-pwdfile's 13- and 34-character DES and $1$ fields). What
// each scheme serves, beside VerifyPassword (PLAIN, LOGIN):
//
//	scheme                   PLAIN   CRAM-MD5  DIGEST-MD5  SCRAM-SHA-*  NT hash
//	PLAIN, CLEAR, CLEARTEXT  yes     derived   derived     derived      derived
//	CRAM-MD5, HMAC-MD5       -       yes       -           -            -
//	DIGEST-MD5               -       -         its realm   -            -
//	SCRAM-SHA-1/-256/-512    -       -         -           its hash     -
//	NTLM                     -       -         -           -            yes
//	the others below         -       -         -           -            -
//
// VerifyPassword works for all of those and for SHA (SHA1), SSHA, SHA256,
// SSHA256, SHA512, SSHA512, PLAIN-MD5, LDAP-MD5, SMD5, PLAIN-MD4, PBKDF2
// (Dovecot's $1$salt$rounds$hex), BLF-CRYPT (bcrypt, $2a$/$2b$/$2y$),
// ARGON2I, ARGON2ID (PHC strings, version 19), SHA512-CRYPT ($6$),
// SHA256-CRYPT ($5$), MD5-CRYPT (MD5, $1$), and CRYPT when the hash is one
// of bcrypt, Argon2, $1$, $5$ or $6$. SHA-crypt follows Drepper's
// specification (rounds= from 1000 up to 10,000,000 here; the spec's
// larger counts are refused at parse time) and MD5-crypt FreeBSD's; both
// are built on crypto/sha512, crypto/sha256 and crypto/md5.
//
// DES-CRYPT (and CRYPT of a DES hash), LANMAN, RPA, OTP, SKEY and
// PLAIN-TRUNC parse, and [DB.Schemes] counts them so a tool can warn at
// load time, but no password verifies against them: VerifyPassword does
// the work of a typical user and returns an error wrapping both
// sasl.ErrNoCredentials (so the peer sees a wrong password) and
// ErrUnsupportedScheme (so the log says why). Rehash those users (e.g. to
// SHA512-CRYPT or ARGON2ID) with Dovecot, or ask them for new passwords.
//
// The schemes that hold the plaintext and the hex/base64 digests take
// Dovecot's ".HEX", ".B64" and ".BASE64" suffixes ({PLAIN.B64}...).
//
// # DIGEST-MD5 and realms
//
// Dovecot's {DIGEST-MD5} is MD5(user ":" realm ":" password), where user
// and realm are the passwd-file name split at its first '@'
// (`doveadm pw -s DIGEST-MD5 -u user@realm`); the client hashes with the
// realm it chose, so a stored hash serves only that realm. [DB.LookupDigestMD5]
// (u, realm) answers only from the entry named u: from its plaintext for
// any realm, from a {DIGEST-MD5} hash only if that was made for (u, realm),
// which for a name without '@' means the empty realm. The hash of an entry
// "u@realm" serves no DIGEST-MD5 login: a client sending u would be logged
// in as the entry "u", a different account.
//
// # Security
//
// Invariants (issue 8; each has a test):
//   - A lookup answers only from the entry named exactly as asked, so the
//     identity a mechanism reports is exactly the entry whose credentials
//     were verified (DIGEST-MD5 never serves "alice" from "alice@realm").
//   - Unknown user, wrong password, locked user and a stored scheme no
//     mechanism can verify (DES-CRYPT) get errors that sasl answers alike
//     (sasl.ErrAuthFailed, ErrUnknownUser, ErrNoCredentials) after the
//     same work: the verification of the most common
//     (scheme, cost) entry, which is a real user's work and never more
//     than a typical user's, whatever one hostile entry's Argon2 or
//     PBKDF2 cost.
//   - When the file has PLAIN users, whose lookups derive credentials,
//     every lookup of that kind does the same derivation (for SCRAM: one
//     PBKDF2 of the asked hash with Config.SCRAMIterations), stored,
//     other-scheme and unknown users included.
//   - PLAIN users get SCRAM keys only with Config.SCRAMSecret set (to the
//     value of sasl.ServerConfig.SCRAMSecret): a salt random per process
//     would change at a restart or between replicas and tell them from
//     unknown users. Without it they log in with PLAIN, LOGIN, CRAM-MD5,
//     DIGEST-MD5, NTLM, APOP, but not SCRAM.
//
// Digests are compared in constant time. A lookup the stored scheme cannot
// serve (LookupCRAMMD5 for a bcrypt user) wraps sasl.ErrUnknownUser, so
// that sasl's mechanisms take their fake-work path and fail exactly like a
// wrong password. A wrong password wraps sasl.ErrAuthFailed. Error text
// never contains user names or passwords.
//
// # Concurrency
//
// A DB is immutable after Parse and safe for concurrent use; a Reloader
// swaps whole DBs atomically.
package passdb

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-mailauth/mailauth/sasl"
)

// Bounds of a passwd-file. They stop a wrong path (a log file, a device)
// or a hostile file from exhausting memory.
const (
	// MaxFileSize bounds the bytes read from one file (64 MiB: some
	// 200,000 users with Argon2 hashes and home directories).
	MaxFileSize = 64 << 20
	// MaxLineLength bounds one line, newline excluded: a password field
	// of MaxPasswordField bytes and generous extra fields.
	MaxLineLength = 16 << 10
	// MaxUsers bounds the entries of one file.
	MaxUsers = 1 << 20
	// MaxUsername bounds a user name, as sasl bounds the authcid.
	MaxUsername = 1024
)

// Errors. Parse errors are [*ParseError] values wrapping one of these;
// errors.Is works through them.
var (
	// ErrSyntax means a line or a password field does not follow the
	// format.
	ErrSyntax = errors.New("passdb: syntax error")
	// ErrTooLarge means the file, a line, a field or the number of users
	// exceeds its bound.
	ErrTooLarge = errors.New("passdb: too large")
	// ErrDuplicateUser means a user is named on two lines.
	ErrDuplicateUser = errors.New("passdb: duplicate user")
	// ErrUnknownScheme means a password field names a scheme Dovecot
	// does not have.
	ErrUnknownScheme = errors.New("passdb: unknown password scheme")
	// ErrUnsupportedScheme means the scheme is known but this package
	// cannot verify it (DES-CRYPT, LANMAN, RPA, OTP, SKEY, PLAIN-TRUNC)
	// or cannot write it ([Hash] of a crypt(3) scheme).
	ErrUnsupportedScheme = errors.New("passdb: unsupported password scheme")
)

// Errors of the lookups, made once: they carry no per-call detail, and the
// unknown-user path should not cost an allocation more than a known one.
var (
	errNotInFile = fmt.Errorf("%w: not in the passwd-file", sasl.ErrUnknownUser)
	errMismatch  = fmt.Errorf("%w: password does not match", sasl.ErrAuthFailed)
	errLocked    = fmt.Errorf("%w: the user has no password", sasl.ErrAuthFailed)
)

// ParseError reports a bad line of a passwd-file. It names the file (if
// opened by path) and the line, never the line's content.
type ParseError struct {
	Path string // "" when parsed from a reader
	Line int    // 1-based; 0 for a whole-file error
	Err  error  // wraps ErrSyntax, ErrTooLarge, ErrDuplicateUser, ErrUnknownScheme or a read error
}

// Error returns "passdb: path:line: reason", or "passdb: line N: reason"
// without a path.
func (e *ParseError) Error() string {
	where := e.Path
	switch {
	case e.Line > 0 && where != "":
		where += ":" + strconv.Itoa(e.Line)
	case e.Line > 0:
		where = "line " + strconv.Itoa(e.Line)
	}
	msg := strings.TrimPrefix(e.Err.Error(), "passdb: ")
	if where == "" {
		return "passdb: " + msg
	}
	return "passdb: " + where + ": " + msg
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// Config sets how a file is read. The zero Config is Dovecot's behaviour.
// A Config is a value and may be shared.
type Config struct {
	// DefaultScheme is the scheme of a password field without
	// "{SCHEME}". If "", CRYPT is used, as Dovecot's
	// default_pass_scheme. An unknown name fails Parse.
	DefaultScheme string
	// SCRAMSecret keys the salts of SCRAM credentials derived from
	// plaintext passwords: HMAC-SHA256(SCRAMSecret, mech 0 user "salt"),
	// the first 16 bytes, the way sasl makes fake salts for unknown
	// users, so that set to the same value as
	// sasl.ServerConfig.SCRAMSecret a derived salt, a stored 16-byte salt
	// and a fake one look alike and stay stable across reloads. If nil,
	// a random key is made per Parse.
	SCRAMSecret []byte
	// SCRAMIterations is the count of SCRAM credentials derived from
	// plaintext passwords. If 0, 4096 is used; set
	// sasl.ServerConfig.SCRAMIterations to the same value.
	SCRAMIterations int
}

// Entry is one user of a passwd-file, without the password.
type Entry struct {
	User   string // as written, e.g. "alice" or "alice@example.org"
	Scheme string // canonical scheme name, "" for a locked user
	UID    string
	GID    string
	Gecos  string
	Home   string
	Shell  string
	Extra  string // extra_fields, space-separated key=value pairs, raw
}

type passdbEntry struct {
	Entry
	pw *Password // nil: locked
}

// DB is a parsed passwd-file. It implements sasl.PasswordVerifier,
// sasl.PlaintextLookup, sasl.CRAMMD5Lookup, sasl.DigestMD5Lookup,
// sasl.SCRAMLookup and an NT-hash lookup. A DB is immutable and safe for
// concurrent use. The zero DB holds no users.
type DB struct {
	users      map[string]*passdbEntry
	schemes    map[string]int
	dummy      *passdbEntry // a typical user, verified for unknown users
	scramKey   []byte
	derive     bool // Config.SCRAMSecret was set: PLAIN users get SCRAM keys
	scramIter  int
	plain      int // users stored in PLAIN, whose lookups derive credentials
	defaultSch string
	// testPBKDF2, if not nil, is called before each SCRAM derivation of
	// a lookup with its scheme and count: tests count the work of each
	// path with it.
	testPBKDF2 func(scheme string, iter int)
}

var (
	_ sasl.PasswordVerifier = (*DB)(nil)
	_ sasl.PlaintextLookup  = (*DB)(nil)
	_ sasl.CRAMMD5Lookup    = (*DB)(nil)
	_ sasl.DigestMD5Lookup  = (*DB)(nil)
	_ sasl.SCRAMLookup      = (*DB)(nil)
)

// Parse reads a passwd-file from r with the zero Config.
func Parse(r io.Reader) (*DB, error) { return Config{}.Parse(r) }

// Open reads the passwd-file at path with the zero Config.
func Open(path string) (*DB, error) { return Config{}.Open(path) }

// Open reads the passwd-file at path. Errors are *ParseError values with
// the path, or the error of os.Open.
func (c Config) Open(path string) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	db, err := c.Parse(f)
	if pe, ok := errors.AsType[*ParseError](err); ok {
		pe.Path = path
	}
	return db, err
}

// Parse reads a passwd-file from r (see the package doc for the format
// and bounds). It returns a *ParseError for the first bad line.
func (c Config) Parse(r io.Reader) (*DB, error) {
	if c.DefaultScheme != "" {
		if _, ok := schemeCanon(strings.ToUpper(c.DefaultScheme)); !ok {
			return nil, &ParseError{Err: fmt.Errorf("%w: Config.DefaultScheme", ErrUnknownScheme)}
		}
	}
	if c.SCRAMIterations < 0 || c.SCRAMIterations > maxPBKDF2Rounds || c.SCRAMIterations > 0 && c.SCRAMIterations < HashSCRAMIterations {
		return nil, &ParseError{Err: fmt.Errorf("%w: Config.SCRAMIterations outside [4096, %d]", ErrSyntax, maxPBKDF2Rounds)}
	}
	db := &DB{
		users:      make(map[string]*passdbEntry),
		schemes:    make(map[string]int),
		scramKey:   c.SCRAMSecret,
		derive:     len(c.SCRAMSecret) > 0,
		scramIter:  c.SCRAMIterations,
		defaultSch: c.DefaultScheme,
	}
	if !db.derive {
		// Keys only the dummy work, whose result is never shown.
		db.scramKey = make([]byte, 32)
		rand.Read(db.scramKey)
	}
	if db.scramIter == 0 {
		db.scramIter = HashSCRAMIterations
	}
	lines := make(map[string]int) // user → line, for the duplicate message
	lr := &io.LimitedReader{R: r, N: MaxFileSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), MaxLineLength+2) // room for "\r\n"
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > MaxLineLength {
			return nil, &ParseError{Line: n, Err: fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, MaxLineLength)}
		}
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		e, err := db.parseLine(string(line))
		if err != nil && lr.N <= 0 {
			break // a line cut by the size bound: report the bound
		}
		if err != nil {
			return nil, &ParseError{Line: n, Err: err}
		}
		if prev, dup := lines[e.User]; dup {
			return nil, &ParseError{Line: n, Err: fmt.Errorf("%w: the user of this line is already on line %d", ErrDuplicateUser, prev)}
		}
		if len(db.users) >= MaxUsers {
			return nil, &ParseError{Line: n, Err: fmt.Errorf("%w: more than %d users", ErrTooLarge, MaxUsers)}
		}
		lines[e.User] = n
		db.users[e.User] = e
		db.schemes[e.Scheme]++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ParseError{Line: n + 1, Err: fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, MaxLineLength)}
		}
		return nil, &ParseError{Line: n + 1, Err: fmt.Errorf("passdb: read: %w", err)}
	}
	if lr.N <= 0 {
		return nil, &ParseError{Err: fmt.Errorf("%w: file larger than %d bytes", ErrTooLarge, MaxFileSize)}
	}
	db.pickDummy()
	db.plain = db.schemes[SchemePlain]
	return db, nil
}

// parseLine parses one non-comment line.
func (db *DB) parseLine(line string) (*passdbEntry, error) {
	f := strings.SplitN(line, ":", 8)
	user := f[0]
	switch {
	case user == "":
		return nil, fmt.Errorf("%w: empty user name", ErrSyntax)
	case len(user) > MaxUsername:
		return nil, fmt.Errorf("%w: user name longer than %d bytes", ErrTooLarge, MaxUsername)
	case strings.ContainsFunc(user, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return nil, fmt.Errorf("%w: control character in the user name", ErrSyntax)
	}
	e := &passdbEntry{Entry: Entry{User: user}}
	for i, dst := range []*string{nil, nil, &e.UID, &e.GID, &e.Gecos, &e.Home, &e.Shell, &e.Extra} {
		if dst != nil && i < len(f) {
			*dst = f[i]
		}
	}
	if len(f) > 1 && f[1] != "" {
		pw, err := ParsePassword(f[1], db.defaultSch)
		if err != nil {
			return nil, err
		}
		e.pw, e.Scheme = pw, pw.scheme
	}
	return e, nil
}

// pickDummy chooses the password an unknown user is verified against: a
// user of the most common (scheme, cost) pair among the verifiable ones,
// ties going to the cheaper pair, then to the first scheme name in order.
// The model is thus a real user's work and never more than a typical
// user's: one entry with a 1 GiB Argon2 or 10 M PBKDF2 rounds cannot make
// every unknown-user login that expensive unless most users cost that.
func (db *DB) pickDummy() {
	type key struct {
		scheme string
		cost   uint64
	}
	count := make(map[key]int)
	first := make(map[key]*passdbEntry)
	for _, e := range db.users {
		if e.pw != nil && e.pw.Supported() {
			k := key{e.Scheme, e.pw.cost()}
			count[k]++
			if f := first[k]; f == nil || e.User < f.User {
				first[k] = e // deterministic: the least name
			}
		}
	}
	var best key
	found := false
	for k, n := range count {
		switch {
		case !found, n > count[best],
			n == count[best] && k.cost < best.cost,
			n == count[best] && k.cost == best.cost && k.scheme < best.scheme:
			best, found = k, true
		}
	}
	if found {
		db.dummy = first[best]
	}
}

// Len returns the number of users.
func (db *DB) Len() int { return len(db.users) }

// Schemes returns how many users each canonical scheme has ("" counts
// locked users). A tool can warn about schemes that are not supported.
func (db *DB) Schemes() map[string]int {
	m := make(map[string]int, len(db.schemes))
	for k, v := range db.schemes {
		m[k] = v
	}
	return m
}

// Lookup returns the entry of username, without its password, for a
// userdb (uid, gid, home).
func (db *DB) Lookup(username string) (Entry, bool) {
	e, ok := db.users[username]
	if !ok {
		return Entry{}, false
	}
	return e.Entry, true
}

// Password returns the decoded password field of username, or nil for a
// locked or unknown user.
func (db *DB) Password(username string) *Password {
	if e, ok := db.users[username]; ok {
		return e.pw
	}
	return nil
}

// unknown does the work of a typical user for username's password, then
// returns an error wrapping sasl.ErrUnknownUser.
func (db *DB) unknown(password string) error {
	if d := db.dummy; d != nil {
		d.pw.verify(d.User, password) // result discarded: only the cost matters
	}
	return errNotInFile
}

// VerifyPassword checks a plaintext password, as PLAIN and LOGIN receive
// it, against the user's stored scheme (sasl.PasswordVerifier). A wrong
// password or a locked user is an error wrapping sasl.ErrAuthFailed; an
// unknown user wraps sasl.ErrUnknownUser after the work of a typical
// user; a scheme this package cannot verify wraps both sasl.ErrNoCredentials
// and ErrUnsupportedScheme, after the same work, and sasl's PLAIN and
// LOGIN answer it like a wrong password.
func (db *DB) VerifyPassword(_ context.Context, username, password string) error {
	e, ok := db.users[username]
	if !ok {
		return db.unknown(password)
	}
	if e.pw == nil {
		_ = db.unknown(password)
		return errLocked
	}
	if !e.pw.Supported() {
		// Exactly like a wrong password: the same work (a typical
		// user's) and sasl.ErrNoCredentials, which sasl answers like a
		// wrong password, so that the reply does not tell this user
		// from others; the text says the cause for the operator's log.
		_ = db.unknown(password)
		return fmt.Errorf("%w: the stored scheme {%s} cannot be verified (%w)", sasl.ErrNoCredentials, e.pw.scheme, ErrUnsupportedScheme)
	}
	return e.pw.Verify(e.User, password)
}

// cannot is the error of a lookup the stored scheme cannot serve: it
// wraps sasl.ErrUnknownUser so that the mechanism does its fake work and
// fails like a wrong password.
func cannot(what string) error {
	return fmt.Errorf("%w: the stored scheme cannot give %s", sasl.ErrNoCredentials, what)
}

// HoldsCredentials reports whether at least one user can log in with mech
// (sasl.CredentialReporter), so that a sasl.ServerSet offers only the
// mechanisms the file can serve: a SCRAM hash needs entries of that
// scheme or PLAIN ones (keys are derived from them), CRAM-MD5, DIGEST-MD5
// and NTLM (the NT hash) likewise. Other mechanisms are reported as held.
func (db *DB) HoldsCredentials(mech string) bool {
	switch mech = strings.TrimSuffix(mech, "-PLUS"); mech {
	case SchemeSCRAMSHA1, SchemeSCRAMSHA256, SchemeSCRAMSHA512:
		return db.schemes[mech] > 0 || db.schemes[SchemePlain] > 0 && db.derive
	case SchemeCRAMMD5, SchemeDigestMD5, SchemeNTLM:
		return db.schemes[mech] > 0 || db.schemes[SchemePlain] > 0
	}
	return true
}

// LookupPassword returns the plaintext of a PLAIN (CLEAR, CLEARTEXT)
// entry (sasl.PlaintextLookup), as APOP needs. Other schemes, locked and
// unknown users are errors wrapping sasl.ErrUnknownUser.
func (db *DB) LookupPassword(_ context.Context, username string) (string, error) {
	e, ok := db.users[username]
	if !ok {
		return "", errNotInFile
	}
	if e.pw == nil || e.pw.scheme != SchemePlain {
		return "", cannot("a plaintext")
	}
	return e.pw.plain, nil
}

// LookupCRAMMD5 returns the CRAM-MD5 secret of a {CRAM-MD5} entry, or
// derives it from a PLAIN one (sasl.CRAMMD5Lookup). Other schemes,
// locked and unknown users are errors wrapping sasl.ErrUnknownUser.
func (db *DB) LookupCRAMMD5(_ context.Context, username string) (sasl.CRAMMD5Secret, error) {
	e, ok := db.users[username]
	switch {
	case !ok || e.pw == nil:
	case e.pw.scheme == SchemePlain:
		return sasl.NewCRAMMD5Secret(e.pw.plain), nil
	case e.pw.scheme == SchemeCRAMMD5:
		if db.plain > 0 {
			sasl.NewCRAMMD5Secret("") // what a PLAIN user costs; see timing in the package doc
		}
		return e.pw.cram, nil
	}
	if db.plain > 0 {
		sasl.NewCRAMMD5Secret("") // what a PLAIN user costs
	}
	if !ok {
		return sasl.CRAMMD5Secret{}, errNotInFile
	}
	return sasl.CRAMMD5Secret{}, cannot("a CRAM-MD5 secret")
}

// LookupDigestMD5 returns MD5(username ":" realm ":" password)
// (sasl.DigestMD5Lookup) from the entry named exactly username, the
// identity the DIGEST-MD5 server then reports: never from another entry,
// so that the password of "alice@example.org" cannot open "alice". A
// PLAIN entry serves any realm; the strings are hashed in ISO 8859-1
// where they fit it, as DIGEST-MD5 clients do with charset=utf-8 (RFC
// 2831, Section 2.1.2.1). A {DIGEST-MD5} entry serves the realm its hash
// was made for: Dovecot hashes the name split at its first '@', so the
// entry "alice" (`doveadm pw -s DIGEST-MD5 -u alice`) serves ("alice",
// ""); an entry "alice@example.org" hashed as ("alice", "example.org")
// serves no DIGEST-MD5 login here, because the client would name itself
// "alice" and so another entry. Anything else is an error wrapping
// sasl.ErrUnknownUser.
func (db *DB) LookupDigestMD5(_ context.Context, username, realm string) ([16]byte, error) {
	e, ok := db.users[username]
	switch {
	case !ok || e.pw == nil:
	case e.pw.scheme == SchemePlain:
		return passdbDigestURP(username, realm, e.pw.plain), nil
	case e.pw.scheme == SchemeDigestMD5:
		u, r, _ := strings.Cut(e.User, "@")
		// Not secret: names. The hash was made with the entry's
		// user and realm; it serves only those, and only the entry
		// named username (u == username means the name has no '@').
		if u == username && r == realm {
			if db.plain > 0 {
				passdbDigestURP(username, realm, "") // what a PLAIN user costs
			}
			return [16]byte(e.pw.digest), nil
		}
	}
	if db.plain > 0 {
		passdbDigestURP(username, realm, "") // what a PLAIN user costs
	}
	if !ok {
		return [16]byte{}, errNotInFile
	}
	return [16]byte{}, cannot("a DIGEST-MD5 hash for this realm")
}

// passdbDigestURP is H(username:realm:password) of RFC 2831, Section
// 2.1.2.1, with each string in ISO 8859-1 where it fits.
func passdbDigestURP(username, realm, password string) [16]byte {
	return md5.Sum([]byte(passdbLatin1(username) + ":" + passdbLatin1(realm) + ":" + passdbLatin1(password)))
}

// LookupSCRAM returns the SCRAM credentials for mech ("SCRAM-SHA-1",
// "SCRAM-SHA-256" or "SCRAM-SHA-512"; a -PLUS suffix is ignored) of an
// entry stored in that scheme, or derives them from a PLAIN entry with
// Config.SCRAMIterations and a salt keyed by Config.SCRAMSecret (one
// PBKDF2 per call) (sasl.SCRAMLookup). The returned slices are copies. A
// scheme that cannot serve mech (SCRAM-SHA-1 stored, SCRAM-SHA-256 asked),
// locked and unknown users are errors wrapping sasl.ErrUnknownUser.
func (db *DB) LookupSCRAM(_ context.Context, mech, username string) (sasl.SCRAMCredentials, error) {
	mech = strings.TrimSuffix(mech, "-PLUS")
	switch mech {
	case SchemeSCRAMSHA1, SchemeSCRAMSHA256, SchemeSCRAMSHA512:
	default:
		return sasl.SCRAMCredentials{}, fmt.Errorf("%w: not a SCRAM mechanism", sasl.ErrUnsupportedMechanism)
	}
	e, ok := db.users[username]
	var stored *sasl.SCRAMCredentials
	switch {
	case !ok || e.pw == nil:
	case e.pw.scheme == SchemePlain && db.derive:
		db.notePBKDF2(mech)
		return passdbNewSCRAM(mech, e.pw.plain, db.scramSalt(mech, username), db.scramIter)
	case e.pw.scheme == mech:
		stored = &e.pw.scram
	}
	if db.plain > 0 {
		// A PLAIN user costs a PBKDF2 here (mech's hash, SCRAMIterations,
		// a keyed salt); so must everyone else, a stored SCRAM user
		// included, or the time of the lookup tells PLAIN users from the
		// others (issue 8, defect 5).
		db.notePBKDF2(mech)
		passdbSCRAMKeys(mech, "", db.scramSalt(mech, username), db.scramIter)
	}
	if stored != nil {
		c := *stored
		c.Salt = bytes.Clone(c.Salt)
		c.StoredKey = bytes.Clone(c.StoredKey)
		c.ServerKey = bytes.Clone(c.ServerKey)
		return c, nil
	}
	if !ok {
		return sasl.SCRAMCredentials{}, errNotInFile
	}
	if e.pw != nil && e.pw.scheme == SchemePlain {
		// Without Config.SCRAMSecret a derived salt would be random per
		// process: a restart would change it while unknown users' fake
		// salts stay, telling the two apart.
		return sasl.SCRAMCredentials{}, cannot("SCRAM keys from a plaintext without Config.SCRAMSecret")
	}
	return sasl.SCRAMCredentials{}, cannot("SCRAM credentials for this hash")
}

func (db *DB) notePBKDF2(mech string) {
	if db.testPBKDF2 != nil {
		db.testPBKDF2(mech, db.scramIter)
	}
}

// scramSalt is the salt of credentials derived from a plaintext: sasl's
// fake-salt construction (scramFakeCredentials), so both look alike.
func (db *DB) scramSalt(mech, username string) []byte {
	m := hmac.New(sha256.New, db.scramKey)
	m.Write([]byte(mech))
	m.Write([]byte{0})
	m.Write([]byte(username))
	m.Write([]byte("salt"))
	return m.Sum(nil)[:HashSaltLen]
}

// LookupNTHash returns the NT hash, MD4(UTF-16LE(password)), of an {NTLM}
// entry, or derives it from a PLAIN one, for NTLM servers. Other schemes,
// locked and unknown users are errors wrapping sasl.ErrUnknownUser.
func (db *DB) LookupNTHash(_ context.Context, username string) ([16]byte, error) {
	e, ok := db.users[username]
	switch {
	case !ok || e.pw == nil:
	case e.pw.scheme == SchemePlain:
		return NTHash(e.pw.plain), nil
	case e.pw.scheme == SchemeNTLM:
		if db.plain > 0 {
			NTHash("") // what a PLAIN user costs
		}
		return [16]byte(e.pw.digest), nil
	}
	if db.plain > 0 {
		NTHash("") // what a PLAIN user costs
	}
	if !ok {
		return [16]byte{}, errNotInFile
	}
	return [16]byte{}, cannot("an NT hash")
}

// Reloader holds the current DB of one file and re-reads it on demand. It
// implements the same lookups as DB, each on the DB current at the call.
// It is safe for concurrent use: Reload swaps the whole DB atomically, so
// a lookup sees the old file or the new one, never a mix.
type Reloader struct {
	path string
	cfg  Config
	db   atomic.Pointer[DB]
}

var (
	_ sasl.PasswordVerifier = (*Reloader)(nil)
	_ sasl.PlaintextLookup  = (*Reloader)(nil)
	_ sasl.CRAMMD5Lookup    = (*Reloader)(nil)
	_ sasl.DigestMD5Lookup  = (*Reloader)(nil)
	_ sasl.SCRAMLookup      = (*Reloader)(nil)
)

// NewReloader reads the file at path with cfg and returns a Reloader for
// it, or the error of [Config.Open].
func NewReloader(path string, cfg Config) (*Reloader, error) {
	db, err := cfg.Open(path)
	if err != nil {
		return nil, err
	}
	r := &Reloader{path: path, cfg: cfg}
	r.db.Store(db)
	return r, nil
}

// Reload re-reads the file. On an error the current DB stays in use and
// the error is returned.
func (r *Reloader) Reload() error {
	db, err := r.cfg.Open(r.path)
	if err != nil {
		return err
	}
	r.db.Store(db)
	return nil
}

// DB returns the current DB.
func (r *Reloader) DB() *DB { return r.db.Load() }

// VerifyPassword is [DB.VerifyPassword] on the current DB.
func (r *Reloader) VerifyPassword(ctx context.Context, username, password string) error {
	return r.DB().VerifyPassword(ctx, username, password)
}

// LookupPassword is [DB.LookupPassword] on the current DB.
func (r *Reloader) LookupPassword(ctx context.Context, username string) (string, error) {
	return r.DB().LookupPassword(ctx, username)
}

// LookupCRAMMD5 is [DB.LookupCRAMMD5] on the current DB.
func (r *Reloader) LookupCRAMMD5(ctx context.Context, username string) (sasl.CRAMMD5Secret, error) {
	return r.DB().LookupCRAMMD5(ctx, username)
}

// LookupDigestMD5 is [DB.LookupDigestMD5] on the current DB.
func (r *Reloader) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	return r.DB().LookupDigestMD5(ctx, username, realm)
}

// LookupSCRAM is [DB.LookupSCRAM] on the current DB.
func (r *Reloader) LookupSCRAM(ctx context.Context, mech, username string) (sasl.SCRAMCredentials, error) {
	return r.DB().LookupSCRAM(ctx, mech, username)
}

// LookupNTHash is [DB.LookupNTHash] on the current DB.
func (r *Reloader) LookupNTHash(ctx context.Context, username string) ([16]byte, error) {
	return r.DB().LookupNTHash(ctx, username)
}
