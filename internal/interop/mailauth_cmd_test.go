//go:build interop

package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The mailauth command (examples/mailauth) against real Dovecot: login
// with every mechanism Dovecot offers, probe of Dovecot configured with
// plaintext authentication allowed and disabled, and pw's output checked
// by doveadm pw -t (and doveadm's by pw -t). The command is built once and
// run as a user runs it.

const peerDoveadm = "doveadm pw (Dovecot 2.3)"

var mailauthBin struct {
	once sync.Once
	path string
	err  error
}

// mailauthCmd builds examples/mailauth into the binary's temp root.
func mailauthCmd(t *testing.T) string {
	t.Helper()
	mailauthBin.once.Do(func() {
		shared.mu.Lock()
		root, err := sharedTempDir()
		shared.mu.Unlock()
		if err != nil {
			mailauthBin.err = err
			return
		}
		mailauthBin.path = filepath.Join(root, "bin", "mailauth")
		out, err := exec.Command("go", "build", "-o", mailauthBin.path, "github.com/go-mailauth/mailauth/examples/mailauth").CombinedOutput()
		if err != nil {
			mailauthBin.err = fmt.Errorf("go build examples/mailauth: %v: %s", err, out)
		}
	})
	require.NoError(t, mailauthBin.err)
	return mailauthBin.path
}

// mailauthResult is one run of the command.
type mailauthResult struct {
	code           int
	stdout, stderr string
}

// err is nil for exit status 0, else an error with the status and stderr.
func (r mailauthResult) err() error {
	if r.code == 0 {
		return nil
	}
	return fmt.Errorf("mailauth exit %d: %s", r.code, oneLine(r.stderr))
}

// runMailauth runs the command with env added to the environment and
// nothing on stdin (so no terminal prompt).
func runMailauth(t *testing.T, env []string, args ...string) mailauthResult {
	t.Helper()
	bin := mailauthCmd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := mailauthResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("run mailauth: %v", err)
	}
	return res
}

// dcURL is the URL of one Dovecot listener for the command.
func (d *Dovecot) url(scheme, user string, port int) string {
	if user != "" {
		user += "@"
	}
	return scheme + "://" + user + d.Host + ":" + strconv.Itoa(port)
}

// dcSchemes are the URL schemes of Dovecot's six listeners.
func (d *Dovecot) dcSchemes() []struct {
	scheme string
	port   int
} {
	return []struct {
		scheme string
		port   int
	}{
		{"imaps", d.IMAPS}, {"imap", d.IMAP}, {"pop3s", d.POP3S}, {"pop3", d.POP3},
		{"smtps", d.Submissions}, {"smtp", d.Submission},
	}
}

// TestMailauthLoginDovecot logs in with mailauth login, over each of
// Dovecot's listeners, with every mechanism Dovecot offers there, each
// with the user whose stored scheme serves it.
func TestMailauthLoginDovecot(t *testing.T) {
	d := StartDovecot(t)
	pki := d.PKI
	for _, l := range d.dcSchemes() {
		t.Run(l.scheme, func(t *testing.T) {
			t.Parallel()
			// The default choice, which also tells what Dovecot offers.
			c := newCase(t, "(strongest)", peerDovecot, dirClient, "mailauth login "+l.scheme)
			r := runMailauth(t, []string{"MAILAUTH_PASSWORD=" + d.Passwords[dcSCRAM]}, "login", "-ca", pki.CAFile, d.url(l.scheme, dcSCRAM, l.port))
			if r.err() == nil && !strings.Contains(r.stdout, "mechanism        SCRAM-SHA-256\n") {
				r.code = -1
				r.stderr = "chose another mechanism: " + r.stdout
			}
			c.check(r.err(), "chose SCRAM-SHA-256")
			offered := ""
			for _, line := range strings.Split(r.stdout, "\n") {
				if v, ok := strings.CutPrefix(line, "offered"); ok {
					offered = strings.TrimSpace(v)
				}
			}
			mechs := strings.Fields(offered)
			if strings.HasPrefix(l.scheme, "pop3") {
				mechs = append(mechs, "APOP")
			}
			require.NotEmpty(t, mechs, r.stdout)
			for _, mech := range mechs {
				t.Run(mech, func(t *testing.T) {
					t.Parallel()
					c := newCase(t, mech, peerDovecot, dirClient, "mailauth login "+l.scheme)
					args, env, ok := dcLoginArgs(d, mech, l.scheme, l.port)
					if !ok {
						c.skip("no user for " + mech + " in the harness")
					}
					if mech == "APOP" && l.scheme == "pop3" {
						r := runMailauth(t, env, args...)
						if r.code != 2 {
							r.stderr = "want usage refusal (APOP needs pop3s): " + r.stderr
						}
						var err error
						if r.code != 2 {
							err = r.err()
							if err == nil {
								err = errors.New("APOP after STLS was not refused")
							}
						}
						c.check(err, "APOP refused on STLS: the timestamp came in plaintext (CVE-2007-1558)")
						return
					}
					r := runMailauth(t, env, args...)
					err := r.err()
					if err == nil && !strings.Contains(r.stdout, "mechanism        "+mech+"\n") {
						err = fmt.Errorf("used another mechanism: %s", r.stdout)
					}
					if err == nil && strings.Contains(r.stdout, "server verified  NO") {
						err = fmt.Errorf("server not verified: %s", r.stdout)
					}
					c.check(err, "exit 0")
				})
			}
			t.Run("wrong password", func(t *testing.T) {
				t.Parallel()
				c := newCase(t, "(strongest)", peerDovecot, dirClient, "mailauth login "+l.scheme+" wrong password")
				r := runMailauth(t, []string{"MAILAUTH_PASSWORD=wrong"}, "login", "-ca", pki.CAFile, d.url(l.scheme, dcSCRAM, l.port))
				var err error
				if r.code != 3 {
					err = fmt.Errorf("exit %d, want 3 (authentication refused): %s", r.code, oneLine(r.stderr))
				}
				c.check(err, "exit 3")
			})
		})
	}
}

