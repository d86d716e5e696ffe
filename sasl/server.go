package sasl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// ServerSet is the server side of SASL for one connection. It answers the
// two questions go-imap's SessionSASL and go-smtp's AuthSession ask: which
// mechanisms to advertise here, and a Server for the one the client picked.
// After a successful exchange it holds the authenticated Identity.
//
// Every Server comes from a [ServerMechanism], built in or from
// [ServerConfig.Extra], and every one passes through the same policy:
// what is offered, what needs TLS, the Authorize hook, the Limiter and
// the recorded Identity.
//
// A ServerSet is not safe for concurrent use; make one per connection, and
// a new one after STARTTLS, since what may be offered depends on TLS.
type ServerSet struct {
	cfg  *ServerConfig
	conn ConnState
	id   Identity
	ok   bool
	// cbChecked and cbOK cache whether conn has channel-binding data.
	cbChecked, cbOK bool
	// slot is the Server of the connection's current exchange, made
	// with the set: a connection runs one exchange at a time, so most
	// exchanges allocate nothing of their own (see NewServer).
	slot setServer
}

// NewServerSet returns the ServerSet of a connection described by conn,
// under cfg. A nil conn means a connection without TLS; a nil cfg offers
// nothing. Build conn with [ServerConn] or [ServerConnState]. The set
// always treats conn as the server's end: from a ConnState built for a
// client it keeps the TLS state but knows no served certificate, so it
// never binds tls-server-end-point to the peer's certificate.
func NewServerSet(cfg *ServerConfig, conn *ConnState) *ServerSet {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	s := &ServerSet{cfg: cfg}
	if conn != nil {
		s.conn = *conn
	}
	s.conn.server = true
	return s
}

// Mechanisms returns the names of the mechanisms to advertise on this
// connection, strongest first (or in the order of ServerConfig.Mechanisms).
// A mechanism is offered when its credentials are configured (and, for a
// store that reports it, the store holds that form of credential), when
// the connection has TLS or the mechanism does not need it (or
// ServerConfig.InsecureAuth is set), and, for -PLUS variants, when the
// connection has channel-binding data.
func (s *ServerSet) Mechanisms() []string {
	out := make([]string, 0, len(mechTable)+len(s.cfg.Extra))
	s.each(func(m serverCand) bool {
		if s.refusal(m) == refusedNot {
			out = append(out, m.Name())
		}
		return true
	})
	return out
}

// serverCand is one candidate mechanism: a built-in row (b != nil) or an
// entry of ServerConfig.Extra (x != nil).
type serverCand struct {
	b *mechInfo
	x ServerMechanism
}

// Name returns the mechanism name.
func (c serverCand) Name() string {
	if c.b != nil {
		return c.b.name
	}
	return c.x.Name()
}

// Security returns the mechanism's properties.
func (c serverCand) Security() Security {
	if c.b != nil {
		return c.b.sec
	}
	return c.x.Security()
}

// each calls f with every configured candidate in the order of offer,
// until f returns false.
func (s *ServerSet) each(f func(serverCand) bool) {
	if s.cfg.Mechanisms != nil {
		for _, name := range s.cfg.Mechanisms {
			if c, ok := s.find(name); ok && !f(c) {
				return
			}
		}
		return
	}
	for t := 0; t < numTiers; t++ {
		for i := range mechTable {
			if mechTable[i].tier == t && !f(serverCand{b: &mechTable[i]}) {
				return
			}
		}
		for _, x := range s.cfg.Extra {
			if x != nil && tierOf(x) == t && !f(serverCand{x: x}) {
				return
			}
		}
	}
}

// find returns the candidate named name (case-insensitive).
func (s *ServerSet) find(name string) (serverCand, bool) {
	for _, x := range s.cfg.Extra {
		// Mechanism names are public; SASL names are case-insensitive
		// (RFC 4422, Section 3.1).
		if x != nil && equalFold(x.Name(), name) {
			return serverCand{x: x}, true
		}
	}
	if b := lookupMech(name); b != nil {
		return serverCand{b: b}, true
	}
	return serverCand{}, false
}

// Why a mechanism may not be used on a connection (refusal), from
// ServerSet.refusal; 0 means it may.
const (
	refusedNot        = iota
	refusedOptIn      // offered only when ServerConfig.Mechanisms lists it
	refusedLegacy     // legacy, offered only with ServerConfig.Legacy
	refusedNoCreds    // no credentials configured
	refusedNoSecret   // SCRAM without ServerConfig.SCRAMSecret
	refusedNotHeld    // the store holds no such credentials
	refusedConn       // not available on this connection
	refusedNeedsTLS   // needs TLS
	refusedNoCBinding // needs channel-binding data
)

