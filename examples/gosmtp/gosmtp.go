// Package gosmtp is the supported glue between mailauth and
// emersion/go-smtp. Embed an [Authenticator] in your smtp.Session and it
// answers smtp.AuthSession (AuthMechanisms, Auth) from a
// [sasl.ServerConfig], with sasl's policy, replies and identity; the session
// hears who logged in through a callback. [SMTPError] turns any mailauth
// error into the *smtp.SMTPError go-smtp writes, from the same reply table
// as sasl.Exchange ([sasl.ReplyFor]). [Backend] and [Session] are a
// submission server built that way, which accepts and discards mail from
// authenticated users, for tests and as a model.
//
// What the glue takes care of:
//
//   - What may be offered depends on TLS: the ServerSet is made from the
//     connection's state each time it is asked, so nothing chosen before
//     STARTTLS survives it (go-smtp also makes a new Session then).
//   - go-smtp type-asserts *smtp.SMTPError and answers anything else with
//     454 and the error's text, which could leak a detail: every error is
//     mapped (SMTPError), and a caller's own *smtp.SMTPError passes through
//     unchanged.
//   - go-smtp does not tell the Session who authenticated: the
//     Authenticator wraps each mechanism's Server so that success calls the
//     session's login callback with the [sasl.Identity], and an error from
//     it refuses the login.
//
// The glue is as stable as the sasl package; the import path stays under
// examples/ because Backend and Session are example code.
package gosmtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"

	"github.com/emersion/go-smtp"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// Authenticator is the authentication half of one go-smtp connection's
// session. Embed a *Authenticator in the type your smtp.Backend's NewSession
// returns: its AuthMechanisms and Auth make the session an smtp.AuthSession.
// An Auth belongs to one connection and is not safe for concurrent use, as
// go-smtp's sessions are not.
type Authenticator struct {
	cfg     *sasl.ServerConfig
	conn    *smtp.Conn
	leaf    *x509.Certificate
	onLogin func(sasl.Identity) error

	set *sasl.ServerSet // of the last exchange
}

// NewAuthenticator returns the Authenticator of the connection conn (from
// NewSession), with the mechanisms, stores and policy of cfg, shared by all
// connections. leaf is the certificate the server presents, for the
// tls-server-end-point channel binding of SCRAM-*-PLUS; it may be nil for
// connections from tlsutil's Listener, which records it.
//
// onLogin, if not nil, is called once an exchange has succeeded, with the
// identity the ServerSet recorded (Authorize applied). If it returns an
// error, the login is refused with that error (mapped by SMTPError).
func NewAuthenticator(cfg *sasl.ServerConfig, conn *smtp.Conn, leaf *x509.Certificate, onLogin func(sasl.Identity) error) *Authenticator {
	return &Authenticator{cfg: cfg, conn: conn, leaf: leaf, onLogin: onLogin}
}

// serverSet returns a ServerSet for the connection as it is now.
func (a *Authenticator) serverSet() *sasl.ServerSet {
	nc := a.conn.Conn()
	state := sasl.ServerConn(nc)
	if tc, ok := nc.(*tls.Conn); ok && a.leaf != nil && tlsutil.ServedCertificate(tc) == nil {
		cs := tc.ConnectionState()
		state = sasl.ServerConnState(&cs, a.leaf, nc.RemoteAddr())
	}
	return sasl.NewServerSet(a.cfg, state)
}

// AuthMechanisms is smtp.AuthSession's: the mechanisms to advertise on the
// connection as it is now.
func (a *Authenticator) AuthMechanisms() []string { return a.serverSet().Mechanisms() }

// Auth is smtp.AuthSession's: a Server for mech, whose errors are
// *smtp.SMTPError values and whose success calls the login callback.
func (a *Authenticator) Auth(mech string) (sasl.Server, error) {
	set := a.serverSet()
	srv, err := set.NewServer(context.Background(), mech)
	if err != nil {
		return nil, SMTPError(err)
	}
	a.set = set
	return &server{srv: srv, auth: a, set: set}, nil
}

// Identity returns who logged in on this connection, once an exchange
// succeeded.
func (a *Authenticator) Identity() (sasl.Identity, bool) {
	if a.set == nil {
		return sasl.Identity{}, false
	}
	return a.set.Identity()
}

type server struct {
	srv  sasl.Server
	auth *Authenticator
	set  *sasl.ServerSet
}

// Next runs the wrapped mechanism and reports its success.
func (s *server) Next(resp []byte) ([]byte, bool, error) {
	chal, done, err := s.srv.Next(resp)
	if err != nil {
		return nil, false, SMTPError(err)
	}
	if done {
		id, ok := s.set.Identity()
		if !ok {
			return nil, false, SMTPError(sasl.ErrAuthFailed)
		}
		if s.auth.onLogin != nil {
			if err := s.auth.onLogin(id); err != nil {
				return nil, false, SMTPError(err)
			}
		}
	}
	return chal, done, nil
}

// Backend is a go-smtp Backend whose sessions authenticate with cfg.
type Backend struct {
	sasl *sasl.ServerConfig // shared, read-only
	leaf *x509.Certificate  // the served certificate, for tls-server-end-point
}

// NewBackend returns a Backend whose mechanisms are configured by cfg.
// leaf is the certificate the server presents (for SCRAM-*-PLUS with
// tls-server-end-point); it may be nil.
func NewBackend(cfg *sasl.ServerConfig, leaf *x509.Certificate) *Backend {
	return &Backend{sasl: cfg, leaf: leaf}
}

// NewSession is smtp.Backend's.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &Session{Authenticator: NewAuthenticator(b.sasl, c, b.leaf, nil)}, nil
}

// Session is one SMTP session: its Authenticator answers authentication; only
// authenticated users may submit.
type Session struct {
	*Authenticator
}

var _ smtp.AuthSession = (*Session)(nil)

// Mail is smtp.Session's: only authenticated users may submit (RFC 6409,
// Section 4.3).
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	if _, ok := s.Identity(); !ok {
		return smtp.ErrAuthRequired
	}
	return nil
}

// Rcpt is smtp.Session's.
func (s *Session) Rcpt(to string, opts *smtp.RcptOptions) error { return nil }

// Data is smtp.Session's: the message is read and discarded.
func (s *Session) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// Reset is smtp.Session's.
func (s *Session) Reset() {}

// Logout is smtp.Session's.
func (s *Session) Logout() error { return nil }

// SMTPError returns the *smtp.SMTPError go-smtp writes for a mailauth
// error: the SMTP reply of [sasl.ReplyFor], the table sasl.Exchange uses,
// so a client gets the same answer from go-smtp as from a net/textproto
// server (535 5.7.8, 538 5.7.11, 504 5.5.4, 501, 500 5.5.6, 454 4.7.0 for a
// store that is down, ...), with fixed text that holds no secret. A
// *smtp.SMTPError from a caller's callback passes through unchanged; nil is
// nil.
func SMTPError(err error) error {
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	r := sasl.ReplyFor(err)
	return &smtp.SMTPError{Code: r.SMTPCode, EnhancedCode: smtp.EnhancedCode(r.SMTPStatus), Message: r.SMTPText}
}
