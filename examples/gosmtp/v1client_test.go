package gosmtp

import (
	"crypto/tls"

	"github.com/go-mailauth/mailauth/sasl"
)

// v1Client returns the Client of mech for cfg on a TLS connection: the
// go-imap and go-smtp clients in these tests run TLS themselves, and a
// client made by sasl.ClientConfig needs to know it has it.
func v1Client(mech string, cfg sasl.ClientConfig) sasl.Client {
	cfg.Mechanisms = []string{mech}
	c, err := cfg.NewClient([]string{mech}, sasl.ClientConnState(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}))
	if err != nil {
		panic(err)
	}
	return c
}

func testPlain(authzid, user, pass string) sasl.Client {
	return v1Client(sasl.Plain, sasl.ClientConfig{Authzid: authzid, Username: user, Password: pass})
}

func testLogin(user, pass string) sasl.Client {
	return v1Client(sasl.Login, sasl.ClientConfig{Username: user, Password: pass})
}

func testCRAMMD5(user, pass string) sasl.Client {
	return v1Client(sasl.CRAMMD5, sasl.ClientConfig{Username: user, Password: pass})
}
