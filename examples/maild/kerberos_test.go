package main

import (
	"bytes"
	"context"
	"net"
	"net/textproto"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/examples/mailclient"
	"github.com/go-mailauth/mailauth/internal/krbtest"
	"github.com/go-mailauth/mailauth/kpop"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKerberos runs maild's -keytab mode against a throwaway KDC: GSSAPI
// logins over IMAP, POP3 and SMTP, a KPOP login, and the printed command
// lines name the right principal and ports.
func TestKerberos(t *testing.T) {
	const host = "mx.maild-test.invalid"
	k := krbtest.Start(t, &krbtest.Options{Realm: "MAILD-TEST.INVALID", Host: host})
	krb, err := newKerberos(k.KeytabFile(t, "imap/"+host, "pop/"+host, "smtp/"+host), host, "")
	require.NoError(t, err)
	assert.Equal(t, "MAILD-TEST.INVALID", krb.realm, "realm taken from the keytab")
	require.NoError(t, krb.serveKPOP(0))
	defer krb.Close()
	d, err := startDemo(nil, nil, krb)
	require.NoError(t, err)
	defer d.Close()

	creds, err := kpop.NewPasswordCredentials(k.Config, "alice", "alice-pw")
	require.NoError(t, err)
	cc := &kpop.ClientConfig{Credentials: creds, Host: host}
	for _, p := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		conn, err := net.DialTimeout("tcp", d.plain[p], 5*time.Second)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := mailclient.Login(ctx, conn, &mailclient.Options{
			Protocol: p, TLS: d.clientTLS, Mode: sasl.RequireSTARTTLS,
			SASL: &sasl.ClientConfig{Mechanisms: []string{kpop.GSSAPI}, Extra: []sasl.ClientMechanism{cc.ClientMechanism(krbService(p))}},
		})
		cancel()
		conn.Close()
		require.NoError(t, err, p.String())
		assert.Equal(t, kpop.GSSAPI, res.Mechanism)
	}

	conn, err := net.DialTimeout("tcp", krb.kpop.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	tp := textproto.NewConn(conn)
	_, err = kpop.LoginKPOP(tp, cc, "")
	require.NoError(t, err)
	require.NoError(t, tp.PrintfLine("STAT"))
	line, err := tp.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "+OK 0 0", line)

	var out bytes.Buffer
	krb.printUsage(&out, d)
	assert.Contains(t, out.String(), "kinit alice@MAILD-TEST.INVALID")
	assert.Contains(t, out.String(), "imap://"+host+":")
	assert.Contains(t, out.String(), "--connect="+d.plain[sasl.IMAP])
}
