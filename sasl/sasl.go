package sasl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	gosasl "github.com/emersion/go-sasl"
)

// Client is a SASL client state machine. It is emersion/go-sasl's interface,
// so every client in this package can be passed to go-imap v2's
// imapclient.Client.Authenticate and go-smtp's Client.Auth unchanged.
type Client = gosasl.Client

// Server is a SASL server state machine. It is emersion/go-sasl's interface,
// so every server in this package can be returned from go-imap v2's
// SessionSASL.Authenticate and go-smtp's AuthSession.Auth unchanged.
//
// A Server never returns a challenge together with done=true: final server
// data (SCRAM's v=, an OAUTHBEARER error) is sent as a challenge with
// done=false and the exchange ends on the client's next response, because
// neither go-imap nor go-smtp forwards data sent with success.
type Server = gosasl.Server

// Errors returned by the mechanisms. They are sentinel values for errors.Is;
// mechanisms wrap them with the detail of what was wrong.
var (
	// ErrUnexpectedClientResponse is returned by a Server that receives a
	// response after the exchange has ended or failed. It is go-sasl's value.
	ErrUnexpectedClientResponse = gosasl.ErrUnexpectedClientResponse
	// ErrUnexpectedServerChallenge is returned by a Client that receives a
	// challenge it cannot answer at this step. It is go-sasl's value.
	ErrUnexpectedServerChallenge = gosasl.ErrUnexpectedServerChallenge

	// ErrAuthFailed means the credentials were not accepted: a wrong
	// password, an unknown user, a bad proof or token. All of these are the
	// same value, so a caller cannot tell an unknown user from a wrong
	// password, and neither can the peer.
	ErrAuthFailed = errors.New("sasl: authentication failed")
	// ErrAuthzFailed means the authentication identity may not act as the
	// requested authorization identity (authzid).
	ErrAuthzFailed = errors.New("sasl: authorization failed")
	// ErrMalformed means a peer's message did not follow the mechanism's
	// syntax.
	ErrMalformed = errors.New("sasl: malformed message")
	// ErrTooLarge means a peer's message, line or field exceeded a bound.
	ErrTooLarge = errors.New("sasl: message too large")
	// ErrNeedsTLS means a mechanism that exposes a password or
	// password-equivalent was refused because the connection is not
	// protected by TLS and the configuration did not opt in.
	ErrNeedsTLS = errors.New("sasl: mechanism requires TLS")
	// ErrUnsupportedMechanism means the mechanism is unknown, not enabled
	// or not offered on this connection.
	ErrUnsupportedMechanism = errors.New("sasl: unsupported mechanism")
	// ErrNoMechanism means a client found no mechanism that both sides
	// offer and that its credentials and policy allow.
	ErrNoMechanism = errors.New("sasl: no usable mechanism")
	// ErrUnknownUser is returned by credential stores for a user they do
	// not hold. It never leaves a mechanism: the mechanism does the same
	// work as for a known user and ends in ErrAuthFailed.
	ErrUnknownUser = errors.New("sasl: unknown user")
	// ErrCanceled means the peer cancelled the exchange ("*").
	ErrCanceled = errors.New("sasl: exchange cancelled")
	// ErrChannelBinding means the channel-binding data or flags did not
	// match the TLS connection, or a -PLUS variant was stripped.
	ErrChannelBinding = errors.New("sasl: channel binding mismatch")
	// ErrServerNotVerified means the server reported success before a
	// client of a mutual mechanism had verified it (SCRAM's v=, DIGEST-MD5's
	// rspauth, GSSAPI's AP-REP). Whoever answered may not know the
	// password; the caller must close the connection.
	ErrServerNotVerified = errors.New("sasl: server reported success before it was verified")
	// ErrNoCredentials is returned by credential stores for a user they
	// hold but without the credential form a mechanism asked for (no
	// SCRAM-SHA-512 keys, a password scheme PLAIN cannot verify). It wraps
	// ErrUnknownUser, and like it never reaches the peer: the mechanism
	// does the same work as for a wrong password and fails with an error
	// that wraps ErrAuthFailed and says, for the operator's log, what was
	// missing ("no SCRAM-SHA-512 keys for this user").
	ErrNoCredentials = fmt.Errorf("%w: no credentials of this form for the user", ErrUnknownUser)
)

