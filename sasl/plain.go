package sasl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Plain is the PLAIN mechanism name (RFC 4616).
const Plain = "PLAIN"

// plainMaxField bounds each of authzid, authcid and passwd. RFC 4616,
// Section 2 says a server MUST accept up to 255 octets per field; four times
// that leaves room for long UTF-8 passphrases and email-address usernames
// while keeping a hostile message small.
const plainMaxField = 1024

// plainMaxMessage bounds the whole PLAIN message: three maximal fields and
// the two NUL separators. Anything longer is refused before it is scanned.
const plainMaxMessage = 3*plainMaxField + 2

// NewPlainClient returns a Client for PLAIN (RFC 4616). It sends
// authzid NUL username NUL password as its initial response; authzid "" asks
// to act as username itself.
//
// PLAIN sends the password in the clear: use it only inside TLS (a
// [ClientConfig] does not choose it without TLS unless InsecureAuth is set).
// Start fails with an error wrapping ErrMalformed if username or password is
// empty or a field contains NUL, and ErrTooLarge if a field exceeds 1024
// bytes. The Client is single-use and not safe for concurrent use.
func newPlainClient(authzid, username, password string) Client {
	return &plainClient{authzid: authzid, username: username, password: password}
}

// newPlainServer is the ServerSet's factory; mech is always Plain.
func newPlainServer(env *serverEnv, mech string) IdentityServer {
	env.spare.plain = plainServer{serverEnv: env}
	return &env.spare.plain
}

func newPlainClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return newPlainClient(cfg.Authzid, cfg.Username, cfg.Password), nil
}

type plainClient struct {
	builtinClient
	authzid, username, password string
	msg                         []byte
	resent                      bool
}

var _ FinishedClient = (*plainClient)(nil)

// Finished returns nil once the message was sent: PLAIN is not mutual.
func (c *plainClient) Finished() error { return builtinFinished(c.msg != nil, Plain) }

// Start returns the whole PLAIN message as the initial response
// (RFC 4616, Section 2).
func (c *plainClient) Start() (string, []byte, error) {
	switch {
	case c.username == "":
		return "", nil, fmt.Errorf("%w: PLAIN: empty username", ErrMalformed)
	case c.password == "":
		return "", nil, fmt.Errorf("%w: PLAIN: empty password", ErrMalformed)
	case len(c.authzid) > plainMaxField || len(c.username) > plainMaxField || len(c.password) > plainMaxField:
		return "", nil, fmt.Errorf("%w: PLAIN: a field is longer than %d bytes", ErrTooLarge, plainMaxField)
	case plainHasNUL(c.authzid) || plainHasNUL(c.username) || plainHasNUL(c.password):
		return "", nil, fmt.Errorf("%w: PLAIN: a field contains NUL", ErrMalformed)
	}
	msg := make([]byte, 0, len(c.authzid)+len(c.username)+len(c.password)+2)
	msg = append(msg, c.authzid...)
	msg = append(msg, 0)
	msg = append(msg, c.username...)
	msg = append(msg, 0)
	msg = append(msg, c.password...)
	c.msg = msg
	return Plain, msg, nil
}

// Next answers the one empty challenge a server sends when the protocol
// layer did not transmit the initial response (RFC 4422, Section 5) with the
// same message; any other challenge is ErrUnexpectedServerChallenge.
func (c *plainClient) Next(challenge []byte) ([]byte, error) {
	if len(challenge) != 0 || c.resent || c.msg == nil {
		return nil, ErrUnexpectedServerChallenge
	}
	c.resent = true
	return c.msg, nil
}

func plainHasNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// plainState is where a one-message exchange (PLAIN, EXTERNAL, ANONYMOUS)
// stands.
type plainState uint8

const (
	plainStart      plainState = iota // nothing received yet
	plainChallenged                   // empty challenge sent, message expected
	plainFinished                     // succeeded or failed: no more responses
)

// plainServer is the PLAIN server a ServerSet makes.
type plainServer struct {
	*serverEnv
	state plainState
}

var _ IdentityServer = (*plainServer)(nil)

