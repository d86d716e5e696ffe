package sasl_test

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/go-mailauth/mailauth/sasl"
)

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

// A server offers what its credentials allow on this connection, a client
// picks the strongest mechanism it can use, and the two run the exchange.
// Without TLS the password mechanisms are not offered: only SCRAM, which
// never shows the password to the server.
func Example() {
	creds, err := sasl.NewSCRAMCredentials(sasl.SCRAMSHA256, "tanstaaftanstaaf", nil, 0)
	if err != nil {
		panic(err)
	}
	cfg := &sasl.ServerConfig{
		Plaintext: plainUsers{"tim": "tanstaaftanstaaf"},
		SCRAM:     scramStore{"tim": creds.Format(sasl.SCRAMSHA256)},
	}
	set := sasl.NewServerSet(cfg, nil) // nil: no TLS
	fmt.Println("offered:", set.Mechanisms())

	client := &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}
	c, err := client.NewClient(set.Mechanisms(), nil)
	if err != nil {
		panic(err)
	}
	id, err := reviewServe(set, c)
	fmt.Println(id.Mechanism, id.User(), err)
	// Output:
	// offered: [SCRAM-SHA-256 SCRAM-SHA-1]
	// SCRAM-SHA-256 tim <nil>
}

// A ServerSet is made per connection, and again after STARTTLS: once the
// connection has TLS, the password mechanisms are offered too.
func ExampleNewServerSet() {
	cfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}
	fmt.Println(sasl.NewServerSet(cfg, nil).Mechanisms())

	tlsState := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	set := sasl.NewServerSet(cfg, &sasl.ConnState{TLS: tlsState})
	fmt.Println(set.Mechanisms())

	id, err := reviewServe(set, sasl.NewPlainClient("", "tim", "tanstaaftanstaaf"))
	fmt.Println(id.User(), err)
	// Output:
	// []
	// [PLAIN LOGIN CRAM-MD5 DIGEST-MD5]
	// tim <nil>
}

func reviewInsecureSet(cfg *sasl.ServerConfig) *sasl.ServerSet {
	cfg.InsecureAuth = true // in-memory examples have no TLS
	return sasl.NewServerSet(cfg, nil)
}

func ExampleNewPlainClient() {
	set := reviewInsecureSet(&sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}})
	id, err := reviewServe(set, sasl.NewPlainClient("", "tim", "tanstaaftanstaaf"))
	fmt.Println(id.Mechanism, id.User(), err)
	_, err = reviewServe(set, sasl.NewPlainClient("", "tim", "wrong"))
	fmt.Println(err)
	// Output:
	// PLAIN tim <nil>
	// sasl: authentication failed
}

func ExampleNewLoginClient() {
	set := reviewInsecureSet(&sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}})
	id, err := reviewServe(set, sasl.NewLoginClient("tim", "tanstaaftanstaaf"))
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: LOGIN tim <nil>
}

func ExampleNewCRAMMD5Client() {
	secret := sasl.NewCRAMMD5Secret("tanstaaftanstaaf")
	set := reviewInsecureSet(&sasl.ServerConfig{CRAMMD5: plainCRAMStore{"tim": secret}})
	id, err := reviewServe(set, sasl.NewCRAMMD5Client("tim", "tanstaaftanstaaf"))
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

// NewSCRAMClient takes the server's offered list so that it can tell a
// -PLUS variant stripped by a man in the middle (RFC 5802, Section 6).
func ExampleNewSCRAMClient() {
	creds, err := sasl.NewSCRAMCredentials(sasl.SCRAMSHA1, "pencil", nil, 0)
	if err != nil {
		panic(err)
	}
	set := sasl.NewServerSet(&sasl.ServerConfig{SCRAM: scramStore{"user": creds.Format(sasl.SCRAMSHA1)}}, nil)
	cfg := &sasl.ClientConfig{Username: "user", Password: "pencil"}
	c, err := sasl.NewSCRAMClient(sasl.SCRAMSHA1, cfg, nil, set.Mechanisms())
	if err != nil {
		panic(err)
	}
	id, err := reviewServe(set, c)
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: SCRAM-SHA-1 user <nil>
}

// reviewCertVerifier stands for a check of conn.TLS.PeerCertificates.
type reviewCertVerifier struct{}

func (reviewCertVerifier) VerifyExternal(ctx context.Context, conn *sasl.ConnState, authzid string) (string, error) {
	return "mail.example.org", nil // the verified certificate's subject
}

func ExampleNewExternalClient() {
	set := sasl.NewServerSet(&sasl.ServerConfig{External: reviewCertVerifier{}}, nil)
	id, err := reviewServe(set, sasl.NewExternalClient("")) // "": act as the certificate's identity
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: EXTERNAL mail.example.org <nil>
}

func ExampleNewAnonymousClient() {
	cfg := &sasl.ServerConfig{Anonymous: func(ctx context.Context, trace string) error {
		fmt.Printf("trace %q\n", trace)
		return nil
	}}
	id, err := reviewServe(sasl.NewServerSet(cfg, nil), sasl.NewAnonymousClient("sirhc"))
	fmt.Println(id.Mechanism, id.User(), err)
	// Output:
	// trace "sirhc"
	// ANONYMOUS anonymous <nil>
}

func ExampleNewOAuthBearerClient() {
	set := reviewInsecureSet(&sasl.ServerConfig{Tokens: oauthExampleVerifier{"vF9dft4qmTc2": "alice@example.org"}})
	c := sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
		Username: "alice@example.org", Token: "vF9dft4qmTc2", Host: "imap.example.org", Port: 993,
	})
	id, err := reviewServe(set, c)
	fmt.Println(id.Mechanism, id.User(), err)
	// Output: OAUTHBEARER alice@example.org <nil>
}
