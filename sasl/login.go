package sasl

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Login is the LOGIN mechanism name (draft-murchison-sasl-login-00). LOGIN
// is legacy: it predates PLAIN, was never standardised, and survives
// because Microsoft Exchange, Office 365 and many SMTP clients speak it.
const Login = "LOGIN"

// loginMaxField bounds the username and the password of LOGIN. The draft
// sets no limit; this matches PLAIN's per-field bound.
const loginMaxField = 1024

// loginMaxRounds bounds the challenges a LOGIN client answers: the username
// and the password (draft-murchison-sasl-login, Section 2).
const loginMaxRounds = 2

// The challenges a LOGIN server sends. The draft names them "User Name" and
// "Password"; every deployed server and client (Exchange, Postfix/Cyrus,
// Outlook, go-sasl, whose client demands exactly "Password:") uses these.
const (
	loginUsernameChallenge = "Username:"
	loginPasswordChallenge = "Password:"
)

// NewLoginClient returns a Client for LOGIN (draft-murchison-sasl-login).
// It sends no initial response and answers the server's two challenges with
// the username and the password. It recognises "Username:"/"User Name" and
// "Password:" case-insensitively and answers any other text by position
// (first the username, then the password), as deployed clients do.
//
// LOGIN sends the password in the clear and is legacy: prefer PLAIN, and use
// either only inside TLS. LOGIN has no authzid. Start fails with an error
// wrapping ErrMalformed for an empty username or password or one containing
// NUL, and ErrTooLarge beyond 1024 bytes; a third challenge is
// ErrUnexpectedServerChallenge. The Client is single-use and not safe for
// concurrent use.
func newLoginClient(username, password string) Client {
	return &loginClient{username: username, password: password}
}

func newLoginServer(env *serverEnv, mech string) IdentityServer {
	return &loginServer{serverEnv: env, mech: mech}
}

func newLoginClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return newLoginClient(cfg.Username, cfg.Password), nil
}

type loginClient struct {
	builtinClient
	username, password string
	rounds             int
	started            bool
	sentUser, sentPass bool
}

var _ FinishedClient = (*loginClient)(nil)

// Finished returns nil once the exchange was started: LOGIN is not mutual,
// and servers differ in how many prompts they send.
func (c *loginClient) Finished() error { return builtinFinished(c.started, Login) }

// Start checks the credentials and sends no initial response: servers
// that take the username as one differ, servers that refuse it exist.
func (c *loginClient) Start() (string, []byte, error) {
	if err := loginCheckField("username", c.username); err != nil {
		return "", nil, err
	}
	if err := loginCheckField("password", c.password); err != nil {
		return "", nil, err
	}
	c.started = true
	return Login, nil, nil
}

func loginCheckField(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: LOGIN: empty %s", ErrMalformed, what)
	case len(v) > loginMaxField:
		return fmt.Errorf("%w: LOGIN: %s longer than %d bytes", ErrTooLarge, what, loginMaxField)
	case plainHasNUL(v):
		return fmt.Errorf("%w: LOGIN: %s contains NUL", ErrMalformed, what)
	}
	return nil
}

// Next answers a "Username:" or "Password:" challenge.
func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	if c.sentPass || c.rounds >= loginMaxRounds {
		return nil, ErrUnexpectedServerChallenge
	}
	c.rounds++
	wantPass := c.sentUser // by position
	p, n := loginPrompt(challenge)
	switch prompt := p[:n]; {
	case bytes.HasPrefix(prompt, []byte("user")):
		if c.sentUser {
			return nil, fmt.Errorf("%w: LOGIN server asked for the username twice", ErrUnexpectedServerChallenge)
		}
		wantPass = false
	case bytes.HasPrefix(prompt, []byte("pass")):
		wantPass = true
	}
	if wantPass {
		c.sentPass = true
		return []byte(c.password), nil
	}
	c.sentUser = true
	return []byte(c.username), nil
}

// loginPrompt returns the first bytes of a challenge, lower-cased, without
// leading space: enough to tell "Username:"/"User Name" from "Password:".
// It returns an array, not a slice of one, so that nothing escapes.
func loginPrompt(challenge []byte) (p [4]byte, n int) {
	challenge = bytes.TrimLeft(challenge, " \t")
	n = copy(p[:], challenge)
	for i := range n {
		if 'A' <= p[i] && p[i] <= 'Z' {
			p[i] += 'a' - 'A'
		}
	}
	return p, n
}

// loginState is where a LOGIN exchange stands.
type loginState uint8

const (
	loginStart    loginState = iota // nothing received yet
	loginWantUser                   // "Username:" sent
	loginWantPass                   // "Password:" sent
	loginFinished                   // succeeded or failed
)

type loginServer struct {
	*serverEnv
	mech     string
	state    loginState
	username string
}

var _ IdentityServer = (*loginServer)(nil)

// Next receives the username (as initial response or answer to
// "Username:") and then the password.
func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case loginStart:
		if len(response) == 0 {
			// No initial response, or an empty one, which Dovecot treats
			// the same way: ask for the username.
			s.state = loginWantUser
			return []byte(loginUsernameChallenge), false, nil
		}
		fallthrough
	case loginWantUser:
		u, err := loginParseField("username", response)
		if err != nil {
			s.state = loginFinished
			return nil, false, err
		}
		if !utf8.ValidString(u) {
			s.state = loginFinished
			return nil, false, fmt.Errorf("%w: LOGIN username is not UTF-8", ErrMalformed)
		}
		s.username = u
		s.state = loginWantPass
		return []byte(loginPasswordChallenge), false, nil
	case loginWantPass:
		s.state = loginFinished
		p, err := loginParseField("password", response)
		if err != nil {
			return nil, false, err
		}
		user, err := s.verifyPassword(s.username, p)
		if err != nil {
			return nil, false, err
		}
		// The name whose credentials were verified (see verifyPassword).
		if err := s.succeed(Identity{Mechanism: s.mech, Username: user}); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, ErrUnexpectedClientResponse
}

func loginParseField(what string, b []byte) (string, error) {
	switch {
	case len(b) == 0:
		return "", fmt.Errorf("%w: LOGIN %s is empty", ErrMalformed, what)
	case len(b) > loginMaxField:
		return "", fmt.Errorf("%w: LOGIN %s longer than %d bytes", ErrTooLarge, what, loginMaxField)
	case bytes.IndexByte(b, 0) >= 0:
		return "", fmt.Errorf("%w: LOGIN %s contains NUL", ErrMalformed, what)
	}
	return string(b), nil
}
