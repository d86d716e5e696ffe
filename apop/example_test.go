package apop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
)

// passwords is a sasl.PlaintextLookup over a map, for the examples.
type passwords map[string]string

func (p passwords) LookupPassword(_ context.Context, name string) (string, error) {
	if pw, ok := p[name]; ok {
		return pw, nil
	}
	return "", sasl.ErrUnknownUser
}

// This example runs our client against our server over an in-memory TLS
// connection: the server greets with its timestamp and verifies the APOP
// command, the client checks the timestamp and logs in.
func Example() {
	clientConn, serverConn := tlsPipe("pop.example.org")
	done := make(chan struct{})

	// The server side of one POP3 connection.
	go func() {
		defer close(done)
		defer serverConn.Close()
		cfg := &apop.ServerConfig{
			Plaintext: passwords{"mrose": "tanstaaf"},
			Hostname:  "pop.example.org",
		}
		srv, err := apop.NewServer(cfg)
		if err != nil {
			log.Fatal(err)
		}
		tp := textproto.NewConn(serverConn)
		tp.PrintfLine("+OK POP3 server ready %s", srv.Timestamp())
		line, err := sasl.ReadLine(tp.R, 512) // bounded, unlike tp.ReadLine

		if err != nil {
			log.Fatal(err)
		}
		verb, args, _ := strings.Cut(line, " ")
		if !strings.EqualFold(verb, "APOP") {
			tp.PrintfLine("-ERR unknown command")
			return
		}
		state := serverConn.ConnectionState()
		id, err := srv.Verify(context.Background(), sasl.ServerConnState(&state, nil, nil), args)
		if err != nil {
			tp.PrintfLine("-ERR [AUTH] authentication failed")
			return
		}
		fmt.Println("server: authenticated", id.Username, "with", id.Mechanism)
		tp.PrintfLine("+OK maildrop ready")
		if line, _ := tp.ReadLine(); strings.EqualFold(line, "QUIT") {
			tp.PrintfLine("+OK bye")
		}
	}()

	// The client side.
	tp := textproto.NewConn(clientConn)
	greeting, err := tp.ReadLine() // completes the TLS handshake
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := apop.Login(ctx, tp, clientConn, greeting, "mrose", "tanstaaf", nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("client: logged in")
	tp.PrintfLine("QUIT")
	for { // read up to the server's TLS close_notify
		if _, err := tp.ReadLine(); err != nil {
			break
		}
	}
	<-done
	clientConn.Close()

	// Output:
	// server: authenticated mrose with APOP
	// client: logged in
}

// This example shows the server side of APOP in a POP3 command loop. The
// command line here is made with apop.Command; on a real connection it is
// read from the client, and conn describes its TLS state.
func ExampleNewServer() {
	cfg := &apop.ServerConfig{
		Plaintext: passwords{"mrose": "tanstaaf"},
		Hostname:  "pop.example.org",
		// Only for this example, which has no connection: accept APOP
		// without TLS.
		InsecureAuth: true,
	}
	srv, err := apop.NewServer(cfg) // one per connection, before the greeting
	if err != nil {
		log.Fatal(err)
	}
	greeting := "+OK POP3 server ready " + srv.Timestamp()

	for _, password := range []string{"guess", "tanstaaf"} {
		line, _ := apop.Command(nil, greeting, "mrose", password, &apop.ClientConfig{InsecureAuth: true})
		verb, args, _ := strings.Cut(line, " ")
		if verb != "APOP" {
			continue
		}
		id, err := srv.Verify(context.Background(), nil, args)
		switch {
		case errors.Is(err, sasl.ErrAuthFailed):
			fmt.Println("-ERR [AUTH] authentication failed")
		case err != nil:
			fmt.Println("-ERR", err)
		default:
			fmt.Printf("+OK %s's maildrop\n", id.Username)
		}
	}
	// Output:
	// -ERR [AUTH] authentication failed
	// +OK mrose's maildrop
}

// This example logs in to a POP3 server on its implicit-TLS port (RFC 8314)
// with APOP, and does not fall back to USER/PASS when the server offers no
// valid timestamp.
func ExampleLogin() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{ServerName: "pop.example.org"}}
	conn, err := d.DialContext(ctx, "tcp", "pop.example.org:995")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	tp := textproto.NewConn(conn)
	greeting, err := sasl.ReadLine(tp.R, 512)
	if err != nil {
		log.Fatal(err)
	}
	err = apop.Login(ctx, tp, conn, greeting, "mrose", "tanstaaf", nil)
	switch {
	case errors.Is(err, apop.ErrNoTimestamp), errors.Is(err, apop.ErrInvalidTimestamp):
		log.Fatal("the server offers no usable APOP timestamp: ", err)
	case errors.Is(err, sasl.ErrAuthFailed):
		log.Fatal("login refused: ", err)
	case err != nil:
		log.Fatal(err)
	}
	tp.PrintfLine("QUIT")
}

// This example checks greetings the way a client must before it answers
// with APOP.
func ExampleParseGreeting() {
	for _, greeting := range []string{
		"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
		"+OK POP3 server ready",
		"+OK <1896.697170952@dbc.mtview.ca.us\x80>",
		"+OK <1896.697170952>",
	} {
		ts, err := apop.ParseGreeting(greeting)
		fmt.Printf("%q %v\n", ts, err)
	}
	// Output:
	// "<1896.697170952@dbc.mtview.ca.us>" <nil>
	// "" apop: greeting has no timestamp
	// "" apop: invalid timestamp: octet 0x80 at offset 32 is not printable ASCII
	// "" apop: invalid timestamp: no '@'
}

// This example builds the APOP command of RFC 1939, Section 7, for a client
// loop that does its own I/O.
func ExampleCommand() {
	greeting := "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
	// Without TLS, APOP is refused.
	_, err := apop.Command(nil, greeting, "mrose", "tanstaaf", nil)
	fmt.Println(err)

	// Only to reproduce the RFC's example, which has no connection.
	cmd, err := apop.Command(nil, greeting, "mrose", "tanstaaf", &apop.ClientConfig{InsecureAuth: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cmd)
	// Output:
	// apop: APOP without TLS: sasl: mechanism requires TLS
	// APOP mrose c4c9334bac560ecc979e58001b3e22fb
}

func ExampleMechanism() {
	m := apop.Mechanism()
	fmt.Printf("%s %+v\n", m.Name(), m.Security())
	// Output:
	// APOP {PlaintextEquivalent:false Mutual:false ChannelBinding:false NeedsTLS:true Legacy:true}
}

// tlsPipe returns the two ends of an in-memory TLS connection whose server
// presents a throwaway self-signed certificate for host, which the client
// trusts.
func tlsPipe(host string) (client, server *tls.Conn) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
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
	c, s := net.Pipe()
	server = tls.Server(s, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	client = tls.Client(c, &tls.Config{ServerName: host, RootCAs: roots})
	return client, server
}
