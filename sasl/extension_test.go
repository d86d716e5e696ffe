package sasl_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// A mechanism defined outside package sasl, as ntlm and kpop define
// theirs: "X-PSK", where the client sends user NUL key and the server
// compares the key. It uses only sasl's exported API.
const xpskName = "X-PSK"

type xpskMech struct {
	sec  sasl.Security
	keys map[string]string // server: user -> key
	user string            // client
	key  string            // client
}

func (m *xpskMech) Name() string            { return xpskName }
func (m *xpskMech) Security() sasl.Security { return m.sec }

func (m *xpskMech) NewServer(ctx context.Context, conn *sasl.ConnState) (sasl.IdentityServer, error) {
	return &xpskServer{m: m}, nil
}

func (m *xpskMech) NewClient(conn *sasl.ConnState, offered []string) (sasl.Client, error) {
	if m.user == "" {
		return nil, errors.New("x-psk: no credentials")
	}
	return &xpskClient{m: m}, nil
}

type xpskServer struct {
	m    *xpskMech
	id   sasl.Identity
	ok   bool
	done bool
}

func (s *xpskServer) Next(resp []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, sasl.ErrUnexpectedClientResponse
	}
	if resp == nil {
		return []byte{}, false, nil // ask for the message
	}
	s.done = true
	authzid, rest, _ := bytes.Cut(resp, []byte{0})
	user, key, ok := bytes.Cut(rest, []byte{0})
	if !ok {
		return nil, false, fmt.Errorf("%w: X-PSK wants authzid NUL user NUL key", sasl.ErrMalformed)
	}
	want := s.m.keys[string(user)]
	if len(want) != len(key) || subtle.ConstantTimeCompare([]byte(want), key) != 1 {
		return nil, false, sasl.ErrAuthFailed
	}
	s.id, s.ok = sasl.Identity{Username: string(user), Authzid: string(authzid)}, true
	return nil, true, nil
}

func (s *xpskServer) Identity() (sasl.Identity, bool) { return s.id, s.ok }

type xpskClient struct{ m *xpskMech }

func (c *xpskClient) Start() (string, []byte, error) {
	return xpskName, []byte("\x00" + c.m.user + "\x00" + c.m.key), nil
}
func (c *xpskClient) Next([]byte) ([]byte, error) { return nil, sasl.ErrUnexpectedServerChallenge }

// xpskReporting is an X-PSK whose store says whether it holds any key.
type xpskReporting struct {
	*xpskMech
	holds bool
}

func (r xpskReporting) HoldsCredentials(mech string) bool { return r.holds && mech == xpskName }

var (
	_ sasl.ServerMechanism = (*xpskMech)(nil)
	_ sasl.ClientMechanism = (*xpskMech)(nil)
)

// extPipe returns the two ends of an in-memory connection, as net.Conns
// and textproto.Conns over them.
func extPipe(t *testing.T) (server, client net.Conn, stp, ctp *textproto.Conn) {
	a, b := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b, textproto.NewConn(a), textproto.NewConn(b)
}

// extServe answers one AUTH command with set, as a POP3/SMTP server does.
func extServe(x *sasl.Exchange, raw net.Conn, tp *textproto.Conn, set *sasl.ServerSet) error {
	line, err := sasl.ReadLine(tp.R, 512)
	if err != nil {
		return err
	}
	var args string
	if _, err := fmt.Sscanf(line, "AUTH %s", &args); err != nil {
		return err
	}
	mech, ir, err := sasl.ParseAuthCommand(line[len("AUTH "):])
	if err == nil {
		var s sasl.Server
		if s, err = set.NewServer(context.Background(), mech); err == nil {
			err = x.Serve(context.Background(), tp, raw, s, ir)
		}
	}
	if werr := x.WriteResult(tp, err); werr != nil {
		return werr
	}
	return err
}

