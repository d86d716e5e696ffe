package sasl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OAuthBearer is the OAUTHBEARER mechanism name (RFC 7628).
const OAuthBearer = "OAUTHBEARER"

// maxOAuthMessage bounds an OAUTHBEARER or XOAUTH2 client response and a
// server's error challenge. RFC 7628 sets no limit; a bearer token is
// rarely above 8 KiB (large Azure AD JWTs reach 4-6 KiB), so 64 KiB leaves
// room while keeping a hostile client from making the server buffer and
// scan megabytes.
const maxOAuthMessage = 64 << 10

// maxOAuthPairs bounds the number of key=value pairs in an OAUTHBEARER
// client response (RFC 7628, Section 3.1). Clients send auth, host, port
// and rarely anything else; unknown keys are skipped, so without a bound a
// client could make the server walk an arbitrary number of them.
const maxOAuthPairs = 32

// oauthBearerOptions are the parameters of an OAUTHBEARER client
// (RFC 7628, Section 3.1). The field names follow emersion/go-sasl's type
// of the same name.
type oauthBearerOptions struct {
	// Username is the authorization identity sent as the gs2 header's a=
	// (RFC 5801), or "" to send none. Servers such as Dovecot and Gmail
	// compare it with the token's subject.
	Username string
	// Token is the OAuth 2.0 bearer token (RFC 6750). It is a password
	// equivalent: send it only over TLS.
	Token string
	// Host and Port name the server the client connected to, sent as the
	// host= and port= keys; "" and 0 leave them out.
	Host string
	Port int
}

// OAuthBearerError is the error a server reports when it rejects a bearer
// token: the JSON object of RFC 7628, Section 3.2.2, which XOAUTH2 servers
// (Google, Microsoft) send in the same shape with an HTTP status code as
// Status ("401").
//
// An OAUTHBEARER or XOAUTH2 Client of this package returns it when the
// server sends one. A TokenVerifier may return one (or an error wrapping
// one) to choose the fields this package's servers send; otherwise they
// send Status "invalid_token" (OAUTHBEARER) or "401" (XOAUTH2) with
// Schemes "bearer".
//
// errors.Is(err, ErrAuthFailed) is true for every OAuthBearerError.
type OAuthBearerError struct {
	// Status is the error code: "invalid_token", "invalid_request" or
	// "insufficient_scope" (RFC 6750, Section 3.1), or an HTTP status.
	Status string `json:"status"`
	// Schemes lists the HTTP authentication schemes the server accepts,
	// usually "bearer".
	Schemes string `json:"schemes,omitempty"`
	// Scope is the OAuth scope the token needs, if the server says.
	Scope string `json:"scope,omitempty"`
	// OpenIDConfiguration is the URL of the server's OpenID Connect
	// discovery document, if the server says.
	OpenIDConfiguration string `json:"openid-configuration,omitempty"`
}

// Error returns a message naming the status. It contains no token and no
// user name; the status is truncated, since a server chose it.
func (e *OAuthBearerError) Error() string {
	return "sasl: bearer token rejected: status " + strconv.Quote(truncate(e.Status, 64))
}

// Is reports whether target is ErrAuthFailed: a rejected token is a failed
// authentication.
func (e *OAuthBearerError) Is(target error) bool { return target == ErrAuthFailed }

// NewOAuthBearerClient returns a Client for OAUTHBEARER (RFC 7628). It sends
// the token in its initial response. If the server rejects the token it
// sends an error challenge; Next then returns the response %x01 that RFC
// 7628, Section 3.2.3 asks for together with an *OAuthBearerError carrying
// the server's JSON (errors.Is(err, ErrAuthFailed) is true). What happens
// next depends on the protocol layer: [Exchange.Authenticate] sends the
// %x01 and reads the server's final reply, so the connection stays usable;
// go-smtp's Client.Auth answers "*" (a cancel), which ends the exchange as
// well; go-imap v2's imapclient returns the error without answering the
// challenge at all, so the server still waits for a response and the
// connection is out of step. After a failed OAUTHBEARER with go-imap v2,
// close the connection (do not send another command on it). A challenge
// that is not JSON yields an error wrapping ErrMalformed.
//
// The token is a password equivalent: use OAUTHBEARER only over TLS. Start
// refuses (ErrMalformed) an empty token and fields with control characters,
// which would break the message's framing. A nil opts means the zero
// options, which Start refuses.
//
// The Client is single-use and not safe for concurrent use.
func newOAuthBearerClient(opts *oauthBearerOptions) Client {
	c := &oauthBearerClient{}
	if opts != nil {
		c.opts = *opts
	}
	return c
}

func newOAuthBearerClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	authzid := cfg.Authzid
	if authzid == "" {
		authzid = cfg.Username
	}
	return newOAuthBearerClient(&oauthBearerOptions{
		Username: authzid,
		Token:    cfg.Token,
		Host:     cfg.Host,
		Port:     cfg.Port,
	}), nil
}

type oauthBearerClient struct {
	opts  oauthBearerOptions
	state int // 0 before Start, 1 after Start, 2 after the error challenge
}

var _ Client = (*oauthBearerClient)(nil)

// Start returns the client response of RFC 7628, Section 3.1:
// gs2-header %x01 [host=...%x01] [port=...%x01] auth=Bearer <token> %x01 %x01.
func (c *oauthBearerClient) Start() (string, []byte, error) {
	if c.state != 0 {
		return "", nil, fmt.Errorf("%w: OAUTHBEARER client already started", ErrUnexpectedServerChallenge)
	}
	o := &c.opts
	if o.Token == "" {
		return "", nil, fmt.Errorf("%w: OAUTHBEARER needs a token", ErrMalformed)
	}
	if oauthHasCtl(o.Token) || oauthHasCtl(o.Host) || strings.IndexByte(o.Username, 0) >= 0 || !utf8.ValidString(o.Username) {
		return "", nil, fmt.Errorf("%w: OAUTHBEARER token, host or authzid has control characters", ErrMalformed)
	}
	if o.Port < 0 || o.Port > 65535 {
		return "", nil, fmt.Errorf("%w: OAUTHBEARER port out of range", ErrMalformed)
	}
	b := make([]byte, 0, 48+len(o.Username)+len(o.Host)+len(o.Token))
	b = append(b, "n,"...)
	if o.Username != "" {
		b = append(b, "a="...)
		b = scramAppendName(b, o.Username) // a gs2 saslname, as in SCRAM
	}
	b = append(b, ",\x01"...)
	if o.Host != "" {
		b = append(b, "host="...)
		b = append(b, o.Host...)
		b = append(b, 0x01)
	}
	if o.Port != 0 {
		b = append(b, "port="...)
		b = strconv.AppendInt(b, int64(o.Port), 10)
		b = append(b, 0x01)
	}
	b = append(b, "auth=Bearer "...)
	b = append(b, o.Token...)
	b = append(b, 0x01, 0x01)
	c.state = 1
	return OAuthBearer, b, nil
}

// Next handles the server's error challenge (RFC 7628, Section 3.2.2): the
// only challenge an OAUTHBEARER server sends. It answers with %x01.
func (c *oauthBearerClient) Next(challenge []byte) ([]byte, error) {
	if c.state != 1 {
		return nil, fmt.Errorf("%w: OAUTHBEARER exchange is over", ErrUnexpectedServerChallenge)
	}
	c.state = 2
	return []byte{0x01}, oauthParseError(OAuthBearer, challenge)
}

// oauthParseError decodes a server's error challenge into an
// *OAuthBearerError, or explains why it is not one.
func oauthParseError(mech string, challenge []byte) error {
	if len(challenge) > maxOAuthMessage {
		return fmt.Errorf("%w: %s error challenge longer than %d bytes", ErrTooLarge, mech, maxOAuthMessage)
	}
	var e OAuthBearerError
	if err := json.Unmarshal(challenge, &e); err != nil || e.Status == "" {
		return fmt.Errorf("%w: %s server sent a challenge that is not an error object", ErrMalformed, mech)
	}
	return &e
}

// errTokenNoUser is the failure of a TokenVerifier that returned no error
// and no user.
var errTokenNoUser = fmt.Errorf("%w: token verifier accepted the token but named no user", ErrAuthFailed)

func newOAuthBearerServer(env *serverEnv, mech string) IdentityServer {
	return &oauthServer{serverEnv: env, mech: mech, parse: oauthParseBearer, status: "invalid_token"}
}

// oauthServer is the server of OAUTHBEARER and XOAUTH2, which differ only
// in their client message and their default error status.
type oauthServer struct {
	*serverEnv
	mech    string
	parse   func(msg []byte) (authzid, token string, err error)
	status  string // the error JSON's default status
	state   oauthState
	failErr error // returned on the response that follows the error challenge
}

type oauthState uint8

const (
	oauthStart  oauthState = iota // nothing received
	oauthWait                     // sent the empty challenge that asks for the client response
	oauthFailed                   // sent the error challenge
	oauthDone                     // succeeded or failed
)

var _ IdentityServer = (*oauthServer)(nil)

