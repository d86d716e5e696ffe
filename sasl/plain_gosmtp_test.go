package sasl

import (
	"context"
	"io"
	"net"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainSMTPBackend plugs a ServerSet into go-smtp unchanged: the set's
// Mechanisms are the AUTH list, its Servers run go-smtp's AUTH loop.
type plainSMTPBackend struct {
	cfg *ServerConfig
	ids chan Identity
}

func (b *plainSMTPBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &plainSMTPSession{set: NewServerSet(b.cfg, nil), ids: b.ids}, nil
}

type plainSMTPSession struct {
	set *ServerSet
	ids chan Identity
}

func (s *plainSMTPSession) AuthMechanisms() []string { return s.set.Mechanisms() }

func (s *plainSMTPSession) Auth(mech string) (gosasl.Server, error) {
	srv, err := s.set.NewServer(context.Background(), mech)
	if err != nil {
		return nil, err
	}
	return plainSMTPReport{srv, s}, nil
}

// plainSMTPReport sends the set's Identity to the test once the exchange
// is done.
type plainSMTPReport struct {
	Server
	s *plainSMTPSession
}

func (r plainSMTPReport) Next(resp []byte) ([]byte, bool, error) {
	chal, done, err := r.Server.Next(resp)
	if done && err == nil {
		id, _ := r.s.set.Identity()
		r.s.ids <- id
	}
	return chal, done, err
}

func (s *plainSMTPSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *plainSMTPSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *plainSMTPSession) Data(io.Reader) error                 { return nil }
func (s *plainSMTPSession) Reset()                               {}
func (s *plainSMTPSession) Logout() error                        { return nil }

// TestPlainGoSMTP runs our servers inside go-smtp's server and our clients
// inside go-smtp's client over loopback, so the wire rules (base64, "=",
// nil vs empty initial response, no data with success) are those of a
// real SMTP AUTH exchange. go-sasl's LOGIN client is run too.
func TestPlainGoSMTP(t *testing.T) {
	cfg := plainSetConfig()
	cfg.InsecureAuth = true // loopback test without TLS
	be := &plainSMTPBackend{cfg: cfg, ids: make(chan Identity, 1)}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	for _, tt := range []struct {
		name   string
		client Client
		ok     bool
		want   Identity
	}{
		{"PLAIN", NewPlainClient("", "tim", "tanstaaftanstaaf"), true, Identity{Mechanism: Plain, Username: "tim"}},
		{"PLAIN wrong", NewPlainClient("", "tim", "x"), false, Identity{}},
		{"LOGIN", NewLoginClient("user name", "pass word"), true, Identity{Mechanism: Login, Username: "user name"}},
		{"LOGIN go-sasl", gosasl.NewLoginClient("tim", "tanstaaftanstaaf"), true, Identity{Mechanism: Login, Username: "tim"}},
		{"LOGIN wrong", NewLoginClient("tim", "x"), false, Identity{}},
		{"CRAM-MD5", NewCRAMMD5Client("jürgen", "päss wörd"), true, Identity{Mechanism: CRAMMD5, Username: "jürgen"}},
		{"CRAM-MD5 wrong", NewCRAMMD5Client("nobody", "x"), false, Identity{}},
		{"ANONYMOUS empty trace", NewAnonymousClient(""), true, Identity{Mechanism: Anonymous, Anonymous: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := smtp.Dial(l.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			err = c.Auth(tt.client)
			if !tt.ok {
				require.Error(t, err)
				assert.Contains(t, err.Error(), ErrAuthFailed.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, <-be.ids)
		})
	}
}
