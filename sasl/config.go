package sasl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// ConnState is what a mechanism may know about the connection it runs on,
// as one side sees it. Build it with [ServerConn] or [ServerConnState] on
// a server and with [ClientConn] or [ClientConnState] on a client; a nil
// *ConnState and the zero value describe a connection without TLS.
//
// A ConnState knows its side because the two sides differ where security
// depends on it: tls-server-end-point binds to the server's certificate,
// which on the client is the peer's and on the server is the one it
// served. crypto/tls records only the peer's certificates, so a server that
// does not know the leaf it served has no tls-server-end-point binding
// (RFC 5929, Section 4), and never binds to the client's certificate.
type ConnState struct {
	tls    *tls.ConnectionState
	served *x509.Certificate
	remote net.Addr
	server bool
}

// ServerConnState describes the server's end of a connection: cs is its
// TLS state (nil without TLS), served the leaf certificate the server
// presented in that handshake (nil if unknown: no tls-server-end-point
// then), and remote the client's address (for [Throttle]; may be nil).
func ServerConnState(cs *tls.ConnectionState, served *x509.Certificate, remote net.Addr) *ConnState {
	return &ConnState{tls: handshaken(cs), served: served, remote: remote, server: true}
}

// ClientConnState describes the client's end of a connection whose TLS
// state is cs (nil without TLS).
func ClientConnState(cs *tls.ConnectionState) *ConnState {
	return &ConnState{tls: handshaken(cs)}
}

// ServerConn describes the server's end of c. If c is a *tls.Conn, its
// handshake must be complete; the served certificate is the one
// tlsutil recorded ([tlsutil.ServedCertificate]: connections from
// tlsutil.Listen, tlsutil.Server and tlsutil.StartTLSServer). For a
// *tls.Conn from crypto/tls directly it is unknown, so -PLUS variants fall
// back to tls-unique or tls-exporter; use [ServerConnState] to supply it.
func ServerConn(c net.Conn) *ConnState {
	st := &ConnState{server: true}
	if c == nil {
		return st
	}
	st.remote = c.RemoteAddr()
	if tc, ok := c.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		st.tls = handshaken(&cs)
		st.served = tlsutil.ServedCertificate(tc)
	}
	return st
}

// ClientConn describes the client's end of c; if c is a *tls.Conn, its
// handshake must be complete.
func ClientConn(c net.Conn) *ConnState {
	st := &ConnState{}
	if tc, ok := c.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		st.tls = handshaken(&cs)
	}
	return st
}

func handshaken(cs *tls.ConnectionState) *tls.ConnectionState {
	if cs == nil || !cs.HandshakeComplete {
		return nil
	}
	return cs
}

// TLS returns the connection's TLS state, or nil when it has no completed
// TLS handshake.
func (c *ConnState) TLS() *tls.ConnectionState {
	if c == nil {
		return nil
	}
	return c.tls
}

// IsServer reports whether c describes the server's end.
func (c *ConnState) IsServer() bool { return c != nil && c.server }

// RemoteAddr returns the peer's address, or nil if unknown.
func (c *ConnState) RemoteAddr() net.Addr {
	if c == nil {
		return nil
	}
	return c.remote
}

func (c *ConnState) isTLS() bool { return c != nil && c.tls != nil }

// ChannelBinding returns the channel-binding data of type typ (one of
// tlsutil.TLSUnique, tlsutil.TLSExporter, tlsutil.TLSServerEndPoint) for the
// connection. On the server side tls-server-end-point is the certificate
// the server served, and unavailable if that is unknown; on the client side
// it is the server's certificate as received. It returns an error wrapping
// tlsutil.ErrChannelBindingUnavailable when the connection has none.
func (c *ConnState) ChannelBinding(typ string) ([]byte, error) {
	if !c.isTLS() {
		return nil, fmt.Errorf("%w: not a TLS connection", tlsutil.ErrChannelBindingUnavailable)
	}
	cert := c.served
	if !c.server && len(c.tls.PeerCertificates) > 0 {
		cert = c.tls.PeerCertificates[0]
	}
	if typ == tlsutil.TLSServerEndPoint && cert == nil {
		// Never the client's certificate: tlsutil.ChannelBinding would
		// fall back to PeerCertificates[0], which on a server is the
		// client's, and a man in the middle can present the victim's
		// server certificate as his client certificate.
		return nil, fmt.Errorf("%w: tls-server-end-point: the server certificate is unknown", tlsutil.ErrChannelBindingUnavailable)
	}
	return tlsutil.ChannelBinding(c.tls, typ, cert)
}

