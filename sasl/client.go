package sasl

import (
	"fmt"
	"strings"
)

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

// NewClient chooses the strongest mechanism that the server offers (offered,
// as advertised in CAPABILITY, EHLO or CAPA), that cfg's credentials can
// use, and that is safe on conn, and returns its Client. The mechanisms are
// the built-in ones that cfg's fields enable and those of cfg.Extra, in
// order of strength, or in the order of cfg.Mechanisms; all take this one
// path.
//
// Mechanisms that need TLS (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5, SCRAM
// without -PLUS, OAUTHBEARER, XOAUTH2) are never chosen on a connection
// without TLS unless cfg.InsecureAuth is set: without TLS the server's list
// itself may come from an attacker. A -PLUS variant is chosen only when
// conn has channel-binding data. It returns an error wrapping
// ErrNoMechanism if nothing fits. A nil cfg is the zero ClientConfig: it
// has no credentials. Build conn with [ClientConn] or [ClientConnState].
//
// The Client returned is a [FinishedClient], and [ChosenMechanism] tells
// which mechanism it runs.
func (cfg *ClientConfig) NewClient(offered []string, conn *ConnState) (Client, error) {
	if cfg == nil {
		cfg = &ClientConfig{} // as tls.Dial treats a nil *tls.Config
	}
	if conn == nil {
		conn = &ConnState{}
	}
	if conn.server {
		// The client's end binds to the certificate it received.
		cs := *conn
		cs.server = false
		conn = &cs
	}
	var found Client
	if cfg.Mechanisms != nil {
		for _, name := range cfg.Mechanisms {
			if m, ok := cfg.find(name); ok {
				if found = cfg.try(m, offered, conn); found != nil {
					break
				}
			}
		}
	} else {
		// mechTable is in order of strength, so one pass over it, with
		// each tier's Extra entries after the table's, is the order of
		// strength; no closure, so nothing escapes for the common case.
		t := 0
		for i := 0; i <= len(mechTable) && found == nil; i++ {
			for ; found == nil && t < numTiers && (i == len(mechTable) || mechTable[i].tier > t); t++ {
				for _, x := range cfg.Extra {
					if x != nil && tierOf(x) == t {
						if found = cfg.try(clientCand{x: x}, offered, conn); found != nil {
							break
						}
					}
				}
			}
			if found == nil && i < len(mechTable) {
				found = cfg.try(clientCand{b: &mechTable[i]}, offered, conn)
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: server offers %s", ErrNoMechanism, truncate(strings.Join(offered, " "), 200))
	}
	return found, nil
}

// try returns m's Client if the server offered m, cfg's credentials and
// policy allow it on conn, and it can run here; else nil.
func (cfg *ClientConfig) try(m clientCand, offered []string, conn *ConnState) Client {
	// The cheap checks first: most rows lack the credentials.
	if b := m.b; b != nil && !b.clientOK(cfg) {
		return nil
	}
	if !containsFold(offered, m.Name()) || !cfg.usable(m, conn) {
		return nil
	}
	c, err := m.newClient(cfg, conn, offered)
	if err != nil || c == nil {
		return nil
	}
	if bc, ok := c.(interface{ setInfo(*mechInfo) }); ok && m.b != nil {
		// A built-in client that carries its mechanism and Finished
		// needs no wrapper: one allocation fewer. (None is mutual.)
		bc.setInfo(m.b)
		return c
	}
	if _, ok := c.(FinishedClient); !ok && m.Security().Mutual {
		// A mutual mechanism whose client cannot say it verified the
		// server would let a fake server's OK stand.
		return nil
	}
	return &chosenClient{mech: m.mechanism(), inner: c}
}

// builtinClient is embedded in the clients of this package that
// NewClient returns without a chosenClient wrapper: it records the
// mechanism for ChosenMechanism.
type builtinClient struct{ info *mechInfo }

func (b *builtinClient) setInfo(m *mechInfo) { b.info = m }

// chosenInfo returns the mechanism NewClient chose, or nil for a client
// made otherwise.
func (b *builtinClient) chosenInfo() *mechInfo { return b.info }

// builtinFinished is Finished for a mechanism that is not mutual: nil once
// the exchange was started.
func builtinFinished(started bool, mech string) error {
	if !started {
		return fmt.Errorf("%w: %s exchange was not started", ErrUnexpectedServerChallenge, mech)
	}
	return nil
}

// ChosenMechanism returns the mechanism of a Client that
// [ClientConfig.NewClient] returned, and false for any other Client.
func ChosenMechanism(c Client) (Mechanism, bool) {
	switch cc := c.(type) {
	case *chosenClient:
		return cc.mech, true
	case interface{ chosenInfo() *mechInfo }:
		if m := cc.chosenInfo(); m != nil {
			return m, true
		}
	}
	return nil, false
}

// usable applies the client's TLS policy to m.
func (cfg *ClientConfig) usable(m clientCand, conn *ConnState) bool {
	sec := m.Security()
	if sec.NeedsTLS && !conn.isTLS() && !(cfg.InsecureAuth && !sec.ChannelBinding) {
		return false
	}
	if sec.ChannelBinding && !conn.isTLS() {
		return false
	}
	return true
}

// clientCand is one candidate: a built-in row (b != nil) or an entry of
// ClientConfig.Extra (x != nil).
type clientCand struct {
	b *mechInfo
	x ClientMechanism
}

// Name returns the mechanism name.
func (c clientCand) Name() string {
	if c.b != nil {
		return c.b.name
	}
	return c.x.Name()
}

// Security returns the mechanism's properties.
func (c clientCand) Security() Security {
	if c.b != nil {
		return c.b.sec
	}
	return c.x.Security()
}

func (c clientCand) mechanism() Mechanism {
	if c.b != nil {
		return c.b
	}
	return c.x
}

func (c clientCand) newClient(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	if c.b != nil {
		return c.b.newClient(cfg, conn, offered)
	}
	return c.x.NewClient(conn, offered)
}

func (cfg *ClientConfig) find(name string) (clientCand, bool) {
	for _, x := range cfg.Extra {
		if x != nil && equalFold(x.Name(), name) {
			return clientCand{x: x}, true
		}
	}
	if b := lookupMech(name); b != nil {
		return clientCand{b: b}, true
	}
	return clientCand{}, false
}

// chosenClient is the Client NewClient returns: the mechanism's own, with
// the mechanism it runs and a Finished that holds for every mechanism.
type chosenClient struct {
	mech    Mechanism
	inner   Client
	started bool
}

// Start starts the mechanism's client.
func (c *chosenClient) Start() (string, []byte, error) {
	c.started = true
	return c.inner.Start()
}

// Next runs one step of the exchange.
func (c *chosenClient) Next(challenge []byte) ([]byte, error) {
	return c.inner.Next(challenge)
}

// Finished returns the mechanism client's Finished, or for a mechanism
// that is not mutual and has none, nil once the exchange was started.
func (c *chosenClient) Finished() error {
	if fc, ok := c.inner.(FinishedClient); ok {
		return fc.Finished()
	}
	if !c.started {
		return fmt.Errorf("%w: %s exchange was not started", ErrUnexpectedServerChallenge, c.mech.Name())
	}
	return nil
}
