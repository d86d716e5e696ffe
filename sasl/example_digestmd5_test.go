package sasl_test

import (
	"context"
	"crypto/md5"
	"fmt"

	"github.com/go-mailauth/mailauth/sasl"
)

// digestExampleStore holds MD5(user:realm:password) per user, the
// {DIGEST-MD5} scheme of Dovecot's passwd-file: no plaintext passwords.
type digestExampleStore map[string][16]byte

func (s digestExampleStore) LookupDigestMD5(ctx context.Context, username, realm string) ([16]byte, error) {
	h, ok := s[username]
	if !ok {
		return h, sasl.ErrUnknownUser
	}
	return h, nil
}

// digestExampleRun drives client against server in memory, as an IMAP,
// POP3 or SMTP session would.
func digestExampleRun(client sasl.Client, server sasl.Server) error {
	_, resp, err := client.Start()
	if err != nil {
		return err
	}
	for {
		challenge, done, err := server.Next(resp)
		if err != nil || done {
			return err
		}
		if resp, err = client.Next(challenge); err != nil {
			return err
		}
	}
}

func ExampleServerSet_NewServer_digestMD5() {
	const realm = "elwood.innosoft.com"
	store := digestExampleStore{"chris": md5.Sum([]byte("chris:" + realm + ":secret"))}
	server, set := exampleServer(&sasl.ServerConfig{Hostname: realm, DigestMD5: store, Legacy: true}, sasl.DigestMD5)

	client := exampleClient(sasl.ClientConfig{Username: "chris", Password: "secret", Service: "imap", Host: realm}, sasl.DigestMD5)
	err := digestExampleRun(client, server)
	id, _ := set.Identity()
	fmt.Println(err, id.Mechanism, id.Username)
	// Output:
	// <nil> DIGEST-MD5 chris
}

func ExampleClientConfig_NewClient_digestMD5() {
	const realm = "elwood.innosoft.com"
	store := digestExampleStore{"chris": md5.Sum([]byte("chris:" + realm + ":secret"))}
	cfg := &sasl.ServerConfig{Hostname: realm, DigestMD5: store, Legacy: true}

	// A wrong password and an unknown user get the same answer.
	for _, login := range [][2]string{{"chris", "guess"}, {"nobody", "secret"}} {
		client := exampleClient(sasl.ClientConfig{Username: login[0], Password: login[1], Service: "imap", Host: realm}, sasl.DigestMD5)
		server, _ := exampleServer(cfg, sasl.DigestMD5)
		err := digestExampleRun(client, server)
		fmt.Println(err)
	}
	// Output:
	// sasl: authentication failed: DIGEST-MD5 response is wrong
	// sasl: authentication failed: DIGEST-MD5 response is wrong
}
