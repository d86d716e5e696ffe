package sasl

import (
	"bytes"
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
func newExternalClient(authzid string) Client {
	return &oneMsgClient{mech: External, msg: authzid, check: extCheckAuthzid}
}

func newExternalServer(env *serverEnv, mech string) IdentityServer {
	env.spare.one = oneMsgServer{serverEnv: env, mech: mech, verify: extVerify}
	return &env.spare.one
}

func newExternalClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return newExternalClient(cfg.Authzid), nil
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

// extVerify receives the authzid (RFC 4422, Appendix A.1).
func extVerify(s *serverEnv, response []byte) (Identity, error) {
	if err := extCheckAuthzid(response); err != nil {
		return Identity{}, err
	}
	if s.cfg.External == nil {
		return Identity{}, fmt.Errorf("%w: no EXTERNAL verifier configured", ErrUnsupportedMechanism)
	}
	authzid := string(response)
	user, err := s.cfg.External.VerifyExternal(s.ctx, s.conn, authzid)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrAuthFailed) {
			return Identity{}, ErrAuthFailed
		}
		return Identity{}, err
	}
	if user == "" {
		return Identity{}, ErrAuthFailed
	}
	return Identity{Username: user, Authzid: authzid}, nil
}