// dcLoginArgs returns the arguments and environment that log in with
// mech to Dovecot: the harness user whose stored scheme serves it.
func dcLoginArgs(d *Dovecot, mech, scheme string, port int) (args, env []string, ok bool) {
	base := []string{"login", "-ca", d.PKI.CAFile, "-mech", mech}
	pw := func(user string) ([]string, []string, bool) {
		return append(base, d.url(scheme, user, port)), []string{"MAILAUTH_PASSWORD=" + d.Passwords[user]}, true
	}
	switch mech {
	case "PLAIN", "LOGIN":
		return pw(dcPlain)
	case "CRAM-MD5":
		return pw(dcCRAM)
	case "DIGEST-MD5":
		return pw(dcDigest)
	case "SCRAM-SHA-1":
		return pw(dcSCRAM1)
	case "SCRAM-SHA-256":
		return pw(dcSCRAM)
	case "APOP":
		return []string{"login", "-ca", d.PKI.CAFile, "-apop", d.url(scheme, dcPlain, port)}, []string{"MAILAUTH_PASSWORD=" + d.Passwords[dcPlain]}, true
	case "ANONYMOUS":
		return append(base, "-anonymous", "interop@example.org", d.url(scheme, "", port)), nil, true
	case "EXTERNAL":
		return append(base, "-cert", d.PKI.ClientCertFile, "-key", d.PKI.ClientKeyF, d.url(scheme, "", port)), nil, true
	case "OAUTHBEARER", "XOAUTH2":
		return append(base, d.url(scheme, d.OAuthUser, port)), []string{"MAILAUTH_TOKEN=" + d.OAuthToken(d.OAuthUser, time.Hour)}, true
	}
	return nil, nil, false
}

// TestMailauthLoginTranscript: -v shows the exchange with the password
// masked.
func TestMailauthLoginTranscript(t *testing.T) {
	d := StartDovecot(t)
	for _, mech := range []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			c := newCase(t, mech, peerDovecot, dirClient, "mailauth login -v imap (transcript masked)")
			args, env, _ := dcLoginArgs(d, mech, "imap", d.IMAP)
			args = append([]string{args[0], "-v"}, args[1:]...)
			r := runMailauth(t, env, args...)
			err := r.err()
			pass := strings.TrimPrefix(env[0], "MAILAUTH_PASSWORD=")
			switch {
			case err != nil:
			case strings.Contains(r.stdout+r.stderr, pass):
				err = errors.New("the password appears in the output")
			case !strings.Contains(r.stderr, "AUTHENTICATE "+mech):
				err = fmt.Errorf("no transcript: %s", r.stderr)
			}
			t.Logf("transcript:\n%s%s", r.stderr, r.stdout)
			c.check(err, "password masked")
		})
	}
}

// dcNoPlaintext is the shared Dovecot's configuration with plaintext
// authentication disabled before TLS, started on first use.
var dcNoPlaintext struct {
	once sync.Once
	d    *Dovecot
	err  error
}

func startDovecotNoPlaintext(t *testing.T) *Dovecot {
	t.Helper()
	StartDovecot(t) // skips when Dovecot cannot run here
	dcNoPlaintext.once.Do(func() {
		// Dovecot 2.3 counts a connection whose two ends have the same
		// IP as secured (login-common: remote IP == local IP) and then
		// allows plaintext authentication whatever the setting. This
		// instance listens on 127.0.0.2, still loopback, so that a
		// client from 127.0.0.1 sees what a remote client sees.
		dcNoPlaintext.d, dcNoPlaintext.err = startDovecotAs("dovecot-noplain", "127.0.0.2", func(conf string) string {
			return strings.Replace(conf, "disable_plaintext_auth = no", "disable_plaintext_auth = yes", 1)
		})
		if dcNoPlaintext.err == nil {
			shared.mu.Lock()
			shared.stops = append(shared.stops, func() { dcNoPlaintext.d.stop() })
			shared.mu.Unlock()
		}
	})
	require.NoError(t, dcNoPlaintext.err)
	return dcNoPlaintext.d
}

