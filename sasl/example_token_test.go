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

func ExampleNewOAuthBearerServer() {
	cfg := &sasl.ServerConfig{Tokens: oauthExampleVerifier{"vF9dft4qmTc2": "alice@example.org"}}
	server := sasl.NewOAuthBearerServer(context.Background(), cfg)

	client := sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
		Username: "alice@example.org",
		Token:    "vF9dft4qmTc2",
		Host:     "imap.example.org",
		Port:     993,
	})
	_, ir, _ := client.Start()
	_, done, err := server.Next(ir)
	fmt.Println(done, err)
	id, _ := server.(sasl.IdentityServer).Identity()
	fmt.Println(id.Mechanism, id.User())
	// Output:
	// true <nil>
	// OAUTHBEARER alice@example.org
}

func ExampleOAuthBearerError() {
	cfg := &sasl.ServerConfig{Tokens: oauthExampleVerifier{}}
	server := sasl.NewOAuthBearerServer(context.Background(), cfg)
	client := sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Token: "expired"})

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

func ExampleNewXOAuth2Client() {
	// The example of Google's XOAUTH2 documentation.
	client := sasl.NewXOAuth2Client("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
	mech, ir, _ := client.Start()
	fmt.Println(mech)
	fmt.Println(base64.StdEncoding.EncodeToString(ir))
	// Output:
	// XOAUTH2
	// dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==
}

func ExampleNewXOAuth2Server() {
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
	server := sasl.NewXOAuth2Server(context.Background(), cfg)
	_, ir, _ := sasl.NewXOAuth2Client("sales@example.org", "delegate-token").Start()
	_, done, err := server.Next(ir)
	fmt.Println(done, err)
	id, _ := server.(sasl.IdentityServer).Identity()
	fmt.Printf("%s acts as %s\n", id.Username, id.User())
	// Output:
	// true <nil>
	// bob@example.org acts as sales@example.org
}
