package kpop

import (
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"github.com/go-mailauth/mailauth/internal/krbtest"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/iana/adtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run against a real MIT KDC that they start themselves
// (internal/krbtest), in a realm and on a service host of their own.
const (
	kdcRealm = "KPOPTEST.INVALID"
	kdcHost  = "mx.kpoptest.invalid"
)

func startKDC(t *testing.T) *krbtest.KDC {
	t.Helper()
	return krbtest.Start(t, &krbtest.Options{Realm: kdcRealm, Host: kdcHost})
}

// TestKDCGSSAPI logs alice in from a password, a keytab and a credential
// cache (named with and without "FILE:", and through KRB5CCNAME), gets
// tickets for imap, pop and smtp on the service host, and authenticates
// to our acceptor with each.
func TestKDCGSSAPI(t *testing.T) {
	k := startKDC(t)
	srvKT := k.Keytab(t, "imap/"+kdcHost, "pop/"+kdcHost, "smtp/"+kdcHost)
	a, err := NewAcceptor(&ServerConfig{Keytab: srvKT, Host: kdcHost, Realm: kdcRealm})
	require.NoError(t, err)

	aliceKT := k.Keytab(t, "alice")
	cc := k.Kinit(t, "alice", "alice-pw")
	logins := map[string]func() (*Credentials, error){
		"password": func() (*Credentials, error) { return NewPasswordCredentials(k.Config, "alice@"+kdcRealm, "alice-pw") },
		"password-default-realm": func() (*Credentials, error) {
			return NewPasswordCredentials(k.Config, "alice", "alice-pw")
		},
		"keytab":      func() (*Credentials, error) { return NewKeytabCredentials(k.Config, "alice", aliceKT) },
		"ccache-FILE": func() (*Credentials, error) { return NewCCacheCredentials(k.Config, cc) },
		"ccache-path": func() (*Credentials, error) { return NewCCacheCredentials(k.Config, strings.TrimPrefix(cc, "FILE:")) },
		"ccache-KRB5CCNAME": func() (*Credentials, error) {
			t.Setenv("KRB5CCNAME", cc)
			return NewCCacheCredentials(k.Config, "")
		},
	}
	for name, login := range logins {
		t.Run("login="+name, func(t *testing.T) {
			creds, err := login()
			require.NoError(t, err)
			defer creds.Close()
			assert.Equal(t, "alice@"+kdcRealm, creds.Principal().String())
			for _, svc := range []string{ServiceIMAP, ServicePOP, ServiceSMTP} {
				c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: kdcHost}, svc)
				s := a.NewGSSAPIServer(context.Background(), svc, nil)
				cerr, serr := exchange(c, s)
				require.NoError(t, cerr, svc)
				require.NoError(t, serr, svc)
				require.NoError(t, c.(*gssapiClient).Finished())
				id, ok := s.Identity()
				require.True(t, ok)
				assert.Equal(t, "alice", id.Username)
			}
		})
	}
}

// TestKDCRefusals: a real ticket for another service, whose key the
// acceptor's keytab holds, is refused; so is a wrong password.
func TestKDCRefusals(t *testing.T) {
	k := startKDC(t)
	srvKT := k.Keytab(t, "imap/"+kdcHost, "pop/"+kdcHost, "smtp/"+kdcHost)
	a, err := NewAcceptor(&ServerConfig{Keytab: srvKT, Host: kdcHost, Realm: kdcRealm})
	require.NoError(t, err)
	creds, err := NewPasswordCredentials(k.Config, "alice", "alice-pw")
	require.NoError(t, err)

	c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: kdcHost}, ServiceSMTP)
	s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
	cerr, serr := exchange(c, s)
	require.NoError(t, cerr)
	require.ErrorIs(t, serr, ErrWrongService)

	_, err = NewPasswordCredentials(k.Config, "alice", "wrong-pw")
	require.ErrorIs(t, err, sasl.ErrAuthFailed)
	_, err = NewPasswordCredentials(k.Config, "nobody", "wrong-pw")
	require.ErrorIs(t, err, sasl.ErrAuthFailed)
}

// TestKDCPAC: MIT 1.20 puts a PAC in every ticket. gokrb5's own acceptor
// refuses such a ticket unless told not to decode PACs (gokrb5#545); ours
// ignores authorization data on purpose and accepts it.
func TestKDCPAC(t *testing.T) {
	k := startKDC(t)
	srvKT := k.Keytab(t, "imap/"+kdcHost)
	creds, err := NewPasswordCredentials(k.Config, "alice", "alice-pw")
	require.NoError(t, err)
	in, raw, err := newInitiator(creds, ServiceIMAP, kdcHost, true, gssFlagsRequested)
	require.NoError(t, err)

	var ap messages.APReq
	require.NoError(t, ap.Unmarshal(raw))
	require.NoError(t, ap.Ticket.DecryptEncPart(srvKT, nil))
	hasPAC := false
	for _, ad := range ap.Ticket.DecryptedEncPart.AuthorizationData {
		if ad.ADType == adtype.ADIfRelevant {
			var inner types.AuthorizationData
			require.NoError(t, inner.Unmarshal(ad.ADData))
			hasPAC = hasPAC || (len(inner) > 0 && inner[0].ADType == adtype.ADWin2KPAC)
		}
	}
	if !hasPAC {
		t.Skip("this KDC issues no PAC (MIT < 1.20)")
	}
	ok, _, err := service.VerifyAPREQ(&ap, service.NewSettings(srvKT))
	assert.False(t, ok, "gokrb5 with PAC decoding refuses MIT's PAC")
	assert.Error(t, err)

	a, err := NewAcceptor(&ServerConfig{Keytab: srvKT, Host: kdcHost, Realm: kdcRealm})
	require.NoError(t, err)
	acc, err := a.accept(context.Background(), raw, ServiceIMAP, nil, true)
	require.NoError(t, err)
	assert.Equal(t, "alice", acc.user)
	require.NoError(t, in.verifyAPRep(acc.aprep))
}

// TestKDCKPOP runs KPOP over TCP on 127.0.0.1 with real tickets, from a
// credential cache as fetchmail uses one.
func TestKDCKPOP(t *testing.T) {
	k := startKDC(t)
	a, err := NewAcceptor(&ServerConfig{Keytab: k.Keytab(t, "pop/"+kdcHost), Host: kdcHost, Realm: kdcRealm})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	res := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			res <- err
			return
		}
		defer c.Close()
		id, err := a.ServeKPOP(context.Background(), textproto.NewConn(c), c.RemoteAddr(), "ready")
		if err == nil && id.Username != "alice" {
			err = fmt.Errorf("identity %+v", id)
		}
		res <- err
	}()
	creds, err := NewCCacheCredentials(k.Config, k.Kinit(t, "alice", "alice-pw"))
	require.NoError(t, err)
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = LoginKPOP(textproto.NewConn(c), &ClientConfig{Credentials: creds, Host: kdcHost}, "alice")
	require.NoError(t, err)
	require.NoError(t, <-res)
}