// Next receives the client response (RFC 7628, Section 3.1) and ends the exchange after an error challenge on the next reply, whatever it is.
func (s *oauthServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case oauthStart:
		if response == nil {
			// No initial response: an empty challenge asks for it.
			s.state = oauthWait
			return []byte{}, false, nil
		}
	case oauthWait:
	case oauthFailed:
		// RFC 7628, Section 3.2.3: the client acknowledges the error
		// with %x01. What it actually sends changes nothing: the
		// exchange has failed. (go-sasl's server indexes response[0]
		// here and panics on an empty reply.)
		s.state = oauthDone
		return nil, false, s.failErr
	default:
		return nil, false, ErrUnexpectedClientResponse
	}
	s.state = oauthDone
	if len(response) > maxOAuthMessage {
		return nil, false, fmt.Errorf("%w: %s client response longer than %d bytes", ErrTooLarge, s.mech, maxOAuthMessage)
	}
	authzid, token, err := s.parse(response)
	if err != nil {
		return nil, false, err
	}
	var user string
	if s.cfg.Tokens == nil {
		err = fmt.Errorf("%w: no token verifier configured", ErrAuthFailed)
	} else {
		user, err = s.cfg.Tokens.VerifyToken(s.ctx, authzid, token)
	}
	if err != nil {
		if !errors.Is(err, ErrAuthFailed) && !errors.Is(err, ErrUnknownUser) {
			return nil, false, err // the store's own failure, unchanged
		}
		if errors.Is(err, ErrUnknownUser) {
			// The bare value, as every password mechanism returns for
			// an unknown user: a verifier that says ErrAuthFailed for
			// a bad token then gives the caller the same error.
			err = ErrAuthFailed
		}
		s.failErr = err
		s.state = oauthFailed
		return s.errorChallenge(err), false, nil
	}
	if user == "" {
		// Fail closed (issue 8, defect 10): a verifier that accepts a
		// token without saying whose it is has verified nobody, and the
		// client's a=/user= claim must not stand in for the identity.
		// The peer sees an invalid token; the log sees why.
		s.failErr = errTokenNoUser
		s.state = oauthFailed
		return s.errorChallenge(s.failErr), false, nil
	}
	id := Identity{Mechanism: s.mech, Username: user}
	if authzid != user {
		id.Authzid = authzid
	}
	if err := s.succeed(id); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// errorChallenge renders the error JSON (RFC 7628, Section 3.2.2) for err.
func (s *oauthServer) errorChallenge(err error) []byte {
	e := OAuthBearerError{Status: s.status, Schemes: "bearer"}
	var ve *OAuthBearerError
	if errors.As(err, &ve) && ve != nil {
		e = *ve // as the verifier wrote it, which only must have a status
		if e.Status == "" {
			e.Status = s.status
		}
	}
	b, jerr := json.Marshal(&e)
	if jerr != nil || len(b) > maxOAuthMessage {
		// A verifier's oversized fields are dropped so that the client can
		// still read the challenge; Marshal cannot fail on string fields.
		b, _ = json.Marshal(&OAuthBearerError{Status: s.status, Schemes: "bearer"})
	}
	return b
}

