package kpop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"unicode/utf8"

	"github.com/go-mailauth/mailauth/sasl"
)

// GSSAPI is the SASL mechanism name of Kerberos V5 through the GSS-API
// (RFC 4752).
const GSSAPI = "GSSAPI"

// Security layers of RFC 4752, Section 3.1.
const (
	layerNone      = 0x01
	layerIntegrity = 0x02
	layerConf      = 0x04
)

// Service names of the mail protocols in Kerberos service principals:
// RFC 4752 uses the GSSAPI service name registered for each SASL profile.
const (
	ServiceIMAP = "imap" // RFC 3501, Section 6.2.2
	ServicePOP  = "pop"  // RFC 5034, Section 4 (and KPOP)
	ServiceSMTP = "smtp" // RFC 4954, Section 4
)

// gssapiSecurity is the description of GSSAPI: mutual (the AP-REP proves
// the server), no password or equivalent on the wire, no TLS needed.
var gssapiSecurity = sasl.Security{Mutual: true}

// GSSAPIMechanism returns the description of GSSAPI for the sasl package's
// tables: Mutual, and neither plaintext-equivalent nor in need of TLS
// (a ticket is useless to an eavesdropper without the session key, and
// the acceptor refuses replays).
func GSSAPIMechanism() sasl.Mechanism { return sasl.NewMechanism(GSSAPI, gssapiSecurity) }

// gssFlagsRequested are the context flags our initiator asks for: mutual,
// replay and sequence detection, and integrity, which RFC 4752, Section
// 3.1 requires. No confidentiality (we choose no security layer) and no
// delegation (a mail server has no use for our TGT).
const gssFlagsRequested = flagMutual | flagReplay | flagSequence | flagInteg

// ClientConfig is a GSSAPI or KPOP client's configuration. A ClientConfig
// may be shared by many connections and must not be modified after first
// use.
type ClientConfig struct {
	// Credentials log the client in; required.
	Credentials *Credentials
	// Host is the server's host name as in its service principal
	// (imap/Host, pop/Host, smtp/Host). Use the name the KDC knows, not an
	// address: there is no DNS canonicalisation here.
	Host string
	// Authzid is the identity to act as, or "" to act as the principal
	// itself (RFC 4752, Section 3.1).
	Authzid string
}

// gssapiClient is the client state machine of RFC 4752.
type gssapiClient struct {
	cfg     *ClientConfig
	service string
	in      *initiator
	step    int
}

const (
	cStart = iota
	cSentToken
	cVerified // AP-REP verified, empty response sent
	cDone     // security-layer reply sent
	cFailed
)

var _ interface {
	sasl.Client
	Finished() error
} = (*gssapiClient)(nil)

// NewGSSAPIClient returns a Client for SASL GSSAPI (RFC 4752) to the
// service ("imap", "pop" or "smtp") on cfg.Host. It always asks for mutual
// authentication, and refuses a server that does not send an AP-REP or
// whose AP-REP does not verify; Finished reports nil only after that
// proof, and after the security-layer negotiation. It chooses no security
// layer. Start fetches the service ticket (from the KDC the first time).
// The Client is single-use and not safe for concurrent use.
func NewGSSAPIClient(cfg *ClientConfig, service string) sasl.Client {
	return &gssapiClient{cfg: cfg, service: service}
}

// Start makes the initial context token: an AP-REQ in GSS-API framing
// (RFC 4121, Section 4.1).
func (c *gssapiClient) Start() (string, []byte, error) {
	if c.step != cStart {
		return "", nil, c.fail(fmt.Errorf("kpop: GSSAPI start: called twice: %w", sasl.ErrUnexpectedServerChallenge))
	}
	if c.cfg == nil || c.cfg.Host == "" {
		return "", nil, c.fail(errors.New("kpop: GSSAPI start: ClientConfig.Host is required"))
	}
	if len(c.cfg.Authzid) > maxAuthzidLen || !utf8.ValidString(c.cfg.Authzid) || bytes.IndexByte([]byte(c.cfg.Authzid), 0) >= 0 {
		return "", nil, c.fail(errors.New("kpop: GSSAPI start: Authzid is not UTF-8 without NUL of at most 1024 octets"))
	}
	in, apreq, err := newInitiator(c.cfg.Credentials, c.service, c.cfg.Host, true, gssFlagsRequested)
	if err != nil {
		return "", nil, c.fail(err)
	}
	c.in = in
	c.step = cSentToken
	return GSSAPI, gssFrame(tokAPReq, apreq), nil
}

