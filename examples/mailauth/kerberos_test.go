package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/examples/mailserver"
	"github.com/go-mailauth/mailauth/internal/krbtest"
	"github.com/go-mailauth/mailauth/kpop"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// TestLoginGSSAPI logs in with GSSAPI (package kpop) against
// examples/mailserver and a throwaway MIT KDC, with each source of
// Kerberos credentials: a keytab, a password, kinit's credential cache.
// It skips when the KDC tools are not installed (CI installs them).
func TestLoginGSSAPI(t *testing.T) {
	const host = "mx.mailauth-test.invalid"
	k := krbtest.Start(t, &krbtest.Options{Realm: "MAILAUTH-TEST.INVALID", Host: host})
	k.AddUser(t, "bob", "bob-pw")
	acc, err := kpop.NewAcceptor(&kpop.ServerConfig{Keytab: k.Keytab(t, "imap/"+host), Host: host, Realm: k.Realm})
	require.NoError(t, err)
	pki := newTestPKI(t, &tlsutil.CertOptions{Hosts: []string{host, "127.0.0.1"}})
	s := startServer(t, sasl.IMAP, pki, func(c *mailserver.Config) {
		c.SASL.Extra = append(c.SASL.Extra, acc.ServerMechanism(kpop.ServiceIMAP))
		c.SASL.Mechanisms = append(mechNamesAll(), kpop.GSSAPI)
	})
	base := []string{"login", "-mech", "GSSAPI", "-ca", pki.caFile, "-servername", host, "-krb5conf", k.Krb5Conf, "-principal", "bob"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"keytab", []string{"-keytab", k.KeytabFile(t, "bob")}, nil},
		{"password", []string{"-password-env", "KPW"}, map[string]string{"KPW": "bob-pw"}},
		{"ccache", []string{"-ccache", k.Kinit(t, "bob", "bob-pw")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{}, base...), tc.args...), "-v", s.url(true))
			code, out, errOut := runCLI(t, tc.env, args...)
			require.Equal(t, exitOK, code, out+errOut)
			assert.Contains(t, out, "mechanism        GSSAPI")
			assert.Contains(t, out, "server verified  yes (Kerberos AP-REP checked)")
			assert.Contains(t, errOut, "AUTHENTICATE GSSAPI <")
			assert.Contains(t, errOut, "bytes, hidden", "Kerberos tokens are shown by size only")
			assert.NotContains(t, out+errOut, "bob-pw")
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		code, _, errOut := runCLI(t, map[string]string{"KPW": "nope"}, append(base, "-password-env", "KPW", s.url(true))...)
		assert.Equal(t, exitAuth, code, errOut)
		assert.Contains(t, errOut, "Kerberos credentials")
		assert.NotContains(t, errOut, "nope")
	})
}

// mechNamesAll lists every sasl mechanism, so the server offers them all.
func mechNamesAll() []string {
	var out []string
	for _, m := range sasl.Mechanisms() {
		out = append(out, m.Name())
	}
	return out
}
