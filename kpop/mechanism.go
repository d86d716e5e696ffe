package kpop

import (
	"context"
	"errors"

	"github.com/go-mailauth/mailauth/sasl"
)

// The sasl package's extension point: GSSAPI as values for
// sasl.ServerConfig.Extra and sasl.ClientConfig.Extra, so that a ServerSet
// offers it with the same policy, ordering, Authorize hook and Identity as
// a built-in mechanism, and ClientConfig.NewClient may choose it.

// ServerMechanism returns GSSAPI for service ("imap", "pop" or "smtp") as
// a sasl.ServerMechanism. Each NewServer is [Acceptor.NewGSSAPIServer]
// with the connection's remote address.
func (a *Acceptor) ServerMechanism(service string) sasl.ServerMechanism {
	return gssapiServerMech{a: a, service: service}
}

type gssapiServerMech struct {
	a       *Acceptor
	service string
}

// Name returns the mechanism name.
func (gssapiServerMech) Name() string { return GSSAPI }

// Security returns the mechanism's properties.
func (gssapiServerMech) Security() sasl.Security { return gssapiSecurity }

// NewServer starts one exchange on conn.
func (m gssapiServerMech) NewServer(ctx context.Context, conn *sasl.ConnState) (sasl.IdentityServer, error) {
	return m.a.NewGSSAPIServer(ctx, m.service, conn.RemoteAddr()), nil
}

// ClientMechanism returns GSSAPI to service ("imap", "pop" or "smtp") as a
// sasl.ClientMechanism. Its clients are [NewGSSAPIClient]'s, which
// implement sasl.FinishedClient. NewClient fails when cfg has no
// credentials or host.
func (cfg *ClientConfig) ClientMechanism(service string) sasl.ClientMechanism {
	return gssapiClientMech{cfg: cfg, service: service}
}

type gssapiClientMech struct {
	cfg     *ClientConfig
	service string
}

// Name returns the mechanism name.
func (gssapiClientMech) Name() string { return GSSAPI }

// Security returns the mechanism's properties.
func (gssapiClientMech) Security() sasl.Security { return gssapiSecurity }

// NewClient returns the client of one exchange on conn.
func (m gssapiClientMech) NewClient(_ *sasl.ConnState, _ []string) (sasl.Client, error) {
	if m.cfg == nil || m.cfg.Credentials == nil || m.cfg.Host == "" {
		return nil, errors.New("kpop: GSSAPI: ClientConfig needs Credentials and Host")
	}
	return NewGSSAPIClient(m.cfg, m.service), nil
}