// probeReport is the part of mailauth probe -json the tests read.
type probeReport struct {
	StartTLS *struct {
		Offered     bool                      `json:"offered"`
		InjectOne   *struct{ Outcome string } `json:"injection_single_write"`
		InjectSplit *struct{ Outcome string } `json:"injection_split_write"`
		Again       string                    `json:"starttls_inside_tls"`
	} `json:"starttls"`
	TLS *struct {
		Verify   string `json:"verify"`
		Versions []struct {
			Version  string `json:"version"`
			Accepted bool   `json:"accepted"`
		} `json:"versions"`
	} `json:"tls"`
	Findings []struct {
		Severity, Check, Verdict, Ref string
	} `json:"findings"`
}

func (r *probeReport) has(sev, check string) bool {
	for _, f := range r.Findings {
		if f.Severity == sev && f.Check == check {
			return true
		}
	}
	return false
}

// TestMailauthProbeDovecot probes Dovecot's three STARTTLS listeners with
// plaintext authentication allowed and disabled, and asserts the findings
// each configuration must give.
func TestMailauthProbeDovecot(t *testing.T) {
	for _, cfg := range []struct {
		name      string
		plaintext bool
		start     func(*testing.T) *Dovecot
	}{
		{"plaintext auth allowed", true, StartDovecot},
		{"plaintext auth disabled", false, startDovecotNoPlaintext},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			d := cfg.start(t)
			for _, l := range []struct {
				scheme string
				port   int
			}{{"imap", d.IMAP}, {"pop3", d.POP3}, {"smtp", d.Submission}} {
				t.Run(l.scheme, func(t *testing.T) {
					t.Parallel()
					c := newCase(t, "(probe)", peerDovecot, dirClient, "mailauth probe "+l.scheme+", "+cfg.name)
					args := []string{"probe", "-json", "-wait", "500ms", "-ca", d.PKI.CAFile, "-servername", "localhost"}
					if l.scheme != "imap" {
						args = append(args, "-noscan") // one TLS scan is enough
					}
					r := runMailauth(t, nil, append(args, d.url(l.scheme, "", l.port))...)
					var rep probeReport
					require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), "stdout %q stderr %q", r.stdout, r.stderr)
					t.Logf("findings: %+v", rep.Findings)
					var problems []string
					expect := func(ok bool, what string) {
						if !ok {
							problems = append(problems, what)
						}
					}
					require.NotNil(t, rep.StartTLS)
					expect(rep.StartTLS.Offered, "STARTTLS offered")
					expect(rep.StartTLS.InjectOne != nil && rep.StartTLS.InjectOne.Outcome != "executed", "injection (one write) not executed")
					expect(rep.StartTLS.InjectSplit != nil && rep.StartTLS.InjectSplit.Outcome != "executed", "injection (split) not executed")
					expect(!rep.has("FAIL", "starttls-injection"), "no injection finding")
					expect(strings.HasPrefix(rep.StartTLS.Again, "refused"), "STARTTLS inside TLS refused, got "+rep.StartTLS.Again)
					expect(rep.TLS != nil && rep.TLS.Verify == "ok", "certificate verifies with the harness CA")
					expect(!rep.has("FAIL", "certificate"), "no certificate finding")
					if l.scheme == "imap" {
						expect(rep.TLS != nil && len(rep.TLS.Versions) == 4, "TLS versions scanned")
						expect(!rep.has("FAIL", "tls-version"), "TLS 1.0/1.1 refused")
					}
					if cfg.plaintext {
						expect(rep.has("FAIL", "plaintext-auth") || rep.has("FAIL", "plaintext-login"), "plaintext exposure flagged")
						expect(r.code == 7, fmt.Sprintf("exit 7 (findings), got %d", r.code))
						if l.scheme == "imap" {
							expect(rep.has("FAIL", "plaintext-login"), "no LOGINDISABLED flagged")
						}
					} else {
						expect(!rep.has("FAIL", "plaintext-auth"), "no plaintext mechanism before TLS")
						if l.scheme == "imap" {
							expect(!rep.has("FAIL", "plaintext-login"), "LOGINDISABLED present")
						}
					}
					var err error
					if len(problems) > 0 {
						err = fmt.Errorf("probe findings not as expected: %s", strings.Join(problems, "; "))
					}
					c.check(err, fmt.Sprintf("%d findings, exit %d", len(rep.Findings), r.code))
				})
			}
		})
	}
}

