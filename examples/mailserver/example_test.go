package mailserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/go-mailauth/mailauth/examples/mailclient"
	"github.com/go-mailauth/mailauth/examples/mailserver"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// users is a one-user password store.
type users struct{}

func (users) VerifyPassword(ctx context.Context, user, pass string) error {
	if user == "alice" && pass == "secret" {
		return nil
	}
	return sasl.ErrAuthFailed
}

// Example serves SMTP submission on a loopback port, offering STARTTLS and
// then PLAIN and LOGIN inside TLS, and logs in with mailclient.
func Example() {
	serverTLS, clientTLS := exampleCerts()
	srv := mailserver.New(sasl.SMTP, &mailserver.Config{
		SASL:     &sasl.ServerConfig{Passwords: users{}},
		TLS:      serverTLS,
		Hostname: "localhost",
	})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	for _, pass := range []string{"wrong", "secret"} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		res, err := mailclient.Login(context.Background(), conn, &mailclient.Options{
			Protocol: sasl.SMTP,
			TLS:      clientTLS,
			SASL:     &sasl.ClientConfig{Username: "alice", Password: pass},
		})
		conn.Close()
		fmt.Println(res.Offered, res.Mechanism, err)
	}
	// Output:
	// [PLAIN] PLAIN sasl: SMTP server refused authentication: 535 5.7.8 Authentication credentials invalid
	// [PLAIN] PLAIN <nil>
}

// exampleCerts makes a throwaway self-signed certificate for localhost.
func exampleCerts() (server, client *tls.Config) {
	kp, err := tlsutil.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(kp.Leaf())
	return tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &kp.Certificate, nil }),
		tlsutil.NewClientConfig("localhost", pool)
}
