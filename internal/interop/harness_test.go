//go:build interop

package interop

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHarnessDovecot checks the harness itself, with independent code only
// (go-smtp's client, go-sasl's PLAIN): Dovecot starts quickly, the stored
// CRAM-MD5 context matches doveadm's, and a login works.
func TestHarnessDovecot(t *testing.T) {
	c := newCase(t, "PLAIN", "dovecot submissions", dirHarness, "go-smtp + go-sasl")
	d := StartDovecot(t)
	if d.startup > 3*time.Second {
		t.Logf("dovecot took %v to start (target ~1 s)", d.startup)
	}
	if out, err := runCmd(t, "", nil, "doveadm", "pw", "-s", "CRAM-MD5", "-p", "crampass"); err == nil {
		assert.Equal(t, "{CRAM-MD5}"+hex.EncodeToString(dcCRAMMD5Context("crampass")), strings.TrimSpace(out),
			"our {CRAM-MD5} context must match doveadm's")
	}
	cl, err := smtp.DialTLS(d.addr(d.Submissions), d.PKI.clientTLS(nil, 0))
	require.NoError(t, err)
	defer cl.Close()
	err = cl.Auth(gosasl.NewPlainClient("", dcPlain, d.Passwords[dcPlain]))
	c.check(err, "dovecot up in "+d.startup.Round(time.Millisecond).String())
}

// TestHarnessCyrus checks the Cyrus drivers with go-sasl's PLAIN.
func TestHarnessCyrus(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		c := newCase(t, "PLAIN", peerCyrus, dirHarness, "go-sasl client → sample-server")
		needBinary(c, "sasl-sample-server", "saslpasswd2")
		c.check(cyrusServerRun(t, "PLAIN", gosasl.NewPlainClient("", "plain", "plainpass")), "")
	})
	t.Run("server-wrong", func(t *testing.T) {
		c := newCase(t, "PLAIN", peerCyrus, dirHarness, "go-sasl client → sample-server")
		needBinary(c, "sasl-sample-server", "saslpasswd2")
		c.refused(cyrusServerRun(t, "PLAIN", gosasl.NewPlainClient("", "plain", "wrong")), "wrong password")
	})
	t.Run("client", func(t *testing.T) {
		c := newCase(t, "PLAIN", peerCyrus, dirHarness, "sample-client → go-sasl server")
		needBinary(c, "sasl-sample-client")
		srv := gosasl.NewPlainServer(func(authz, user, pass string) error {
			if user != "plain" || pass != "plainpass" {
				return sasl.ErrAuthFailed
			}
			return nil
		})
		c.check(cyrusClientRun(t, "PLAIN", srv, "plain", "plainpass"), "")
	})
}
