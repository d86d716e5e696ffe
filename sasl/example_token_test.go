package sasl_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/go-mailauth/mailauth/sasl"
)

// oauthExampleVerifier is a TokenVerifier for the examples. A real one
// validates a JWT or asks the authorization server (RFC 7662
// introspection), and checks that the token is for username.
type oauthExampleVerifier map[string]string // token -> user

func (v oauthExampleVerifier) VerifyToken(ctx context.Context, username, token string) (string, error) {
	user, ok := v[token]
	if !ok {
		// Returned as it is to the client, in the error challenge.
		return "", &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer", Scope: "mail"}
	}
	return user, nil
}

func ExampleServerSet_NewServer_oauthBearer() {
	cfg := &sasl.ServerConfig{Tokens: oauthExampleVerifier{"vF9dft4qmTc2": "alice@example.org"}}
	server, set := exampleServer(cfg, sasl.OAuthBearer)

	client := exampleClient(sasl.ClientConfig{
		Username: "alice@example.org",
		Token:    "vF9dft4qmTc2",
		Host:     "imap.example.org",
		Port:     993,
	}, sasl.OAuthBearer)
	_, ir, _ := client.Start()
	_, done, err := server.Next(ir)
	fmt.Println(done, err)
	id, _ := set.Identity()
	fmt.Println(id.Mechanism, id.User())
	// Output:
	// true <nil>
	// OAUTHBEARER alice@example.org
}

func ExampleOAuthBearerError() {
	cfg := &sasl.ServerConfig{Tokens: oauthExampleVerifier{}}
	server, _ := exampleServer(cfg, sasl.OAuthBearer)
	client := exampleClient(sasl.ClientConfig{Token: "expired"}, sasl.OAuthBearer)

	_, ir, _ := client.Start()
	challenge, done, _ := server.Next(ir) // the error goes as a challenge
	fmt.Printf("%v %s\n", done, challenge)

	resp, err := client.Next(challenge) // %x01, and the server's error
	var oe *sasl.OAuthBearerError
	if errors.As(err, &oe) {
		fmt.Println(oe.Status, oe.Scope, errors.Is(err, sasl.ErrAuthFailed))
	}
	_, _, err = server.Next(resp) // any reply ends the exchange
	fmt.Println(errors.Is(err, sasl.ErrAuthFailed))
	// Output:
	// false {"status":"invalid_token","schemes":"bearer","scope":"mail"}
	// invalid_token mail true
	// true
}

func ExampleClientConfig_NewClient_xoauth2() {
	// The example of Google's XOAUTH2 documentation.
	client := exampleClient(sasl.ClientConfig{Username: "someuser@example.com",
		Token: "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"}, sasl.XOAuth2)
	mech, ir, _ := client.Start()
	fmt.Println(mech)
	fmt.Println(base64.StdEncoding.EncodeToString(ir))
	// Output:
	// XOAUTH2
	// dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==
}

func ExampleServerSet_NewServer_xoauth2() {
	cfg := &sasl.ServerConfig{
		Tokens: oauthExampleVerifier{"delegate-token": "bob@example.org"},
		// Bob may open the shared mailbox with his own token.
		Authorize: func(ctx context.Context, id sasl.Identity) error {
			if id.Username == "bob@example.org" && id.Authzid == "sales@example.org" {
				return nil
			}
			return sasl.ErrAuthzFailed
		},
	}
	server, set := exampleServer(cfg, sasl.XOAuth2)
	client := exampleClient(sasl.ClientConfig{Username: "sales@example.org", Token: "delegate-token"}, sasl.XOAuth2)
	_, ir, _ := client.Start()
	_, done, err := server.Next(ir)
	fmt.Println(done, err)
	id, _ := set.Identity()
	fmt.Printf("%s acts as %s\n", id.Username, id.User())
	// Output:
	// true <nil>
	// bob@example.org acts as sales@example.org
}
