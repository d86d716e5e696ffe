package sasl_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// ExampleNegotiateClient connects to an IMAP server with implicit TLS (port
// 993), the recommended mode (RFC 8314): there is no plaintext phase to
// attack. The server here is an in-memory fake on loopback.
func ExampleNegotiateClient() {
	addr, roots := cliExampleServer(cliExampleIMAPS)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr) // "imap.example.org:993" in real life
	if err != nil {
		log.Fatal(err)
	}
	cc, err := sasl.NegotiateClient(ctx, conn, sasl.ClientOptions{
		Protocol: sasl.IMAP,
		Mode:     sasl.ImplicitTLS,
		// The hardened config for the host the user configured; nil roots
		// mean the system roots.
		TLSConfig: tlsutil.NewClientConfig("imap.example.org", roots),
	})
	if err != nil {
		// conn is closed: never authenticate or retry in plaintext here.
		log.Fatal(err)
	}
	defer cc.Conn.Close()
	fmt.Println(cc.Capabilities.AuthMechanisms())
	fmt.Println("next tag:", cc.NextTag())
	// Output:
	// [SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN]
	// next tag: a1
}

// ExampleNegotiateClient_requireSTARTTLS submits on port 587 with
// STARTTLS, which is then required: NegotiateClient returns only inside
// TLS, with the extensions of a new EHLO. What the server offered before TLS
// (here only PLAIN, as a man in the middle might have rewritten it) is
// gone.
func ExampleNegotiateClient_requireSTARTTLS() {
	addr, roots := cliExampleServer(cliExampleSubmission)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr) // "smtp.example.org:587"
	if err != nil {
		log.Fatal(err)
	}
	cc, err := sasl.NegotiateClient(ctx, conn, sasl.ClientOptions{
		Protocol:  sasl.SMTP, // Mode: the zero value, RequireSTARTTLS
		TLSConfig: tlsutil.NewClientConfig("smtp.example.org", roots),
		Hostname:  "client.example.org",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Conn.Close()
	fmt.Println("TLS:", cc.TLS.ConnectionState().HandshakeComplete)
	fmt.Println("greeting kept:", cc.Greeting != "")
	fmt.Println(cc.Capabilities.AuthMechanisms())
	// Output:
	// TLS: true
	// greeting kept: false
	// [SCRAM-SHA-256-PLUS SCRAM-SHA-256]
}

// ExampleCapabilities shows the questions a client asks of a capability
// list read inside TLS.
func ExampleCapabilities() {
	addr, roots := cliExampleServer(cliExampleIMAPS)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	cc, err := sasl.NegotiateClient(context.Background(), conn, sasl.ClientOptions{
		Protocol:  sasl.IMAP,
		Mode:      sasl.ImplicitTLS,
		TLSConfig: tlsutil.NewClientConfig("imap.example.org", roots),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Conn.Close()
	caps := cc.Capabilities
	fmt.Println(caps.Has("IMAP4rev2"), caps.Has("SASL-IR"), caps.Has("LOGINDISABLED"))
	// Output: true true false
}

// The fake servers of the examples.

// cliExampleIMAPS is an IMAP server on port 993.
func cliExampleIMAPS(c net.Conn, cfg *tls.Config) {
	tc := tls.Server(c, cfg)
	fmt.Fprintf(tc, "* OK [CAPABILITY IMAP4rev2 SASL-IR AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 AUTH=PLAIN] ready\r\n")
	tc.Read(make([]byte, 1)) // until the client closes
}

// cliExampleSubmission is a submission server on port 587.
func cliExampleSubmission(c net.Conn, cfg *tls.Config) {
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "220 smtp.example.org ESMTP\r\n")
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "EHLO ") {
		return
	}
	fmt.Fprintf(c, "250-smtp.example.org\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")
	if line, _ := r.ReadString('\n'); line != "STARTTLS\r\n" {
		return
	}
	fmt.Fprintf(c, "220 2.0.0 Ready to start TLS\r\n")
	tc := tls.Server(c, cfg)
	r = bufio.NewReader(tc)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "EHLO ") {
		return
	}
	fmt.Fprintf(tc, "250-smtp.example.org\r\n250 AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256\r\n")
	r.ReadString('\n') // until the client closes
}

// cliExampleServer starts serve for one connection on loopback with a
// certificate for imap.example.org and smtp.example.org, and returns the
// address and the root to trust.
func cliExampleServer(serve func(net.Conn, *tls.Config)) (string, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "example CA and server"},
		DNSNames:     []string{"imap.example.org", "smtp.example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c, cfg)
	}()
	return ln.Addr().String(), roots
}
