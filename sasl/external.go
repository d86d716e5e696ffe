package sasl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// External is the EXTERNAL mechanism name (RFC 4422, Appendix A).
const External = "EXTERNAL"

// extMaxAuthzid bounds the authorization identity an EXTERNAL client may
// send; RFC 4422 sets no limit, PLAIN's per-field bound is used.
const extMaxAuthzid = 1024

// NewExternalClient returns a Client for EXTERNAL (RFC 4422, Appendix A),
// for a client whose identity was established outside SASL, usually by a
// TLS client certificate. It sends authzid as its initial response; "" (an
// empty response, not an absent one) asks to act as the identity the
// server derived from the external credentials. Start fails with an error
// wrapping ErrMalformed if authzid contains NUL or is not UTF-8, and
// ErrTooLarge beyond 1024 bytes. The Client is single-use and not safe for
// concurrent use.
func NewExternalClient(authzid string) Client {
	return &extClient{authzid: authzid}
}

// NewExternalServer returns a Server for EXTERNAL (RFC 4422, Appendix A) on
// the connection described by conn (nil: no TLS). It passes conn and the
// client's authzid to cfg.External, which returns the authenticated user,
// typically from conn.TLS.PeerCertificates. The resulting Identity has
// that user as Username and the client's authzid as Authzid, and is
// checked by cfg.Authorize or the default rule (authzid "" or equal to the
// user). Without an initial response the server first sends an empty
// challenge; an empty initial response means authzid "". A nil ctx means
// context.Background.
//
// EXTERNAL is as strong as the external authentication: with TLS client
// certificates, cfg.External must check that the chain was verified.
//
// Errors: ErrMalformed or ErrTooLarge for an authzid with NUL, invalid
// UTF-8 or over 1024 bytes; ErrUnsupportedMechanism if cfg.External is nil;
// ErrAuthFailed when cfg.External reports ErrUnknownUser or ErrAuthFailed
// or returns no user; any other error of cfg.External unchanged;
// ErrAuthzFailed or the error of cfg.Authorize; ErrUnexpectedClientResponse
// after the end. The Server is single-use and not safe for concurrent use;
// it implements [IdentityServer].
func NewExternalServer(ctx context.Context, cfg *ServerConfig, conn *ConnState) Server {
	s := &extOwnedServer{}
	if conn != nil {
		s.conn = *conn
	}
	s.env = *newServerEnv(ctx, cfg, &s.conn)
	s.extServer = extServer{serverEnv: &s.env, mech: External}
	return &s.extServer
}

func newExternalServer(env *serverEnv, mech string) Server {
	return &extServer{serverEnv: env, mech: mech}
}

func newExternalClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return NewExternalClient(cfg.Authzid), nil
}

type extClient struct {
	authzid string
	started bool
	resent  bool
}

var _ Client = (*extClient)(nil)

// Start sends the authzid, or an empty response.
func (c *extClient) Start() (string, []byte, error) {
	if err := extCheckAuthzid([]byte(c.authzid)); err != nil {
		return "", nil, err
	}
	c.started = true
	return External, append([]byte{}, c.authzid...), nil
}

// Next answers the one empty challenge a server sends when the protocol
// layer did not transmit the initial response.
func (c *extClient) Next(challenge []byte) ([]byte, error) {
	if len(challenge) != 0 || c.resent || !c.started {
		return nil, ErrUnexpectedServerChallenge
	}
	c.resent = true
	return append([]byte{}, c.authzid...), nil
}

func extCheckAuthzid(b []byte) error {
	switch {
	case len(b) > extMaxAuthzid:
		return fmt.Errorf("%w: EXTERNAL authzid longer than %d bytes", ErrTooLarge, extMaxAuthzid)
	case bytes.IndexByte(b, 0) >= 0:
		return fmt.Errorf("%w: EXTERNAL authzid contains NUL", ErrMalformed)
	case !utf8.Valid(b):
		return fmt.Errorf("%w: EXTERNAL authzid is not UTF-8", ErrMalformed)
	}
	return nil
}

type extServer struct {
	*serverEnv
	mech  string
	state plainState
}

type extOwnedServer struct {
	extServer
	env  serverEnv
	conn ConnState
}

var _ IdentityServer = (*extServer)(nil)

// Next receives the authzid (RFC 4422, Appendix A.1).
func (s *extServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case plainFinished:
		return nil, false, ErrUnexpectedClientResponse
	case plainStart:
		if response == nil {
			s.state = plainChallenged
			return []byte{}, false, nil
		}
	}
	s.state = plainFinished
	if err := extCheckAuthzid(response); err != nil {
		return nil, false, err
	}
	if s.cfg.External == nil {
		return nil, false, fmt.Errorf("%w: no EXTERNAL verifier configured", ErrUnsupportedMechanism)
	}
	authzid := string(response)
	user, err := s.cfg.External.VerifyExternal(s.ctx, s.conn, authzid)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrAuthFailed) {
			return nil, false, ErrAuthFailed
		}
		return nil, false, err
	}
	if user == "" {
		return nil, false, ErrAuthFailed
	}
	if err := s.succeed(Identity{Mechanism: s.mech, Username: user, Authzid: authzid}); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}
