// Package goimap is the supported glue between mailauth and emersion/go-imap
// v2's imapserver. Embed an [Authenticator] in your imapserver.Session and
// it answers SessionSASL (AuthenticateMechanisms, Authenticate) and LOGIN
// from a [sasl.ServerConfig], with sasl's policy, replies and identity; the
// session hears who logged in through a callback. [IMAPError] turns any
// mailauth error into the *imap.Error go-imap writes, from the same reply
// table as sasl.Exchange ([sasl.ReplyFor]). [Backend] and [Session] are a
// complete server over go-imap's in-memory store (imapmemserver) built that
// way, for tests and as a model.
//
// What the glue takes care of:
//
//   - What may be offered depends on TLS, and go-imap keeps one Session
//     across STARTTLS and asks for the mechanisms of its implicit-TLS
//     greeting before the handshake has run. The Authenticator completes a
//     pending handshake before it answers, and makes its [sasl.ServerSet]
//     anew whenever the connection's TLS state has changed.
//   - go-imap answers any error that is not an *imap.Error with "NO
//     [SERVERBUG]" and may put its text on the wire: every error is mapped
//     (IMAPError).
//   - go-imap does not tell the Session who authenticated: the
//     Authenticator wraps each mechanism's Server so that success calls the
//     session's login callback with the [sasl.Identity], and an error from
//     it refuses the login.
//
// The glue is as stable as the sasl package; the import path stays under
// examples/ because Backend and Session are example code.
package goimap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// Authenticator is the authentication half of one go-imap connection's
// session. Embed a *Authenticator in the type your
// imapserver.Options.NewSession returns: its AuthenticateMechanisms and
// Authenticate make the session an imapserver.SessionSASL, and its Login
// answers IMAP LOGIN (go-imap refuses LOGIN without TLS unless
// Options.InsecureAuth) through the configuration's PLAIN mechanism, so the
// same store and policy apply. An Authenticator belongs to one connection
// and is not safe for concurrent use, as go-imap's sessions are not.
type Authenticator struct {
	cfg     *sasl.ServerConfig
	conn    *imapserver.Conn
	leaf    *x509.Certificate
	onLogin func(sasl.Identity) error

	set    *sasl.ServerSet
	setTLS bool // whether set was made for a handshaken TLS connection
}

// NewAuthenticator returns the Authenticator of the connection conn (from
// NewSession), with the mechanisms, stores and policy of cfg, shared by all
// connections. leaf is the certificate the server presents, for the
// tls-server-end-point channel binding of SCRAM-*-PLUS; it may be nil when
// go-imap's listener serves a *tls.Conn of crypto/tls (ListenAndServeTLS),
// and it is not needed for connections from tlsutil's Listener, which
// records it.
//
// onLogin is called once an exchange or LOGIN has succeeded, with the
// identity the ServerSet recorded (Authorize applied); it opens the user's
// mailbox. If it returns an error, the login is refused with that error
// (mapped by IMAPError; sasl.ErrAuthzFailed gives NO [AUTHORIZATIONFAILED]).
func NewAuthenticator(cfg *sasl.ServerConfig, conn *imapserver.Conn, leaf *x509.Certificate, onLogin func(sasl.Identity) error) *Authenticator {
	return &Authenticator{cfg: cfg, conn: conn, leaf: leaf, onLogin: onLogin}
}

// authHandshakeTimeout bounds the TLS handshake an Authenticator completes when
// go-imap asks for mechanisms before it has run.
const authHandshakeTimeout = tlsutil.DefaultHandshakeTimeout

// serverSet returns the ServerSet for the connection as it is now.
func (a *Authenticator) serverSet() *sasl.ServerSet {
	nc := a.conn.NetConn()
	if tc, ok := nc.(*tls.Conn); ok && !tc.ConnectionState().HandshakeComplete {
		// Implicit TLS: go-imap writes its greeting, with the mechanisms
		// in it, before anything has read from the connection, so the
		// handshake has not run yet. Run it now; a failure leaves the
		// set without TLS, which offers nothing that needs TLS, and the
		// connection fails on go-imap's next read anyway.
		ctx, cancel := context.WithTimeout(context.Background(), authHandshakeTimeout)
		_ = tc.HandshakeContext(ctx)
		cancel()
	}
	state := sasl.ServerConn(nc)
	if tc, ok := nc.(*tls.Conn); ok && a.leaf != nil && tlsutil.ServedCertificate(tc) == nil {
		cs := tc.ConnectionState()
		state = sasl.ServerConnState(&cs, a.leaf, nc.RemoteAddr())
	}
	// After STARTTLS (go-imap keeps the session) the old set, made
	// without TLS, is dropped: mechanisms that need TLS and -PLUS
	// variants appear only in the new one.
	if a.set == nil || a.setTLS != (state.TLS() != nil) {
		a.set = sasl.NewServerSet(a.cfg, state)
		a.setTLS = state.TLS() != nil
	}
	return a.set
}

// AuthenticateMechanisms is imapserver.SessionSASL's: the mechanisms to
// advertise on the connection as it is now.
func (a *Authenticator) AuthenticateMechanisms() []string {
	return a.serverSet().Mechanisms()
}

