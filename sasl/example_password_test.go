package sasl_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/go-mailauth/mailauth/sasl"
)

// plainUsers is a toy user database: a map from username to password.
// Real servers verify against hashes (ServerConfig.Passwords) or stored
// derived secrets (ServerConfig.CRAMMD5, ServerConfig.SCRAM).
type plainUsers map[string]string

func (u plainUsers) LookupPassword(ctx context.Context, username string) (string, error) {
	p, ok := u[username]
	if !ok {
		return "", sasl.ErrUnknownUser
	}
	return p, nil
}

// plainCRAMStore holds CRAM-MD5 secrets, as a Dovecot passwd-file does.
type plainCRAMStore map[string]sasl.CRAMMD5Secret

func (s plainCRAMStore) LookupCRAMMD5(ctx context.Context, username string) (sasl.CRAMMD5Secret, error) {
	sec, ok := s[username]
	if !ok {
		return sasl.CRAMMD5Secret{}, sasl.ErrUnknownUser
	}
	return sec, nil
}

// plainExchange runs a client against a server in memory, as IMAP's
// AUTHENTICATE or SMTP's AUTH would carry their messages.
func plainExchange(c sasl.Client, s sasl.Server) error {
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
		if resp == nil {
			resp = []byte{}
		}
	}
	return errors.New("too many rounds")
}

func ExampleNewPlainServer() {
	cfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}

	s := sasl.NewPlainServer(context.Background(), cfg)
	err := plainExchange(sasl.NewPlainClient("", "tim", "tanstaaftanstaaf"), s)
	fmt.Println("error:", err)
	id, _ := s.(sasl.IdentityServer).Identity()
	fmt.Println("user:", id.User())

	// A wrong password and an unknown user fail alike.
	err = plainExchange(sasl.NewPlainClient("", "tim", "guess"), sasl.NewPlainServer(context.Background(), cfg))
	fmt.Println(err)
	err = plainExchange(sasl.NewPlainClient("", "nobody", "guess"), sasl.NewPlainServer(context.Background(), cfg))
	fmt.Println(err)
	// Output:
	// error: <nil>
	// user: tim
	// sasl: authentication failed
	// sasl: authentication failed
}

func ExampleNewLoginServer() {
	cfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}
	s := sasl.NewLoginServer(context.Background(), cfg)

	// The challenges deployed LOGIN clients expect.
	chal, _, _ := s.Next(nil)
	fmt.Printf("S: %s\n", chal)
	chal, _, _ = s.Next([]byte("tim"))
	fmt.Printf("S: %s\n", chal)
	_, done, err := s.Next([]byte("tanstaaftanstaaf"))
	fmt.Println("done:", done, "error:", err)
	// Output:
	// S: Username:
	// S: Password:
	// done: true error: <nil>
}

func ExampleNewCRAMMD5Secret() {
	// What `doveadm pw -s CRAM-MD5 -p plainpass` prints: a passwd-file can
	// hold this instead of the password.
	sec := sasl.NewCRAMMD5Secret("plainpass")
	fmt.Println(sec)

	parsed, err := sasl.ParseCRAMMD5Secret("{CRAM-MD5}8a31b07bcb379fff8adfbea6f90d10d588170ff9e3588b86b98d48a095227233")
	fmt.Println(parsed == sec, err)
	// Output:
	// {CRAM-MD5}8a31b07bcb379fff8adfbea6f90d10d588170ff9e3588b86b98d48a095227233
	// true <nil>
}

func ExampleNewCRAMMD5Server() {
	// The server stores HMAC-MD5 midstates, never the password.
	cfg := &sasl.ServerConfig{
		CRAMMD5:  plainCRAMStore{"tim": sasl.NewCRAMMD5Secret("tanstaaftanstaaf")},
		Hostname: "mail.example.org",
	}
	s := sasl.NewCRAMMD5Server(context.Background(), cfg)
	err := plainExchange(sasl.NewCRAMMD5Client("tim", "tanstaaftanstaaf"), s)
	id, _ := s.(sasl.IdentityServer).Identity()
	fmt.Println(id.Mechanism, id.Username, err)
	// Output:
	// CRAM-MD5 tim <nil>
}

// plainCertUser stands for a check of the TLS client certificate.
type plainCertUser struct{}

func (plainCertUser) VerifyExternal(ctx context.Context, conn *sasl.ConnState, authzid string) (string, error) {
	if conn.TLS == nil || len(conn.TLS.VerifiedChains) == 0 {
		return "", sasl.ErrAuthFailed
	}
	return conn.TLS.VerifiedChains[0][0].Subject.CommonName, nil
}

func ExampleNewExternalServer() {
	cfg := &sasl.ServerConfig{External: plainCertUser{}}
	// Without a verified client certificate EXTERNAL fails.
	conn := &sasl.ConnState{TLS: &tls.ConnectionState{HandshakeComplete: true}}
	err := plainExchange(sasl.NewExternalClient(""), sasl.NewExternalServer(context.Background(), cfg, conn))
	fmt.Println(err)
	// Output:
	// sasl: authentication failed
}

func ExampleNewAnonymousServer() {
	cfg := &sasl.ServerConfig{Anonymous: func(ctx context.Context, trace string) error {
		fmt.Printf("anonymous login, trace %q\n", trace)
		return nil
	}}
	s := sasl.NewAnonymousServer(context.Background(), cfg)
	err := plainExchange(sasl.NewAnonymousClient("sirhc"), s)
	id, _ := s.(sasl.IdentityServer).Identity()
	fmt.Println(id.Username, err)
	// Output:
	// anonymous login, trace "sirhc"
	// anonymous <nil>
}

// ExampleClientConfig_NewClient_password shows the policy for password
// mechanisms: without TLS a client does not send its password, even if the
// server (or an attacker speaking for it) offers PLAIN.
func ExampleClientConfig_NewClient_password() {
	client := &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}
	offered := []string{"CRAM-MD5", "LOGIN", "PLAIN"}

	_, err := client.NewClient(offered, nil) // no TLS
	fmt.Println(errors.Is(err, sasl.ErrNoMechanism))

	conn := &sasl.ConnState{TLS: &tls.ConnectionState{HandshakeComplete: true}}
	c, _ := client.NewClient(offered, conn)
	mech, _, _ := c.Start()
	fmt.Println(mech)

	// The server side applies the same rule to what it offers.
	server := sasl.NewServerSet(&sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}, conn)
	fmt.Println(server.Mechanisms())
	s, _ := server.NewServer(context.Background(), mech)
	c, _ = client.NewClient(offered, conn)
	fmt.Println(plainExchange(c, s))
	id, _ := server.Identity()
	fmt.Println(id.Mechanism, id.User())
	// Output:
	// true
	// PLAIN
	// [PLAIN LOGIN CRAM-MD5 DIGEST-MD5]
	// <nil>
	// PLAIN tim
}