// Identity is the result of a successful exchange.
type Identity struct {
	// Mechanism is the name of the mechanism that authenticated.
	Mechanism string
	// Username is the authentication identity (authcid): whose
	// credentials were verified.
	Username string
	// Authzid is the authorization identity the client asked to act as,
	// or "" if it asked for none.
	Authzid string
	// Anonymous is set, and Username and Authzid are "", after ANONYMOUS
	// (RFC 4505): nobody was authenticated. No account has the empty
	// name, so an application keyed on User() cannot mistake a guest for
	// one.
	Anonymous bool
}

// User returns the identity the session acts as: Authzid when the client
// asked for one, Username otherwise, and "" for an anonymous identity.
func (id Identity) User() string {
	if id.Anonymous {
		return ""
	}
	if id.Authzid != "" {
		return id.Authzid
	}
	return id.Username
}

// Credential lookups. Each is one small interface per need, so a store
// implements only what its data allows, and sasl/passdb or a user's own
// database type satisfies them by method set. Implementations must be safe
// for concurrent use. A store reports a user it does not hold with an error
// wrapping ErrUnknownUser; mechanisms turn that into ErrAuthFailed after
// doing the same work as for a known user. Any other error (a database that
// is down) is returned by the mechanism unchanged.

// PasswordVerifier checks a plaintext password, as PLAIN and LOGIN receive
// it, against whatever the store holds (bcrypt, Argon2id, SHA512-CRYPT,
// SCRAM keys). A wrong password is an error wrapping ErrAuthFailed.
type PasswordVerifier interface {
	VerifyPassword(ctx context.Context, username, password string) error
}

// PlaintextLookup returns a user's plaintext password. Only APOP and the
// password mechanisms without a derived form need it; prefer the derived
// lookups below.
type PlaintextLookup interface {
	LookupPassword(ctx context.Context, username string) (string, error)
}

// CRAMMD5Secret is the HMAC-MD5 key state of a CRAM-MD5 password: the MD5
// states after absorbing the outer and the inner padded key (RFC 2104),
// each as its four words A, B, C, D in little-endian order, outer first
// (Dovecot's hmac_md5_get_cram_context order).
// This is the 32-byte value of Dovecot's {CRAM-MD5} scheme (hex-encoded
// there). It is password-equivalent for CRAM-MD5 but reveals no password.
type CRAMMD5Secret [32]byte

// CRAMMD5Lookup returns a user's CRAM-MD5 secret.
type CRAMMD5Lookup interface {
	LookupCRAMMD5(ctx context.Context, username string) (CRAMMD5Secret, error)
}

// DigestMD5Lookup returns MD5(username ":" realm ":" password), the
// password-equivalent that DIGEST-MD5 (RFC 2831, Section 2.1.2.1) and
// Dovecot's {DIGEST-MD5} scheme store.
type DigestMD5Lookup interface {
	LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error)
}

// SCRAMCredentials are what a SCRAM server stores for one user and one hash
// (RFC 5802, Section 3): never the password, never SaltedPassword.
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// SCRAMLookup returns a user's SCRAM credentials for mechanism mech, one of
// "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512" (without -PLUS).
type SCRAMLookup interface {
	LookupSCRAM(ctx context.Context, mech, username string) (SCRAMCredentials, error)
}

// TokenVerifier checks an OAuth 2.0 bearer token (OAUTHBEARER, XOAUTH2).
// username is the user the client names (OAUTHBEARER a=, XOAUTH2 user=), or
// "". It returns the user the token belongs to, never "" on success: an
// empty user with a nil error fails the exchange like an invalid token
// (the client's claim is not taken instead). A token that is invalid,
// expired, or not for username is an error wrapping ErrAuthFailed.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, username, token string) (string, error)
}

// ExternalVerifier establishes the identity of a client that authenticated
// outside SASL (RFC 4422, Appendix A), usually with a TLS client
// certificate found in conn.TLS().PeerCertificates. authzid is the identity
// the client asks for, or "". It returns the authenticated user.
type ExternalVerifier interface {
	VerifyExternal(ctx context.Context, conn *ConnState, authzid string) (string, error)
}

