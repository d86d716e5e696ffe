package krbtest

import (
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/stretchr/testify/require"
	"strings"
)

// TestStart checks the harness: the KDC comes up quickly, gokrb5 logs in
// with a password and a keytab, MIT kinit fills a cache gokrb5 can read,
// and service tickets are issued for the three mail services.
func TestStart(t *testing.T) {
	k := Start(t, &Options{Realm: "HARNESS.INVALID", Host: "imap.harness.invalid"})
	t.Logf("KDC up in %v on %s", k.StartTime, k.Addr)
	if k.StartTime > time.Second {
		t.Logf("slow start (target well under a second): %v", k.StartTime)
	}

	cl := client.NewWithPassword("alice", k.Realm, "alice-pw", k.Config, client.DisablePAFXFAST(true))
	require.NoError(t, cl.Login())
	for _, s := range []string{"imap", "pop", "smtp"} {
		_, key, err := cl.GetServiceTicket(s + "/" + k.Host)
		require.NoError(t, err, s)
		require.Equal(t, int32(18), key.KeyType, "aes256-cts-hmac-sha1-96 session key")
	}

	kt := k.Keytab(t, "alice")
	cl2 := client.NewWithKeytab("alice", k.Realm, kt, k.Config, client.DisablePAFXFAST(true))
	require.NoError(t, cl2.Login(), "keytab exported with -norandkey")
	require.NoError(t, cl.Login(), "password still valid after the export")

	cc := k.Kinit(t, "alice", "alice-pw")
	ccache, err := credentials.LoadCCache(strings.TrimPrefix(cc, "FILE:"))
	require.NoError(t, err)
	cl3, err := client.NewFromCCache(ccache, k.Config, client.DisablePAFXFAST(true))
	require.NoError(t, err)
	_, _, err = cl3.GetServiceTicket("pop/" + k.Host)
	require.NoError(t, err)
}
