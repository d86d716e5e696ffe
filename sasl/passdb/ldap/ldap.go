// Package ldap is a credential store on an LDAP directory: Dovecot's
// "passdb ldap" for mailauth. It finds a user with a search filter and
// reads userPassword (in the schemes sasl/passdb reads) and RFC 5803
// authPassword (SCRAM keys), serving every lookup sasl's mechanisms ask
// for; or, in authentication-bind mode, it verifies PLAIN and LOGIN
// passwords by binding as the user. It uses github.com/go-ldap/ldap/v3; a
// passwd-file user does not compile it.
//
// For most uses:
//
//	st, err := ldap.New(ctx, ldap.Config{
//		URL:          "ldaps://ldap.example.org",
//		BindDN:       "cn=mailauth,dc=example,dc=org",
//		BindPassword: secret,
//		BaseDN:       "ou=people,dc=example,dc=org",
//		Filter:       "(&(objectClass=posixAccount)(uid=%u))",
//	})
//	cfg := &sasl.ServerConfig{SCRAMSecret: secret, Passwords: st, Plaintext: st, CRAMMD5: st, DigestMD5: st, SCRAM: st}
//
// # Search
//
// Config.Filter is an RFC 4515 filter in which %u is the user name as the
// client gave it, %n its part before the last '@', %d the part after it
// and %% a percent sign, as in Dovecot's pass_filter. Each is escaped
// (RFC 4515, Section 3) before it is put in, so no user name can change
// the filter: "*", "(", ")", "\" and NUL arrive as literal characters.
// A search that matches more than one entry is a misconfigured filter and
// a temporary failure, never a login as one of them. userPassword values
// without "{SCHEME}" are cleartext, as in LDAP (Config.DefaultScheme);
// authPassword values "SCRAM-SHA-256$iter:salt$StoredKey:ServerKey" (RFC
// 5803) serve SCRAM and PLAIN, other authPassword schemes are ignored.
//
// # Authentication bind
//
// With Config.AuthBind, VerifyPassword (PLAIN, LOGIN) finds the user's DN
// and binds as it with the password, as Dovecot's auth_bind does, so the
// directory checks the password in whatever scheme it holds, and the
// service account needs no read access to passwords. An empty password is
// refused before any bind: LDAP takes a simple bind with a DN and an empty
// password as an unauthenticated, that is anonymous, bind (RFC 4513,
// Section 5.1.2), which would succeed for any user. User binds run on
// their own pooled connections, never used for searches. The other
// lookups still need passwords the service account can read.
//
// # Connections
//
// ldaps:// URLs use TLS from the start; ldap:// URLs use StartTLS unless
// Config.InsecurePlaintext is set. Certificates are verified (the system
// roots, or Config.TLS's), with the URL's host as server name. The store
// keeps a pool of at most Config.MaxConns connections per purpose; a
// connection that fails is closed and replaced at the next lookup, so the
// store reconnects by itself after a directory restart. Each lookup is
// bounded by the caller's context and Config.Timeout: when either ends,
// the connection is closed, which ends the request.
//
// # Failures
//
// A directory that is down, slow, refuses the service account's bind, or
// answers with an error makes the lookup fail with an error wrapping
// sasl.ErrTemporaryFailure and the cause (errors.As finds the *ldap.Error
// of go-ldap); the cause is logged to Config.Logger, and the error's text
// carries no user name or DN. Only a user bind refused with
// invalidCredentials (49) is a wrong password.
//
// # Security
//
// An unknown user costs what a typical user costs and fails like a wrong
// password: VerifyPassword checks the password against
// Config.DummyPassword (or, with AuthBind, binds as Config.DummyDN, which
// the directory refuses), and the derived lookups derive from the dummy;
// the error wraps sasl.ErrUnknownUser, which sasl's mechanisms turn into
// the wrong-password reply after their own fake work. Set DummyPassword to
// a value in the scheme and cost most of your users have. User names that
// no entry can hold (longer than passdb.MaxUsername, not UTF-8, with
// control characters) are unknown users without a search.
//
// Accepted risk: a SCRAM lookup of a cleartext (PLAIN) value derives the
// keys, one PBKDF2, where stored SCRAM keys cost nothing, so a store that
// mixes the two forms lets a timing observer tell which form a user has
// (the network round trip to the database hides less than a PBKDF2).
// Keep one form per store, and DummyPassword in it.
//
// # Cache
//
// Config.Cache keeps found entries (DN and password values) in memory,
// bounded in entries, for Cache.TTL, and unknown users for
// Cache.NegativeTTL (Dovecot's auth_cache). The trade-off: a changed or
// locked password keeps working, and a new user stays unknown, until the
// entry expires (use [Store.Forget] after a change); the process holds
// password hashes and password-equivalents in memory; and a cached user
// answers faster than an uncached one, so an observer who can time logins
// learns that a name was looked up within the TTL. Verification results
// are never cached: with AuthBind every PLAIN login still binds. It is
// off by default.
//
// # Concurrency
//
// A Store is safe for concurrent use. Close it to close its connections.
package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storecore"
)

