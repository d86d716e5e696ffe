//go:build interop

package interop

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const peerGsaslNet = "gsasl 2.2 (network)"

// TestGsaslNetClient runs gsasl's own IMAP and SMTP client (its STARTTLS,
// its GnuTLS channel binding: tls-unique on TLS 1.2, tls-exporter on TLS
// 1.3) against our loopback mail server.
func TestGsaslNetClient(t *testing.T) {
	type row struct {
		mech, via, priority string
		pass                string
		noCB, wantErr       bool
		note                string
	}
	var rows []row
	for _, m := range []string{"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"} {
		rows = append(rows, row{mech: m, via: "STARTTLS", pass: "plainpass"})
	}
	for _, m := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
		// gsasl 2.2 aborts non-PLUS SCRAM when it holds CB data: --no-cb
		rows = append(rows,
			row{mech: m, via: "STARTTLS", pass: "plainpass", noCB: true, note: "--no-cb"},
			row{mech: m, via: "STARTTLS", pass: "wrong", noCB: true, wantErr: true, note: "wrong password"},
			row{mech: m + "-PLUS", via: "STARTTLS, TLS 1.3 tls-exporter", pass: "plainpass"},
			row{mech: m + "-PLUS", via: "STARTTLS, TLS 1.2 tls-unique", pass: "plainpass", priority: "NORMAL:-VERS-TLS1.3"},
			row{mech: m + "-PLUS", via: "STARTTLS, TLS 1.2 tls-unique", pass: "wrong", priority: "NORMAL:-VERS-TLS1.3", wantErr: true, note: "wrong password"},
		)
	}
	for _, proto := range []string{"imap", "smtp"} {
		for _, r := range rows {
			via := strings.ToUpper(proto) + " " + r.via
			name := strings.ReplaceAll(proto+"/"+r.mech+"/"+r.via+"/"+r.note, " ", "_")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := newCase(t, r.mech, peerGsaslNet, dirServer, via)
				needBinary(c, "gsasl")
				m := startOurMail(t)
				port := m.IMAP
				if proto == "smtp" {
					port = m.SMTP
				}
				args := []string{"--connect", "127.0.0.1:" + strconv.Itoa(port), "--" + proto, "--starttls",
					"--x509-ca-file", m.PKI.CAFile, "-m", r.mech, "-a", "plain", "-p", r.pass,
					"--hostname", "localhost", "--quiet"}
				if r.noCB {
					args = append(args, "--no-cb")
				}
				if r.priority != "" {
					args = append(args, "--priority", r.priority)
				}
				out, err := runCmd(t, "", nil, "gsasl", args...)
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					// gsasl exits non-zero when the server refuses
					err = fmt.Errorf("gsasl: %w (exit %d): %s", errPeerRefused, ee.ExitCode(), shorten(out, 200))
				} else if err != nil {
					err = fmt.Errorf("gsasl: %v: %s", err, shorten(out, 200))
				}
				if r.wantErr {
					c.refused(err, r.note)
				} else {
					c.check(err, r.note)
				}
			})
		}
	}
}
