// Package mailserver is a small but real IMAP, POP3 and SMTP-submission
// server on net/textproto that authenticates with [sasl.ServerSet] and
// [sasl.Exchange]. It serves an empty mailbox and discards submitted mail:
// it exists for the demo (examples/maild), for interop tests against real
// clients (curl, python imaplib/poplib/smtplib), and as a reference for
// wiring mailauth into a textproto server.
//
// One [Server] serves one protocol. [Server.Serve] takes a plaintext
// listener and offers STARTTLS (STLS for POP3) when [Config].TLS is set;
// [Server.ServeTLS] takes a listener whose connections start with TLS
// (ports 993, 995, 465; RFC 8314). A Server binds nothing itself: the
// caller passes the listener.
//
// # Security
//
//   - Before TLS, mechanisms that expose a password (PLAIN, LOGIN, ...)
//     are not offered, IMAP advertises LOGINDISABLED and refuses LOGIN,
//     POP3 refuses USER/PASS and APOP, and SMTP offers no plaintext AUTH, unless
//     [Config].InsecureAuth opts in (RFC 2595, Section 2.3; RFC 8314).
//   - STARTTLS is refused inside TLS and after authentication (session
//     fixation); plaintext pipelined after STARTTLS closes the connection
//     (CVE-2011-0411); after TLS every pre-TLS state is discarded and the
//     [sasl.ServerSet] is made anew from the TLS connection state, with the
//     served leaf certificate for tls-server-end-point.
//   - Lines, literals, messages, recipients, failed logins, idle time,
//     TLS handshakes and concurrent sessions are bounded (the consts below
//     and [Config]).
//   - Sessions that have not logged in have their own bound
//     (MaxUnauthenticated) and a shorter idle time (LoginIdleTimeout);
//     at either connection bound the oldest of them gives way to a new
//     client, never an authenticated session, over all listeners of a
//     Server (issue 8).
//   - A failed login counts toward the per-connection limit, a "*" after
//     a rejected OAUTHBEARER/XOAUTH2 token included; set
//     [sasl.ServerConfig].Limiter (a [sasl.Throttle]) to brake guessing
//     per client address across connections.
//   - POP3 offers the APOP timestamp only in a greeting sent inside TLS
//     (or with InsecureAuth): never in the plaintext greeting of an STLS
//     port.
package mailserver

