package mailclient_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

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

// Example logs in to an IMAP server over implicit TLS (port 993 in real
// life; RFC 8314), the mode to prefer: nothing is sent in plaintext. The
// server is mailserver on a loopback port.
func Example() {
	kp, err := tlsutil.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(kp.Leaf())
	srv := mailserver.New(sasl.IMAP, &mailserver.Config{
		SASL: &sasl.ServerConfig{Passwords: users{}},
		TLS: tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &kp.Certificate, nil
		}),
	})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.ServeTLS(ln)

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := mailclient.Login(ctx, conn, &mailclient.Options{
		Protocol: sasl.IMAP,
		Mode:     sasl.ImplicitTLS,
		TLS:      tlsutil.NewClientConfig("localhost", pool),
		SASL:     &sasl.ClientConfig{Username: "alice", Password: "secret"},
	})
	fmt.Println(res.Offered, res.Mechanism, err)
	// Output:
	// [PLAIN] PLAIN <nil>
}