// Next receives the PLAIN message (RFC 4616, Section 2), as the initial
// response or after an empty challenge.
func (s *plainServer) Next(response []byte) ([]byte, bool, error) {
	if chal, ok, err := plainAdvance(&s.state, response); !ok {
		return chal, false, err
	}
	if _, _, err := plainAuthenticate(s.serverEnv, response); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// plainAdvance advances a one-message exchange (PLAIN, EXTERNAL, ANONYMOUS):
// ok is true when response is the message to process now. Otherwise it
// returns the empty challenge that asks for a missing initial response
// (RFC 4422, Section 5), or ErrUnexpectedClientResponse after the end.
func plainAdvance(state *plainState, response []byte) (chal []byte, ok bool, err error) {
	switch *state {
	case plainFinished:
		return nil, false, ErrUnexpectedClientResponse
	case plainStart:
		if response == nil {
			*state = plainChallenged
			return []byte{}, false, nil
		}
	}
	*state = plainFinished
	return nil, true, nil
}

// oneMsgClient is the client of a mechanism whose whole exchange is one
// client message sent as the initial response (EXTERNAL, ANONYMOUS).
type oneMsgClient struct {
	builtinClient
	mech    string
	msg     string
	check   func([]byte) error // refuses a message the server would refuse; nil if checked already
	started bool
	resent  bool
}

var _ FinishedClient = (*oneMsgClient)(nil)

// Finished returns nil once the message was sent: the mechanism is not
// mutual.
func (c *oneMsgClient) Finished() error { return builtinFinished(c.started, c.mech) }

// Start sends the message as the initial response.
func (c *oneMsgClient) Start() (string, []byte, error) {
	msg := []byte(c.msg) // the caller's to keep
	if c.check != nil {
		if err := c.check(msg); err != nil {
			return "", nil, err
		}
	}
	c.started = true
	return c.mech, msg, nil
}

// Next answers the one empty challenge a server sends when the protocol
// layer did not transmit the initial response (RFC 4422, Section 5).
func (c *oneMsgClient) Next(challenge []byte) ([]byte, error) {
	if len(challenge) != 0 || c.resent || !c.started {
		return nil, ErrUnexpectedServerChallenge
	}
	c.resent = true
	return append([]byte{}, c.msg...), nil
}

// oneMsgServer is the server of a mechanism whose whole exchange is one
// client message (EXTERNAL, ANONYMOUS). verify checks the message and
// returns the identity it establishes; the mechanism name is filled in
// here and the authorization policy applied (serverEnv.succeed).
type oneMsgServer struct {
	*serverEnv
	mech   string
	state  plainState
	verify func(env *serverEnv, msg []byte) (Identity, error)
}

var _ IdentityServer = (*oneMsgServer)(nil)

// Next receives the message, as the initial response or after an empty
// challenge.
func (s *oneMsgServer) Next(response []byte) ([]byte, bool, error) {
	if chal, ok, err := plainAdvance(&s.state, response); !ok {
		return chal, false, err
	}
	id, err := s.verify(s.serverEnv, response)
	if err != nil {
		return nil, false, err
	}
	id.Mechanism = s.mech
	if err := s.succeed(id); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// plainAuthenticate parses a PLAIN message, verifies the password and
// applies the authorization policy (env.succeed).
func plainAuthenticate(env *serverEnv, msg []byte) (authzid, authcid string, err error) {
	authzid, authcid, passwd, err := plainParse(msg)
	if err != nil {
		return "", "", err
	}
	if authcid, err = env.verifyPassword(authcid, passwd); err != nil {
		return "", "", err
	}
	// Username is the entry verified (issue 8: a mechanism reports exactly
	// the identity whose credentials it checked).
	if err := env.succeed(Identity{Mechanism: Plain, Username: authcid, Authzid: authzid}); err != nil {
		return "", "", err
	}
	return authzid, authcid, nil
}

// plainParse splits message = [authzid] NUL authcid NUL passwd
// (RFC 4616, Section 2). It converts the message to a string once and
// slices the fields out of it.
func plainParse(msg []byte) (authzid, authcid, passwd string, err error) {
	if len(msg) > plainMaxMessage {
		return "", "", "", fmt.Errorf("%w: PLAIN message longer than %d bytes", ErrTooLarge, plainMaxMessage)
	}
	i := bytes.IndexByte(msg, 0)
	if i < 0 {
		return "", "", "", fmt.Errorf("%w: PLAIN message has no NUL", ErrMalformed)
	}
	j := bytes.IndexByte(msg[i+1:], 0)
	if j < 0 {
		return "", "", "", fmt.Errorf("%w: PLAIN message has one NUL, want two", ErrMalformed)
	}
	j += i + 1
	switch {
	case bytes.IndexByte(msg[j+1:], 0) >= 0:
		return "", "", "", fmt.Errorf("%w: PLAIN message has more than two NULs", ErrMalformed)
	case j == i+1:
		return "", "", "", fmt.Errorf("%w: PLAIN authcid is empty", ErrMalformed)
	case j+1 == len(msg):
		return "", "", "", fmt.Errorf("%w: PLAIN passwd is empty", ErrMalformed)
	case i > plainMaxField || j-i-1 > plainMaxField || len(msg)-j-1 > plainMaxField:
		return "", "", "", fmt.Errorf("%w: PLAIN field longer than %d bytes", ErrTooLarge, plainMaxField)
	case !utf8.Valid(msg):
		return "", "", "", fmt.Errorf("%w: PLAIN message is not UTF-8", ErrMalformed)
	}
	s := string(msg)
	return s[:i], s[i+1 : j], s[j+1:], nil
}

// verifyPassword checks a plaintext password, as PLAIN and LOGIN receive
// it, with the first configured source: cfg.Passwords, else cfg.Plaintext,
// else cfg.SCRAM (the password is run through SCRAM and checked against
// StoredKey). It returns the name whose credentials were verified, the
// identity the mechanism must report: username itself, or for SCRAM keys
// username prepared as SCRAM prepares n= (the keys' entry). An error
// wrapping ErrUnknownUser or ErrAuthFailed becomes ErrAuthFailed itself, so
// an unknown user and a wrong password look the same to the caller and the
// peer; one wrapping ErrNoCredentials (a stored scheme that cannot verify
// a password) wraps ErrAuthFailed and says so for the log; any other error
// of the store is returned unchanged.
func (e *serverEnv) verifyPassword(username, password string) (string, error) {
	var err error
	switch cfg := e.cfg; {
	case cfg.Passwords != nil:
		err = cfg.Passwords.VerifyPassword(e.ctx, username, password)
	case cfg.Plaintext != nil:
		err = plainVerifyPlaintext(e.ctx, cfg.Plaintext, username, password)
	case cfg.SCRAM != nil:
		username, err = scramVerifyPasswordFake(e.ctx, cfg, username, password)
	default:
		return "", fmt.Errorf("%w: no password verifier configured", ErrUnsupportedMechanism)
	}
	switch {
	case err == nil:
		return username, nil
	case errors.Is(err, ErrNoCredentials):
		return "", errPasswordNoCredentials
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrAuthFailed):
		return "", ErrAuthFailed
	}
	return "", err
}

// errPasswordNoCredentials is the failure of a user whose stored scheme
// cannot verify a password: ErrAuthFailed to the peer, the cause in the log.
var errPasswordNoCredentials = fmt.Errorf("%w: the stored password scheme cannot verify a password", ErrAuthFailed)

// plainVerifyPlaintext compares password with the stored plaintext. An
// unknown user is compared against an empty dummy, so both paths hash and
// compare the same way.
func plainVerifyPlaintext(ctx context.Context, lookup PlaintextLookup, username, password string) error {
	stored, err := lookup.LookupPassword(ctx, username)
	unknown := 0
	if err != nil {
		if !errors.Is(err, ErrUnknownUser) {
			return err
		}
		stored, unknown = "", 1
	}
	// Constant time on fixed-length digests: comparing the strings
	// themselves would leak the stored password's length, and an early
	// exit how many leading bytes the guess got right.
	want := sha256.Sum256([]byte(stored))
	got := sha256.Sum256([]byte(password))
	if subtle.ConstantTimeCompare(want[:], got[:])&(unknown^1) != 1 {
		return ErrAuthFailed
	}
	return nil
}