// allowed reports why m may not be used on this connection, or nil.
func (s *ServerSet) allowed(m serverCand) error {
	name := m.Name()
	switch s.refusal(m) {
	case refusedNot:
		return nil
	case refusedOptIn:
		return fmt.Errorf("%w: %s is offered only when ServerConfig.Mechanisms lists it", ErrUnsupportedMechanism, name)
	case refusedLegacy:
		return fmt.Errorf("%w: %s is a legacy mechanism, offered only with ServerConfig.Legacy", ErrUnsupportedMechanism, name)
	case refusedNoCreds:
		return fmt.Errorf("%w: %s has no credentials configured", ErrUnsupportedMechanism, name)
	case refusedNoSecret:
		return fmt.Errorf("%w: %s needs ServerConfig.SCRAMSecret: without it an unknown user's fake salt would change at a restart and tell who exists", ErrUnsupportedMechanism, name)
	case refusedNotHeld:
		return fmt.Errorf("%w: the store holds no %s credentials", ErrUnsupportedMechanism, name)
	case refusedConn:
		return fmt.Errorf("%w: %s is not available on this connection", ErrUnsupportedMechanism, name)
	case refusedNeedsTLS:
		return fmt.Errorf("%w: %s", ErrNeedsTLS, name)
	default:
		return fmt.Errorf("%w: %s needs channel-binding data", ErrUnsupportedMechanism, name)
	}
}

// refusal is allowed without the error text, for Mechanisms, which asks
// for every row on every CAPABILITY or EHLO.
func (s *ServerSet) refusal(m serverCand) int {
	sec := m.Security()
	if b := m.b; b != nil {
		listed := containsFold(s.cfg.Mechanisms, b.name)
		if b.optIn && !listed {
			return refusedOptIn
		}
		if b.sec.Legacy && !s.cfg.Legacy && !listed {
			return refusedLegacy
		}
		if !b.serverOK(s.cfg) {
			return refusedNoCreds
		}
		if b.needsSecret && len(s.cfg.SCRAMSecret) == 0 {
			return refusedNoSecret
		}
		if b.holds != nil && !b.holds(s.cfg) {
			return refusedNotHeld
		}
		if b.connOK != nil && !b.connOK(&s.conn) {
			return refusedConn
		}
	} else if r, ok := m.x.(CredentialReporter); ok && !r.HoldsCredentials(m.x.Name()) {
		return refusedNotHeld
	}
	if sec.NeedsTLS && !s.conn.isTLS() && !(s.cfg.InsecureAuth && !sec.ChannelBinding) {
		return refusedNeedsTLS
	}
	if sec.ChannelBinding && !s.hasChannelBinding() {
		return refusedNoCBinding
	}
	return refusedNot
}

func (s *ServerSet) hasChannelBinding() bool {
	// Computed once per set: Mechanisms and NewServer ask for every -PLUS
	// row, and tls-exporter costs an HKDF each time. Cheapest type first.
	if !s.cbChecked {
		s.cbChecked = true
		for _, typ := range []string{tlsutil.TLSUnique, tlsutil.TLSServerEndPoint, tlsutil.TLSExporter} {
			if _, err := s.conn.ChannelBinding(typ); err == nil {
				s.cbOK = true
				break
			}
		}
	}
	return s.cbOK
}

// NewServer returns a Server for one exchange of mechanism mech
// (case-insensitive). ctx is passed to every credential lookup of the
// exchange and bounds the Limiter's wait. It returns an error wrapping
// ErrUnsupportedMechanism or ErrNeedsTLS if mech may not be used on this
// connection: a client never gets a mechanism the set did not advertise.
//
// The Server implements [IdentityServer]. When it returns done=true the
// mechanism has verified the credentials and ServerConfig.Authorize has
// accepted the identity; the set then holds it too ([ServerSet.Identity]).
//
// A connection runs one exchange at a time, and the Server lives in the
// set: once its exchange has ended (done, or an error), the next call of
// NewServer reuses it, so drop a Server when its exchange ends. A Server
// whose exchange has not ended (a client that cancelled) is left alone.
func (s *ServerSet) NewServer(ctx context.Context, mech string) (Server, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	m, ok := s.find(mech)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedMechanism, truncate(mech, 32))
	}
	if s.cfg.Mechanisms != nil && !containsFold(s.cfg.Mechanisms, m.Name()) {
		return nil, fmt.Errorf("%w: %s is not enabled", ErrUnsupportedMechanism, m.Name())
	}
	if err := s.allowed(m); err != nil {
		return nil, err
	}
	if lim := s.cfg.Limiter; lim != nil {
		if err := lim.Wait(ctx, s.conn.remote); err != nil {
			return nil, err
		}
	}
	return s.start(ctx, m)
}

