package sasl

import (
	"context"
	"strings"
)

// mechInfo is one row of the table of this package's mechanisms.
type mechInfo struct {
	name string
	sec  Security
	// tier orders mechanisms by strength; see tierOf.
	tier int
	// optIn: a server offers it only when ServerConfig.Mechanisms names it.
	optIn bool
	// needsSecret: a server offers it only with ServerConfig.SCRAMSecret,
	// which keys unknown users' fake salts.
	needsSecret bool
	// serverOK reports whether cfg has the credentials the server side
	// needs; newServer builds one exchange's Server.
	serverOK  func(cfg *ServerConfig) bool
	newServer func(env *serverEnv, mech string) IdentityServer
	// holds, if not nil, reports whether the store says it holds this
	// mechanism's credential form (CredentialReporter).
	holds func(cfg *ServerConfig) bool
	// connOK, if not nil, reports whether the connection can carry it.
	connOK func(conn *ConnState) bool
	// clientOK reports whether cfg holds credentials this mechanism can
	// use; newClient builds the Client. offered is the server's list.
	clientOK  func(cfg *ClientConfig) bool
	newClient func(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error)
}

// Name returns the IANA mechanism name.
func (m *mechInfo) Name() string { return m.name }

// Security returns the mechanism's properties.
func (m *mechInfo) Security() Security { return m.sec }

// The tiers of strength, strongest first: a server advertises and a
// client prefers mechanisms in this order, and within a tier in the order
// of mechTable and then of the configs' Extra lists.
const (
	tierChannelBinding = iota // bound to the TLS channel: SCRAM-*-PLUS
	tierMutual                // mutual, not legacy: SCRAM, GSSAPI
	tierModern                // EXTERNAL, OAUTHBEARER, XOAUTH2, PLAIN
	tierLegacy                // LOGIN, CRAM-MD5, DIGEST-MD5, NTLM
	tierAnonymous             // authenticates nobody
	numTiers
)

// tierOf places a mechanism from its Security.
func tierOf(m Mechanism) int {
	sec := m.Security()
	switch {
	case equalFold(m.Name(), Anonymous):
		return tierAnonymous
	case sec.ChannelBinding:
		return tierChannelBinding
	case sec.Legacy:
		return tierLegacy
	case sec.Mutual:
		return tierMutual
	default:
		return tierModern
	}
}

func hasPassword(cfg *ClientConfig) bool { return cfg.Username != "" && cfg.Password != "" }

func passwordsOK(cfg *ServerConfig) bool {
	return cfg.Passwords != nil || cfg.Plaintext != nil || cfg.SCRAM != nil
}