// Next answers the server's AP-REP with an empty response, then its
// security-layer offer with our choice (RFC 4752, Section 3.1).
func (c *gssapiClient) Next(challenge []byte) ([]byte, error) {
	switch c.step {
	case cSentToken:
		tok, inner, err := gssUnframe(challenge)
		if err != nil {
			if len(challenge) >= 2 && challenge[0] == tokWrap[0] && challenge[1] == tokWrap[1] {
				// The server went straight to the security layer: it
				// never proved itself.
				return nil, c.fail(fmt.Errorf("kpop: GSSAPI AP-REP: server skipped mutual authentication: %w", sasl.ErrServerNotVerified))
			}
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI AP-REP: %w", err))
		}
		switch tok {
		case tokAPRep:
		case tokKRBError:
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI AP-REP: %w", krbErrorText(inner)))
		default:
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI AP-REP: unexpected token %02x %02x: %w", tok[0], tok[1], sasl.ErrMalformed))
		}
		if err := c.in.verifyAPRep(inner); err != nil {
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI AP-REP: %w", err))
		}
		// Trust boundary: the server has shown it holds the service key.
		c.step = cVerified
		return []byte{}, nil // RFC 4752, Section 3.1: the context is complete; an empty response
	case cVerified:
		offer, err := c.in.keys.unwrap(challenge, true, c.in.seqRecv)
		if err != nil {
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI security layer: %w", err))
		}
		if len(offer) != 4 {
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI security layer: offer of %d octets, not 4: %w", len(offer), sasl.ErrMalformed))
		}
		if offer[0]&layerNone == 0 {
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI security layer: server requires a security layer, which this client does not provide: %w", sasl.ErrAuthFailed))
		}
		// Exactly one layer, "none", and a maximum size of 0, which RFC
		// 4752 requires when no layer is chosen.
		reply := make([]byte, 4, 4+len(c.cfg.Authzid))
		reply[0] = layerNone
		reply = append(reply, c.cfg.Authzid...)
		tok, err := c.in.keys.makeWrap(false, c.in.seqSend, reply)
		if err != nil {
			return nil, c.fail(fmt.Errorf("kpop: GSSAPI security layer: %w", err))
		}
		c.step = cDone
		return tok, nil
	}
	return nil, c.fail(fmt.Errorf("kpop: GSSAPI: challenge after the exchange ended: %w", sasl.ErrUnexpectedServerChallenge))
}

// Finished returns nil once the server's AP-REP has verified and the
// security-layer negotiation is answered; before, an error wrapping
// sasl.ErrServerNotVerified.
func (c *gssapiClient) Finished() error {
	if c.step == cDone {
		return nil
	}
	return fmt.Errorf("kpop: GSSAPI: exchange not complete: %w", sasl.ErrServerNotVerified)
}

func (c *gssapiClient) fail(err error) error {
	c.step = cFailed
	return err
}

// gssapiServer is the server state machine of RFC 4752.
type gssapiServer struct {
	ctx     context.Context // the exchange's, from NewGSSAPIServer: go-sasl's Next takes none
	a       *Acceptor
	service string
	remote  net.Addr
	step    int
	acc     *accepted
	id      sasl.Identity
}

const (
	sStart      = iota
	sAskedToken // sent the empty challenge for a missing initial response
	sSentAPRep  // waiting for the empty response
	sSentOffer  // waiting for the security-layer reply
	sDone
	sFailed
)

var _ GSSAPIServer = (*gssapiServer)(nil)

// GSSAPIServer is the Server [Acceptor.NewGSSAPIServer] returns: a
// sasl.IdentityServer that also reports the Kerberos principal behind
// the identity.
type GSSAPIServer interface {
	sasl.IdentityServer
	// Principal returns the authenticated client principal once Next has
	// returned done; before, the zero Principal.
	Principal() Principal
}

// NewGSSAPIServer returns a Server for SASL GSSAPI (RFC 4752) for service
// ("imap", "pop" or "smtp"): it accepts only tickets for service/Host in
// the Acceptor's realm. remote is the client's address (for tickets
// bound to addresses), or nil. ctx is passed to ServerConfig.LocalUser.
//
// When the client asks for mutual authentication the server answers with
// an AP-REP carrying an acceptor subkey and waits for an empty response;
// then (or at once, for clients such as curl that ask for none) it offers
// no security layer in a Wrap token, and verifies the client's wrapped
// choice and authorization identity. It ends with done=true and a nil
// challenge: nothing rides on success. Identity reports the local user
// the principal maps to and the authzid the client sent ("" when it sent
// none or named its own principal); authorizing that is the caller's
// policy (sasl.ServerConfig.Authorize).
//
// Refusals wrap sasl.ErrAuthFailed and one of ErrWrongService, ErrNoKey,
// ErrEnctype, ErrIntegrity, ErrReplay, ErrReplayCacheFull, ErrClockSkew,
// ErrTicketTime, ErrBadChecksum, ErrBadMatch, ErrSequence or
// ErrNoLocalUser; unparsable tokens wrap sasl.ErrMalformed or
// sasl.ErrTooLarge. Errors of LocalUser are returned unchanged. The
// Server is single-use and not safe for concurrent use.
func (a *Acceptor) NewGSSAPIServer(ctx context.Context, service string, remote net.Addr) GSSAPIServer {
	if ctx == nil {
		ctx = context.Background()
	}
	return &gssapiServer{ctx: ctx, a: a, service: service, remote: remote}
}