// start starts m's Server and puts the set's policy around it.
func (s *ServerSet) start(ctx context.Context, m serverCand) (Server, error) {
	w := &s.slot
	if w.set != nil && !w.ended {
		w = new(setServer) // the last exchange never ended: leave it be
	}
	*w = setServer{set: s, mech: m.Name()}
	// The mechanism's environment lives in the wrapper: one allocation
	// fewer per exchange.
	w.env.ctx, w.env.cfg, w.env.conn = ctx, s.cfg, &s.conn
	var inner IdentityServer
	if m.b != nil {
		inner = m.b.newServer(&w.env, m.b.name)
	} else {
		var err error
		inner, err = m.x.NewServer(ctx, &s.conn)
		if err != nil {
			return nil, err
		}
		if inner == nil {
			return nil, fmt.Errorf("%w: %s returned no server", ErrUnsupportedMechanism, m.x.Name())
		}
	}
	w.inner = inner
	return w, nil
}

// Identity returns the identity of the last successful exchange, and false
// if none succeeded.
func (s *ServerSet) Identity() (Identity, bool) {
	return s.id, s.ok
}

// setServer is the one path every exchange's Server takes: it applies the
// authorization policy and the Limiter, and records the Identity, so that
// no mechanism, built in or not, can skip them.
type setServer struct {
	set   *ServerSet
	mech  string
	inner IdentityServer
	ended bool
	ok    bool // env.id is the identity that passed finish
	// sentData: the client sent a non-empty response (credentials).
	sentData bool
	// env is a built-in mechanism's environment, which inner points to;
	// env.ctx is the exchange's context, and env.id, once ok, the
	// identity the set accepted, for any mechanism.
	env serverEnv
}

// Next runs one step of the exchange.
func (w *setServer) Next(response []byte) (challenge []byte, done bool, err error) {
	if w.ended {
		return nil, false, ErrUnexpectedClientResponse
	}
	if len(response) > 0 {
		w.sentData = true
	}
	challenge, done, err = w.inner.Next(response)
	if err != nil {
		w.ended = true
		return nil, done, w.set.failed(w.env.ctx, err)
	}
	if !done {
		return challenge, false, nil
	}
	w.ended = true
	if len(challenge) != 0 {
		// Nothing rides on success: neither go-imap nor go-smtp can send
		// it. A mechanism must send final data as a challenge.
		return nil, false, w.set.failed(w.env.ctx, fmt.Errorf("sasl: %s server sent data with success", w.mech))
	}
	id, ok := w.inner.Identity()
	if !ok {
		return nil, false, w.set.failed(w.env.ctx, fmt.Errorf("%w: %s reported success without an identity", ErrAuthFailed, w.mech))
	}
	if err := w.set.finish(w.env.ctx, w.mech, &id); err != nil {
		return nil, false, w.set.failed(w.env.ctx, err)
	}
	w.env.id, w.ok = id, true
	return nil, true, nil
}

// Identity returns who authenticated once Next has returned done=true.
func (w *setServer) Identity() (Identity, bool) {
	if !w.ok {
		return Identity{}, false
	}
	return w.env.id, true
}

// canceler is a Server that wants to know that the client cancelled the
// exchange with "*", which Exchange answers without calling Next.
type canceler interface {
	canceled(err error) error
}

// canceled ends the exchange. A cancel after the client sent a non-empty
// response is a failed attempt for the Limiter: an OAUTHBEARER client
// whose token was rejected answers the error challenge with "*", and a
// guesser must not escape the brake that way.
func (w *setServer) canceled(err error) error {
	if w.ended {
		return err
	}
	w.ended = true
	if w.sentData {
		return w.set.failed(w.env.ctx, err)
	}
	return err
}

// finish checks and records the identity a mechanism verified.
func (s *ServerSet) finish(ctx context.Context, mech string, id *Identity) error {
	id.Mechanism = mech
	// Fail closed: a mechanism (or a TokenVerifier, ExternalVerifier
	// behind it) that verified nobody must not let the client's claim,
	// such as an authzid, stand in for the identity.
	if id.Anonymous {
		if !equalFold(mech, Anonymous) || id.Username != "" {
			return fmt.Errorf("%w: %s reported an anonymous identity", ErrAuthFailed, mech)
		}
	} else if id.Username == "" {
		return fmt.Errorf("%w: %s verified no identity", ErrAuthFailed, mech)
	}
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(ctx, *id); err != nil {
			return err
		}
	} else if id.Authzid != "" && id.Authzid != id.Username {
		return ErrAuthzFailed
	}
	s.id, s.ok = *id, true
	if lim := s.cfg.Limiter; lim != nil {
		lim.Succeeded(s.conn.remote)
	}
	return nil
}

// failed tells the Limiter about a failed attempt, waits out the delay it
// asks for (bounded by ctx), and returns err.
func (s *ServerSet) failed(ctx context.Context, err error) error {
	lim := s.cfg.Limiter
	if lim == nil || errors.Is(err, ErrTemporaryFailure) {
		return err
	}
	if d := lim.Failed(s.conn.remote); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return err
}

func containsFold(list []string, name string) bool {
	for _, n := range list {
		// Servers send the names in upper case, as registered: the
		// exact comparison settles most of them.
		if n == name || equalFold(n, name) {
			return true
		}
	}
	return false
}

// truncate shortens attacker-supplied text before it goes into an error.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