func scramRow(name string, plus bool) mechInfo {
	// Without channel binding SCRAM still needs TLS: a passive
	// eavesdropper gets salt, iterations and proof, enough for an offline
	// dictionary attack (RFC 5802, Section 9).
	sec := Security{Mutual: true, NeedsTLS: true}
	// SCRAM-SHA-512 is opt-in on servers: common stores (Dovecot's schemes,
	// gsasl --mkpasswd) hold only SHA-1 and SHA-256 keys, and a client
	// picks the strongest hash offered, so offering it by default would
	// fail every such user like a wrong password.
	optIn := name == SCRAMSHA512 || name == SCRAMSHA512Plus
	tier := tierMutual
	if plus {
		sec.ChannelBinding = true
		tier = tierChannelBinding
	}
	base := strings.TrimSuffix(name, "-PLUS")
	return mechInfo{
		name:        name,
		sec:         sec,
		tier:        tier,
		optIn:       optIn,
		needsSecret: true,
		serverOK:    func(cfg *ServerConfig) bool { return cfg.SCRAM != nil },
		holds:       func(cfg *ServerConfig) bool { return storeHolds(cfg.SCRAM, base) },
		newServer:   newSCRAMServer,
		clientOK:    hasPassword,
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
		name: External,
		tier: tierModern,
		// RFC 4422, Appendix A: EXTERNAL relies on authentication below
		// SASL; here, a TLS client certificate. Never before TLS.
		connOK: func(conn *ConnState) bool {
			return conn.isTLS() && len(conn.tls.PeerCertificates) > 0
		},
		serverOK:  func(cfg *ServerConfig) bool { return cfg.External != nil },
		newServer: newExternalServer,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.External },
		newClient: newExternalClientFor,
	},
	{
		name:      OAuthBearer,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true},
		tier:      tierModern,
		serverOK:  func(cfg *ServerConfig) bool { return cfg.Tokens != nil },
		newServer: newOAuthBearerServer,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.Token != "" },
		newClient: newOAuthBearerClientFor,
	},
	{
		name:      XOAuth2,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true},
		tier:      tierModern,
		serverOK:  func(cfg *ServerConfig) bool { return cfg.Tokens != nil },
		newServer: newXOAuth2Server,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.Token != "" && cfg.Username != "" },
		newClient: newXOAuth2ClientFor,
	},
	{
		name:      Plain,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true},
		tier:      tierModern,
		serverOK:  passwordsOK,
		newServer: newPlainServer,
		clientOK:  hasPassword,
		newClient: newPlainClientFor,
	},
	{
		name:      Login,
		sec:       Security{PlaintextEquivalent: true, NeedsTLS: true, Legacy: true},
		tier:      tierLegacy,
		serverOK:  passwordsOK,
		newServer: newLoginServer,
		clientOK:  func(cfg *ClientConfig) bool { return hasPassword(cfg) && cfg.Authzid == "" },
		newClient: newLoginClientFor,
	},
	{
		name:     CRAMMD5,
		sec:      Security{NeedsTLS: true, Legacy: true},
		tier:     tierLegacy,
		serverOK: func(cfg *ServerConfig) bool { return cfg.CRAMMD5 != nil || cfg.Plaintext != nil },
		holds: func(cfg *ServerConfig) bool {
			if cfg.CRAMMD5 != nil {
				return storeHolds(cfg.CRAMMD5, CRAMMD5)
			}
			return true
		},
		newServer: newCRAMMD5Server,
		clientOK:  func(cfg *ClientConfig) bool { return hasPassword(cfg) && cfg.Authzid == "" },
		newClient: newCRAMMD5ClientFor,
	},
	{
		name:     DigestMD5,
		sec:      Security{Mutual: true, NeedsTLS: true, Legacy: true},
		tier:     tierLegacy,
		serverOK: func(cfg *ServerConfig) bool { return cfg.DigestMD5 != nil || cfg.Plaintext != nil },
		holds: func(cfg *ServerConfig) bool {
			if cfg.DigestMD5 != nil {
				return storeHolds(cfg.DigestMD5, DigestMD5)
			}
			return true
		},
		newServer: newDigestMD5Server,
		clientOK:  hasPassword,
		newClient: newDigestMD5ClientFor,
	},
	{
		name:      Anonymous,
		tier:      tierAnonymous,
		serverOK:  func(cfg *ServerConfig) bool { return cfg.Anonymous != nil },
		newServer: newAnonymousServer,
		clientOK:  func(cfg *ClientConfig) bool { return cfg.Anonymous },
		newClient: newAnonymousClientFor,
	},
}

func lookupMech(name string) *mechInfo {
	// Names come in upper case, as registered, nearly always: the exact
	// comparison first.
	for i := range mechTable {
		if mechTable[i].name == name {
			return &mechTable[i]
		}
	}
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

// storeHolds asks a store that implements CredentialReporter whether it
// holds credentials for mech; a store that does not is assumed to.
func storeHolds(store any, mech string) bool {
	if r, ok := store.(CredentialReporter); ok {
		return r.HoldsCredentials(mech)
	}
	return true
}

// serverEnv is what one exchange's Server needs from its surroundings.
type serverEnv struct {
	ctx  context.Context // the exchange's, from NewServer: go-sasl's Next takes none
	cfg  *ServerConfig   // shared, read-only
	conn *ConnState      // never nil
	id   Identity
	ok   bool
	// spare holds the Server of the one-message mechanisms (PLAIN,
	// EXTERNAL, ANONYMOUS), whose fixed cost is most of their cost: made
	// in the env, which a ServerSet allocates with its own wrapper, an
	// exchange costs one allocation fewer.
	spare struct {
		plain plainServer
		one   oneMsgServer
	}
}

// Identity returns the identity whose credentials the mechanism verified,
// once the exchange has succeeded, and false before. Servers embed
// *serverEnv, so every Server of this package implements [IdentityServer].
func (e *serverEnv) Identity() (Identity, bool) { return e.id, e.ok }

func newServerEnv(ctx context.Context, cfg *ServerConfig, conn *ConnState) *serverEnv {
	if ctx == nil {
		ctx = context.Background()
	}
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	if conn == nil {
		conn = &ConnState{server: true}
	}
	return &serverEnv{ctx: ctx, cfg: cfg, conn: conn}
}

// succeed records id, whose credentials the mechanism has verified. A
// mechanism calls it right before it returns done=true (for SCRAM: on the
// client's final empty response). The authorization policy is the
// ServerSet's (setServer), so that every mechanism gets the same.
func (e *serverEnv) succeed(id Identity) error {
	e.id, e.ok = id, true
	return nil
}
