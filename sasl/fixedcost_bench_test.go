package sasl_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/go-mailauth/mailauth/sasl"
)

// fcSink keeps benchmarked clients and servers on the heap, as they are
// when handed to go-imap or go-smtp.
var fcSink any

// fcTLS is a completed TLS connection state, so that the mechanisms that
// need TLS are allowed: the policy check is part of the measured cost.
var fcTLS = &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}

type fcPasswords struct{}

func (fcPasswords) VerifyPassword(_ context.Context, user, pass string) error {
	if user == "tim" && pass == "tanstaaftanstaaf" {
		return nil
	}
	return sasl.ErrAuthFailed
}

type fcTokens struct{}

func (fcTokens) VerifyToken(_ context.Context, user, token string) (string, error) {
	if token == "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==" {
		return "tim", nil
	}
	return "", sasl.ErrAuthFailed
}

// BenchmarkFixedCost measures, through the public API and beside go-sasl
// doing the same work, what a mechanism costs apart from any hash: making
// the Client or Server for one exchange and running all of its steps.
// mailauth's clients come from ClientConfig.NewClient (which applies the TLS
// policy and chooses among the offered mechanisms), its servers from a
// connection's ServerSet.NewServer (which applies the policy, Authorize and
// records the Identity); go-sasl's from its constructors, which do none of
// that. The ServerSet itself is made once per connection; its cost is the
// row "serverset".
func BenchmarkFixedCost(b *testing.B) {
	ctx := context.Background()
	srvConn := sasl.ServerConnState(fcTLS, nil, nil)
	cliConn := sasl.ClientConnState(fcTLS)
	scfg := &sasl.ServerConfig{
		Passwords: fcPasswords{},
		Tokens:    fcTokens{},
		Anonymous: func(context.Context, string) error { return nil },
		Legacy:    true,
	}
	set := sasl.NewServerSet(scfg, srvConn)
	plainMsg := []byte("\x00tim\x00tanstaaftanstaaf")
	oauthMsg := []byte("n,a=tim,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01")

	// client runs a whole client side: Start, then Next for each
	// challenge.
	client := func(c sasl.Client, err error, chals ...[]byte) {
		if err != nil {
			b.Fatal(err)
		}
		fcSink = c
		if _, _, err := c.Start(); err != nil {
			b.Fatal(err)
		}
		for _, ch := range chals {
			if _, err := c.Next(ch); err != nil {
				b.Fatal(err)
			}
		}
	}
	// server runs a whole server side on the given responses, the last
	// of which must complete it.
	server := func(s sasl.Server, err error, resps ...[]byte) {
		if err != nil {
			b.Fatal(err)
		}
		fcSink = s
		for i, r := range resps {
			_, done, err := s.Next(r)
			if err != nil {
				b.Fatal(err)
			}
			if done != (i == len(resps)-1) {
				b.Fatal("server ended at the wrong step")
			}
		}
	}
	// The server's list, as a client has it from CAPABILITY or EHLO
	// (made once, like the capabilities of a connection).
	offered := []string{sasl.SCRAMSHA256, sasl.Plain, sasl.Login, sasl.OAuthBearer, sasl.External, sasl.Anonymous}
	newClient := func(cfg *sasl.ClientConfig, mech string) (sasl.Client, error) {
		return cfg.NewClient(offered, cliConn)
	}
	plainCfg := &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf", Mechanisms: []string{sasl.Plain}}
	loginCfg := &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf", Mechanisms: []string{sasl.Login}}
	anonCfg := &sasl.ClientConfig{Anonymous: true, Trace: "tim@example.org"}
	extCfg := &sasl.ClientConfig{External: true}
	oauthCfg := &sasl.ClientConfig{Username: "tim", Token: "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", Host: "server.example.com", Port: 143}
	authPlain := func(identity, username, password string) error {
		if username == "tim" && password == "tanstaaftanstaaf" {
			return nil
		}
		return errors.New("no")
	}

	for _, r := range []struct {
		name string
		f    func()
	}{
		{"mech=PLAIN/side=client/impl=mailauth", func() { client(newClient(plainCfg, sasl.Plain)) }},
		{"mech=PLAIN/side=client/impl=go-sasl", func() { client(gosasl.NewPlainClient("", "tim", "tanstaaftanstaaf"), nil) }},
		{"mech=LOGIN/side=client/impl=mailauth", func() {
			c, err := newClient(loginCfg, sasl.Login)
			client(c, err, []byte("Username:"), []byte("Password:"))
		}},
		{"mech=LOGIN/side=client/impl=go-sasl", func() {
			client(gosasl.NewLoginClient("tim", "tanstaaftanstaaf"), nil, []byte("Password:"))
		}},
		{"mech=ANONYMOUS/side=client/impl=mailauth", func() { client(newClient(anonCfg, sasl.Anonymous)) }},
		{"mech=ANONYMOUS/side=client/impl=go-sasl", func() { client(gosasl.NewAnonymousClient("tim@example.org"), nil) }},
		{"mech=EXTERNAL/side=client/impl=mailauth", func() { client(newClient(extCfg, sasl.External)) }},
		{"mech=EXTERNAL/side=client/impl=go-sasl", func() { client(gosasl.NewExternalClient(""), nil) }},
		{"mech=OAUTHBEARER/side=client/impl=mailauth", func() { client(newClient(oauthCfg, sasl.OAuthBearer)) }},
		{"mech=OAUTHBEARER/side=client/impl=go-sasl", func() {
			client(gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: "tim", Token: "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", Host: "server.example.com", Port: 143}), nil)
		}},
		{"mech=PLAIN/side=server/impl=mailauth", func() {
			s, err := set.NewServer(ctx, sasl.Plain)
			server(s, err, plainMsg)
		}},
		{"mech=PLAIN/side=server/impl=go-sasl", func() { server(gosasl.NewPlainServer(authPlain), nil, plainMsg) }},
		{"mech=LOGIN/side=server/impl=mailauth", func() {
			s, err := set.NewServer(ctx, sasl.Login)
			server(s, err, nil, []byte("tim"), []byte("tanstaaftanstaaf"))
		}},
		{"mech=ANONYMOUS/side=server/impl=mailauth", func() {
			s, err := set.NewServer(ctx, sasl.Anonymous)
			server(s, err, []byte("tim@example.org"))
		}},
		{"mech=ANONYMOUS/side=server/impl=go-sasl", func() {
			server(gosasl.NewAnonymousServer(func(string) error { return nil }), nil, []byte("tim@example.org"))
		}},
		{"mech=OAUTHBEARER/side=server/impl=mailauth", func() {
			s, err := set.NewServer(ctx, sasl.OAuthBearer)
			server(s, err, oauthMsg)
		}},
		{"mech=OAUTHBEARER/side=server/impl=go-sasl", func() {
			server(gosasl.NewOAuthBearerServer(func(o gosasl.OAuthBearerOptions) *gosasl.OAuthBearerError {
				if o.Token != "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==" {
					return &gosasl.OAuthBearerError{Status: "invalid_token"}
				}
				return nil
			}), nil, oauthMsg)
		}},
		{"serverset", func() {
			s := sasl.NewServerSet(scfg, srvConn)
			fcSink = s.Mechanisms()
		}},
	} {
		r.f() // fails the benchmark before timing if the exchange does not work
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.f()
			}
		})
	}
}