// Security describes what a mechanism protects and what it needs. New
// properties become new fields.
type Security struct {
	// PlaintextEquivalent: the mechanism sends the password, or something
	// that can be replayed like it (a bearer token), in the clear.
	PlaintextEquivalent bool
	// Mutual: the client authenticates the server too.
	Mutual bool
	// ChannelBinding: the exchange is bound to the TLS channel (-PLUS).
	ChannelBinding bool
	// NeedsTLS: the mechanism must only be used inside TLS, either because
	// it is plaintext-equivalent or because a passive eavesdropper can
	// mount an offline dictionary attack on it.
	NeedsTLS bool
	// Legacy: kept for old peers; RFC 6331 made DIGEST-MD5 Historic, and
	// CRAM-MD5, LOGIN and APOP are in the same class.
	Legacy bool
}

// Mechanism describes one authentication scheme: its IANA name and its
// security properties. Every scheme of this module (SASL mechanisms, APOP,
// GSSAPI, NTLM) has one.
type Mechanism interface {
	// Name is the IANA-registered name, e.g. "SCRAM-SHA-256-PLUS".
	Name() string
	// Security returns the mechanism's properties.
	Security() Security
}

// IdentityServer is implemented by every Server of this package: once Next
// has returned done=true without error, Identity reports who authenticated.
type IdentityServer interface {
	Server
	Identity() (Identity, bool)
}

// ServerMechanism is the server side of one mechanism as a value that
// carries its own credentials, the way x/crypto/ssh's auth methods do.
// Mechanisms from other packages (ntlm, kpop) and a caller's own go into
// [ServerConfig.Extra]; the built-in ones are made from ServerConfig's
// credential fields and take the same path.
//
// A [ServerSet] offers a ServerMechanism in the order of its strength
// (from its Security), never before TLS when Security.NeedsTLS is set
// (unless ServerConfig.InsecureAuth), never a ChannelBinding one without
// channel-binding data, and refuses it when it was not offered. When the
// Server returns done=true without error, the set reads its Identity,
// applies ServerConfig.Authorize and records the result: a mechanism never
// applies the authorization policy itself. Identity.Username must be
// exactly the entry whose credentials the mechanism verified, and
// Identity.Authzid the identity the client asked to act as, or "".
type ServerMechanism interface {
	Mechanism
	// NewServer starts one exchange on conn, which is never nil. ctx is
	// the exchange's: pass it to every credential lookup.
	NewServer(ctx context.Context, conn *ConnState) (IdentityServer, error)
}

// ClientMechanism is the client side of one mechanism as a value that
// carries its own credentials. Mechanisms from other packages go into
// [ClientConfig.Extra]; the built-in ones are made from ClientConfig's
// fields and take the same path.
//
// The Client of a mechanism whose Security has Mutual set must implement
// [FinishedClient]; ClientConfig.NewClient skips one that does not.
type ClientMechanism interface {
	Mechanism
	// NewClient returns the Client for one exchange on conn, which is
	// never nil. offered is the server's advertised list, so a mechanism
	// can tell whether a -PLUS variant was offered (RFC 5802, Section 6).
	// An error means the mechanism cannot run here, and the next is
	// tried.
	NewClient(conn *ConnState, offered []string) (Client, error)
}

// FinishedClient is a Client that can say whether its side of the
// exchange is complete. Finished returns nil only once the client has sent
// its last message and, for a mechanism with Security.Mutual, received and
// verified the server's proof; before that it returns an error wrapping
// ErrServerNotVerified (mutual mechanisms) or ErrUnexpectedServerChallenge.
//
// A server's "success" proves nothing by itself: a fake server that knows
// no password can say OK. [Exchange.Authenticate] checks Finished when the
// server reports success. Callers that run the exchange themselves, for
// example with go-imap v2's imapclient.Client.Authenticate or go-smtp's
// Client.Auth, must check it after those return nil, and close the
// connection if it fails:
//
//	if err := imapClient.Authenticate(c); err != nil { ... }
//	if err := sasl.Finished(c); err != nil { conn.Close(); ... }
type FinishedClient interface {
	Client
	Finished() error
}

// Finished returns c.Finished() when c is a [FinishedClient], and nil for
// any other Client (go-sasl's, none of which is mutual). Every Client of
// this package, and every one ClientConfig.NewClient returns, is a
// FinishedClient.
func Finished(c Client) error {
	if fc, ok := c.(FinishedClient); ok {
		return fc.Finished()
	}
	return nil
}

// NewMechanism returns a Mechanism with the given name and properties. It is
// for packages that add schemes outside this one (apop, ntlm, kpop).
func NewMechanism(name string, sec Security) Mechanism {
	return staticMechanism{name, sec}
}

type staticMechanism struct {
	name string
	sec  Security
}

// Name returns the mechanism name.
func (m staticMechanism) Name() string { return m.name }

// Security returns the mechanism's properties.
func (m staticMechanism) Security() Security { return m.sec }

// randomBytes returns n bytes from crypto/rand, the only source of
// randomness in this package. crypto/rand.Read never fails (Go 1.24+).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
