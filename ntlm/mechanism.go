package ntlm

// The NTLM SASL mechanism: the adapter from the exchange of ntlm.go to the
// sasl v1 extension API ([sasl.ServerMechanism], [sasl.ClientMechanism]).

import (
	"context"
	"fmt"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// security is what NTLM protects and needs: not mutual (nothing proves
// the server), dictionary-attackable from a capture, so only inside TLS;
// Legacy, as Microsoft is retiring NTLM.
var security = sasl.Security{NeedsTLS: true, Legacy: true}

// Mechanism describes NTLM: its name and Security (NeedsTLS, Legacy),
// for tables and policy, without credentials.
func Mechanism() sasl.Mechanism { return sasl.NewMechanism(MechanismName, security) }

// NewServerMechanism returns the server side of the NTLM SASL mechanism
// ([MS-OXIMAP4] 2.2.1, [MS-OXPOP3] 2.2.1, [MS-SMTPNTLM] 2.2.1), for
// sasl.ServerConfig.Extra. Its Security is NeedsTLS and Legacy: a
// sasl.ServerSet offers it only inside TLS (or with InsecureAuth).
//
// Without an initial response its first challenge is empty, as the
// Microsoft specifications say; an initial response (SASL-IR, RFC 5034,
// RFC 4954) is taken as the NEGOTIATE. Each Server verifies as described
// in the package doc; it reports the user name the client sent, which is
// the name cfg.Hashes was asked for, and never an Authzid. Refusals wrap
// sasl.ErrAuthFailed ([ErrNotNTLMv2], [ErrAnonymous], [ErrMIC], ...),
// sasl.ErrChannelBinding or sasl.ErrMalformed; errors of cfg.Hashes other
// than sasl.ErrUnknownUser are returned unwrapped. NewServer fails with
// sasl.ErrUnsupportedMechanism when cfg.Hashes is nil.
//
// cfg is kept, not copied, and must not be modified after this call. The
// Servers are single-use and not safe for concurrent use.
func NewServerMechanism(cfg *ServerConfig) sasl.ServerMechanism {
	return serverMechanism{cfg}
}

type serverMechanism struct{ cfg *ServerConfig }

var (
	_ sasl.ServerMechanism    = serverMechanism{}
	_ sasl.CredentialReporter = serverMechanism{}
)

// Name returns "NTLM".
func (serverMechanism) Name() string { return MechanismName }

// Security returns NeedsTLS and Legacy.
func (serverMechanism) Security() sasl.Security { return security }

// HoldsCredentials implements sasl.CredentialReporter: when cfg.Hashes
// reports which forms it holds (sasl/passdb does), NTLM is offered only if
// it holds NT hashes, so a server does not advertise a mechanism no user
// can log in with.
func (m serverMechanism) HoldsCredentials(mech string) bool {
	if m.cfg == nil || m.cfg.Hashes == nil {
		return false
	}
	if r, ok := m.cfg.Hashes.(sasl.CredentialReporter); ok {
		return r.HoldsCredentials(mech)
	}
	return true
}

// NewServer starts one exchange on conn. The channel bindings it expects
// are tls-server-end-point of the certificate this server served on conn
// (RFC 5929 Section 4.1), never the client's certificate.
func (m serverMechanism) NewServer(ctx context.Context, conn *sasl.ConnState) (sasl.IdentityServer, error) {
	if m.cfg == nil || m.cfg.Hashes == nil {
		return nil, fmt.Errorf("%w: NTLM: no NT-hash lookup configured", sasl.ErrUnsupportedMechanism)
	}
	var app []byte
	if m.cfg.ChannelBinding != ChannelBindingIgnored {
		// An error means no TLS or no served certificate: then there are
		// no bindings to expect, and a client that sends some is refused.
		if h, err := conn.ChannelBinding(tlsutil.TLSServerEndPoint); err == nil {
			app = append([]byte(tlsServerEndPointPrefix), h...)
		}
	}
	return newServer(ctx, m.cfg, app), nil
}

// Next runs one step: an empty challenge or the CHALLENGE, then done
// after a verified AUTHENTICATE.
func (s *server) Next(response []byte) ([]byte, bool, error) { return s.next(response) }

// Identity reports the user whose NT hash verified the AUTHENTICATE.
func (s *server) Identity() (sasl.Identity, bool) {
	if s.state != srvDone {
		return sasl.Identity{}, false
	}
	return sasl.Identity{Mechanism: MechanismName, Username: s.user}, true
}

var _ sasl.IdentityServer = (*server)(nil)

// NewClientMechanism returns the client side of the NTLM SASL mechanism,
// for sasl.ClientConfig.Extra. It derives NTOWFv2 from cfg once and keeps
// it instead of the password (it is password-equivalent all the same).
// Its Clients send the NEGOTIATE as initial response, and an AUTHENTICATE
// with NTLMv2, a MIC, cfg.TargetName as MsvAvTargetName and, inside TLS,
// tls-server-end-point channel bindings of the server's certificate.
// NewClient fails with sasl.ErrMalformed when cfg has no user name or an
// NTHash that is not 16 bytes.
//
// NTLM does not authenticate the server: use it only over TLS with a
// verified certificate. The Clients are single-use and not safe for
// concurrent use.
func NewClientMechanism(cfg *ClientConfig) sasl.ClientMechanism {
	return clientMechanism{cfg.derive()}
}

type clientMechanism struct{ cred *credentials }

var _ sasl.ClientMechanism = clientMechanism{}

// Name returns "NTLM".
func (clientMechanism) Name() string { return MechanismName }

// Security returns NeedsTLS and Legacy.
func (clientMechanism) Security() sasl.Security { return security }

// NewClient returns the Client for one exchange on conn.
func (m clientMechanism) NewClient(conn *sasl.ConnState, offered []string) (sasl.Client, error) {
	if m.cred.err != nil {
		return nil, m.cred.err
	}
	var app []byte
	if h, err := conn.ChannelBinding(tlsutil.TLSServerEndPoint); err == nil {
		app = append([]byte(tlsServerEndPointPrefix), h...)
	}
	return newClientFrom(m.cred, app), nil
}

// Start returns the mechanism name and the NEGOTIATE as initial response.
func (c *client) Start() (string, []byte, error) {
	if c.state != cliStart {
		return "", nil, fmt.Errorf("%w: NTLM: Start called twice", sasl.ErrUnexpectedServerChallenge)
	}
	return MechanismName, c.start(), nil
}

// Next answers the CHALLENGE with the AUTHENTICATE (and an empty
// challenge with the NEGOTIATE, when the framing sent no initial
// response).
func (c *client) Next(challenge []byte) ([]byte, error) { return c.next(challenge) }

// Finished returns nil once the AUTHENTICATE has been sent. NTLM proves
// nothing about the server, so that is all a client can know.
func (c *client) Finished() error {
	if c.state != cliDone {
		return fmt.Errorf("%w: NTLM: the AUTHENTICATE was not sent", sasl.ErrUnexpectedServerChallenge)
	}
	return nil
}

var _ sasl.FinishedClient = (*client)(nil)