// DefaultTimeout bounds one lookup when Config.Timeout is 0.
const DefaultTimeout = storecore.DefaultTimeout

// DefaultMaxConns bounds each pool when Config.MaxConns is 0.
const DefaultMaxConns = 8

// maxAuthPasswordValue bounds one authPassword value, as passdb bounds a
// password field.
const maxAuthPasswordValue = 4096

// Cache configures the optional in-process cache (see the package doc for
// its security trade-off).
type Cache struct {
	// MaxEntries bounds the users held; the least recently used gives
	// way. 0 turns the cache off.
	MaxEntries int
	// TTL is how long a found user is kept; 0 is one minute.
	TTL time.Duration
	// NegativeTTL is how long an unknown user is remembered; 0 is 10
	// seconds, negative is never.
	NegativeTTL time.Duration
}

// Config configures a Store. URL, BaseDN and Filter are required, and
// BindDN unless AnonymousSearch.
type Config struct {
	// URL is the directory, "ldaps://host[:636]" or "ldap://host[:389]".
	URL string
	// TLS configures TLS to the directory (RootCAs, client
	// certificates). If nil, the system roots. ServerName defaults to
	// the URL's host. Certificate verification cannot be turned off
	// here; InsecureSkipVerify set in TLS is refused.
	TLS *tls.Config
	// InsecurePlaintext lets an ldap:// URL run without StartTLS, sending
	// the bind passwords (and, with AuthBind, every user's password) in
	// clear. Only for a directory on loopback or a Unix socket.
	InsecurePlaintext bool
	// BindDN and BindPassword are the service account the store searches
	// as.
	BindDN, BindPassword string
	// AnonymousSearch searches without binding, when BindDN is "".
	AnonymousSearch bool
	// BaseDN is where users are searched.
	BaseDN string
	// Filter is the search filter, with %u, %n, %d and %% (see the
	// package doc).
	Filter string
	// SingleLevel searches only the entries directly below BaseDN
	// instead of the whole subtree.
	SingleLevel bool
	// PasswordAttribute is the attribute of password values; "" is
	// userPassword.
	PasswordAttribute string
	// AuthPasswordAttribute is the attribute of RFC 5803 SCRAM values;
	// "" is authPassword, "-" none.
	AuthPasswordAttribute string
	// Attributes are further attributes to fetch, returned by
	// [Store.Lookup] (a userdb's home, uid).
	Attributes []string
	// AuthBind verifies PLAIN and LOGIN passwords by binding as the
	// user (see the package doc).
	AuthBind bool
	// DummyDN is the DN bound as for an unknown user with AuthBind; ""
	// is "cn=mailauth-no-such-user," + BaseDN. It must not exist.
	DummyDN string
	// Timeout bounds each lookup beside the caller's context,
	// connecting included. If 0, DefaultTimeout.
	Timeout time.Duration
	// MaxConns bounds the connections of each pool (searches, user
	// binds). If 0, DefaultMaxConns.
	MaxConns int
	// DefaultScheme is the scheme of a password value without
	// "{SCHEME}"; "" is PLAIN (LDAP's cleartext).
	DefaultScheme string
	// DummyPassword is the password value unknown users are verified
	// against: one in the scheme and cost of a typical user. If "", a
	// BLF-CRYPT hash at passdb.HashBcryptCost of a random password.
	DummyPassword string
	// SCRAMSecret keys the salts of SCRAM credentials derived from
	// cleartext values; set it to sasl.ServerConfig.SCRAMSecret. If nil,
	// a random key per Store.
	SCRAMSecret []byte
	// SCRAMIterations is the count of SCRAM credentials derived from
	// cleartext values; 0 is 4096.
	SCRAMIterations int
	// DigestRealm is the realm {DIGEST-MD5} values were made for.
	DigestRealm string
	// Cache configures the in-process cache; the zero value is off.
	Cache Cache
	// Logger receives the causes of temporary failures. If nil, they are
	// not logged.
	Logger *slog.Logger
}

