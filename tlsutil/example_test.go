package tlsutil_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// Example runs an implicit-TLS IMAP server (port 993 semantics) and a
// client on loopback: the greeting goes out only after the handshake, and
// both ends agree on the channel-binding data a SCRAM-PLUS exchange would
// use.
func Example() {
	// Development PKI: a CA the client trusts and a certificate for the
	// server's name.
	ca, err := tlsutil.NewCA(nil)
	if err != nil {
		log.Fatal(err)
	}
	leaf, err := ca.Issue(&tlsutil.CertOptions{Hosts: []string{"imap.example.test"}})
	if err != nil {
		log.Fatal(err)
	}
	cert := leaf.Certificate
	serverConfig := tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &cert, nil
	})

	l, err := tlsutil.Listen("tcp", "127.0.0.1:0", serverConfig, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	serverCB := make(chan []byte, 1)
	go func() {
		conn, err := l.Accept() // the handshake is done
		if err != nil {
			log.Print(err)
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		cb, _ := tlsutil.ServerChannelBinding(tc, tlsutil.TLSServerEndPoint)
		serverCB <- cb
		fmt.Fprintf(conn, "* OK IMAP4rev2 ready\r\n")
	}()

	clientConfig := tlsutil.NewClientConfig("imap.example.test", ca.Pool())
	conn, err := tls.Dial("tcp", l.Addr().String(), clientConfig)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	greeting := tlsSrvReadLine(bufio.NewReader(conn))
	cs := conn.ConnectionState()
	clientCB, err := tlsutil.ChannelBinding(&cs, tlsutil.TLSServerEndPoint, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(greeting)
	fmt.Println("TLS 1.3:", cs.Version == tls.VersionTLS13)
	fmt.Println("tls-server-end-point equal:", bytes.Equal(clientCB, <-serverCB))
	// Output:
	// * OK IMAP4rev2 ready
	// TLS 1.3: true
	// tls-server-end-point equal: true
}

// tlsSrvReadLine reads one CRLF-terminated line.
func tlsSrvReadLine(r *bufio.Reader) string {
	line, err := r.ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// tlsSrvExamplePKI makes a CA and the server and client configs for the examples.
func tlsSrvExamplePKI(host string) (server, client *tls.Config) {
	ca, err := tlsutil.NewCA(nil)
	if err != nil {
		log.Fatal(err)
	}
	leaf, err := ca.Issue(&tlsutil.CertOptions{Hosts: []string{host}})
	if err != nil {
		log.Fatal(err)
	}
	cert := leaf.Certificate
	server = tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	return server, tlsutil.NewClientConfig(host, ca.Pool())
}

// ExampleStartTLSServer upgrades an IMAP session with STARTTLS (RFC 9051,
// Section 6.2.1) on loopback: the server checks the session state, refuses
// pipelined plaintext, writes the go-ahead line, and continues on a fresh
// textproto.Conn inside TLS.
func ExampleStartTLSServer() {
	serverConfig, clientConfig := tlsSrvExamplePKI("imap.example.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		defer raw.Close()
		var session tlsutil.Session
		tc := textproto.NewConn(raw)
		_ = tc.PrintfLine("* OK [CAPABILITY IMAP4rev2 STARTTLS LOGINDISABLED] ready")
		line, err := tc.ReadLine()
		if err != nil || line != "A1 STARTTLS" {
			return
		}
		if err := session.CheckStartTLS(); err != nil {
			_ = tc.PrintfLine("A1 BAD %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, tc, err = tlsutil.StartTLSServer(ctx, tc, raw, serverConfig, "A1 OK Begin TLS negotiation now")
		if err != nil {
			return // refused or failed: the connection is done
		}
		session.TLS = true // and every pre-TLS state is gone
		if line, err = tc.ReadLine(); err == nil && line == "A2 CAPABILITY" {
			_ = tc.PrintfLine("* CAPABILITY IMAP4rev2 AUTH=SCRAM-SHA-256-PLUS AUTH=PLAIN")
			_ = tc.PrintfLine("A2 OK done")
		}
	}()

	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer raw.Close()
	br := bufio.NewReader(raw)
	fmt.Println("S:", tlsSrvReadLine(br))
	fmt.Fprintf(raw, "A1 STARTTLS\r\n")
	fmt.Println("S:", tlsSrvReadLine(br)) // the client sends nothing more until TLS is up
	conn := tls.Client(raw, clientConfig)
	if err := conn.Handshake(); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(conn, "A2 CAPABILITY\r\n")
	tr := bufio.NewReader(conn)
	for range 2 {
		fmt.Println("S (TLS):", tlsSrvReadLine(tr))
	}
	// Output:
	// S: * OK [CAPABILITY IMAP4rev2 STARTTLS LOGINDISABLED] ready
	// S: A1 OK Begin TLS negotiation now
	// S (TLS): * CAPABILITY IMAP4rev2 AUTH=SCRAM-SHA-256-PLUS AUTH=PLAIN
	// S (TLS): A2 OK done
}

// ExampleStartTLSServer_injection shows the NO STARTTLS command injection
// (CVE-2011-0411): a command pipelined after STARTTLS is refused before
// the go-ahead line, so it can never run as if it came inside TLS.
func ExampleStartTLSServer_injection() {
	serverConfig, _ := tlsSrvExamplePKI("mail.example.test")
	srv, cli := net.Pipe()
	go func() {
		// A man in the middle appends a command to the client's STARTTLS.
		fmt.Fprintf(cli, "STARTTLS\r\nMAIL FROM:<attacker@example.test>\r\n")
	}()
	tc := textproto.NewConn(srv)
	line, _ := tc.ReadLine()
	fmt.Println("C:", line)
	_, _, err := tlsutil.StartTLSServer(context.Background(), tc, srv, serverConfig, "220 2.0.0 Ready to start TLS")
	fmt.Println(errors.Is(err, tlsutil.ErrPlaintextAfterStartTLS))
	_ = srv.Close() // nothing was written; close the connection
	// Output:
	// C: STARTTLS
	// true
}

// ExampleSession_CheckStartTLS shows the refusals of checklist S5 and S6.
func ExampleSession_CheckStartTLS() {
	fmt.Println(tlsutil.Session{}.CheckStartTLS())
	fmt.Println(tlsutil.Session{Authenticated: true}.CheckStartTLS())
	fmt.Println(tlsutil.Session{TLS: true}.CheckStartTLS())
	// Output:
	// <nil>
	// tlsutil: STARTTLS after authentication
	// tlsutil: TLS is already active
}

// ExampleCertReloader serves a certificate from files and picks up a
// renewed pair with Reload (or, by itself, within CheckInterval).
func ExampleCertReloader() {
	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	write := func(hosts ...string) {
		kp, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: hosts})
		if err != nil {
			log.Fatal(err)
		}
		_ = os.WriteFile(certFile, kp.CertPEM, 0o600)
		_ = os.WriteFile(keyFile, kp.KeyPEM, 0o600)
	}
	write("old.example.test")

	r, err := tlsutil.NewCertReloader(certFile, keyFile)
	if err != nil {
		log.Fatal(err)
	}
	r.OnError = func(err error) { log.Print(err) } // keep serving, but say so
	serverConfig := tlsutil.NewServerConfig(r.GetCertificate)
	_ = serverConfig // for tlsutil.Listen or tlsutil.StartTLSServer
	fmt.Println(r.Certificate().Leaf.DNSNames)

	write("new.example.test") // certbot renewed the pair
	if err := r.Reload(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Certificate().Leaf.DNSNames)

	_ = os.WriteFile(certFile, []byte("half a file"), 0o600)
	r.OnError = nil
	fmt.Println(r.Reload() != nil, r.Certificate().Leaf.DNSNames)
	// Output:
	// [old.example.test]
	// [new.example.test]
	// true [new.example.test]
}

// ExampleNewCA makes the certificates tests need: a trusted one, one for
// the wrong host, and an expired one.
func ExampleNewCA() {
	ca, err := tlsutil.NewCA(nil)
	if err != nil {
		log.Fatal(err)
	}
	good, _ := ca.Issue(&tlsutil.CertOptions{Hosts: []string{"smtp.example.test", "192.0.2.25"}})
	wrongHost, _ := ca.Issue(&tlsutil.CertOptions{Hosts: []string{"other.example.org"}})
	expired, _ := ca.Issue(&tlsutil.CertOptions{
		NotBefore: time.Now().Add(-48 * time.Hour),
		NotAfter:  time.Now().Add(-24 * time.Hour),
	})
	verify := func(kp *tlsutil.KeyPair, host string) error {
		_, err := kp.Leaf().Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host})
		return err
	}
	fmt.Println(good.Leaf().DNSNames, good.Leaf().IPAddresses)
	fmt.Println(verify(good, "smtp.example.test"))
	fmt.Println(verify(wrongHost, "smtp.example.test") != nil)
	fmt.Println(verify(expired, "localhost") != nil)
	// Output:
	// [smtp.example.test] [192.0.2.25]
	// <nil>
	// true
	// true
}

// ExampleNewClientConfig dials an implicit-TLS IMAP server (RFC 8314,
// Section 3.2), verifying its certificate for the configured host name
// against the system roots.
func ExampleNewClientConfig() {
	conn, err := tls.Dial("tcp", "imap.example.org:993", tlsutil.NewClientConfig("imap.example.org", nil))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// Read the greeting, then authenticate with channel binding:
	cs := conn.ConnectionState()
	cb, err := tlsutil.ChannelBinding(&cs, tlsutil.TLSExporter, nil)
	fmt.Println(len(cb), err)
}

// ExampleListener serves implicit TLS on port 993 with a certificate that
// reloads when certbot renews it.
func ExampleListener() {
	r, err := tlsutil.NewCertReloader("/etc/letsencrypt/live/mail.example.org/fullchain.pem",
		"/etc/letsencrypt/live/mail.example.org/privkey.pem")
	if err != nil {
		log.Fatal(err)
	}
	config := tlsutil.NewServerConfig(r.GetCertificate)
	config.NextProtos = []string{"imap"} // ALPN: refuse clients for other protocols
	l, err := tlsutil.Listen("tcp", ":993", config, &tlsutil.ListenerOptions{
		HandshakeTimeout: 10 * time.Second,
		OnHandshakeError: func(remote net.Addr, err error) { log.Printf("%v: %v", remote, err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	for {
		conn, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer conn.Close()
			leaf := tlsutil.ServedCertificate(conn.(*tls.Conn)) // for tls-server-end-point
			_ = leaf
			fmt.Fprintf(conn, "* OK IMAP4rev2 ready\r\n")
		}()
	}
}
