package kpop_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/textproto"

	"github.com/go-mailauth/mailauth/kpop"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Example shows a server offering GSSAPI through the sasl package and a
// client choosing it. It needs a KDC and a keytab, so it only compiles.
func Example() {
	// Server: one Acceptor per process and service host.
	kt, err := keytab.Load("/etc/mail/mail.keytab") // imap/, pop/ and smtp/mail.example.org
	if err != nil {
		log.Fatal(err)
	}
	acc, err := kpop.NewAcceptor(&kpop.ServerConfig{Keytab: kt, Host: "mail.example.org", Realm: "EXAMPLE.ORG"})
	if err != nil {
		log.Fatal(err)
	}
	imapCfg := &sasl.ServerConfig{Extra: []sasl.ServerMechanism{acc.ServerMechanism(kpop.ServiceIMAP)}}
	_ = imapCfg // one sasl.ServerSet per connection: sasl.NewServerSet(imapCfg, sasl.ServerConn(conn))

	// Client: log in once (here from the credential cache kinit filled),
	// then one Client per connection.
	krb5conf, err := kpop.LoadConfig("")
	if err != nil {
		log.Fatal(err)
	}
	creds, err := kpop.NewCCacheCredentials(krb5conf, "")
	if err != nil {
		log.Fatal(err)
	}
	cc := &kpop.ClientConfig{Credentials: creds, Host: "mail.example.org"}
	clientCfg := &sasl.ClientConfig{Extra: []sasl.ClientMechanism{cc.ClientMechanism(kpop.ServiceIMAP)}}
	_ = clientCfg // clientCfg.NewClient(offered, sasl.ClientConn(conn)), then sasl.Exchange.Authenticate
}

// ExampleGSSAPIMechanism prints how GSSAPI describes itself to the sasl
// package: mutual, no password on the wire, no TLS required.
func ExampleGSSAPIMechanism() {
	m := kpop.GSSAPIMechanism()
	fmt.Printf("%s %+v\n", m.Name(), m.Security())
	k := kpop.KPOPMechanism()
	fmt.Printf("%s %+v\n", k.Name(), k.Security())
	// Output:
	// GSSAPI {PlaintextEquivalent:false Mutual:true ChannelBinding:false NeedsTLS:false Legacy:false}
	// KPOP {PlaintextEquivalent:false Mutual:true ChannelBinding:false NeedsTLS:false Legacy:true}
}

// ExampleAcceptor_ServeKPOP runs a KPOP listener on port 1109: the
// sendauth handshake, the greeting and the dummy USER/PASS, then the
// caller's POP3 TRANSACTION state. It needs a keytab, so it only compiles.
func ExampleAcceptor_ServeKPOP() {
	kt, err := keytab.Load("/etc/mail/pop.keytab")
	if err != nil {
		log.Fatal(err)
	}
	acc, err := kpop.NewAcceptor(&kpop.ServerConfig{Keytab: kt, Host: "mail.example.org", Realm: "EXAMPLE.ORG"})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", kpop.KPOPPort))
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			tp := textproto.NewConn(c)
			id, err := acc.ServeKPOP(context.Background(), tp, c.RemoteAddr(), "KPOP server ready")
			if err != nil {
				return
			}
			log.Printf("%s logged in", id.Username) // serve the mailbox of id.Username over tp
		}()
	}
}

// ExampleLoginKPOP logs in to a KPOP server as fetchmail's "-p kpop" does.
// It needs a KDC, so it only compiles.
func ExampleLoginKPOP() {
	krb5conf, err := kpop.LoadConfig("")
	if err != nil {
		log.Fatal(err)
	}
	creds, err := kpop.NewPasswordCredentials(krb5conf, "alice@EXAMPLE.ORG", "secret")
	if err != nil {
		log.Fatal(err)
	}
	c, err := net.Dial("tcp", "mail.example.org:1109")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tp := textproto.NewConn(c)
	if _, err := kpop.LoginKPOP(tp, &kpop.ClientConfig{Credentials: creds, Host: "mail.example.org"}, ""); err != nil {
		log.Fatal(err)
	}
	tp.PrintfLine("STAT")
}

// ExamplePrincipal_String prints principals in their text form.
func ExamplePrincipal_String() {
	fmt.Println(kpop.Principal{Components: []string{"pop", "mail.example.org"}, Realm: "EXAMPLE.ORG"})
	fmt.Println(kpop.Principal{Components: []string{"alice"}, Realm: "EXAMPLE.ORG"})
	// Output:
	// pop/mail.example.org@EXAMPLE.ORG
	// alice@EXAMPLE.ORG
}