// Store is a credential store on LDAP. It implements
// sasl.PasswordVerifier, sasl.PlaintextLookup, sasl.CRAMMD5Lookup,
// sasl.DigestMD5Lookup, sasl.SCRAMLookup and an NT-hash lookup
// (LookupNTHash), like passdb.DB.
type Store struct {
	cfg     Config
	core    *storecore.Core
	search  *pool // bound as BindDN
	binds   *pool // user binds
	attrs   []string
	dummyDN string
}

var (
	_ sasl.PasswordVerifier = (*Store)(nil)
	_ sasl.PlaintextLookup  = (*Store)(nil)
	_ sasl.CRAMMD5Lookup    = (*Store)(nil)
	_ sasl.DigestMD5Lookup  = (*Store)(nil)
	_ sasl.SCRAMLookup      = (*Store)(nil)
)

// New checks cfg, connects and binds once as the service account, so that
// a wrong URL, certificate or bind is an error now rather than at the first
// login. ctx bounds that connection. The error of a directory that cannot
// be reached, or refuses the bind, wraps sasl.ErrTemporaryFailure.
func New(ctx context.Context, cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, errors.New("ldap: Config.URL is not ldap://host or ldaps://host")
	}
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		return nil, errors.New("ldap: Config.TLS.InsecureSkipVerify: the directory's certificate must be verified")
	}
	switch {
	case cfg.BaseDN == "":
		return nil, errors.New("ldap: Config.BaseDN is empty")
	case cfg.BindDN == "" && !cfg.AnonymousSearch:
		return nil, errors.New("ldap: Config.BindDN is empty and AnonymousSearch is not set")
	case cfg.BindDN != "" && cfg.BindPassword == "":
		// An empty password would make the bind anonymous (RFC 4513,
		// Section 5.1.2).
		return nil, errors.New("ldap: Config.BindPassword is empty")
	}
	if _, err := goldap.CompileFilter(expandFilter(cfg.Filter, "user@example.org")); err != nil || !strings.Contains(cfg.Filter, "%") {
		return nil, errors.New("ldap: Config.Filter is not a filter with %u, %n or %d")
	}
	if cfg.DefaultScheme == "" {
		cfg.DefaultScheme = "PLAIN"
	}
	if cfg.PasswordAttribute == "" {
		cfg.PasswordAttribute = "userPassword"
	}
	if cfg.AuthPasswordAttribute == "" {
		cfg.AuthPasswordAttribute = "authPassword"
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	s := &Store{cfg: cfg, dummyDN: cfg.DummyDN}
	if s.dummyDN == "" {
		s.dummyDN = "cn=mailauth-no-such-user," + cfg.BaseDN
	}
	s.attrs = append([]string{cfg.PasswordAttribute}, cfg.Attributes...)
	if cfg.AuthPasswordAttribute != "-" {
		s.attrs = append(s.attrs, cfg.AuthPasswordAttribute)
	}
	s.core, err = storecore.New(storecore.Options{
		Name: "ldap", Timeout: cfg.Timeout, DefaultScheme: cfg.DefaultScheme,
		DummyPassword: cfg.DummyPassword, SCRAMSecret: cfg.SCRAMSecret,
		SCRAMIterations: cfg.SCRAMIterations, DigestRealm: cfg.DigestRealm,
		Cache: storecore.CacheOptions(cfg.Cache), Logger: cfg.Logger, Describe: describe,
	}, s.fetch)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	d := &dialer{addr: u.Host, ldaps: u.Scheme == "ldaps", tls: tc, plaintext: cfg.InsecurePlaintext}
	if !strings.Contains(d.addr, ":") || strings.HasSuffix(d.addr, "]") {
		port := "389"
		if d.ldaps {
			port = "636"
		}
		d.addr = net.JoinHostPort(u.Hostname(), port)
	}
	s.search = newPool(d, cfg.MaxConns, cfg.BindDN, cfg.BindPassword)
	s.binds = newPool(d, cfg.MaxConns, "", "")
	// One connection now, bound as the service account: a wrong URL,
	// certificate or bind shows at start.
	cctx, cancel := context.WithTimeout(ctx, s.core.Timeout())
	defer cancel()
	c, err := s.search.get(cctx)
	if err != nil {
		return nil, s.core.Temporary("connect", err)
	}
	s.search.put(c, true)
	return s, nil
}