// CredentialReporter is implemented by a store that can tell which forms of
// credential it holds, so that a [ServerSet] offers only the mechanisms the
// store can serve. mech is a mechanism name without -PLUS: "SCRAM-SHA-1",
// "SCRAM-SHA-256", "SCRAM-SHA-512", "CRAM-MD5", "DIGEST-MD5". It reports
// whether at least one user can log in with it. sasl/passdb implements it.
//
// A [ServerMechanism] from another package may implement it too, for its
// own name (ntlm's asks its NT-hash store), and is then offered only when
// it reports true.
//
// A user that exists without the form asked for is reported by the lookup
// as an error wrapping ErrNoCredentials, which the mechanism logs as such
// ("no SCRAM-SHA-512 keys for this user") and answers as a wrong password.
type CredentialReporter interface {
	HoldsCredentials(mech string) bool
}

// Limiter slows down password guessing. A [ServerSet] calls Wait before
// each exchange, Failed after each failed one (and waits the returned
// delay before the failure is answered), and Succeeded after a success,
// each with the client's address from its ConnState (nil if unknown).
// [Throttle] is the implementation this package provides. Implementations
// must be safe for concurrent use and bound their memory.
type Limiter interface {
	Wait(ctx context.Context, addr net.Addr) error
	Failed(addr net.Addr) time.Duration
	Succeeded(addr net.Addr)
}

// ServerConfig configures the server side of every mechanism in this
// package for one listener. A nil credential field turns off the
// mechanisms that need it, so the zero ServerConfig offers nothing. A
// ServerConfig may be shared by many connections and must not be modified
// after first use.
type ServerConfig struct {
	// Passwords verifies PLAIN and LOGIN passwords. If nil, Plaintext is
	// used for them, and if that is nil too, PLAIN and LOGIN are off.
	Passwords PasswordVerifier
	// Plaintext returns plaintext passwords. It enables PLAIN, LOGIN,
	// CRAM-MD5 and DIGEST-MD5 where their own lookups are nil.
	Plaintext PlaintextLookup
	// CRAMMD5 returns stored HMAC-MD5 midstates for CRAM-MD5.
	CRAMMD5 CRAMMD5Lookup
	// DigestMD5 returns stored MD5(user:realm:pass) for DIGEST-MD5.
	DigestMD5 DigestMD5Lookup
	// SCRAM returns stored SCRAM keys; it enables SCRAM-SHA-1, -256 and
	// -512, and their -PLUS variants on TLS connections.
	SCRAM SCRAMLookup
	// SCRAMSecret keys the fake salt given to unknown users, so that the
	// salt of a user who does not exist is stable and looks real. SCRAM
	// is offered only when it is set: 32 random bytes, kept secret, the
	// same on every replica and across restarts (and the same as
	// sasl/passdb's Config.SCRAMSecret). A key made at random per process
	// would change every unknown user's salt at a restart, or between two
	// replicas behind one address, while real users' salts stay: comparing
	// two answers would tell who exists.
	SCRAMSecret []byte
	// SCRAMIterations is the iteration count given to unknown users, and
	// the PBKDF2 work PLAIN and LOGIN spend on a user without keys when
	// they verify from SCRAM. Set it to the count real users have, or the
	// difference tells who exists. If 0, 4096 (the RFC 7677 minimum) is
	// used.
	SCRAMIterations int
	// Tokens verifies OAuth 2.0 bearer tokens for OAUTHBEARER and XOAUTH2.
	Tokens TokenVerifier
	// External enables EXTERNAL.
	External ExternalVerifier
	// Anonymous, if not nil, enables ANONYMOUS and is called with the
	// client's trace information (RFC 4505).
	Anonymous func(ctx context.Context, trace string) error
	// Authorize, if not nil, is called after the credentials were verified
	// and decides whether id.Username may act as id.Authzid. Its error is
	// returned unchanged. If nil, an authzid other than "" or the username
	// itself fails with ErrAuthzFailed.
	Authorize func(ctx context.Context, id Identity) error
	// Hostname names the server in CRAM-MD5 challenges and the DIGEST-MD5
	// realm. If "", "localhost" is used.
	Hostname string
	// Extra adds mechanisms from other packages (ntlm, kpop) or the
	// caller's own. They are offered with the built-in ones, ordered by
	// the strength their Security gives them, under the same policy.
	Extra []ServerMechanism
	// Mechanisms, if not nil, lists the mechanisms to offer, in order of
	// preference; others are refused even if their credentials exist. If
	// nil, every mechanism whose credentials are configured is offered,
	// strongest first, except SCRAM-SHA-512 and SCRAM-SHA-512-PLUS, which
	// are offered only when listed here (stores such as Dovecot's hold no
	// SHA-512 keys, and clients pick the strongest hash offered), and the
	// legacy mechanisms, which need Legacy.
	Mechanisms []string
	// Legacy offers the built-in legacy mechanisms, LOGIN, CRAM-MD5 and
	// DIGEST-MD5, where their credentials exist. They are for old
	// clients (Outlook's LOGIN, fetchmail's CRAM-MD5); without Legacy they
	// are offered only when Mechanisms lists them. Mechanisms in Extra are
	// offered because they were added, whatever their Security.Legacy.
	Legacy bool
	// InsecureAuth offers and accepts mechanisms that need TLS (PLAIN,
	// LOGIN, CRAM-MD5, DIGEST-MD5, SCRAM without -PLUS, OAUTHBEARER,
	// XOAUTH2, and any with Security.NeedsTLS) on connections without TLS.
	// The password or token, or what an offline dictionary attack needs,
	// is then exposed to anyone on the path. EXTERNAL is never offered
	// without a TLS client certificate.
	InsecureAuth bool
	// Limiter, if not nil, slows down password guessing per client
	// address; see [Throttle].
	Limiter Limiter
}

