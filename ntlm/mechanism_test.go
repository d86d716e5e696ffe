package ntlm_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// tlsPair returns the two sides' TLS states of one handshake with the
// server certificate leaf, as a crypto/tls connection would report them.
func tlsPair(t testing.TB, leaf *x509.Certificate) (server, client *sasl.ConnState) {
	t.Helper()
	cs := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{leaf}}
	return sasl.ServerConnState(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}, leaf, nil),
		sasl.ClientConnState(cs)
}

func newLeaf(t testing.TB) *x509.Certificate {
	t.Helper()
	kp, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: []string{"mail.example.com"}})
	require.NoError(t, err)
	return kp.Leaf()
}

func newDB(t testing.TB) *passdb.DB {
	t.Helper()
	db, err := passdb.Parse(strings.NewReader(fmt.Sprintf("tim:{NTLM}%x\nplain:{PLAIN}pencil\n", ntlm.Hash("pencil"))))
	require.NoError(t, err)
	return db
}

func pipe(t testing.TB) (server, client *conn) {
	a, b := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	t.Cleanup(func() { a.Close(); b.Close() })
	return &conn{a, textproto.NewConn(a)}, &conn{b, textproto.NewConn(b)}
}

// conn is one end of pipe: the net.Conn an exchange applies its context
// to, and the textproto.Conn over it.
type conn struct {
	raw net.Conn
	tp  *textproto.Conn
}

// serveAuth answers one IMAP AUTHENTICATE or POP3/SMTP AUTH command with
// set, as a mail server does.
func serveAuth(x *sasl.Exchange, c *conn, set *sasl.ServerSet) error {
	tp := c.tp
	line, err := sasl.ReadLine(tp.R, 512)
	if err != nil {
		return err
	}
	args, ok := strings.CutPrefix(line, "AUTH ")
	if x.Protocol == sasl.IMAP {
		args, ok = strings.CutPrefix(line, x.Tag+" AUTHENTICATE ")
	}
	if !ok {
		return fmt.Errorf("unexpected command %q", line)
	}
	mech, ir, err := sasl.ParseAuthCommand(args)
	if err == nil {
		var s sasl.Server
		if s, err = set.NewServer(context.Background(), mech); err == nil {
			err = x.Serve(context.Background(), tp, c.raw, s, ir)
		}
	}
	if werr := x.WriteResult(tp, err); werr != nil {
		return werr
	}
	return err
}

