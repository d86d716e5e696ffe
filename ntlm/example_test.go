package ntlm_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/textproto"
	"strings"

	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// passdb's stores give NT hashes by method set: passdb does not import ntlm.
var (
	_ ntlm.NTHashLookup = (*passdb.DB)(nil)
	_ ntlm.NTHashLookup = (*passdb.Reloader)(nil)
)

// The NT hash of a password, as Dovecot's {NTLM} scheme stores it
// ([MS-NLMP] 4.2.2.1.2).
func ExampleHash() {
	h := ntlm.Hash("Password")
	fmt.Printf("{NTLM}%x\n", h)
	// Output:
	// {NTLM}a4f49c406510bdcab6824ee7c30fd852
}

// A whole NTLM login over SMTP AUTH, in memory: the server takes NT hashes
// from a passwd-file and checks channel bindings; the client sends them.
func Example() {
	db, _ := passdb.Parse(strings.NewReader(fmt.Sprintf("tim:{NTLM}%x\n", ntlm.Hash("Password123"))))
	kp, _ := tlsutil.SelfSigned(nil)
	// The two ends of one TLS connection (normally sasl.ServerConn and
	// sasl.ClientConn of the *tls.Conn).
	serverTLS := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	clientTLS := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13,
		PeerCertificates: []*x509.Certificate{kp.Leaf()}}

	set := sasl.NewServerSet(&sasl.ServerConfig{Extra: []sasl.ServerMechanism{
		ntlm.NewServerMechanism(&ntlm.ServerConfig{Hashes: db, Domain: "EXAMPLE"}),
	}}, sasl.ServerConnState(serverTLS, kp.Leaf(), nil))
	fmt.Println("offered:", set.Mechanisms())

	client, err := (&sasl.ClientConfig{Extra: []sasl.ClientMechanism{
		ntlm.NewClientMechanism(&ntlm.ClientConfig{Username: `EXAMPLE\tim`, Password: "Password123", TargetName: "smtp/mail.example.com"}),
	}}).NewClient(set.Mechanisms(), sasl.ClientConnState(clientTLS))
	if err != nil {
		fmt.Println(err)
		return
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	x := &sasl.Exchange{Protocol: sasl.SMTP}
	done := make(chan error, 1)
	go func() {
		sc := textproto.NewConn(a)
		line, _ := sasl.ReadLine(sc.R, 512) // "AUTH NTLM <NEGOTIATE>"
		mech, ir, err := sasl.ParseAuthCommand(strings.TrimPrefix(line, "AUTH "))
		if err == nil {
			var s sasl.Server
			if s, err = set.NewServer(context.Background(), mech); err == nil {
				err = x.Serve(context.Background(), sc, a, s, ir)
			}
		}
		x.WriteResult(sc, err)
		done <- err
	}()
	fmt.Println("client:", x.Authenticate(context.Background(), textproto.NewConn(b), b, client))
	fmt.Println("server:", <-done)
	id, _ := set.Identity()
	fmt.Println("logged in:", id.Username)
	// Output:
	// offered: [NTLM]
	// client: <nil>
	// server: <nil>
	// logged in: tim
}

// A server offers NTLM from a passwd-file's NT hashes, only inside TLS,
// and insists on channel bindings (Windows clients with Extended
// Protection, python3-ntlm-auth and this package's client send them).
func ExampleNewServerMechanism() {
	db, _ := passdb.Parse(strings.NewReader(fmt.Sprintf("tim:{NTLM}%x\n", ntlm.Hash("Password123"))))
	cfg := &sasl.ServerConfig{Extra: []sasl.ServerMechanism{
		ntlm.NewServerMechanism(&ntlm.ServerConfig{
			Hashes:         db,
			Domain:         "EXAMPLE",
			DNSDomain:      "example.com",
			DNSComputer:    "mail.example.com",
			ChannelBinding: ntlm.ChannelBindingRequired,
		}),
	}}
	kp, _ := tlsutil.SelfSigned(nil)
	tlsState := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	fmt.Println("plaintext:", sasl.NewServerSet(cfg, sasl.ServerConnState(nil, nil, nil)).Mechanisms())
	fmt.Println("TLS:", sasl.NewServerSet(cfg, sasl.ServerConnState(tlsState, kp.Leaf(), nil)).Mechanisms())
	// Output:
	// plaintext: []
	// TLS: [NTLM]
}

// A client logs in as a domain user; over TLS it binds the login to the
// server's certificate, and names the service it means to reach.
func ExampleNewClientMechanism() {
	mech := ntlm.NewClientMechanism(&ntlm.ClientConfig{
		Username:   `EXAMPLE\tim`,
		Password:   "Password123",
		TargetName: "imap/mail.example.com",
	})
	cfg := &sasl.ClientConfig{Extra: []sasl.ClientMechanism{mech}}
	kp, _ := tlsutil.SelfSigned(nil)
	tlsState := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13,
		PeerCertificates: []*x509.Certificate{kp.Leaf()}}
	c, err := cfg.NewClient([]string{"PLAIN", "NTLM"}, sasl.ClientConnState(tlsState))
	if err != nil {
		fmt.Println(err)
		return
	}
	name, negotiate, _ := c.Start()
	fmt.Println(name, len(negotiate), "bytes of NEGOTIATE as initial response")
	// Output:
	// NTLM 40 bytes of NEGOTIATE as initial response
}