// Close closes the idle connections; lookups after it fail.
func (s *Store) Close() {
	s.search.close()
	s.binds.close()
}

// expandFilter puts the escaped user name into the filter template.
func expandFilter(tmpl, username string) string {
	local, domain := username, ""
	if i := strings.LastIndexByte(username, '@'); i >= 0 {
		local, domain = username[:i], username[i+1:]
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '%' || i+1 == len(tmpl) {
			b.WriteByte(tmpl[i])
			continue
		}
		i++
		switch tmpl[i] {
		case 'u':
			b.WriteString(goldap.EscapeFilter(username))
		case 'n':
			b.WriteString(goldap.EscapeFilter(local))
		case 'd':
			b.WriteString(goldap.EscapeFilter(domain))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(tmpl[i])
		}
	}
	return b.String()
}

// fetch searches for username's entry.
func (s *Store) fetch(ctx context.Context, username string) (*storecore.Record, error) {
	scope := goldap.ScopeWholeSubtree
	if s.cfg.SingleLevel {
		scope = goldap.ScopeSingleLevel
	}
	req := goldap.NewSearchRequest(s.cfg.BaseDN, scope, goldap.NeverDerefAliases,
		2, // size limit: one more than we accept, to see a second match
		int(max(1, s.core.Timeout()/time.Second)), false, expandFilter(s.cfg.Filter, username), s.attrs, nil)
	var res *goldap.SearchResult
	err := s.search.do(ctx, func(c *goldap.Conn) error {
		var err error
		res, err = c.Search(req)
		return err
	})
	if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) || err == nil && len(res.Entries) > 1 {
		return nil, errMultipleEntries
	}
	if err != nil {
		return nil, err
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	e := res.Entries[0]
	rec := &storecore.Record{DN: e.DN}
	rec.Fields = append(rec.Fields, e.GetAttributeValues(s.cfg.PasswordAttribute)...)
	if s.cfg.AuthPasswordAttribute != "-" {
		for _, v := range e.GetAttributeValues(s.cfg.AuthPasswordAttribute) {
			if f, ok := authPasswordField(v); ok {
				rec.Fields = append(rec.Fields, f)
			}
		}
	}
	for _, a := range s.cfg.Attributes {
		if v := e.GetAttributeValue(a); v != "" {
			if rec.Extra == nil {
				rec.Extra = map[string]string{}
			}
			rec.Extra[a] = v
		}
	}
	return rec, nil
}

var errMultipleEntries = errors.New("ldap: the filter matched more than one entry for a user")

