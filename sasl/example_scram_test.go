package sasl_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-mailauth/mailauth/sasl"
)

// scramStore is a toy SCRAM credential store: Dovecot-style strings keyed
// by user, as a passwd-file holds them. The server never sees a password.
type scramStore map[string]string

func (s scramStore) LookupSCRAM(ctx context.Context, mech, username string) (sasl.SCRAMCredentials, error) {
	line, ok := s[username]
	if !ok {
		return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	}
	m, c, err := sasl.ParseSCRAMCredentials(line)
	if err != nil {
		return sasl.SCRAMCredentials{}, err
	}
	if m != mech {
		return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser // no keys for this hash
	}
	return c, nil
}

// HoldsCredentials makes scramStore a sasl.CredentialReporter: a server
// then offers only the SCRAM hashes it holds keys for, so that a client,
// which takes the strongest hash offered, does not pick one its user
// has no keys for.
func (s scramStore) HoldsCredentials(mech string) bool {
	for _, line := range s {
		if m, _, err := sasl.ParseSCRAMCredentials(line); err == nil && m == mech {
			return true
		}
	}
	return false
}

// scramExchange runs a client against a server in memory, as IMAP's
// AUTHENTICATE or SMTP's AUTH would carry their messages.
func scramExchange(c sasl.Client, s sasl.Server) error {
	_, resp, err := c.Start()
	if err != nil {
		return err
	}
	for range 10 {
		chal, done, err := s.Next(resp)
		if err != nil || done {
			return err
		}
		if resp, err = c.Next(chal); err != nil {
			return err
		}
	}
	return errors.New("too many rounds")
}

// Mint the credentials a server stores for a password, in Dovecot's
// {SCRAM-SHA-256} scheme and as an RFC 5803 authPassword. A nil salt would
// be random; a fixed one is used here so the output is stable (the keys
// were checked with Python's hashlib.pbkdf2_hmac).
func ExampleNewSCRAMCredentials() {
	c, err := sasl.NewSCRAMCredentials(sasl.SCRAMSHA256, "pencil", []byte("0123456789abcdef"), 4096)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Format(sasl.SCRAMSHA256))
	fmt.Println(c.AuthPassword(sasl.SCRAMSHA256))
	// Output:
	// {SCRAM-SHA-256}4096,MDEyMzQ1Njc4OWFiY2RlZg==,nQpbZ77WudtqufPwikHXGRt6g2QJ4zns8bZLw273DRM=,jn2amWP1q1h+jgjy0YTO14S6/F02SV7taipOeB7ef20=
	// SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$nQpbZ77WudtqufPwikHXGRt6g2QJ4zns8bZLw273DRM=:jn2amWP1q1h+jgjy0YTO14S6/F02SV7taipOeB7ef20=
}

// Read a line made by `doveadm pw -s SCRAM-SHA-256`.
func ExampleParseSCRAMCredentials() {
	mech, c, err := sasl.ParseSCRAMCredentials("{SCRAM-SHA-256}4096,7Vgh79H1cHnNxI6PyWLN4g==,rVg0mcxT9ZkV/b6DpXbuKb43pXPQoPIqOM85QqqdcHE=,/FjchjHq8Kx20MmoSXvWbqSLURgt6pXUPwDFtSJxTus=")
	if err != nil {
		panic(err)
	}
	fmt.Println(mech, c.Iterations, len(c.Salt), len(c.StoredKey))
	// Output: SCRAM-SHA-256 4096 16 32
}

// A SCRAM server verifies from stored keys; the client is chosen from the
// server's list and proves the password without sending it, and checks
// that the server knows the keys too.
func ExampleServerSet_NewServer_scram() {
	creds, err := sasl.NewSCRAMCredentials(sasl.SCRAMSHA256, "päss wörd", nil, 0)
	if err != nil {
		panic(err)
	}
	store := scramStore{"tim": creds.Format(sasl.SCRAMSHA256)}
	// Offer only the hashes the store holds keys for: a client takes the
	// strongest one offered.
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: store, Mechanisms: []string{sasl.SCRAMSHA256Plus, sasl.SCRAMSHA256}}

	// A TLS state without channel-binding data: no -PLUS.
	set := sasl.NewServerSet(cfg, sasl.ServerConnState(exampleTLS(), nil, nil))
	offered := set.Mechanisms()
	fmt.Println(strings.Join(offered, " "))

	ccfg := &sasl.ClientConfig{Username: "tim", Password: "päss wörd", SCRAMCache: &sasl.SCRAMCache{}}
	client, err := ccfg.NewClient(offered, sasl.ClientConnState(exampleTLS()))
	if err != nil {
		panic(err)
	}
	mech, _, _ := client.Start()
	server, err := set.NewServer(context.Background(), mech)
	if err != nil {
		panic(err)
	}
	client, _ = ccfg.NewClient(offered, sasl.ClientConnState(exampleTLS())) // Start was spent above
	fmt.Println(scramExchange(client, server))
	id, _ := set.Identity()
	fmt.Println(id.Mechanism, id.User())

	// A wrong password and an unknown user fail the same way.
	for _, u := range []struct{ user, pass string }{{"tim", "wrong"}, {"nobody", "päss wörd"}} {
		c := exampleClient(sasl.ClientConfig{Username: u.user, Password: u.pass}, sasl.SCRAMSHA256)
		s, _ := exampleServer(cfg, sasl.SCRAMSHA256)
		err := scramExchange(c, s)
		var se *sasl.SCRAMError
		fmt.Println(errors.Is(err, sasl.ErrAuthFailed), errors.As(err, &se) && se.Value == "invalid-proof")
	}
	// Output:
	// SCRAM-SHA-256
	// <nil>
	// SCRAM-SHA-256 tim
	// true true
	// true true
}

// SASLprep folds the forms a password may be typed in to one, as SCRAM
// requires; PRECIS OpaqueString would keep the full-width letters.
func ExampleSASLprep() {
	for _, p := range []string{"ｐａｓｓ", "pa\u0308ss", "I\u00adX"} {
		s, err := sasl.SASLprep(p)
		fmt.Printf("%q %v\n", s, err)
	}
	_, err := sasl.SASLprep("bell\a")
	fmt.Println(errors.Is(err, sasl.ErrMalformed))
	// Output:
	// "pass" <nil>
	// "päss" <nil>
	// "IX" <nil>
	// true
}