// TestExtensionMechanism negotiates a mechanism from another package end
// to end over Exchange: it is advertised by strength, chosen by the
// client, refused without TLS, given Authorize and recorded as Identity,
// exactly like a built-in one.
func TestExtensionMechanism(t *testing.T) {
	srvMech := &xpskMech{sec: sasl.Security{NeedsTLS: true}, keys: map[string]string{"alice": "k3y"}}
	tlsState := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	var authorized []sasl.Identity
	scfg := &sasl.ServerConfig{
		Plaintext: plainUsers{"tim": "tanstaaftanstaaf"},
		Extra:     []sasl.ServerMechanism{srvMech},
		Authorize: func(ctx context.Context, id sasl.Identity) error {
			authorized = append(authorized, id)
			if id.Authzid != "" && id.Authzid != id.Username {
				return sasl.ErrAuthzFailed
			}
			return nil
		},
	}

	// Not offered, and refused, without TLS: NeedsTLS applies to it.
	plainSet := sasl.NewServerSet(scfg, nil)
	assert.NotContains(t, plainSet.Mechanisms(), xpskName)
	_, err := plainSet.NewServer(context.Background(), xpskName)
	require.ErrorIs(t, err, sasl.ErrNeedsTLS)
	ccfg := &sasl.ClientConfig{Extra: []sasl.ClientMechanism{&xpskMech{sec: srvMech.sec, user: "alice", key: "k3y"}}}
	_, err = ccfg.NewClient([]string{xpskName}, nil)
	require.ErrorIs(t, err, sasl.ErrNoMechanism)

	// With TLS it is offered among the modern mechanisms, after SCRAM and
	// before the legacy ones.
	scfg.Legacy = true
	set := sasl.NewServerSet(scfg, sasl.ServerConnState(tlsState, nil, nil))
	assert.Equal(t, []string{sasl.Plain, xpskName, sasl.Login, sasl.CRAMMD5, sasl.DigestMD5}, set.Mechanisms())

	// One that reports holding no credentials is not offered.
	for _, holds := range []bool{false, true} {
		rep := xpskReporting{xpskMech: srvMech, holds: holds}
		offered := sasl.NewServerSet(&sasl.ServerConfig{Extra: []sasl.ServerMechanism{rep}},
			sasl.ServerConnState(tlsState, nil, nil)).Mechanisms()
		assert.Equal(t, holds, len(offered) == 1, "holds=%v: %v", holds, offered)
	}

	// A mutual one ranks with SCRAM, above PLAIN.
	mutual := &xpskMech{sec: sasl.Security{NeedsTLS: true, Mutual: true}}
	assert.Equal(t, []string{xpskName, sasl.Plain},
		sasl.NewServerSet(&sasl.ServerConfig{Plaintext: scfg.Plaintext, Extra: []sasl.ServerMechanism{mutual}},
			sasl.ServerConnState(tlsState, nil, nil)).Mechanisms())
	// A mutual client that cannot report Finished is never chosen.
	_, err = (&sasl.ClientConfig{Extra: []sasl.ClientMechanism{&xpskMech{sec: mutual.sec, user: "a", key: "b"}}}).
		NewClient([]string{xpskName}, sasl.ClientConnState(tlsState))
	require.ErrorIs(t, err, sasl.ErrNoMechanism)

	for _, tc := range []struct {
		name    string
		key     string
		wantErr error
	}{
		{"ok", "k3y", nil},
		{"wrong key", "guess", sasl.ErrAuthFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authorized = nil
			set := sasl.NewServerSet(scfg, sasl.ServerConnState(tlsState, nil, nil))
			// No password: the built-in PLAIN, first in the same tier,
			// is then not usable, and the client takes X-PSK.
			ccfg := &sasl.ClientConfig{
				Extra: []sasl.ClientMechanism{&xpskMech{sec: srvMech.sec, user: "alice", key: tc.key}}}
			c, err := ccfg.NewClient(set.Mechanisms(), sasl.ClientConnState(tlsState))
			require.NoError(t, err)
			m, ok := sasl.ChosenMechanism(c)
			require.True(t, ok)
			require.Equal(t, xpskName, m.Name())

			sraw, craw, sc, cc := extPipe(t)
			x := &sasl.Exchange{Protocol: sasl.SMTP}
			srv := make(chan error, 1)
			go func() { srv <- extServe(x, sraw, sc, set) }()
			err = x.Authenticate(context.Background(), cc, craw, c)
			serr := <-srv
			id, ok := set.Identity()
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorIs(t, serr, tc.wantErr)
				assert.False(t, ok)
				assert.Empty(t, authorized)
				return
			}
			require.NoError(t, err)
			require.NoError(t, serr)
			require.True(t, ok)
			assert.Equal(t, sasl.Identity{Mechanism: xpskName, Username: "alice"}, id)
			assert.Equal(t, []sasl.Identity{id}, authorized, "Authorize saw it")
		})
	}
}
