package sasl_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"

	"github.com/go-mailauth/mailauth/sasl"
)

// exampleTLS is a TLS 1.3 connection state for the in-memory examples; a
// real server gets its ConnState from sasl.ServerConn(conn), a real client
// from sasl.ClientConn(conn).
func exampleTLS() *tls.ConnectionState {
	return &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
}

// reviewServe runs client c against the Server set makes for the
// mechanism c picks, in memory, as IMAP's AUTHENTICATE or SMTP's AUTH
// would carry the messages, and reports who logged in.
func reviewServe(set *sasl.ServerSet, c sasl.Client) (sasl.Identity, error) {
	mech, resp, err := c.Start()
	if err != nil {
		return sasl.Identity{}, err
	}
	s, err := set.NewServer(context.Background(), mech)
	if err != nil {
		return sasl.Identity{}, err
	}
	for range 10 {
		chal, done, err := s.Next(resp)
		if err != nil {
			return sasl.Identity{}, err
		}
		if done {
			// Nothing proves who answered until the client says so.
			if err := sasl.Finished(c); err != nil {
				return sasl.Identity{}, err
			}
			id, _ := set.Identity()
			return id, nil
		}
		if resp, err = c.Next(chal); err != nil {
			return sasl.Identity{}, err
		}
		if resp == nil {
			resp = []byte{}
		}
	}
	return sasl.Identity{}, fmt.Errorf("too many rounds")
}

// exampleLogin offers scfg's mechanisms on a TLS connection, lets ccfg
// choose, and runs the exchange.
func exampleLogin(scfg *sasl.ServerConfig, ccfg *sasl.ClientConfig) (sasl.Identity, error) {
	set := sasl.NewServerSet(scfg, sasl.ServerConnState(exampleTLS(), nil, nil))
	c, err := ccfg.NewClient(set.Mechanisms(), sasl.ClientConnState(exampleTLS()))
	if err != nil {
		return sasl.Identity{}, err
	}
	return reviewServe(set, c)
}

// A server offers what its credentials allow on this connection, a client
// picks the strongest mechanism it can use, and the two run the exchange.
// Without TLS nothing that involves a password is offered, not even
// SCRAM: an eavesdropper could attack its proof offline (RFC 5802,
// Section 9).
func Example() {
	creds, err := sasl.NewSCRAMCredentials(sasl.SCRAMSHA256, "tanstaaftanstaaf", nil, 0)
	if err != nil {
		panic(err)
	}
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"),
		Plaintext: plainUsers{"tim": "tanstaaftanstaaf"},
		SCRAM:     scramStore{"tim": creds.Format(sasl.SCRAMSHA256)},
	}
	fmt.Println("without TLS:", sasl.NewServerSet(cfg, nil).Mechanisms())

	set := sasl.NewServerSet(cfg, sasl.ServerConnState(exampleTLS(), nil, nil))
	fmt.Println("with TLS:", set.Mechanisms())

	client := &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}
	c, err := client.NewClient(set.Mechanisms(), sasl.ClientConnState(exampleTLS()))
	if err != nil {
		panic(err)
	}
	m, _ := sasl.ChosenMechanism(c)
	fmt.Println("chosen:", m.Name(), "mutual:", m.Security().Mutual)
	id, err := reviewServe(set, c)
	fmt.Println(id.Mechanism, id.User(), err)
	// Output:
	// without TLS: []
	// with TLS: [SCRAM-SHA-256 PLAIN]
	// chosen: SCRAM-SHA-256 mutual: true
	// SCRAM-SHA-256 tim <nil>
}

// A ServerSet is made per connection, and again after STARTTLS: once the
// connection has TLS, the password mechanisms are offered. The legacy ones
// (LOGIN, CRAM-MD5, DIGEST-MD5) need ServerConfig.Legacy.
func ExampleNewServerSet() {
	cfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}
	fmt.Println(sasl.NewServerSet(cfg, nil).Mechanisms())
	fmt.Println(sasl.NewServerSet(cfg, sasl.ServerConnState(exampleTLS(), nil, nil)).Mechanisms())

	cfg.Legacy = true // for old clients
	set := sasl.NewServerSet(cfg, sasl.ServerConnState(exampleTLS(), nil, nil))
	fmt.Println(set.Mechanisms())
	// Output:
	// []
	// [PLAIN]
	// [PLAIN LOGIN CRAM-MD5 DIGEST-MD5]
}