// oauthParseBearer parses an OAUTHBEARER client response (RFC 7628,
// Section 3.1):
//
//	client-resp = gs2-header kvsep *kvpair kvsep
//	gs2-header  = gs2-cb-flag "," [ "a=" saslname ] ","
//	kvpair      = key "=" value kvsep   ; key = 1*ALPHA, kvsep = %x01
//
// It returns the authzid and the token of the auth pair.
func oauthParseBearer(msg []byte) (authzid, token string, err error) {
	// gs2-cb-flag: OAUTHBEARER has no channel binding, so "p=" is refused;
	// "y" (client could bind, server did not offer) is harmless.
	if len(msg) < 2 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',' {
		if len(msg) > 1 && msg[0] == 'p' && msg[1] == '=' {
			return "", "", fmt.Errorf("%w: OAUTHBEARER has no channel binding (gs2 flag p=)", ErrMalformed)
		}
		return "", "", fmt.Errorf("%w: OAUTHBEARER response does not start with a gs2 header", ErrMalformed)
	}
	rest := msg[2:]
	i := bytes.IndexByte(rest, ',')
	if i < 0 {
		return "", "", fmt.Errorf("%w: OAUTHBEARER gs2 header is not terminated", ErrMalformed)
	}
	if i > 0 {
		field := rest[:i]
		if !bytes.HasPrefix(field, []byte("a=")) {
			return "", "", fmt.Errorf("%w: OAUTHBEARER gs2 header has a field other than a=", ErrMalformed)
		}
		authzid, err = oauthParseSASLName(field[2:])
		if err != nil {
			return "", "", err
		}
	}
	rest = rest[i+1:]
	if len(rest) == 0 || rest[0] != 0x01 {
		return "", "", fmt.Errorf("%w: OAUTHBEARER gs2 header not followed by %%x01", ErrMalformed)
	}
	rest = rest[1:]
	var haveAuth, haveHost, havePort bool
	for n := 0; ; n++ {
		if len(rest) == 1 && rest[0] == 0x01 {
			break // the final kvsep
		}
		if n == maxOAuthPairs {
			return "", "", fmt.Errorf("%w: OAUTHBEARER response has more than %d pairs", ErrTooLarge, maxOAuthPairs)
		}
		j := bytes.IndexByte(rest, 0x01)
		if j < 0 || j == len(rest)-1 {
			return "", "", fmt.Errorf("%w: OAUTHBEARER response does not end in %%x01 %%x01", ErrMalformed)
		}
		key, value, err := oauthSplitPair(rest[:j])
		if err != nil {
			return "", "", err
		}
		rest = rest[j+1:]
		switch key {
		case "auth":
			if haveAuth {
				return "", "", fmt.Errorf("%w: OAUTHBEARER auth given twice", ErrMalformed)
			}
			haveAuth = true
			token, err = oauthParseAuth(value)
			if err != nil {
				return "", "", err
			}
		case "host":
			if haveHost {
				return "", "", fmt.Errorf("%w: OAUTHBEARER host given twice", ErrMalformed)
			}
			haveHost = true
		case "port":
			if havePort {
				return "", "", fmt.Errorf("%w: OAUTHBEARER port given twice", ErrMalformed)
			}
			havePort = true
			if _, err := strconv.ParseUint(string(value), 10, 16); err != nil || len(value) > 5 {
				return "", "", fmt.Errorf("%w: OAUTHBEARER port is not a port number", ErrMalformed)
			}
		default:
			// Extension keys (RFC 7628, Section 3.1) are skipped.
		}
	}
	if !haveAuth {
		return "", "", fmt.Errorf("%w: OAUTHBEARER response has no auth", ErrMalformed)
	}
	return authzid, token, nil
}

// oauthSplitPair splits key=value, with key = 1*ALPHA and value =
// *(VCHAR / SP / HTAB / CR / LF) (RFC 7628, Section 3.1).
func oauthSplitPair(p []byte) (key string, value []byte, err error) {
	i := bytes.IndexByte(p, '=')
	if i <= 0 {
		return "", nil, fmt.Errorf("%w: OAUTHBEARER pair without key=", ErrMalformed)
	}
	for _, c := range p[:i] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", nil, fmt.Errorf("%w: OAUTHBEARER key is not alphabetic", ErrMalformed)
		}
	}
	value = p[i+1:]
	for _, c := range value {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			return "", nil, fmt.Errorf("%w: OAUTHBEARER value has control characters", ErrMalformed)
		}
	}
	return string(p[:i]), value, nil
}

// oauthParseAuth returns the token of an auth value: the HTTP credentials
// "Bearer" 1*SP b64token (RFC 6750, Section 2.1), scheme case-insensitive.
func oauthParseAuth(v []byte) (string, error) {
	const scheme = "bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(string(v[:len(scheme)]), scheme) || v[len(scheme)] != ' ' {
		return "", fmt.Errorf("%w: auth is not Bearer credentials", ErrMalformed)
	}
	tok := bytes.TrimLeft(v[len(scheme):], " ")
	if !oauthIsB64Token(tok) {
		return "", fmt.Errorf("%w: bearer token is not a b64token", ErrMalformed)
	}
	return string(tok), nil
}

// oauthIsB64Token reports whether t is a b64token (RFC 6750, Section 2.1):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func oauthIsB64Token(t []byte) bool {
	i := 0
	for ; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(t); i++ {
		if t[i] != '=' {
			return false
		}
	}
	return true
}

// oauthParseSASLName decodes a gs2 saslname (RFC 5801, Section 4): UTF-8
// without NUL, with "=2C" for ',' and "=3D" for '='. SCRAM's gs2 header
// has the same grammar, so its decoder is used.
func oauthParseSASLName(b []byte) (string, error) {
	name, err := scramDecodeName(b)
	if err != nil {
		return "", fmt.Errorf("%w: OAUTHBEARER a= is not a saslname (empty, not UTF-8, NUL or a bad = escape)", ErrMalformed)
	}
	return name, nil
}

// oauthHasCtl reports whether s has an ASCII control character, which
// would break the %x01-separated framing of OAUTHBEARER and XOAUTH2.
func oauthHasCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
