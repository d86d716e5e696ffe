package goimap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/go-mailauth/mailauth/examples/goimap"
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

// quiet drops go-imap's server log.
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// Example serves go-imap's imapserver over implicit TLS (tlsutil's
// Listener: no byte before the handshake, stalled handshakes time out)
// with mailauth's mechanisms, and logs in with go-imap's client: a wrong
// password, then the right one.
func Example() {
	kp, err := tlsutil.SelfSigned(nil)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(kp.Leaf())
	serverTLS := tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &kp.Certificate, nil
	})
	b := goimap.NewBackend(&sasl.ServerConfig{Passwords: users{}}, kp.Leaf())
	b.AddUser("alice")
	srv := imapserver.New(&imapserver.Options{
		NewSession: b.NewSession,
		Caps:       imap.CapSet{imap.CapIMAP4rev1: {}},
		Logger:     quiet{},
	})
	ln, err := tlsutil.Listen("tcp", "127.0.0.1:0", serverTLS, nil)
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	for _, pass := range []string{"wrong", "secret"} {
		conn, err := tls.Dial("tcp", ln.Addr().String(), tlsutil.NewClientConfig("localhost", pool))
		if err != nil {
			panic(err)
		}
		c := imapclient.New(conn, nil)
		caps, err := c.Capability().Wait()
		if err != nil {
			panic(err)
		}
		// The client config picks the mechanism and applies the TLS
		// policy; sasl.ClientConn tells it the connection has TLS.
		cfg := &sasl.ClientConfig{Username: "alice", Password: pass}
		cl, err := cfg.NewClient(caps.AuthMechanisms(), sasl.ClientConn(conn))
		if err != nil {
			panic(err)
		}
		err = c.Authenticate(cl)
		if err == nil {
			// go-imap cannot check that a mutual mechanism verified the
			// server; sasl.Finished does.
			err = sasl.Finished(cl)
		}
		if err != nil {
			fmt.Println(err)
			c.Close()
			continue
		}
		data, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			panic(err)
		}
		fmt.Println("INBOX messages:", data.NumMessages)
		c.Logout().Wait()
		c.Close()
	}
	// Output:
	// imap: NO [AUTHENTICATIONFAILED] Authentication failed
	// INBOX messages: 0
}

// mailbox is the caller's own per-user state, opened at login.
type mailbox struct{ owner string }

// mySession is a caller's own go-imap session: the embedded Authenticator
// makes it an imapserver.SessionSASL and answers LOGIN; the rest of
// imapserver.Session (Select, Fetch, ...) is the caller's, here left to an
// embedded imapserver.Session for brevity.
type mySession struct {
	*goimap.Authenticator
	imapserver.Session
	box *mailbox
}

// Login is the Authenticator's, not the embedded Session's.
func (s *mySession) Login(user, pass string) error { return s.Authenticator.Login(user, pass) }

// This example shows the glue in a server of one's own: NewSession makes
// an Authenticator for the connection, whose login callback opens the
// mailbox of the identity the ServerSet recorded.
func ExampleNewAuthenticator() {
	cfg := &sasl.ServerConfig{Passwords: users{}} // one per listener
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			s := &mySession{}
			s.Authenticator = goimap.NewAuthenticator(cfg, conn, nil, func(id sasl.Identity) error {
				if id.User() != "alice" {
					return sasl.ErrAuthzFailed // no mailbox here: NO [AUTHORIZATIONFAILED]
				}
				s.box = &mailbox{owner: id.User()}
				return nil
			})
			return s, nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}},
	})
	_ = srv // srv.Serve(tlsutil.Listen(...)) or srv.ListenAndServeTLS(":993")
}
