package sasl_test

import (
	"context"
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

// exampleServer returns the Server for mech on a TLS connection, and its set.
func exampleServer(cfg *sasl.ServerConfig, mech string) (sasl.Server, *sasl.ServerSet) {
	set := sasl.NewServerSet(cfg, sasl.ServerConnState(exampleTLS(), nil, nil))
	s, err := set.NewServer(context.Background(), mech)
	if err != nil {
		panic(err)
	}
	return s, set
}

// exampleClient returns ccfg's Client for mech on a TLS connection.
func exampleClient(ccfg sasl.ClientConfig, mech string) sasl.Client {
	ccfg.Mechanisms = []string{mech}
	c, err := ccfg.NewClient([]string{mech}, sasl.ClientConnState(exampleTLS()))
	if err != nil {
		panic(err)
	}
	return c
}

func ExampleServerSet_NewServer_plain() {
	cfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}
	s, set := exampleServer(cfg, sasl.Plain)
	err := plainExchange(exampleClient(sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}, sasl.Plain), s)
	fmt.Println("error:", err)
	id, _ := set.Identity()
	fmt.Println("user:", id.User())

	// A wrong password and an unknown user fail alike.
	for _, u := range [][2]string{{"tim", "guess"}, {"nobody", "guess"}} {
		s, _ := exampleServer(cfg, sasl.Plain)
		err = plainExchange(exampleClient(sasl.ClientConfig{Username: u[0], Password: u[1]}, sasl.Plain), s)
		fmt.Println(err)
	}
	// Output:
	// error: <nil>
	// user: tim
	// sasl: authentication failed
	// sasl: authentication failed
}

func ExampleServerSet_NewServer_login() {
	cfg := &sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}, Legacy: true}
	s, _ := exampleServer(cfg, sasl.Login)

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

func ExampleServerSet_NewServer_cramMD5() {
	// The server stores HMAC-MD5 midstates, never the password.
	cfg := &sasl.ServerConfig{
		CRAMMD5:  plainCRAMStore{"tim": sasl.NewCRAMMD5Secret("tanstaaftanstaaf")},
		Hostname: "mail.example.org",
		Legacy:   true,
	}
	s, set := exampleServer(cfg, sasl.CRAMMD5)
	err := plainExchange(exampleClient(sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}, sasl.CRAMMD5), s)
	id, _ := set.Identity()
	fmt.Println(id.Mechanism, id.Username, err)
	// Output:
	// CRAM-MD5 tim <nil>
}

// plainCertUser stands for a check of the TLS client certificate.
type plainCertUser struct{}

func (plainCertUser) VerifyExternal(ctx context.Context, conn *sasl.ConnState, authzid string) (string, error) {
	if conn.TLS() == nil || len(conn.TLS().VerifiedChains) == 0 {
		return "", sasl.ErrAuthFailed
	}
	return conn.TLS().VerifiedChains[0][0].Subject.CommonName, nil
}

func ExampleServerSet_NewServer_external() {
	cfg := &sasl.ServerConfig{External: plainCertUser{}}
	// Without a client certificate EXTERNAL is not even offered.
	set := sasl.NewServerSet(cfg, sasl.ServerConnState(exampleTLS(), nil, nil))
	fmt.Println(set.Mechanisms())
	// With one that the verifier does not accept, it fails.
	cs := exampleTLS()
	cs.PeerCertificates = reviewClientCert() // but no VerifiedChains
	set = sasl.NewServerSet(cfg, sasl.ServerConnState(cs, nil, nil))
	s, err := set.NewServer(context.Background(), sasl.External)
	if err != nil {
		panic(err)
	}
	err = plainExchange(exampleClient(sasl.ClientConfig{External: true}, sasl.External), s)
	fmt.Println(err)
	// Output:
	// []
	// sasl: authentication failed
}

func ExampleServerSet_NewServer_anonymous() {
	cfg := &sasl.ServerConfig{Anonymous: func(ctx context.Context, trace string) error {
		fmt.Printf("anonymous login, trace %q\n", trace)
		return nil
	}}
	s, set := exampleServer(cfg, sasl.Anonymous)
	err := plainExchange(exampleClient(sasl.ClientConfig{Anonymous: true, Trace: "sirhc"}, sasl.Anonymous), s)
	id, _ := set.Identity()
	fmt.Printf("%v %q %v\n", id.Anonymous, id.User(), err)
	// Output:
	// anonymous login, trace "sirhc"
	// true "" <nil>
}

// ExampleClientConfig_NewClient_password shows the policy for password
// mechanisms: without TLS a client does not send its password, even if the
// server (or an attacker speaking for it) offers PLAIN.
func ExampleClientConfig_NewClient_password() {
	client := &sasl.ClientConfig{Username: "tim", Password: "tanstaaftanstaaf"}
	offered := []string{"CRAM-MD5", "LOGIN", "PLAIN"}

	_, err := client.NewClient(offered, nil) // no TLS
	fmt.Println(errors.Is(err, sasl.ErrNoMechanism))

	c, _ := client.NewClient(offered, sasl.ClientConnState(exampleTLS()))
	m, _ := sasl.ChosenMechanism(c)
	fmt.Println(m.Name())

	// The server side applies the same rule to what it offers.
	server := sasl.NewServerSet(&sasl.ServerConfig{Plaintext: plainUsers{"tim": "tanstaaftanstaaf"}}, nil)
	fmt.Println(server.Mechanisms())
	// Output:
	// true
	// PLAIN
	// []
}