// doveadmSchemes lists the schemes doveadm pw -l knows.
func doveadmSchemes(t *testing.T) []string {
	t.Helper()
	out, err := runCmd(t, "", nil, "doveadm", "pw", "-l")
	require.NoError(t, err, out)
	return strings.Fields(out)
}

// pwNotWritten are the schemes passdb does not write: DES-based CRYPT and
// the obsolete ones. (MD5 is Dovecot's alias of MD5-CRYPT, and written.)
var pwNotWritten = map[string]bool{
	"CRYPT": true, "DES-CRYPT": true,
	"OTP": true, "PLAIN-TRUNC": true, "PBKDF2": true, "PLAIN-MD4": true,
	"LANMAN": true, "RPA": true, "SKEY": true,
}

// TestMailauthPWDoveadm: for every scheme Dovecot 2.3 knows, mailauth
// pw's field is accepted by doveadm pw -t, and doveadm pw's field by
// mailauth pw -t.
func TestMailauthPWDoveadm(t *testing.T) {
	if _, err := exec.LookPath("doveadm"); err != nil {
		t.Skip("doveadm not installed")
	}
	const user, pass = "alice@example.org", "pä ss:w0rd"
	for _, scheme := range doveadmSchemes(t) {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			t.Run("mailauth-to-doveadm", func(t *testing.T) {
				c := newCase(t, "{"+scheme+"}", peerDoveadm, "mailauth pw → doveadm pw -t", "mailauth pw -s")
				r := runMailauth(t, []string{"MAILAUTH_PASSWORD=" + pass}, "pw", "-s", scheme, "-u", user)
				if pwNotWritten[scheme] {
					if r.code == 0 {
						c.xfail(nil, "passdb does not write "+scheme)
						return
					}
					c.xfail(r.err(), "passdb does not write "+scheme+" (crypt(3) or obsolete)")
					return
				}
				if r.code != 0 {
					c.check(r.err(), "")
					return
				}
				field := strings.TrimSpace(r.stdout)
				out, err := runCmd(t, "", nil, "doveadm", "pw", "-t", field, "-p", pass, "-u", user)
				if err == nil && !strings.Contains(out, "(verified)") {
					err = fmt.Errorf("doveadm: %s", oneLine(out))
				} else if err != nil {
					err = fmt.Errorf("%v: %s", err, oneLine(out))
				}
				c.check(err, strings.SplitN(field, "}", 2)[0]+"} verified by doveadm")
			})
			t.Run("doveadm-to-mailauth", func(t *testing.T) {
				c := newCase(t, "{"+scheme+"}", peerDoveadm, "doveadm pw → mailauth pw -t", "mailauth pw -t")
				out, err := runCmd(t, "", nil, "doveadm", "pw", "-s", scheme, "-p", pass, "-u", user)
				if err != nil {
					c.skip("doveadm pw -s " + scheme + " failed: " + oneLine(out))
				}
				field := strings.TrimSpace(out)
				r := runMailauth(t, []string{"MAILAUTH_PASSWORD=" + pass}, "pw", "-t", field, "-u", user)
				if r.code == 0 {
					assert.Contains(t, r.stdout, "(verified)")
					c.check(nil, "verified")
					return
				}
				if strings.Contains(r.stderr, "unsupported") {
					c.xfail(r.err(), "passdb does not verify "+scheme)
					return
				}
				c.check(r.err(), "")
			})
		})
	}
}

// mailauthLoginGSSAPI logs in with mailauth login -mech GSSAPI to
// Dovecot's MIT acceptor (TestKrbDovecot's instance), from alice's
// credential cache, over IMAPS, IMAP+STARTTLS and POP3S.
func mailauthLoginGSSAPI(t *testing.T, l *krbLab, d *Dovecot) {
	for _, tr := range []struct {
		scheme string
		port   int
	}{{"imaps", d.IMAPS}, {"imap", d.IMAP}, {"pop3s", d.POP3S}} {
		t.Run(tr.scheme, func(t *testing.T) {
			c := newCase(t, "GSSAPI", peerDovecotGSS, dirClient, "mailauth login "+tr.scheme)
			r := runMailauth(t, nil, "login", "-mech", "GSSAPI", "-ca", d.PKI.CAFile, "-krbhost", krbHost,
				"-krb5conf", l.krb5conf, "-ccache", l.ccache, "-u", krbUser, d.url(tr.scheme, "", tr.port))
			err := r.err()
			if err == nil && !strings.Contains(r.stdout, "server verified  yes (Kerberos AP-REP checked)") {
				err = fmt.Errorf("server not reported verified: %s", r.stdout)
			}
			c.check(err, "AP-REP verified")
		})
	}
}
