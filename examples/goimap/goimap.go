// Package goimap shows mailauth behind emersion/go-imap v2's imapserver: a
// Session whose AuthenticateMechanisms and Authenticate come from a
// [sasl.ServerSet], over go-imap's in-memory mail store (imapmemserver).
//
// Three things need care, and this package shows each:
//
//   - go-imap keeps one Session across STARTTLS, but what may be offered
//     depends on TLS: the ServerSet is made anew when the connection's TLS
//     state changes (Session.set).
//   - go-imap answers any error that is not an *imap.Error with
//     "NO [SERVERBUG]": mailauth's sentinel errors are mapped to the IMAP
//     response codes (IMAPError).
//   - go-imap does not tell the Session who authenticated: the Server is
//     wrapped so that success opens the user's mailbox.
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
)

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
	return &Session{b: b, conn: conn}, nil, nil
}

// Session is one connection's session: unauthenticated until
// Authenticate or Login succeeds, then the user's imapmemserver session.
type Session struct {
	*imapmemserver.UserSession // nil until authenticated

	b      *Backend
	conn   *imapserver.Conn
	set    *sasl.ServerSet
	setTLS bool // whether set was made for a TLS connection
}

var (
	_ imapserver.Session     = (*Session)(nil)
	_ imapserver.SessionSASL = (*Session)(nil)
)

// serverSet returns the ServerSet for the connection as it is now. After
// STARTTLS the old set, made without TLS, is dropped: mechanisms that need
// TLS and -PLUS variants appear only in the new one.
func (s *Session) serverSet() *sasl.ServerSet {
	nc := s.conn.NetConn()
	state := sasl.ServerConn(nc)
	if tc, ok := nc.(*tls.Conn); ok && s.b.leaf != nil {
		cs := tc.ConnectionState()
		state = sasl.ServerConnState(&cs, s.b.leaf, nc.RemoteAddr())
	}
	// The TLS state counts only once the handshake is complete, so a set
	// made earlier (go-imap's implicit TLS handshakes lazily) is made
	// again when it is.
	if s.set == nil || s.setTLS != (state.TLS() != nil) {
		s.set = sasl.NewServerSet(s.b.sasl, state)
		s.setTLS = state.TLS() != nil
	}
	return s.set
}

// AuthenticateMechanisms is SessionSASL's: the mechanisms to advertise.
func (s *Session) AuthenticateMechanisms() []string {
	return s.serverSet().Mechanisms()
}

// Authenticate is SessionSASL's: a Server for mech.
func (s *Session) Authenticate(mech string) (sasl.Server, error) {
	set := s.serverSet()
	srv, err := set.NewServer(context.Background(), mech)
	if err != nil {
		return nil, IMAPError(err)
	}
	return &server{srv: srv, sess: s, set: set}, nil
}

// Login is Session's, for IMAP LOGIN (go-imap refuses it without TLS
// unless Options.InsecureAuth): the password goes through the set's PLAIN
// mechanism, so the same store and policy apply.
func (s *Session) Login(username, password string) error {
	set := s.serverSet()
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
	return s.open(set)
}

// open starts the user's mail session after a successful exchange.
func (s *Session) open(set *sasl.ServerSet) error {
	id, ok := set.Identity()
	if !ok {
		return imapserver.ErrAuthFailed
	}
	u := s.b.user(id.User())
	if u == nil {
		// Authenticated but without a mailbox here.
		return IMAPError(sasl.ErrAuthzFailed)
	}
	s.UserSession = imapmemserver.NewUserSession(u)
	return nil
}

// server wraps a mechanism's Server: it maps errors for go-imap and opens
// the mailbox on success.
type server struct {
	srv  sasl.Server
	sess *Session
	set  *sasl.ServerSet
}

// Next runs the wrapped mechanism and records its outcome.
func (a *server) Next(resp []byte) ([]byte, bool, error) {
	chal, done, err := a.srv.Next(resp)
	if err != nil {
		return nil, false, IMAPError(err)
	}
	if done {
		if err := a.sess.open(a.set); err != nil {
			return nil, false, err
		}
	}
	return chal, done, nil
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
