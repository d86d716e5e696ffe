package sasl

import (
	"context"
	"fmt"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// ServerSet is the server side of SASL for one connection. It answers the
// two questions go-imap's SessionSASL and go-smtp's AuthSession ask: which
// mechanisms to advertise here, and a Server for the one the client picked.
// After a successful exchange it holds the authenticated Identity.
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
}

// NewServerSet returns the ServerSet of a connection described by conn,
// under cfg. A nil conn means a connection without TLS; a nil cfg offers
// nothing.
func NewServerSet(cfg *ServerConfig, conn *ConnState) *ServerSet {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	s := &ServerSet{cfg: cfg}
	if conn != nil {
		s.conn = *conn
	}
	return s
}

// Mechanisms returns the names of the mechanisms to advertise on this
// connection, strongest first (or in the order of ServerConfig.Mechanisms).
// A mechanism is offered when its credentials are configured, when the
// connection has TLS or the mechanism does not need it (or
// ServerConfig.InsecureAuth is set), and, for -PLUS variants, when the
// connection has channel-binding data.
func (s *ServerSet) Mechanisms() []string {
	var out []string
	if s.cfg.Mechanisms != nil {
		for _, name := range s.cfg.Mechanisms {
			if m := lookupMech(name); m != nil && s.allowed(m) == nil {
				out = append(out, m.name)
			}
		}
		return out
	}
	for i := range mechTable {
		if s.allowed(&mechTable[i]) == nil {
			out = append(out, mechTable[i].name)
		}
	}
	return out
}

// allowed reports why m may not be used on this connection, or nil.
func (s *ServerSet) allowed(m *mechInfo) error {
	if m.optIn && !containsFold(s.cfg.Mechanisms, m.name) {
		return fmt.Errorf("%w: %s is offered only when ServerConfig.Mechanisms lists it", ErrUnsupportedMechanism, m.name)
	}
	if !m.serverOK(s.cfg) {
		return fmt.Errorf("%w: %s has no credentials configured", ErrUnsupportedMechanism, m.name)
	}
	if m.sec.NeedsTLS && !s.conn.isTLS() && !(s.cfg.InsecureAuth && !m.sec.ChannelBinding) {
		return fmt.Errorf("%w: %s", ErrNeedsTLS, m.name)
	}
	if m.sec.ChannelBinding && !s.hasChannelBinding() {
		return fmt.Errorf("%w: %s needs channel-binding data", ErrUnsupportedMechanism, m.name)
	}
	return nil
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
// exchange. It returns an error wrapping ErrUnsupportedMechanism or
// ErrNeedsTLS if mech may not be used on this connection: a client must not
// get a mechanism the set did not advertise.
func (s *ServerSet) NewServer(ctx context.Context, mech string) (Server, error) {
	m := lookupMech(mech)
	if m == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedMechanism, truncate(mech, 32))
	}
	if s.cfg.Mechanisms != nil && !containsFold(s.cfg.Mechanisms, m.name) {
		return nil, fmt.Errorf("%w: %s is not enabled", ErrUnsupportedMechanism, m.name)
	}
	if err := s.allowed(m); err != nil {
		return nil, err
	}
	env := newServerEnv(ctx, s.cfg, &s.conn)
	env.set = s
	return m.newServer(env, m.name), nil
}

// Identity returns the identity of the last successful exchange, and false
// if none succeeded.
func (s *ServerSet) Identity() (Identity, bool) {
	return s.id, s.ok
}

func containsFold(list []string, name string) bool {
	for _, n := range list {
		if equalFold(n, name) {
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
