package sasl

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// XOAuth2 is the XOAUTH2 mechanism name (Google and Microsoft).
const XOAuth2 = "XOAUTH2"

// NewXOAuth2Client returns a Client for XOAUTH2, the pre-standard bearer
// token mechanism that Gmail and Microsoft 365 (Exchange Online) offer,
// often without OAUTHBEARER. username names the mailbox (for Microsoft, a
// shared mailbox the token's user may open); token is the OAuth 2.0 access
// token. The initial response is
//
//	user=<username> %x01 auth=Bearer <token> %x01 %x01
//
// If the server rejects the token it sends a JSON error (in Google's shape
// {"status":"401","schemes":"bearer","scope":...}) as a challenge; Next
// answers it with the empty response these servers expect and returns an
// *OAuthBearerError (errors.Is(err, ErrAuthFailed) is true). A challenge
// that is not JSON yields an error wrapping ErrMalformed.
//
// The token is a password equivalent: use XOAUTH2 only over TLS. Start
// refuses (ErrMalformed) an empty username or token and control
// characters. The Client is single-use and not safe for concurrent use.
func newXOAuth2Client(username, token string) Client {
	return &xoauth2Client{username: username, token: token}
}

func newXOAuth2ClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	user := cfg.Authzid // the mailbox to open, when it is not the login's own
	if user == "" {
		user = cfg.Username
	}
	return newXOAuth2Client(user, cfg.Token), nil
}

type xoauth2Client struct {
	username, token string
	state           int // 0 before Start, 1 after Start, 2 after the error challenge
}

var _ Client = (*xoauth2Client)(nil)

// Start returns the whole XOAUTH2 message as the initial response.
func (c *xoauth2Client) Start() (string, []byte, error) {
	if c.state != 0 {
		return "", nil, fmt.Errorf("%w: XOAUTH2 client already started", ErrUnexpectedServerChallenge)
	}
	if c.username == "" || c.token == "" {
		return "", nil, fmt.Errorf("%w: XOAUTH2 needs a username and a token", ErrMalformed)
	}
	if oauthHasCtl(c.username) || oauthHasCtl(c.token) {
		return "", nil, fmt.Errorf("%w: XOAUTH2 username or token has control characters", ErrMalformed)
	}
	b := make([]byte, 0, 24+len(c.username)+len(c.token))
	b = append(b, "user="...)
	b = append(b, c.username...)
	b = append(b, "\x01auth=Bearer "...)
	b = append(b, c.token...)
	b = append(b, 0x01, 0x01)
	c.state = 1
	return XOAuth2, b, nil
}

// Next handles the server's error challenge, the only one XOAUTH2 has.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.state != 1 {
		return nil, fmt.Errorf("%w: XOAUTH2 exchange is over", ErrUnexpectedServerChallenge)
	}
	c.state = 2
	return []byte{}, oauthParseError(XOAuth2, challenge)
}

func newXOAuth2Server(env *serverEnv, mech string) IdentityServer {
	return &oauthServer{serverEnv: env, mech: mech, parse: oauthParseXOAuth2, status: "401"}
}

// oauthParseXOAuth2 parses user=<user> %x01 auth=Bearer <token> %x01 %x01.
// The two pairs may come in either order (Dovecot accepts both); anything
// else is refused, as no client sends other keys.
func oauthParseXOAuth2(msg []byte) (user, token string, err error) {
	if !bytes.HasSuffix(msg, []byte{0x01, 0x01}) {
		return "", "", fmt.Errorf("%w: XOAUTH2 response does not end in %%x01 %%x01", ErrMalformed)
	}
	rest := msg[:len(msg)-1] // each pair now ends in %x01
	var haveUser, haveAuth bool
	for len(rest) > 0 {
		j := bytes.IndexByte(rest, 0x01)
		if j <= 0 {
			return "", "", fmt.Errorf("%w: XOAUTH2 response has an empty field", ErrMalformed)
		}
		p := rest[:j]
		rest = rest[j+1:]
		switch {
		case bytes.HasPrefix(p, []byte("user=")) && !haveUser:
			haveUser = true
			v := p[len("user="):]
			if len(v) == 0 || !utf8.Valid(v) || oauthHasCtl(string(v)) {
				return "", "", fmt.Errorf("%w: XOAUTH2 user is empty or not UTF-8 text", ErrMalformed)
			}
			user = string(v)
		case bytes.HasPrefix(p, []byte("auth=")) && !haveAuth:
			haveAuth = true
			token, err = oauthParseAuth(p[len("auth="):])
			if err != nil {
				return "", "", err
			}
		default:
			return "", "", fmt.Errorf("%w: XOAUTH2 field is unknown or repeated", ErrMalformed)
		}
	}
	if !haveUser || !haveAuth {
		return "", "", fmt.Errorf("%w: XOAUTH2 response needs user and auth", ErrMalformed)
	}
	return user, token, nil
}