import (
	"bufio"
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"sync"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

const (
	// DefaultMaxLineLength bounds a command line, CRLF included. It is
	// large enough for an AUTHENTICATE/AUTH line carrying a big initial
	// response (RFC 4954, Section 4 asks for at least 12288 octets);
	// Config.MaxLineLength overrides it.
	DefaultMaxLineLength = sasl.DefaultMaxLineLength
	// DefaultMaxMessageSize bounds an SMTP DATA message (advertised as
	// SIZE, RFC 1870); Config.MaxMessageSize overrides it.
	DefaultMaxMessageSize = 10 << 20
	// DefaultIdleTimeout bounds the wait for the next command or line;
	// Config.IdleTimeout overrides it. RFC 9051 asks IMAP servers for at
	// least 30 minutes; a test server does not need that.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxConnections bounds the sessions a Server runs at once,
	// over all its listeners; Config.MaxConnections overrides it. Each
	// session holds a goroutine, a socket and up to MaxLineLength of
	// buffer for up to IdleTimeout per command, so without a bound a
	// client opening connections could exhaust memory or file
	// descriptors. At the bound the oldest session that has not logged
	// in gives way to a new client; when every session has logged in,
	// Serve stops accepting and new clients wait in the kernel's backlog
	// until a session ends.
	DefaultMaxConnections = 1000
	// DefaultMaxUnauthenticated bounds the sessions that have not logged
	// in, over all of a Server's listeners; Config.MaxUnauthenticated
	// overrides it. When it is reached, or MaxConnections is, a new
	// connection makes the oldest session that has not logged in give way
	// (it is closed), as Dovecot's login processes do: idle or slow
	// clients cannot lock out new logins, and an authenticated session is
	// never closed for a newcomer.
	DefaultMaxUnauthenticated = 256
	// DefaultLoginIdleTimeout bounds the wait for each line before login;
	// Config.LoginIdleTimeout overrides it. Shorter than IdleTimeout:
	// a client that has not logged in has no mailbox to keep open.
	DefaultLoginIdleTimeout = 30 * time.Second
	// handshakeTimeout bounds a TLS handshake, implicit or after
	// STARTTLS, so a stalled client cannot hold a connection (checklist
	// S9).
	handshakeTimeout = 10 * time.Second
	// maxAuthFailures is the number of failed logins after which a
	// connection is closed, to slow down password guessing.
	maxAuthFailures = 3
	// maxRecipients bounds RCPT TO per transaction (RFC 5321, Section
	// 4.5.3.1.8 asks for at least 100).
	maxRecipients = 100
	// maxLiteral bounds an IMAP literal in a command (LOGIN with a
	// non-ASCII password, a mailbox name).
	maxLiteral = 8 << 10
	// maxArgs bounds the arguments of one IMAP command.
	maxArgs = 32
)

// ErrServerClosed is returned by Serve and ServeTLS after Close.
var ErrServerClosed = errors.New("mailserver: server closed")

// APOPServer is the server side of POP3 APOP (RFC 1939, Section 7) for one
// connection: package apop's *Server satisfies it. Timestamp is put in the
// greeting; Verify checks "APOP name digest" (args is "name digest") and
// returns who authenticated. conn describes the connection now.
type APOPServer interface {
	Timestamp() string
	Verify(ctx context.Context, conn *sasl.ConnState, args string) (sasl.Identity, error)
}

// Config configures a Server. It must not be modified after the Server is
// made; New copies it.
type Config struct {
	// SASL configures the mechanisms. Its InsecureAuth is forced on when
	// InsecureAuth is set. A nil SASL offers no mechanism. IMAP LOGIN and
	// POP3 USER/PASS are verified through its PLAIN mechanism, so they
	// work only where PLAIN may be used.
	SASL *sasl.ServerConfig
	// TLS, if not nil, enables STARTTLS/STLS on plaintext listeners and
	// is required by ServeTLS. It needs a certificate (Certificates or
	// GetCertificate).
	TLS *tls.Config
	// Hostname names the server in greetings and EHLO. If "", "localhost".
	Hostname string
	// InsecureAuth allows password logins (IMAP LOGIN, POP3 USER/PASS,
	// and the mechanisms that need TLS) on connections without TLS. Only
	// for tests on loopback: the password crosses the network in clear.
	InsecureAuth bool
	// APOP, if not nil, enables POP3 APOP: it is called for each POP3
	// connection before the greeting (e.g. a closure around
	// apop.NewServer). An error closes the connection. Like USER/PASS,
	// APOP is refused before TLS unless InsecureAuth is set, whatever the
	// APOPServer's own policy.
	APOP func() (APOPServer, error)
	// OnLogin, if not nil, is called after each successful login with the
	// client's address and who authenticated (for tests and auditing). It
	// is called from the connection's goroutine, so it must be safe for
	// concurrent use.
	OnLogin func(remote net.Addr, id sasl.Identity)
	// Logger receives one line per connection event. If nil, nothing is
	// logged. Secrets are never logged.
	Logger *slog.Logger
	// MaxLineLength bounds a command line; 0 means DefaultMaxLineLength.
	MaxLineLength int
	// MaxMessageSize bounds an SMTP message; 0 means DefaultMaxMessageSize.
	MaxMessageSize int
	// IdleTimeout bounds the wait for each line; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxConnections bounds the sessions served at once; 0 means
	// DefaultMaxConnections.
	MaxConnections int
	// MaxUnauthenticated bounds the sessions not yet logged in; 0 means
	// DefaultMaxUnauthenticated (never more than MaxConnections).
	MaxUnauthenticated int
	// LoginIdleTimeout bounds the wait for each line before login; 0
	// means DefaultLoginIdleTimeout (never more than IdleTimeout).
	LoginIdleTimeout time.Duration
}

// Server serves one protocol to many connections. It is safe for
// concurrent use; Serve and ServeTLS may run on several listeners at once.
type Server struct {
	proto sasl.Protocol
	cfg   Config
	sasl  *sasl.ServerConfig // cfg.SASL with InsecureAuth applied; shared, read-only
	log   *slog.Logger

	slots     chan struct{} // one token per session; cap is the connection bound
	done      chan struct{} // closed by Close: wakes a Serve waiting for a slot
	newUnauth chan struct{} // a session not logged in started: wakes a Serve waiting for a slot

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	unauth    list.List                  // net.Conn of sessions not logged in, oldest first
	unauthEl  map[net.Conn]*list.Element // their elements in unauth
	wg        sync.WaitGroup
}

// New returns a Server for proto (sasl.IMAP, sasl.POP3 or sasl.SMTP, the
// last being SMTP submission, RFC 6409) under cfg. A nil cfg is the zero
// Config: no mechanisms, no TLS.
func New(proto sasl.Protocol, cfg *Config) *Server {
	s := &Server{proto: proto, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{},
		unauthEl: map[net.Conn]*list.Element{}}
	if cfg != nil {
		s.cfg = *cfg
	}
	sc := sasl.ServerConfig{}
	if s.cfg.SASL != nil {
		sc = *s.cfg.SASL
	}
	if s.cfg.InsecureAuth {
		sc.InsecureAuth = true
	}
	if sc.Hostname == "" {
		sc.Hostname = s.hostname()
	}
	s.sasl = &sc
	s.log = s.cfg.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("proto", proto.String())
	n := s.cfg.MaxConnections
	if n <= 0 {
		n = DefaultMaxConnections
	}
	s.slots = make(chan struct{}, n)
	s.done = make(chan struct{})
	s.newUnauth = make(chan struct{}, 1)
	return s
}

func (s *Server) hostname() string {
	if s.cfg.Hostname == "" {
		return "localhost"
	}
	return s.cfg.Hostname
}

func (s *Server) maxLine() int {
	if s.cfg.MaxLineLength > 0 {
		return s.cfg.MaxLineLength
	}
	return DefaultMaxLineLength
}

func (s *Server) maxMessage() int {
	if s.cfg.MaxMessageSize > 0 {
		return s.cfg.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

func (s *Server) idle() time.Duration {
	if s.cfg.IdleTimeout > 0 {
		return s.cfg.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (s *Server) loginIdle() time.Duration {
	d := s.cfg.LoginIdleTimeout
	if d <= 0 {
		d = DefaultLoginIdleTimeout
	}
	return min(d, s.idle())
}

func (s *Server) maxUnauth() int {
	n := s.cfg.MaxUnauthenticated
	if n <= 0 {
		n = DefaultMaxUnauthenticated
	}
	return min(n, cap(s.slots))
}

// makeRoom makes the oldest session not logged in give way when a new
// connection would exceed MaxUnauthenticated, or MaxConnections while
// some session has not logged in. Authenticated sessions are never
// closed here. The evicted session's goroutine frees its slot as its
// socket closes.
func (s *Server) makeRoom() {
	var victim net.Conn
	s.mu.Lock()
	if s.unauth.Len() >= s.maxUnauth() || len(s.slots) >= cap(s.slots) && s.unauth.Len() > 0 {
		el := s.unauth.Front()
		victim = el.Value.(net.Conn)
		s.unauth.Remove(el)
		delete(s.unauthEl, victim)
	}
	s.mu.Unlock()
	if victim != nil {
		s.log.Info("closing the oldest connection that has not logged in", "remote", victim.RemoteAddr().String())
		victim.Close() // outside the lock: a TLS close writes an alert
	}
}

// authenticated takes raw off the list of sessions not logged in.
func (s *Server) authenticated(raw net.Conn) {
	s.mu.Lock()
	if el, ok := s.unauthEl[raw]; ok {
		s.unauth.Remove(el)
		delete(s.unauthEl, raw)
	}
	s.mu.Unlock()
}

// Serve accepts plaintext connections on ln until Close, offering
// STARTTLS (STLS) when Config.TLS is set. While Config.MaxConnections
// sessions run, it accepts nothing. It returns ErrServerClosed after
// Close, or the listener's error.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeTLS accepts connections on ln that start with a TLS handshake
// (implicit TLS, RFC 8314): nothing is sent before the handshake
// completes, and a client that does not start one is closed. Config.TLS
// must be set.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("mailserver: ServeTLS needs Config.TLS")
	}
	// tlsutil.Listener hands out only connections whose handshake has
	// completed (checklist S10: no greeting before TLS), runs handshakes
	// concurrently under a timeout (S9), closes plaintext clients without
	// a reply, and records the leaf served on each connection.
	tln := tlsutil.NewListener(ln, s.cfg.TLS, &tlsutil.ListenerOptions{
		HandshakeTimeout: handshakeTimeout,
		OnHandshakeError: func(remote net.Addr, err error) {
			s.log.Info("TLS handshake failed", "remote", remote.String(), "err", err)
		},
	})
	return s.serve(tln, true)
}

func (s *Server) serve(ln net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		// Sessions that have not logged in give way to c (oldest
		// first) at their own bound and at the connection bound.
		// A free slot before anything else: at the bound (all sessions
		// logged in) this loop waits here with c, and further clients
		// wait in the kernel's backlog rather than each holding a
		// goroutine. (A slot taken before Accept would be held by every
		// idle listener.) While it waits, a session that has not logged
		// in may start on another listener: it then wakes (s.newUnauth)
		// to make that one give way.
	wait:
		for {
			s.makeRoom()
			select {
			case s.slots <- struct{}{}:
				break wait
			case <-s.newUnauth:
			case <-s.done:
				c.Close()
				return ErrServerClosed
			}
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			<-s.slots
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.unauthEl[c] = s.unauth.PushBack(c)
		s.wg.Add(1)
		s.mu.Unlock()
		select {
		case s.newUnauth <- struct{}{}:
		default:
		}
		go s.handle(c, implicitTLS)
	}
}

// Close stops every listener and connection and waits for the connection
// handlers to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) handle(raw net.Conn, implicitTLS bool) {
	defer s.wg.Done()
	defer func() { <-s.slots }()
	defer func() {
		s.mu.Lock()
		delete(s.conns, raw)
		if el, ok := s.unauthEl[raw]; ok {
			s.unauth.Remove(el)
			delete(s.unauthEl, raw)
		}
		s.mu.Unlock()
		raw.Close()
	}()
	defer func() {
		// A bug in one session must not take the server down.
		if r := recover(); r != nil {
			s.log.Error("panic in session", "remote", raw.RemoteAddr().String(), "panic", fmt.Sprint(r))
		}
	}()
	c := &conn{srv: s, raw: raw, net: raw}
	c.log = s.log.With("remote", raw.RemoteAddr().String())
	if tc, ok := raw.(*tls.Conn); ok && implicitTLS {
		c.setTLS(tc, textproto.NewConn(tc))
	} else {
		c.setPlain()
	}
	c.log.Debug("connected", "tls", c.isTLS)
	switch s.proto {
	case sasl.IMAP:
		c.serveIMAP()
	case sasl.POP3:
		c.servePOP3()
	case sasl.SMTP:
		c.serveSMTP()
	}
}

// conn is one session: the connection, its SASL set, its login state.
type conn struct {
	srv   *Server
	log   *slog.Logger
	raw   net.Conn        // the socket
	net   net.Conn        // raw, or the TLS connection over it
	tp    *textproto.Conn // over net; replaced after STARTTLS
	state *sasl.ConnState
	set   *sasl.ServerSet
	isTLS bool

	authed   bool
	broken   bool // out of step with the client: close after the reply
	identity sasl.Identity
	failures int
}

// setPlain starts a session without TLS.
func (c *conn) setPlain() {
	c.tp = textproto.NewConn(c.raw)
	c.state = sasl.ServerConn(c.raw)
	c.set = sasl.NewServerSet(c.srv.sasl, c.state)
}

// setTLS moves the session onto tc, read and written through tp.
// Everything read before is dropped with the old textproto.Conn: after TLS
// nothing from the plaintext phase may be trusted (RFC 3207, Section 4.2;
// RFC 2595, Section 3.1). The SASL set is made anew, now with the TLS
// state and the leaf tlsutil recorded as served (for tls-server-end-point),
// so mechanisms that need TLS and -PLUS variants become available.
func (c *conn) setTLS(tc *tls.Conn, tp *textproto.Conn) {
	c.net = tc
	c.tp = tp
	c.state = sasl.ServerConn(tc)
	c.set = sasl.NewServerSet(c.srv.sasl, c.state)
	c.isTLS = true
	c.authed = false
	c.identity = sasl.Identity{}
}

// readLine reads one command line within the idle timeout and the line
// bound.
func (c *conn) readLine() (string, error) {
	c.net.SetReadDeadline(time.Now().Add(c.idle()))
	return readLine(c.tp.R, c.srv.maxLine())
}

// idle is the wait allowed for the next line: shorter before login.
func (c *conn) idle() time.Duration {
	if c.authed {
		return c.srv.idle()
	}
	return c.srv.loginIdle()
}

// writeLine writes one line and flushes.
func (c *conn) writeLine(format string, args ...any) error {
	c.net.SetWriteDeadline(time.Now().Add(c.srv.idle()))
	return c.tp.PrintfLine(format, args...)
}

// passwordLogin verifies a username and password from IMAP LOGIN or POP3
// USER/PASS through the set's PLAIN mechanism, so the same credential
// store, TLS policy and authorization rules apply as for AUTH PLAIN.
func (c *conn) passwordLogin(user, pass string) error {
	srv, err := c.set.NewServer(context.Background(), sasl.Plain)
	if err != nil {
		return err
	}
	done := false
	ir := []byte("\x00" + user + "\x00" + pass)
	for range 2 {
		if _, done, err = srv.Next(ir); err != nil || done {
			break
		}
		ir = []byte{} // a server that asks for more gets nothing
	}
	if err == nil && !done {
		err = sasl.ErrAuthFailed
	}
	if err != nil {
		return err
	}
	id, _ := c.set.Identity()
	c.loggedIn(id)
	return nil
}

// runAuth serves one AUTH/AUTHENTICATE exchange whose arguments are args
// and writes its reply. It returns true if the connection must be closed
// (out of step after a too-long line, an I/O error, or too many failures).
func (c *conn) runAuth(x *sasl.Exchange, args string) (closeConn bool) {
	mech, ir, err := sasl.ParseAuthCommand(args)
	// One exchange, lookups included, gets the idle time: a client that
	// stops answering mid-exchange is cut off (and the connection, out of
	// step then, closed).
	ctx, cancel := context.WithTimeout(context.Background(), c.idle())
	defer cancel()
	var srv sasl.Server
	if err == nil {
		srv, err = c.set.NewServer(ctx, mech)
	}
	var seen *msSawCredentials
	if err == nil {
		seen = &msSawCredentials{Server: srv}
		err = x.Serve(ctx, c.tp, c.net, seen, ir)
	}
	if err == nil {
		id, ok := c.set.Identity()
		if !ok {
			// Every Server of the set records who authenticated; fail
			// closed if one did not.
			err = sasl.ErrAuthFailed
		} else {
			c.loggedIn(id)
		}
	}
	reply := x.Reply(err)
	if err == nil && x.Protocol == sasl.IMAP {
		// The new capabilities ride on the OK (RFC 9051, Section
		// 6.2.2), saving the client a CAPABILITY round trip.
		reply = fmt.Sprintf("%s OK [CAPABILITY %s] Authenticated", x.Tag, c.imapCaps())
	}
	if werr := c.writeLine("%s", reply); werr != nil {
		return true
	}
	if err != nil {
		c.log.Info("authentication failed", "mech", mech, "err", err)
		var ne net.Error
		if errors.Is(err, sasl.ErrOutOfStep) || errors.Is(err, sasl.ErrTooLarge) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
			return true
		}
		if errors.Is(err, sasl.ErrUnsupportedMechanism) || errors.Is(err, sasl.ErrNeedsTLS) {
			// No credentials were tried: not a guess.
			return false
		}
		if errors.Is(err, sasl.ErrCanceled) && (seen == nil || !seen.saw) {
			// Cancelled before sending anything: not a guess.
			return false
		}
		// A cancel after data counts: after a rejected OAUTHBEARER or
		// XOAUTH2 token the client may answer the error challenge with
		// "*", and that token was a guess (issue 8). The ServerSet saw no
		// failure (the exchange ended outside the mechanism), so tell the
		// Limiter here, and wait the delay it asks for.
		if lim := c.srv.sasl.Limiter; errors.Is(err, sasl.ErrCanceled) && lim != nil {
			if d := lim.Failed(c.raw.RemoteAddr()); d > 0 {
				time.Sleep(min(d, c.idle()))
			}
		}
		return c.failed()
	}
	return false
}

// msSawCredentials passes an exchange through and notes whether the
// client sent any data (credentials, a token) in it.
type msSawCredentials struct {
	sasl.Server
	saw bool
}

// Next runs one step of the exchange.
func (m *msSawCredentials) Next(response []byte) ([]byte, bool, error) {
	if len(response) > 0 {
		m.saw = true
	}
	return m.Server.Next(response)
}

func (c *conn) loggedIn(id sasl.Identity) {
	c.authed = true
	c.srv.authenticated(c.raw)
	c.identity = id
	c.log.Info("authenticated", "mech", id.Mechanism, "user", id.User())
	if c.srv.cfg.OnLogin != nil {
		c.srv.cfg.OnLogin(c.raw.RemoteAddr(), id)
	}
}

// failed counts a failed login and reports whether to hang up.
func (c *conn) failed() bool {
	c.failures++
	return c.failures >= maxAuthFailures
}

// checkStartTLS says whether STARTTLS/STLS may run now: not inside TLS
// (checklist S6), not after authentication (S5, session fixation), and
// only with a TLS configuration.
func (c *conn) checkStartTLS() error {
	if c.srv.cfg.TLS == nil {
		return errNoTLSConfig
	}
	return tlsutil.Session{TLS: c.isTLS, Authenticated: c.authed}.CheckStartTLS()
}

var errNoTLSConfig = errors.New("mailserver: STARTTLS not configured")

// startTLS runs the server side of STARTTLS/STLS after its command line
// was read, with tlsutil.StartTLSServer: plaintext buffered after the
// command is refused before the go-ahead (CVE-2011-0411, checklist S1-S3),
// the handshake is bounded (S9), and the session moves onto TLS. On error
// the connection must be closed.
func (c *conn) startTLS(goAhead string) error {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	c.net.SetDeadline(time.Time{})
	tc, tp, err := tlsutil.StartTLSServer(ctx, c.tp, c.raw, c.srv.cfg.TLS, goAhead)
	if err != nil {
		return err
	}
	c.setTLS(tc, tp)
	return nil
}

// readLine reads one line of at most max bytes (CRLF included) without
// its line ending, never buffering more than max bytes. A longer line is
// an error wrapping sasl.ErrTooLarge; the connection is then out of step.
func readLine(r *bufio.Reader, max int) (string, error) {
	return sasl.ReadLine(r, max)
}
