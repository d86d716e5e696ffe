// Package gosmtp shows mailauth behind emersion/go-smtp: a Backend whose
// sessions implement smtp.AuthSession with a [sasl.ServerSet], accepting
// and discarding mail from authenticated users (a submission server).
//
// Two things need care, and this package shows both:
//
//   - What may be offered depends on TLS: the ServerSet is made from the
//     connection's state each time it is asked, so nothing chosen before
//     STARTTLS survives it (go-smtp also makes a new Session then).
//   - go-smtp type-asserts *smtp.SMTPError and answers anything else with
//     454 and the error's text: mailauth's sentinel errors are mapped to
//     SMTP replies (SMTPError), and a caller's own *smtp.SMTPError passes
//     through unchanged.
package gosmtp

import (
	"context"
	"crypto/x509"
	"errors"
	"io"

	"github.com/emersion/go-smtp"

	"github.com/go-mailauth/mailauth/sasl"
)

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
	return &Session{b: b, conn: c}, nil
}

// Session is one SMTP session.
type Session struct {
	b    *Backend
	conn *smtp.Conn
	set  *sasl.ServerSet
	// Identity is who authenticated, once Authenticated is true.
	Identity      sasl.Identity
	Authenticated bool
}

var _ smtp.AuthSession = (*Session)(nil)

// serverSet returns a ServerSet for the connection as it is now.
func (s *Session) serverSet() *sasl.ServerSet {
	nc := s.conn.Conn()
	state := sasl.ServerConn(nc)
	if cs, ok := s.conn.TLSConnectionState(); ok && s.b.leaf != nil {
		state = sasl.ServerConnState(&cs, s.b.leaf, nc.RemoteAddr())
	}
	s.set = sasl.NewServerSet(s.b.sasl, state)
	return s.set
}

// AuthMechanisms is AuthSession's.
func (s *Session) AuthMechanisms() []string { return s.serverSet().Mechanisms() }

// Auth is AuthSession's: a Server for mech, whose errors are SMTP replies.
func (s *Session) Auth(mech string) (sasl.Server, error) {
	set := s.serverSet()
	srv, err := set.NewServer(context.Background(), mech)
	if err != nil {
		return nil, SMTPError(err)
	}
	return &server{srv: srv, sess: s, set: set}, nil
}

type server struct {
	srv  sasl.Server
	sess *Session
	set  *sasl.ServerSet
}

// Next runs the wrapped mechanism and records its outcome.
func (a *server) Next(resp []byte) ([]byte, bool, error) {
	chal, done, err := a.srv.Next(resp)
	if err != nil {
		return nil, false, SMTPError(err)
	}
	if done {
		a.sess.Identity, a.sess.Authenticated = a.set.Identity()
	}
	return chal, done, nil
}

// Mail is Session's: only authenticated users may submit (RFC 6409,
// Section 4.3).
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	if !s.Authenticated {
		return smtp.ErrAuthRequired
	}
	return nil
}

// Rcpt is Session's.
func (s *Session) Rcpt(to string, opts *smtp.RcptOptions) error { return nil }

// Data is Session's: the message is read and discarded.
func (s *Session) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// Reset is Session's.
func (s *Session) Reset() {}

// Logout is Session's.
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
