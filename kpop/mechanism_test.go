package kpop

import (
	"context"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSASLExtension runs GSSAPI through the sasl package's extension
// point: a ServerSet offers it (without TLS: it needs none), the client
// config chooses it, and sasl.Exchange carries it over IMAP, POP3 and SMTP
// lines.
func TestSASLExtension(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	for _, tc := range []struct {
		proto   sasl.Protocol
		service string
	}{{sasl.IMAP, ServiceIMAP}, {sasl.POP3, ServicePOP}, {sasl.SMTP, ServiceSMTP}} {
		t.Run(tc.proto.String(), func(t *testing.T) {
			sc, cc := net.Pipe()
			defer sc.Close()
			defer cc.Close()
			set := sasl.NewServerSet(&sasl.ServerConfig{Extra: []sasl.ServerMechanism{a.ServerMechanism(tc.service)}}, sasl.ServerConn(sc))
			offered := set.Mechanisms()
			require.Equal(t, []string{GSSAPI}, offered)

			done := make(chan error, 1)
			go func() {
				conn := textproto.NewConn(sc)
				x := &sasl.Exchange{Protocol: tc.proto}
				line, err := conn.ReadLine()
				if err != nil {
					done <- err
					return
				}
				args := line[strings.Index(line, "AUTH")+len("AUTH"):]
				args = strings.TrimPrefix(strings.TrimPrefix(args, "ENTICATE"), " ")
				mech, ir, err := sasl.ParseAuthCommand(args)
				if err == nil {
					var s sasl.Server
					if s, err = set.NewServer(context.Background(), mech); err == nil {
						err = x.Serve(context.Background(), conn, sc, s, ir)
					}
				}
				x.WriteResult(conn, err)
				done <- err
			}()

			creds, _ := testCreds(kt)
			ccfg := &ClientConfig{Credentials: creds, Host: testHost}
			cl, err := (&sasl.ClientConfig{Extra: []sasl.ClientMechanism{ccfg.ClientMechanism(tc.service)}}).NewClient(offered, sasl.ClientConn(cc))
			require.NoError(t, err)
			m, ok := sasl.ChosenMechanism(cl)
			require.True(t, ok)
			assert.Equal(t, GSSAPI, m.Name())
			x := &sasl.Exchange{Protocol: tc.proto}
			require.NoError(t, x.Authenticate(context.Background(), textproto.NewConn(cc), cc, cl))
			require.NoError(t, <-done)
			id, ok := set.Identity()
			require.True(t, ok)
			assert.Equal(t, "alice", id.Username)
			assert.Equal(t, GSSAPI, id.Mechanism)
		})
	}
}

// TestSASLExtensionAuthorize: the ServerSet, not the mechanism, decides
// whether the principal's user may act as the authzid it asked for.
func TestSASLExtensionAuthorize(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	set := sasl.NewServerSet(&sasl.ServerConfig{Extra: []sasl.ServerMechanism{a.ServerMechanism(ServiceIMAP)}}, nil)
	s, err := set.NewServer(context.Background(), GSSAPI)
	require.NoError(t, err)
	creds, _ := testCreds(kt)
	cerr, serr := exchange(NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost, Authzid: "bob"}, ServiceIMAP), s)
	require.NoError(t, cerr)
	require.ErrorIs(t, serr, sasl.ErrAuthzFailed)
}

func TestClientMechanismNeedsCredentials(t *testing.T) {
	_, err := (&ClientConfig{Host: testHost}).ClientMechanism(ServiceIMAP).NewClient(nil, []string{GSSAPI})
	require.Error(t, err)
}