// authPasswordField turns an RFC 5803 authPassword value,
// "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" (RFC 3112
// syntax: scheme $ authInfo $ authValue, blanks allowed around '$'), into
// passdb's "{SCRAM-SHA-256}iter,salt,StoredKey,ServerKey", which passdb
// then checks. Other schemes are not SCRAM and are skipped.
func authPasswordField(v string) (string, bool) {
	if len(v) > maxAuthPasswordValue {
		return "", false
	}
	parts := strings.Split(v, "$")
	if len(parts) != 3 {
		return "", false
	}
	scheme := strings.ToUpper(strings.TrimSpace(parts[0]))
	switch scheme {
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return "", false
	}
	iter, salt, ok1 := strings.Cut(strings.TrimSpace(parts[1]), ":")
	stored, server, ok2 := strings.Cut(strings.TrimSpace(parts[2]), ":")
	if !ok1 || !ok2 {
		return "", false
	}
	return "{" + scheme + "}" + iter + "," + salt + "," + stored + "," + server, true
}

// describe is the text of a temporary failure's cause without user data
// (an LDAP error's matched DN and diagnostic may name the user).
func describe(err error) string {
	var le *goldap.Error
	switch {
	case errors.Is(err, errMultipleEntries):
		return strings.TrimPrefix(err.Error(), "ldap: ")
	case errors.As(err, &le) && le.ResultCode == goldap.ErrorNetwork:
		return "cannot reach the directory"
	case errors.As(err, &le):
		return fmt.Sprintf("LDAP result %d (%s)", le.ResultCode, goldap.LDAPResultCodeMap[le.ResultCode])
	}
	return "directory connection failed"
}

// VerifyPassword checks a plaintext password, as PLAIN and LOGIN receive
// it (sasl.PasswordVerifier): against the user's password values, or with
// Config.AuthBind by binding as the user. A wrong password or a locked
// user wraps sasl.ErrAuthFailed; an unknown user wraps sasl.ErrUnknownUser
// after the same work; a directory failure wraps sasl.ErrTemporaryFailure.
func (s *Store) VerifyPassword(ctx context.Context, username, password string) error {
	if !s.cfg.AuthBind {
		return s.core.VerifyPassword(ctx, username, password)
	}
	e, err := s.core.Get(ctx, username)
	if err != nil {
		return err
	}
	dn := s.dummyDN
	if e != nil && e.DN != "" {
		dn = e.DN
	}
	if password == "" {
		// Never bind with an empty password: the directory would take
		// it as an anonymous bind and say yes (RFC 4513, 5.1.2).
		return s.core.ErrWrong()
	}
	ctx, cancel := context.WithTimeout(ctx, s.core.Timeout())
	defer cancel()
	err = s.binds.do(ctx, func(c *goldap.Conn) error {
		_, err := c.SimpleBind(&goldap.SimpleBindRequest{Username: dn, Password: password})
		return err
	})
	switch {
	case e == nil:
		// The dummy DN's refusal is the cost of an unknown user; an
		// outage still shows as one.
		if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			return s.core.Temporary("bind", err)
		}
		return s.core.ErrUnknown()
	case err == nil:
		return nil
	case goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials):
		return s.core.ErrWrong()
	}
	return s.core.Temporary("bind", err)
}

// LookupPassword returns a cleartext password value
// (sasl.PlaintextLookup), as APOP needs. Other schemes and unknown users
// wrap sasl.ErrUnknownUser.
func (s *Store) LookupPassword(ctx context.Context, username string) (string, error) {
	return s.core.LookupPassword(ctx, username)
}

// LookupCRAMMD5 returns the secret of a {CRAM-MD5} value or derives it
// from a cleartext one (sasl.CRAMMD5Lookup).
func (s *Store) LookupCRAMMD5(ctx context.Context, username string) (sasl.CRAMMD5Secret, error) {
	return s.core.LookupCRAMMD5(ctx, username)
}

// LookupDigestMD5 derives MD5(username:realm:password) from a cleartext
// value, or returns a {DIGEST-MD5} value for Config.DigestRealm
// (sasl.DigestMD5Lookup).
func (s *Store) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	return s.core.LookupDigestMD5(ctx, username, realm)
}

// LookupSCRAM returns SCRAM credentials for mech from an authPassword or a
// {SCRAM-SHA-*} userPassword value, or derives them from a cleartext one
// (sasl.SCRAMLookup).
func (s *Store) LookupSCRAM(ctx context.Context, mech, username string) (sasl.SCRAMCredentials, error) {
	return s.core.LookupSCRAM(ctx, mech, username)
}

