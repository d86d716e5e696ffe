package sasl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// ConnState is what a mechanism may know about the connection it runs on.
// The zero value describes a connection without TLS.
type ConnState struct {
	// TLS is the connection's TLS state, or nil when the connection is not
	// protected by TLS. Plaintext-equivalent mechanisms and -PLUS variants
	// depend on it.
	TLS *tls.ConnectionState
	// ServerCertificate is the certificate the server presented, for the
	// tls-server-end-point channel binding (RFC 5929, Section 4). A server
	// must set it to the leaf it served, which crypto/tls does not record;
	// a client may leave it nil, and TLS.PeerCertificates[0] is used.
	ServerCertificate *x509.Certificate
}

func (c *ConnState) isTLS() bool {
	return c != nil && c.TLS != nil && c.TLS.HandshakeComplete
}

// ChannelBinding returns the channel-binding data of type typ (one of
// tlsutil.TLSUnique, tlsutil.TLSExporter, tlsutil.TLSServerEndPoint) for the
// connection. It returns an error wrapping
// tlsutil.ErrChannelBindingUnavailable when the connection has none.
func (c *ConnState) ChannelBinding(typ string) ([]byte, error) {
	if !c.isTLS() {
		return nil, fmt.Errorf("%w: not a TLS connection", tlsutil.ErrChannelBindingUnavailable)
	}
	return tlsutil.ChannelBinding(c.TLS, typ, c.ServerCertificate)
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
}

// User returns the identity the session acts as: Authzid when the client
// asked for one, Username otherwise.
func (id Identity) User() string {
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
// "". It returns the user the token belongs to; a token that is invalid,
// expired, or not for username is an error wrapping ErrAuthFailed.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, username, token string) (string, error)
}

// ExternalVerifier establishes the identity of a client that authenticated
// outside SASL (RFC 4422, Appendix A), usually with a TLS client
// certificate found in conn.TLS.PeerCertificates. authzid is the identity
// the client asks for, or "". It returns the authenticated user.
type ExternalVerifier interface {
	VerifyExternal(ctx context.Context, conn *ConnState, authzid string) (string, error)
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
	// salt of a user who does not exist is stable and looks real. If nil,
	// a random key is made once per process.
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
	// Mechanisms, if not nil, lists the mechanisms to offer, in order of
	// preference; others are refused even if their credentials exist. If
	// nil, every mechanism whose credentials are configured is offered,
	// strongest first, except SCRAM-SHA-512 and SCRAM-SHA-512-PLUS, which
	// are offered only when listed here: stores such as Dovecot's hold no
	// SHA-512 keys, and clients pick the strongest hash offered.
	Mechanisms []string
	// InsecureAuth offers and accepts mechanisms that need TLS (PLAIN,
	// LOGIN, CRAM-MD5, DIGEST-MD5, OAUTHBEARER, XOAUTH2) on connections
	// without TLS. The password or token is then exposed to anyone on the
	// path.
	InsecureAuth bool
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
}