// A client that must use one mechanism names it in Mechanisms; the TLS
// policy still applies.
func ExampleClientConfig_NewClient_plain() {
	scfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}
	id, err := exampleLogin(scfg, &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf",
		Mechanisms: []string{sasl.Plain}})
	fmt.Println(id.Mechanism, id.User(), err)
	_, err = exampleLogin(scfg, &sasl.ClientConfig{Username: "tim", Password: "wrong"})
	fmt.Println(err)

	// No TLS: the client does not send the password.
	c := &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}
	_, err = c.NewClient([]string{sasl.Plain}, nil)
	fmt.Println(err)
	// Output:
	// PLAIN tim <nil>
	// sasl: authentication failed
	// sasl: no usable mechanism: server offers PLAIN
}

func ExampleClientConfig_NewClient_login() {
	scfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}, Legacy: true}
	id, err := exampleLogin(scfg, &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf",
		Mechanisms: []string{sasl.Login}})
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: LOGIN tim <nil>
}

func ExampleClientConfig_NewClient_cramMD5() {
	secret := sasl.NewCRAMMD5Secret("tanstaaftanstaaf")
	scfg := &sasl.ServerConfig{CRAMMD5: plainCRAMStore{"tim": secret}, Legacy: true}
	id, err := exampleLogin(scfg, &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"})
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: CRAM-MD5 tim <nil>
}

// Dovecot's passwd-file holds CRAM-MD5 secrets as {CRAM-MD5} and 64 hex
// digits; `doveadm pw -s CRAM-MD5` prints them.
func ExampleParseCRAMMD5Secret() {
	sec, err := sasl.ParseCRAMMD5Secret("{CRAM-MD5}" +
		"e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6")
	fmt.Println(err, sec == sasl.NewCRAMMD5Secret("test"))
	_, err = sasl.ParseCRAMMD5Secret("{CRAM-MD5}not hex")
	fmt.Println(err)
	// Output:
	// <nil> true
	// sasl: malformed message: CRAM-MD5 secret has 7 hex digits, want 64
}

// NewClient hands a SCRAM client the server's offered list so that it can
// tell a -PLUS variant stripped by a man in the middle (RFC 5802, Section
// 6). A SCRAM client verifies the server too: sasl.Finished says whether
// it did.
func ExampleClientConfig_NewClient_scram() {
	creds, err := sasl.NewSCRAMCredentials(sasl.SCRAMSHA1, "pencil", nil, 0)
	if err != nil {
		panic(err)
	}
	scfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: scramStore{"user": creds.Format(sasl.SCRAMSHA1)}}
	id, err := exampleLogin(scfg, &sasl.ClientConfig{Username: "user", Password: "pencil"})
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: SCRAM-SHA-1 user <nil>
}

// reviewCertVerifier stands for a check of conn.TLS().PeerCertificates.
type reviewCertVerifier struct{}

func (reviewCertVerifier) VerifyExternal(ctx context.Context, conn *sasl.ConnState, authzid string) (string, error) {
	return "mail.example.org", nil // the verified certificate's subject
}

// reviewClientCert stands for a verified TLS client certificate.
func reviewClientCert() []*x509.Certificate {
	return []*x509.Certificate{{Subject: pkix.Name{CommonName: "mail.example.org"}}}
}

// EXTERNAL is offered only on a TLS connection with a client certificate.
func ExampleClientConfig_NewClient_external() {
	cs := exampleTLS()
	cs.PeerCertificates = reviewClientCert()
	set := sasl.NewServerSet(&sasl.ServerConfig{External: reviewCertVerifier{}}, sasl.ServerConnState(cs, nil, nil))
	c, err := (&sasl.ClientConfig{External: true}).NewClient(set.Mechanisms(), sasl.ClientConnState(exampleTLS()))
	if err != nil {
		panic(err)
	}
	id, err := reviewServe(set, c)
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: EXTERNAL mail.example.org <nil>
}

// ANONYMOUS authenticates nobody: its Identity has Anonymous set and no
// user name, so it cannot be taken for an account.
func ExampleClientConfig_NewClient_anonymous() {
	scfg := &sasl.ServerConfig{Anonymous: func(ctx context.Context, trace string) error {
		fmt.Printf("trace %q\n", trace)
		return nil
	}}
	id, err := exampleLogin(scfg, &sasl.ClientConfig{Anonymous: true, Trace: "sirhc"})
	fmt.Printf("%s %v %q %v\n", id.Mechanism, id.Anonymous, id.User(), err)
	// Output:
	// trace "sirhc"
	// ANONYMOUS true "" <nil>
}

func ExampleClientConfig_NewClient_oauthBearer() {
	scfg := &sasl.ServerConfig{Tokens: oauthExampleVerifier{"vF9dft4qmTc2": "alice@example.org"}}
	id, err := exampleLogin(scfg, &sasl.ClientConfig{Username: "alice@example.org", Token: "vF9dft4qmTc2",
		Host: "imap.example.org", Port: 993})
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: OAUTHBEARER alice@example.org <nil>
}