func (cfg *ServerConfig) hostname() string {
	if cfg.Hostname == "" {
		return "localhost"
	}
	return cfg.Hostname
}

// ClientConfig holds a client's credentials and policy, for choosing and
// running a mechanism with [ClientConfig.NewClient]. The zero value uses no
// credentials. A ClientConfig must not be modified after first use.
type ClientConfig struct {
	// Username is the authentication identity.
	Username string
	// Password is the user's password, for the password mechanisms.
	Password string
	// Authzid, if not "", is the identity to act as.
	Authzid string
	// Token is an OAuth 2.0 bearer token, for OAUTHBEARER and XOAUTH2.
	Token string
	// External asks for EXTERNAL, e.g. with a TLS client certificate.
	External bool
	// Anonymous asks for ANONYMOUS, with Trace as the trace information.
	Anonymous bool
	// Trace is the ANONYMOUS trace information (RFC 4505), e.g. an email
	// address.
	Trace string
	// Host and Port name the server, for OAUTHBEARER's host and port
	// fields and the DIGEST-MD5 digest-uri.
	Host string
	Port int
	// Service is the service name of the DIGEST-MD5 digest-uri ("imap",
	// "pop", "smtp"). If "", "imap" is used.
	Service string
	// Mechanisms, if not nil, lists the mechanisms the client may use, in
	// order of preference. If nil, the strongest usable one is chosen.
	Mechanisms []string
	// InsecureAuth lets the client use mechanisms that need TLS on a
	// connection without it. The password or token is then exposed to
	// anyone on the path.
	InsecureAuth bool
	// MaxIterations caps the SCRAM iteration count a server may demand. If
	// 0, 1,000,000 is used.
	MaxIterations int
	// ChannelBindingType is the channel binding a -PLUS mechanism uses:
	// tlsutil.TLSExporter, TLSUnique or TLSServerEndPoint. If "",
	// tls-exporter is used on TLS 1.3, and tls-unique on TLS 1.2 (RFC
	// 5802's default, which older servers know), else tls-exporter.
	ChannelBindingType string
	// SCRAMCache, if not nil, keeps the keys SCRAM derived from the
	// password for a salt and iteration count, so that reconnecting skips
	// PBKDF2. Share one between the connections of a program.
	SCRAMCache *SCRAMCache
	// Extra adds mechanisms from other packages (ntlm, kpop) or the
	// caller's own. They are chosen with the built-in ones, ordered by the
	// strength their Security gives them, under the same policy.
	Extra []ClientMechanism
}