// LookupNTHash returns the NT hash of an {NTLM} value or derives it from a
// cleartext one, for NTLM servers.
func (s *Store) LookupNTHash(ctx context.Context, username string) ([16]byte, error) {
	return s.core.LookupNTHash(ctx, username)
}

// Lookup returns Config.Attributes of username's entry (the first value
// of each) and its DN under the key "dn", and whether the user exists.
func (s *Store) Lookup(ctx context.Context, username string) (map[string]string, bool, error) {
	e, err := s.core.Get(ctx, username)
	if err != nil || e == nil {
		return nil, false, err
	}
	m := map[string]string{"dn": e.DN}
	for k, v := range e.Extra {
		m[k] = v
	}
	return m, true, nil
}

// Forget drops username from the cache, after its password changed.
func (s *Store) Forget(username string) { s.core.Forget(username) }

// dialer opens connections to the directory.
type dialer struct {
	addr      string
	ldaps     bool
	tls       *tls.Config
	plaintext bool
}

// dial connects, with TLS from the start (ldaps) or StartTLS, within ctx.
func (d *dialer) dial(ctx context.Context) (*goldap.Conn, error) {
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, goldap.NewError(goldap.ErrorNetwork, err)
	}
	if d.ldaps {
		tc := tls.Client(raw, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, goldap.NewError(goldap.ErrorNetwork, err)
		}
		raw = tc
	}
	c := goldap.NewConn(raw, d.ldaps)
	c.Start()
	if !d.ldaps && !d.plaintext {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err := c.StartTLS(d.tls)
		stop()
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// pool holds up to max connections bound as one identity (bindDN "": no
// bind, for user binds). A connection that fails is closed, not returned;
// the next get dials a new one.
type pool struct {
	d              *dialer
	bindDN, bindPW string
	tokens         chan struct{} // one per connection in use or idle
	mu             sync.Mutex
	idle           []*goldap.Conn
	closed         bool
}

func newPool(d *dialer, max int, bindDN, bindPW string) *pool {
	p := &pool{d: d, bindDN: bindDN, bindPW: bindPW, tokens: make(chan struct{}, max)}
	return p
}

// get returns an idle connection or dials a new one, waiting within ctx
// for room in the pool.
func (p *pool) get(ctx context.Context) (*goldap.Conn, error) {
	c, _, err := p.getReused(ctx)
	return c, err
}

func (p *pool) getReused(ctx context.Context) (*goldap.Conn, bool, error) {
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, true, nil
		}
	}
	p.mu.Unlock()
	c, err := p.d.dial(ctx)
	if err == nil && p.bindDN != "" {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		_, err = c.SimpleBind(&goldap.SimpleBindRequest{Username: p.bindDN, Password: p.bindPW})
		stop()
		if err != nil {
			c.Close()
			err = fmt.Errorf("ldap: service bind: %w", err)
		}
	}
	if err != nil {
		<-p.tokens
		if ctx.Err() != nil {
			// Cut short by ctx: say so, beside what it broke.
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, false, err
	}
	return c, false, nil
}

// put returns c to the pool if ok, else closes it.
func (p *pool) put(c *goldap.Conn, ok bool) {
	p.mu.Lock()
	if ok && !p.closed && !c.IsClosing() {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
	<-p.tokens
}

// do runs op on a pooled connection, closing the connection when ctx ends
// (go-ldap's requests take no context; closing ends them). A reused
// connection that turns out dead (the directory restarted) is replaced
// once.
func (p *pool) do(ctx context.Context, op func(*goldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, reused, err := p.getReused(ctx)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = op(c)
		cut := !stop()
		if err != nil && cut && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		netErr := goldap.IsErrorWithCode(err, goldap.ErrorNetwork)
		p.put(c, !cut && (err == nil || !netErr))
		if netErr && reused && !cut && attempt == 0 {
			continue
		}
		return err
	}
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