// Authenticate is imapserver.SessionSASL's: a Server for mech, whose
// errors are *imap.Error values and whose success calls the login
// callback.
func (a *Authenticator) Authenticate(mech string) (sasl.Server, error) {
	set := a.serverSet()
	srv, err := set.NewServer(context.Background(), mech)
	if err != nil {
		return nil, IMAPError(err)
	}
	return &server{srv: srv, auth: a, set: set}, nil
}

// Login is imapserver.Session's, for IMAP LOGIN: the password goes through
// the configuration's PLAIN mechanism.
func (a *Authenticator) Login(username, password string) error {
	set := a.serverSet()
	srv, err := set.NewServer(context.Background(), sasl.Plain)
	if err != nil {
		return IMAPError(err)
	}
	_, done, err := srv.Next([]byte("\x00" + username + "\x00" + password))
	if err == nil && !done {
		err = sasl.ErrAuthFailed
	}
	if err != nil {
		return IMAPError(err)
	}
	return a.loggedIn(set)
}

// Identity returns who logged in on this connection, once Authenticate's
// exchange or Login succeeded.
func (a *Authenticator) Identity() (sasl.Identity, bool) {
	if a.set == nil {
		return sasl.Identity{}, false
	}
	return a.set.Identity()
}

// loggedIn hands the set's identity to the session after a success.
func (a *Authenticator) loggedIn(set *sasl.ServerSet) error {
	id, ok := set.Identity()
	if !ok {
		return imapserver.ErrAuthFailed
	}
	if a.onLogin != nil {
		if err := a.onLogin(id); err != nil {
			return IMAPError(err)
		}
	}
	return nil
}

// server wraps a mechanism's Server: it maps errors for go-imap and calls
// the login callback on success.
type server struct {
	srv  sasl.Server
	auth *Authenticator
	set  *sasl.ServerSet
}

// Next runs the wrapped mechanism and records its outcome.
func (s *server) Next(resp []byte) ([]byte, bool, error) {
	chal, done, err := s.srv.Next(resp)
	if err != nil {
		return nil, false, IMAPError(err)
	}
	if done {
		if err := s.auth.loggedIn(s.set); err != nil {
			return nil, false, err
		}
	}
	return chal, done, nil
}

// Backend holds the users and the SASL configuration. Its NewSession is
// imapserver.Options.NewSession. It is safe for concurrent use.
type Backend struct {
	sasl *sasl.ServerConfig // shared, read-only
	leaf *x509.Certificate  // the served certificate, for tls-server-end-point

	mu    sync.Mutex
	users map[string]*imapmemserver.User
}

// NewBackend returns a Backend whose mechanisms are configured by cfg.
// leaf is the certificate the server presents (imapserver.Options.TLSConfig
// with a single certificate), for the tls-server-end-point channel binding
// of SCRAM-*-PLUS; it may be nil.
func NewBackend(cfg *sasl.ServerConfig, leaf *x509.Certificate) *Backend {
	return &Backend{sasl: cfg, leaf: leaf, users: map[string]*imapmemserver.User{}}
}

// AddUser adds a mailbox owner with an INBOX. The password checks are
// cfg's; the mail store never sees a password.
func (b *Backend) AddUser(username string) *imapmemserver.User {
	// imapmemserver wants a password for its own Login, which is never
	// called here: authentication goes through the ServerSet.
	u := imapmemserver.NewUser(username, "")
	u.Create("INBOX", nil)
	b.mu.Lock()
	b.users[username] = u
	b.mu.Unlock()
	return u
}

func (b *Backend) user(name string) *imapmemserver.User {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.users[name]
}

// NewSession is imapserver.Options.NewSession.
func (b *Backend) NewSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	s := &Session{}
	s.Authenticator = NewAuthenticator(b.sasl, conn, b.leaf, func(id sasl.Identity) error {
		u := b.user(id.User())
		if u == nil {
			// Authenticated but without a mailbox here.
			return sasl.ErrAuthzFailed
		}
		s.UserSession = imapmemserver.NewUserSession(u)
		return nil
	})
	return s, nil, nil
}

// Session is one connection's session over imapmemserver: its Authenticator
// answers authentication, and a successful login opens the user's
// imapmemserver session.
type Session struct {
	*Authenticator
	*imapmemserver.UserSession // nil until authenticated
}

var (
	_ imapserver.Session     = (*Session)(nil)
	_ imapserver.SessionSASL = (*Session)(nil)
)

// Close is imapserver.Session's.
func (s *Session) Close() error {
	if s.UserSession == nil {
		return nil
	}
	return s.UserSession.Close()
}

// IMAPError returns the *imap.Error go-imap writes for a mailauth error:
// the IMAP reply of [sasl.ReplyFor], the table sasl.Exchange uses, so a
// client gets the same answer from go-imap as from a net/textproto server
// (NO [AUTHENTICATIONFAILED], NO [PRIVACYREQUIRED], BAD for a cancelled or
// malformed exchange, NO [UNAVAILABLE] for a store that is down, ...), with
// fixed text that holds no secret. An *imap.Error from a caller's callback
// passes through unchanged; nil is nil.
func IMAPError(err error) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie
	}
	r := sasl.ReplyFor(err)
	return &imap.Error{
		Type: imap.StatusResponseType(r.IMAPStatus),
		Code: imap.ResponseCode(r.IMAPCode),
		Text: r.Text,
	}
}
