// Package sasltest holds helpers for the module's own tests: SASL clients
// for a test whose protocol client (go-imap's, go-smtp's) runs TLS itself,
// so the sasl.ClientConfig is told the connection has it.
package sasltest

import (
	"crypto/tls"

	"github.com/go-mailauth/mailauth/sasl"
)

// Client returns cfg's Client of mech on a TLS 1.3 connection. It panics
// if the config cannot run mech: a test's own mistake.
func Client(mech string, cfg sasl.ClientConfig) sasl.Client {
	cfg.Mechanisms = []string{mech}
	c, err := cfg.NewClient([]string{mech}, sasl.ClientConnState(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}))
	if err != nil {
		panic(err)
	}
	return c
}

// Plain returns a PLAIN client.
func Plain(authzid, user, pass string) sasl.Client {
	return Client(sasl.Plain, sasl.ClientConfig{Authzid: authzid, Username: user, Password: pass})
}

// Login returns a LOGIN client.
func Login(user, pass string) sasl.Client {
	return Client(sasl.Login, sasl.ClientConfig{Username: user, Password: pass})
}

// CRAMMD5 returns a CRAM-MD5 client.
func CRAMMD5(user, pass string) sasl.Client {
	return Client(sasl.CRAMMD5, sasl.ClientConfig{Username: user, Password: pass})
}