// TestMechanismOverExchange negotiates NTLM end to end over sasl.Exchange
// on IMAP (with and without SASL-IR), POP3 and SMTP, inside TLS with
// channel bindings, from a sasl.ServerConfig and a sasl.ClientConfig.
func TestMechanismOverExchange(t *testing.T) {
	leaf := newLeaf(t)
	scfg := &sasl.ServerConfig{Extra: []sasl.ServerMechanism{
		ntlm.NewServerMechanism(&ntlm.ServerConfig{Hashes: newDB(t), ChannelBinding: ntlm.ChannelBindingRequired}),
	}}
	for _, tc := range []struct {
		name  string
		x     sasl.Exchange
		user  string
		pw    string
		want  error
		other bool // the client sees another certificate (a relay)
	}{
		{"imap", sasl.Exchange{Protocol: sasl.IMAP, Tag: "a1"}, "tim", "pencil", nil, false},
		{"imap-sasl-ir", sasl.Exchange{Protocol: sasl.IMAP, Tag: "a1", SASLIR: true}, "tim", "pencil", nil, false},
		{"pop3", sasl.Exchange{Protocol: sasl.POP3}, `EXAMPLE\tim`, "pencil", nil, false},
		{"smtp", sasl.Exchange{Protocol: sasl.SMTP}, "plain", "pencil", nil, false},
		{"smtp-wrong-password", sasl.Exchange{Protocol: sasl.SMTP}, "tim", "Pencil", sasl.ErrAuthFailed, false},
		{"imap-unknown-user", sasl.Exchange{Protocol: sasl.IMAP, Tag: "a1"}, "nobody", "pencil", sasl.ErrAuthFailed, false},
		{"pop3-relayed", sasl.Exchange{Protocol: sasl.POP3}, "tim", "pencil", sasl.ErrChannelBinding, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvConn, cliConn := tlsPair(t, leaf)
			if tc.other {
				_, cliConn = tlsPair(t, newLeaf(t))
			}
			set := sasl.NewServerSet(scfg, srvConn)
			require.Contains(t, set.Mechanisms(), ntlm.MechanismName)
			ccfg := &sasl.ClientConfig{Extra: []sasl.ClientMechanism{
				ntlm.NewClientMechanism(&ntlm.ClientConfig{Username: tc.user, Password: tc.pw, TargetName: "imap/mail.example.com"}),
			}}
			c, err := ccfg.NewClient(set.Mechanisms(), cliConn)
			require.NoError(t, err)
			m, ok := sasl.ChosenMechanism(c)
			require.True(t, ok)
			require.Equal(t, ntlm.MechanismName, m.Name())

			sc, cc := pipe(t)
			srv := make(chan error, 1)
			go func() { srv <- serveAuth(&tc.x, sc, set) }()
			cerr := tc.x.Authenticate(context.Background(), cc.tp, cc.raw, c)
			serr := <-srv
			id, ok := set.Identity()
			if tc.want != nil {
				assert.ErrorIs(t, serr, tc.want)
				assert.Error(t, cerr)
				assert.False(t, ok)
				return
			}
			require.NoError(t, serr)
			require.NoError(t, cerr)
			require.True(t, ok)
			user, _ := strings.CutPrefix(tc.user, `EXAMPLE\`)
			assert.Equal(t, sasl.Identity{Mechanism: ntlm.MechanismName, Username: user}, id)
		})
	}
}

// TestMechanismPolicy: NTLM is Legacy and NeedsTLS, so it is neither
// offered nor chosen without TLS.
func TestMechanismPolicy(t *testing.T) {
	sm := ntlm.NewServerMechanism(&ntlm.ServerConfig{Hashes: newDB(t)})
	assert.Equal(t, sasl.Security{NeedsTLS: true, Legacy: true}, sm.Security())
	set := sasl.NewServerSet(&sasl.ServerConfig{Extra: []sasl.ServerMechanism{sm}}, nil)
	assert.NotContains(t, set.Mechanisms(), ntlm.MechanismName)
	_, err := set.NewServer(context.Background(), ntlm.MechanismName)
	assert.ErrorIs(t, err, sasl.ErrNeedsTLS)

	cm := ntlm.NewClientMechanism(&ntlm.ClientConfig{Username: "tim", Password: "pencil"})
	_, err = (&sasl.ClientConfig{Extra: []sasl.ClientMechanism{cm}}).NewClient([]string{ntlm.MechanismName}, sasl.ClientConnState(nil))
	assert.ErrorIs(t, err, sasl.ErrNoMechanism)

	_, err = ntlm.NewServerMechanism(&ntlm.ServerConfig{}).NewServer(context.Background(), sasl.ServerConnState(nil, nil, nil))
	assert.ErrorIs(t, err, sasl.ErrUnsupportedMechanism)
	_, err = ntlm.NewClientMechanism(&ntlm.ClientConfig{Password: "x"}).NewClient(sasl.ClientConnState(nil), nil)
	assert.ErrorIs(t, err, sasl.ErrMalformed)
}

// TestGoNTLMSSPOverExchange drives our server with go-ntlmssp's messages
// through the IMAP framing (no SASL-IR: the server's first challenge is
// empty).
func TestGoNTLMSSPOverExchange(t *testing.T) {
	srvConn, _ := tlsPair(t, newLeaf(t))
	set := sasl.NewServerSet(&sasl.ServerConfig{Extra: []sasl.ServerMechanism{
		ntlm.NewServerMechanism(&ntlm.ServerConfig{Hashes: newDB(t)}),
	}}, srvConn)
	x := &sasl.Exchange{Protocol: sasl.IMAP, Tag: "a1"}
	sc, cc := pipe(t)
	srv := make(chan error, 1)
	go func() { srv <- serveAuth(x, sc, set) }()
	require.NoError(t, x.Authenticate(context.Background(), cc.tp, cc.raw, &goNTLMSSPClient{user: "tim", pw: "pencil"}))
	require.NoError(t, <-srv)
	id, ok := set.Identity()
	require.True(t, ok)
	assert.Equal(t, "tim", id.Username)
}

// goNTLMSSPClient is a sasl.Client on Azure/go-ntlmssp.
type goNTLMSSPClient struct {
	user, pw string
	step     int
}

func (c *goNTLMSSPClient) Start() (string, []byte, error) {
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	return ntlm.MechanismName, neg, err
}

func (c *goNTLMSSPClient) Next(ch []byte) ([]byte, error) {
	c.step++
	if c.step > 1 {
		return nil, errors.New("go-ntlmssp: unexpected challenge")
	}
	return ntlmssp.NewAuthenticateMessage(ch, c.user, c.pw, nil)
}

// TestMechanismHoldsCredentials: a server whose passwd-file has no NT hash
// (and no plaintext to derive one) does not offer NTLM.
func TestMechanismHoldsCredentials(t *testing.T) {
	tlsConn := sasl.ServerConnState(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}, nil, nil)
	for file, want := range map[string]bool{
		"tim:{NTLM}878d8014606cda29677a44efa1353fc7\n": true,
		"tim:{PLAIN}pencil\n":                          true,
		"tim:{SCRAM-SHA-256}4096,/h2E01g+ClyvvhPYG6vblQ==,fNV9kMWo8MZXmAD/3BxgYFq3aGOxLhMeIDeUo6EW1MA=,LBl9PwlNUnDTgUbP8pYz94Q2f+CyM8XAEUEgQDKgg+A=\n": false,
	} {
		db, err := passdb.Parse(strings.NewReader(file))
		require.NoError(t, err)
		sm := ntlm.NewServerMechanism(&ntlm.ServerConfig{Hashes: db})
		set := sasl.NewServerSet(&sasl.ServerConfig{Extra: []sasl.ServerMechanism{sm}}, tlsConn)
		assert.Equal(t, want, slices.Contains(set.Mechanisms(), ntlm.MechanismName), file)
	}
}
