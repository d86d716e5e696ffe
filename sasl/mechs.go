package sasl

import (
	"context"
	"strings"
)

// mechInfo is one row of the table of this package's mechanisms.
type mechInfo struct {
	name string
	sec  Security
	// optIn: a server offers it only when ServerConfig.Mechanisms names it.
	optIn bool
	// serverOK reports whether cfg has the credentials the server side
	// needs; newServer builds one exchange's Server.
	serverOK  func(cfg *ServerConfig) bool
	newServer func(env *serverEnv, mech string) Server
	// clientOK reports whether cfg holds credentials this mechanism can
	// use; newClient builds the Client. offered is the server's list.
	clientOK  func(cfg *ClientConfig) bool
	newClient func(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error)
}

// Name returns the IANA mechanism name.
func (m *mechInfo) Name() string { return m.name }

// Security returns the mechanism's properties.
func (m *mechInfo) Security() Security { return m.sec }

func hasPassword(cfg *ClientConfig) bool { return cfg.Username != "" && cfg.Password != "" }

func passwordsOK(cfg *ServerConfig) bool {
	return cfg.Passwords != nil || cfg.Plaintext != nil || cfg.SCRAM != nil
}

func scramRow(name string, plus bool) mechInfo {
	sec := Security{Mutual: true}
	// SCRAM-SHA-512 is opt-in on servers: common stores (Dovecot's schemes,
	// gsasl --mkpasswd) hold only SHA-1 and SHA-256 keys, and a client
	// picks the strongest hash offered, so offering it by default would
	// fail every such user like a wrong password.
	optIn := name == SCRAMSHA512 || name == SCRAMSHA512Plus
	if plus {
		sec.ChannelBinding = true
		sec.NeedsTLS = true
	}
	return mechInfo{
		name:      name,
		sec:       sec,
		optIn:     optIn,
		serverOK:  func(cfg *ServerConfig) bool { return cfg.SCRAM != nil },
		newServer: newSCRAMServer,
		clientOK:  hasPassword,
		newClient: func(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
			return newSCRAMClientFor(name, cfg, conn, offered)
		},
	}
}

// mechTable lists every mechanism of this package, strongest first: the
// order a server advertises and a client prefers.
var mechTable = [...]mechInfo{
	scramRow(SCRAMSHA512Plus, true),
	scramRow(SCRAMSHA256Plus, true),
	scramRow(SCRAMSHA1Plus, true),
	scramRow(SCRAMSHA512, false),
	scramRow(SCRAMSHA256, false),
	scramRow(SCRAMSHA1, false),
	{
		name:      External,
		serverOK:  func(cfg *ServerConfig) bool { return cfg.External != nil },
		newServer: newExternalServer,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.External },
		newClient: newExternalClientFor,
	},
	{
		name:      OAuthBearer,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true},
		serverOK:  func(cfg *ServerConfig) bool { return cfg.Tokens != nil },
		newServer: newOAuthBearerServer,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.Token != "" },
		newClient: newOAuthBearerClientFor,
	},
	{
		name:      XOAuth2,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true},
		serverOK:  func(cfg *ServerConfig) bool { return cfg.Tokens != nil },
		newServer: newXOAuth2Server,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.Token != "" && cfg.Username != "" },
		newClient: newXOAuth2ClientFor,
	},
	{
		name:      Plain,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true},
		serverOK:  passwordsOK,
		newServer: newPlainServer,
		clientOK:  hasPassword,
		newClient: newPlainClientFor,
	},
	{
		name:      Login,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true, Legacy: true},
		serverOK:  passwordsOK,
		newServer: newLoginServer,
		clientOK:  func(cfg *ClientConfig) bool { return hasPassword(cfg) && cfg.Authzid == "" },
		newClient: newLoginClientFor,
	},
	{
		name:      CRAMMD5,
		sec:       Security{NeedsTLS: true, Legacy: true},
		serverOK:  func(cfg *ServerConfig) bool { return cfg.CRAMMD5 != nil || cfg.Plaintext != nil },
		newServer: newCRAMMD5Server,
		clientOK:  func(cfg *ClientConfig) bool { return hasPassword(cfg) && cfg.Authzid == "" },
		newClient: newCRAMMD5ClientFor,
	},
	{
		name:      DigestMD5,
		sec:       Security{Mutual: true, NeedsTLS: true, Legacy: true},
		serverOK:  func(cfg *ServerConfig) bool { return cfg.DigestMD5 != nil || cfg.Plaintext != nil },
		newServer: newDigestMD5Server,
		clientOK:  hasPassword,
		newClient: newDigestMD5ClientFor,
	},
	{
		name:      Anonymous,
		serverOK:  func(cfg *ServerConfig) bool { return cfg.Anonymous != nil },
		newServer: newAnonymousServer,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.Anonymous },
		newClient: newAnonymousClientFor,
	},
}

func lookupMech(name string) *mechInfo {
	for i := range mechTable {
		// Not secret: mechanism names are public. SASL names are
		// case-insensitive on the wire (RFC 4422, Section 3.1).
		if strings.EqualFold(mechTable[i].name, name) {
			return &mechTable[i]
		}
	}
	return nil
}

// MechanismByName returns the Mechanism of this package named name
// (case-insensitive), or false if there is none.
func MechanismByName(name string) (Mechanism, bool) {
	m := lookupMech(name)
	if m == nil {
		return nil, false
	}
	return m, true
}

// Mechanisms returns every mechanism of this package, strongest first.
func Mechanisms() []Mechanism {
	out := make([]Mechanism, len(mechTable))
	for i := range mechTable {
		out[i] = &mechTable[i]
	}
	return out
}

// serverEnv is what one exchange's Server needs from its surroundings.
type serverEnv struct {
	ctx  context.Context // the exchange's, from NewServer: go-sasl's Next takes none
	cfg  *ServerConfig   // shared, read-only
	conn *ConnState      // never nil
	set  *ServerSet      // also records the identity; nil for standalone servers
	id   Identity
	ok   bool
}

// Identity returns who authenticated once the exchange has succeeded, and
// false before. Servers embed *serverEnv, so every Server of this package
// implements [IdentityServer].
func (e *serverEnv) Identity() (Identity, bool) { return e.id, e.ok }

func newServerEnv(ctx context.Context, cfg *ServerConfig, conn *ConnState) *serverEnv {
	if ctx == nil {
		ctx = context.Background()
	}
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	if conn == nil {
		conn = &ConnState{}
	}
	return &serverEnv{ctx: ctx, cfg: cfg, conn: conn}
}

// succeed applies the authorization policy to id, whose credentials a
// mechanism has verified, and records it. A mechanism calls it right before
// it returns done=true (for SCRAM: on the client's final empty response). It returns the Authorize
// callback's error unchanged, or ErrAuthzFailed.
func (e *serverEnv) succeed(id Identity) error {
	if e.cfg.Authorize != nil {
		if err := e.cfg.Authorize(e.ctx, id); err != nil {
			return err
		}
	} else if id.Authzid != "" && id.Authzid != id.Username {
		return ErrAuthzFailed
	}
	e.id, e.ok = id, true
	if e.set != nil {
		e.set.id, e.set.ok = id, true
	}
	return nil
}
