//go:build interop

package interop

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-mailauth/mailauth/sasl"
)

const peerCyrus = "Cyrus SASL 2.1 (sample)"

// cyrusRealm is the user domain of the sasldb and the sample programs.
const cyrusRealm = "localhost"

var cyrusSetup struct {
	once sync.Once
	dir  string
	err  error
}

// cyrusConfDir makes (once) a sasldb with peerUsers and the sample.conf
// that sasl-sample-server finds through SASL_CONF_PATH.
func cyrusConfDir(t *testing.T) (string, error) {
	t.Helper()
	cyrusSetup.once.Do(func() {
		shared.mu.Lock()
		root, err := sharedTempDir()
		shared.mu.Unlock()
		if err != nil {
			cyrusSetup.err = err
			return
		}
		dir := filepath.Join(root, "cyrus")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cyrusSetup.err = err
			return
		}
		db := filepath.Join(dir, "sasldb2")
		for user, pw := range peerUsers {
			cmd := exec.Command("saslpasswd2", "-f", db, "-u", cyrusRealm, "-p", "-c", user)
			cmd.Stdin = strings.NewReader(pw)
			if out, err := cmd.CombinedOutput(); err != nil {
				cyrusSetup.err = fmt.Errorf("saslpasswd2 %s: %v: %s", user, err, out)
				return
			}
		}
		conf := fmt.Sprintf("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 PLAIN LOGIN ANONYMOUS NTLM\n", db)
		cyrusSetup.err = os.WriteFile(filepath.Join(dir, "sample.conf"), []byte(conf), 0o644)
		cyrusSetup.dir = dir
	})
	return cyrusSetup.dir, cyrusSetup.err
}

// cyrusLine classifies the sample programs' output: "S: b64" / "C: b64".
func cyrusMsg(line, prefix string) ([]byte, bool, error) {
	if !strings.HasPrefix(line, prefix) {
		return nil, false, nil
	}
	b, err := b64dec(strings.TrimSpace(line[len(prefix):]))
	return b, true, err
}

// cyrusServerRun runs our client c against `sasl-sample-server -m mech`:
// it prints "S: <b64>" lines (the first is its mechanism list) and reads
// "C: <b64>" lines, the first being base64(MECH [NUL initial-response]).
// It prints "Negotiation complete" on success.
func cyrusServerRun(t *testing.T, mech string, c sasl.Client) error {
	t.Helper()
	dir, err := cyrusConfDir(t)
	if err != nil {
		return err
	}
	p, err := startProc(t, []string{"SASL_CONF_PATH=" + dir}, nil, "sasl-sample-server", "-m", mech, "-s", "imap", "-u", cyrusRealm)
	if err != nil {
		return err
	}
	defer func() {
		if t.Failed() {
			t.Logf("sasl-sample-server transcript:\n%s\nstderr: %s", p.trace.String(), p.stderr.String())
		}
	}()
	_, ir, err := c.Start()
	if err != nil {
		return fmt.Errorf("our client Start: %w", err)
	}
	first := []byte(mech)
	if ir != nil {
		first = append(append(first, 0), ir...)
	}
	sawList := false
	for {
		ev, err := p.next()
		if err != nil {
			return err
		}
		if ev.kind == evEOF {
			rc, _ := p.wait()
			return fmt.Errorf("cyrus server: %w (exit %d): %s", errPeerRefused, rc, p.stderrText())
		}
		if ev.text == "Negotiation complete" {
			return nil
		}
		chal, ok, err := cyrusMsg(ev.text, "S: ")
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !sawList {
			sawList = true
			if err := p.send("C: " + base64.StdEncoding.EncodeToString(first)); err != nil {
				return err
			}
			continue
		}
		resp, err := c.Next(chal)
		if err != nil {
			p.kill()
			return fmt.Errorf("our client: %w", err)
		}
		if err := p.send("C: " + base64.StdEncoding.EncodeToString(resp)); err != nil {
			return err
		}
	}
}

// cyrusClientRun runs `sasl-sample-client -m mech` against our server s.
// It reads the mechanism list ("S: <b64>"), asks for the password on
// stderr when its mechanism needs it (getpass reads stdin without a
// terminal), and prints "C: <b64>" lines, the first
// being base64(MECH [NUL initial-response]).
func cyrusClientRun(t *testing.T, mech string, s sasl.Server, user, password string) error {
	t.Helper()
	dir, err := cyrusConfDir(t)
	if err != nil {
		return err
	}
	isPrompt := func(s string) bool { return strings.HasSuffix(s, "Password: ") }
	p, err := startProc(t, []string{"SASL_CONF_PATH=" + dir}, isPrompt, "sasl-sample-client",
		"-m", mech, "-a", user, "-s", "imap", "-n", "localhost", "-r", cyrusRealm)
	if err != nil {
		return err
	}
	defer func() {
		if t.Failed() {
			t.Logf("sasl-sample-client transcript:\n%s\nstderr: %s", p.trace.String(), p.stderr.String())
		}
	}()
	if err := p.send("S: " + base64.StdEncoding.EncodeToString([]byte(mech))); err != nil {
		return err
	}
	complete := false
	// readMsg returns the client's next message; "Negotiation complete"
	// without one counts as an empty response.
	readMsg := func() ([]byte, error) {
		for {
			ev, err := p.next()
			if err != nil {
				return nil, err
			}
			if ev.kind == evEOF {
				rc, _ := p.wait()
				return nil, fmt.Errorf("cyrus client ended (exit %d) before our server finished: %s", rc, p.stderrText())
			}
			if ev.kind == evPrompt {
				// getpass() on stderr: the password is asked when the
				// mechanism needs it (after the challenge for CRAM-MD5)
				if err := p.send(password); err != nil {
					return nil, err
				}
				continue
			}
			if ev.text == "Negotiation complete" {
				complete = true
				return []byte{}, nil
			}
			msg, ok, err := cyrusMsg(ev.text, "C: ")
			if ok || err != nil {
				return msg, err
			}
		}
	}
	msg, err := readMsg()
	if err != nil {
		return err
	}
	name, ir, hasIR := bytes.Cut(msg, []byte{0})
	if string(name) != mech {
		return fmt.Errorf("cyrus client chose %q, want %q", name, mech)
	}
	if !hasIR {
		ir = nil
	}
	resp := ir
	for {
		chal, done, err := s.Next(resp)
		if err != nil {
			p.kill()
			return fmt.Errorf("our server: %w", err)
		}
		if done {
			break
		}
		if complete {
			return fmt.Errorf("cyrus client finished, our server wants more")
		}
		if err := p.send("S: " + base64.StdEncoding.EncodeToString(chal)); err != nil {
			return err
		}
		if resp, err = readMsg(); err != nil {
			return err
		}
	}
	for !complete {
		ev, err := p.next()
		if err != nil {
			return err
		}
		if ev.kind == evEOF {
			return fmt.Errorf("our server said done, cyrus client did not finish: %s", p.stderrText())
		}
		complete = ev.text == "Negotiation complete"
	}
	p.kill()
	return nil
}