// Next runs one step of the exchange.
func (s *gssapiServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case sStart, sAskedToken:
		if len(response) == 0 {
			if s.step == sAskedToken {
				return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI accept: empty initial token: %w", sasl.ErrMalformed))
			}
			// No initial response: ask for the token with an empty
			// challenge (RFC 4422, Section 3.3).
			s.step = sAskedToken
			return []byte{}, false, nil
		}
		tok, inner, err := gssUnframe(response)
		if err != nil {
			return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI accept: %w", err))
		}
		if tok != tokAPReq {
			return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI accept: token %02x %02x is not an AP-REQ: %w", tok[0], tok[1], sasl.ErrMalformed))
		}
		acc, err := s.a.accept(s.ctx, inner, s.service, s.remote, true)
		if err != nil {
			return nil, false, s.fail(s.wrapErr("accept", err))
		}
		s.acc = acc
		if acc.mutual {
			s.step = sSentAPRep
			return gssFrame(tokAPRep, acc.aprep), false, nil
		}
		return s.offer()
	case sSentAPRep:
		if len(response) != 0 {
			return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI accept: expected an empty response after the AP-REP: %w", sasl.ErrMalformed))
		}
		return s.offer()
	case sSentOffer:
		return s.reply(response)
	}
	return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI: response after the exchange ended: %w", sasl.ErrUnexpectedClientResponse))
}

// offer sends the security-layer offer (RFC 4752, Section 3.1): only "no
// security layer", and a maximum message size of 0, since no layer
// follows. It is the first token the acceptor sends.
func (s *gssapiServer) offer() ([]byte, bool, error) {
	tok, err := s.acc.keys.makeWrap(true, s.acc.seqSend, []byte{layerNone, 0, 0, 0})
	if err != nil {
		return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI security layer: %w", err))
	}
	s.step = sSentOffer
	return tok, false, nil
}

// reply checks the client's wrapped choice: exactly the "none" layer, and
// the authorization identity after it.
func (s *gssapiServer) reply(response []byte) ([]byte, bool, error) {
	msg, err := s.acc.keys.unwrap(response, false, s.acc.seqRecv)
	if err != nil {
		return nil, false, s.fail(s.wrapErr("security layer", err))
	}
	if len(msg) < 4 {
		return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI security layer: reply of %d octets: %w", len(msg), sasl.ErrMalformed))
	}
	if msg[0] != layerNone {
		// RFC 4752, Section 3.1: the client picks exactly one of the
		// layers offered, and only "none" was. (The maximum size is not
		// checked: with no layer it means nothing, and Dovecot and others
		// echo the offer's.)
		return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI security layer: client chose layers %#02x, not the offered none: %w", msg[0], sasl.ErrMalformed))
	}
	authz := msg[4:]
	if len(authz) > maxAuthzidLen || !utf8.Valid(authz) || bytes.IndexByte(authz, 0) >= 0 {
		return nil, false, s.fail(fmt.Errorf("kpop: GSSAPI security layer: authorization identity is not UTF-8 without NUL of at most %d octets: %w", maxAuthzidLen, sasl.ErrMalformed))
	}
	az := string(authz)
	if az == s.acc.client.String() {
		// Naming one's own principal asks for no other identity (RFC
		// 4422, Section 3.4.1): report none, not a principal that
		// differs from the local user name.
		az = ""
	}
	s.id = sasl.Identity{Mechanism: GSSAPI, Username: s.acc.user, Authzid: az}
	s.step = sDone
	return nil, true, nil
}

// Identity returns who authenticated, once Next has returned done.
func (s *gssapiServer) Identity() (sasl.Identity, bool) {
	if s.step != sDone {
		return sasl.Identity{}, false
	}
	return s.id, true
}

// Principal returns the authenticated client principal, once Next has
// returned done; before, the zero Principal.
func (s *gssapiServer) Principal() Principal {
	if s.step != sDone {
		return Principal{}
	}
	return s.acc.client
}

func (s *gssapiServer) fail(err error) error {
	s.step = sFailed
	return err
}

func (s *gssapiServer) wrapErr(step string, err error) error {
	var ke *krbError
	if errors.As(err, &ke) || errors.Is(err, sasl.ErrMalformed) || errors.Is(err, sasl.ErrTooLarge) {
		return fmt.Errorf("kpop: GSSAPI %s: %w", step, err)
	}
	return err // LocalUser's error, unchanged
}
