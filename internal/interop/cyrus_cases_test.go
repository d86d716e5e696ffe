//go:build interop

package interop

import (
	"crypto/tls"
	"testing"

	"github.com/go-mailauth/mailauth/sasl"
)

// cyrusCases: Cyrus's sample programs have no channel binding (no -PLUS).
func cyrusCases() []gsaslCase {
	var cs []gsaslCase
	for _, m := range []string{"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"} {
		cs = append(cs,
			gsaslCase{mech: m, tls: tls.VersionTLS13, via: "stdio, TLS 1.3 pair", user: "plain", pass: "plainpass"},
			gsaslCase{mech: m, tls: tls.VersionTLS13, via: "stdio, TLS 1.3 pair", user: "plain", pass: "wrongpass", wantErr: true, note: "wrong password"},
		)
	}
	cs = append(cs,
		gsaslCase{mech: "SCRAM-SHA-256", tls: tls.VersionTLS13, via: "stdio, TLS 1.3 pair", user: "nosuchuser", pass: "plainpass", wantErr: true, note: "unknown user"},
		gsaslCase{mech: "SCRAM-SHA-256", tls: tls.VersionTLS13, via: "stdio, TLS 1.3 pair", user: "utf8", pass: "päss wörd", note: "non-ASCII password"},
	)
	return cs
}

// TestCyrusServer runs our clients against sasl-sample-server.
func TestCyrusServer(t *testing.T) {
	pki := sharedPKI(t)
	for _, tc := range cyrusCases() {
		t.Run(caseName(tc), func(t *testing.T) {
			t.Parallel()
			c := newCase(t, tc.mech, peerCyrus, dirClient, tc.via)
			needBinary(c, "sasl-sample-server", "saslpasswd2")
			pair := newTLSPair(t, pki, tc.tls)
			cl, err := ourClient(sasl.ClientConfig{
				Username: tc.user, Password: tc.pass, Host: "localhost", Service: "imap",
			}, tc.mech, sasl.ClientConnState(pair.Client))
			if err == nil {
				err = cyrusServerRun(t, tc.mech, cl)
			}
			if tc.wantErr {
				c.refused(err, tc.note)
			} else {
				c.check(err, tc.note)
			}
		})
	}
}

// TestCyrusClient runs sasl-sample-client against our servers.
func TestCyrusClient(t *testing.T) {
	pki := sharedPKI(t)
	cfg := ourServerConfig("localhost")
	for _, tc := range cyrusCases() {
		t.Run(caseName(tc), func(t *testing.T) {
			t.Parallel()
			c := newCase(t, tc.mech, peerCyrus, dirServer, tc.via)
			needBinary(c, "sasl-sample-client")
			pair := newTLSPair(t, pki, tc.tls)
			srv, err := ourServer(cfg, tc.mech, sasl.ServerConnState(pair.Server, pair.ServerLeaf, nil))
			if err == nil {
				err = cyrusClientRun(t, tc.mech, srv, tc.user, tc.pass)
			}
			if tc.wantErr {
				c.refused(err, tc.note)
			} else {
				c.check(err, tc.note)
			}
		})
	}
}
