package gosmtp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/go-mailauth/mailauth/examples/gosmtp"
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

// Example serves go-smtp as a submission server over implicit TLS (port
// 465 in real life; tlsutil's Listener bounds the handshake) with
// mailauth's mechanisms, with go-smtp's own bounds on time, lines and
// message size set, and submits a message with go-smtp's client: a wrong
// password first, then the right one.
func Example() {
	kp, err := tlsutil.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(kp.Leaf())
	srv := smtp.NewServer(gosmtp.NewBackend(&sasl.ServerConfig{Passwords: users{}}, kp.Leaf()))
	srv.Domain = "localhost"
	srv.ReadTimeout = 5 * time.Minute // a silent client must not hold a session for ever
	srv.WriteTimeout = time.Minute
	srv.MaxLineLength = sasl.DefaultMaxLineLength
	srv.MaxMessageBytes = 10 << 20
	ln, err := tlsutil.Listen("tcp", "127.0.0.1:0", tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &kp.Certificate, nil
	}), nil)
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	for _, pass := range []string{"wrong", "secret"} {
		c, err := smtp.DialTLS(ln.Addr().String(), tlsutil.NewClientConfig("localhost", pool))
		if err != nil {
			panic(err)
		}
		cs, _ := c.TLSConnectionState()
		_, offered := c.Extension("AUTH")
		cl, err := (&sasl.ClientConfig{Username: "alice", Password: pass}).NewClient(strings.Fields(offered), sasl.ClientConnState(&cs))
		if err != nil {
			panic(err)
		}
		err = c.Auth(cl)
		if err == nil {
			err = sasl.Finished(cl) // go-smtp cannot check a mutual mechanism's proof
		}
		if err != nil {
			fmt.Println(err)
			c.Close()
			continue
		}
		err = c.SendMail("alice@example.org", []string{"bob@example.org"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
		fmt.Println("sent:", err)
		c.Quit()
	}
	// Output:
	// SMTP error 535: Authentication credentials invalid
	// sent: <nil>
}

// submitSession is a caller's own go-smtp session: the embedded
// Authenticator makes it an smtp.AuthSession.
type submitSession struct {
	*gosmtp.Authenticator
	user string // who logged in
}

func (s *submitSession) Mail(string, *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *submitSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *submitSession) Data(io.Reader) error                 { return nil }
func (s *submitSession) Reset()                               {}
func (s *submitSession) Logout() error                        { return nil }

// submitBackend makes a submitSession per connection.
type submitBackend struct{ cfg *sasl.ServerConfig }

func (b submitBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &submitSession{}
	s.Authenticator = gosmtp.NewAuthenticator(b.cfg, c, nil, func(id sasl.Identity) error {
		s.user = id.User()
		return nil
	})
	return s, nil
}

// This example shows the glue in a submission server of one's own:
// NewSession makes an Authenticator for the connection, whose login
// callback records the identity the ServerSet recorded.
func ExampleNewAuthenticator() {
	srv := smtp.NewServer(submitBackend{&sasl.ServerConfig{Passwords: users{}}})
	srv.Domain = "mail.example.org"
	_ = srv // srv.Serve(tlsutil.Listen(...)) or srv.ListenAndServeTLS(":465")
}
