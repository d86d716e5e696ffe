package sasl

import (
	"context"
	"fmt"
)

// The standalone constructors the package had before v1, kept for its own
// tests. Clients are the mechanisms' own; servers come from a ServerSet
// (so Authorize and the recorded Identity apply) without its offer checks.

func NewAnonymousClient(trace string) Client { return newAnonymousClient(trace) }
func NewCRAMMD5Client(username, password string) Client {
	return newCRAMMD5Client(username, password)
}
func NewDigestMD5Client(username, password, authzid, service, host string) Client {
	return newDigestMD5Client(username, password, authzid, service, host)
}
func NewExternalClient(authzid string) Client { return newExternalClient(authzid) }
func NewLoginClient(username, password string) Client {
	return newLoginClient(username, password)
}
func NewOAuthBearerClient(opts *oauthBearerOptions) Client { return newOAuthBearerClient(opts) }
func NewPlainClient(authzid, username, password string) Client {
	return newPlainClient(authzid, username, password)
}
func NewSCRAMClient(mech string, cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return newSCRAMClient(mech, cfg, conn, offered)
}
func NewXOAuth2Client(username, token string) Client { return newXOAuth2Client(username, token) }

// testServer returns a Server for mech from a ServerSet on conn, skipping
// the set's offer policy (TLS, opt-in, legacy) but not its Authorize.
func testServer(ctx context.Context, cfg *ServerConfig, conn *ConnState, mech string) (Server, error) {
	set := NewServerSet(cfg, conn)
	c, ok := set.find(mech)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedMechanism, mech)
	}
	return set.start(ctx, c)
}

func mustTestServer(ctx context.Context, cfg *ServerConfig, conn *ConnState, mech string) Server {
	s, err := testServer(ctx, cfg, conn, mech)
	if err != nil {
		panic(err)
	}
	return s
}

func NewAnonymousServer(ctx context.Context, cfg *ServerConfig) Server {
	return mustTestServer(ctx, cfg, nil, Anonymous)
}
func NewCRAMMD5Server(ctx context.Context, cfg *ServerConfig) Server {
	return mustTestServer(ctx, cfg, nil, CRAMMD5)
}
func NewDigestMD5Server(ctx context.Context, cfg *ServerConfig) Server {
	return mustTestServer(ctx, cfg, nil, DigestMD5)
}
func NewExternalServer(ctx context.Context, cfg *ServerConfig, conn *ConnState) Server {
	return mustTestServer(ctx, cfg, conn, External)
}
func NewLoginServer(ctx context.Context, cfg *ServerConfig) Server {
	return mustTestServer(ctx, cfg, nil, Login)
}
func NewOAuthBearerServer(ctx context.Context, cfg *ServerConfig) Server {
	return mustTestServer(ctx, cfg, nil, OAuthBearer)
}
func NewPlainServer(ctx context.Context, cfg *ServerConfig) Server {
	return mustTestServer(ctx, cfg, nil, Plain)
}
func NewXOAuth2Server(ctx context.Context, cfg *ServerConfig) Server {
	return mustTestServer(ctx, cfg, nil, XOAuth2)
}
func NewSCRAMServer(ctx context.Context, cfg *ServerConfig, mech string, conn *ConnState) (Server, error) {
	name, _, _, plus, ok := scramMechanism(mech)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a SCRAM mechanism", ErrUnsupportedMechanism, mech)
	}
	if cfg == nil || cfg.SCRAM == nil {
		return nil, fmt.Errorf("%w: %s has no credentials configured", ErrUnsupportedMechanism, name)
	}
	if conn == nil {
		conn = &ConnState{}
	}
	sc := *conn
	sc.server = true
	if plus && !scramServerCanBind(&sc) {
		return nil, fmt.Errorf("%w: %s needs channel-binding data", ErrUnsupportedMechanism, name)
	}
	return testServer(ctx, cfg, &sc, name)
}

// inner returns the mechanism's own Server inside a set's, for tests that
// set its internals (fixed nonces and challenges of published vectors).
func inner(s Server) Server {
	if w, ok := s.(*setServer); ok {
		return w.inner
	}
	return s
}

// innerClient returns the mechanism's own Client inside NewClient's.
func innerClient(c Client) Client {
	if w, ok := c.(*chosenClient); ok {
		return w.inner
	}
	return c
}
