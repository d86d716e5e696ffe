//go:build interop

package interop

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mailauth/mailauth/sasl"
)

// gsaslOpts configures one gsasl CLI run in stdin/stdout mode.
type gsaslOpts struct {
	user, password, authzid string
	anonToken               string // ANONYMOUS trace (-n)
	realm, service, host    string
	// cb answers gsasl's channel-binding prompts, by type ("tls-unique",
	// "tls-exporter"). nil: --no-cb (gsasl sends gs2 "n").
	cb map[string][]byte
}

func (o gsaslOpts) args() []string {
	var a []string
	if o.user != "" {
		a = append(a, "-a", o.user)
	}
	if o.password != "" {
		a = append(a, "-p", o.password)
	}
	if o.anonToken != "" {
		a = append(a, "-n", o.anonToken)
	}
	if o.authzid != "" {
		a = append(a, "-z", o.authzid)
	}
	if o.realm != "" {
		a = append(a, "-r", o.realm)
	}
	if o.service != "" {
		a = append(a, "--service", o.service)
	}
	if o.cb == nil {
		a = append(a, "--no-cb")
		if o.host != "" {
			a = append(a, "--hostname", o.host)
		}
	}
	// With --hostname gsasl never asks for channel-binding data, so with
	// cb set the hostname is given at its prompt instead.
	return a
}

func gsaslIsPrompt(s string) bool {
	return strings.HasPrefix(s, "Enter ") && strings.HasSuffix(s, ": ")
}

// answerPrompt answers a gsasl prompt: channel binding data, or "".
func (o gsaslOpts) answerPrompt(p *peerProc, prompt string) error {
	if strings.Contains(prompt, "channel binding") {
		for typ, data := range o.cb {
			if strings.Contains(prompt, typ) {
				return p.send(base64.StdEncoding.EncodeToString(data))
			}
		}
		return p.send("")
	}
	if strings.Contains(prompt, "password") {
		return p.send(o.password)
	}
	if strings.Contains(prompt, "hostname") {
		return p.send(o.host)
	}
	return p.send("")
}

func b64dec(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64 from peer: %v", err)
	}
	return b, nil
}

// gsaslServerRun runs our client c against `gsasl --server -m mech` on
// stdin/stdout (lab NOTES "Using gsasl --server directly"): the first line
// is the mechanism name, then one base64 line per server step; after the
// final step gsasl reads one more line and exits 0 on success.
func gsaslServerRun(t *testing.T, mech string, c sasl.Client, o gsaslOpts) error {
	t.Helper()
	args := append([]string{"--server", "-m", mech, "--quiet", "-d"}, o.args()...)
	p, err := startProc(t, nil, gsaslIsPrompt, "gsasl", args...)
	if err != nil {
		return err
	}
	defer func() {
		if t.Failed() {
			t.Logf("gsasl --server transcript:\n%s", p.trace.String())
		}
	}()
	_, ir, err := c.Start()
	if err != nil {
		return fmt.Errorf("our client Start: %w", err)
	}
	sawMech, first, fed := false, true, false
	for {
		ev, err := p.next()
		if err != nil {
			return err
		}
		switch ev.kind {
		case evEOF:
			rc, err := p.wait()
			if err != nil {
				return err
			}
			if rc != 0 {
				return fmt.Errorf("gsasl server: %w (exit %d): %s", errPeerRefused, rc, p.stderrText())
			}
			if !fed {
				return fmt.Errorf("gsasl server exited before the exchange")
			}
			return nil
		case evPrompt:
			if err := o.answerPrompt(p, ev.text); err != nil {
				return err
			}
			continue
		}
		if !sawMech {
			sawMech = true
			continue
		}
		if first {
			first = false
			if ir != nil {
				if err := p.send(base64.StdEncoding.EncodeToString(ir)); err != nil {
					return err
				}
				fed = true
				continue
			}
		}
		if fed && ev.text == "" {
			// gsasl finished a step with no output; after the final one
			// it reads one more line and exits.
			if err := p.send(""); err != nil {
				return err
			}
			continue
		}
		chal, err := b64dec(ev.text)
		if err != nil {
			return err
		}
		resp, err := c.Next(chal)
		if err != nil {
			p.kill()
			return fmt.Errorf("our client: %w", err)
		}
		if err := p.send(base64.StdEncoding.EncodeToString(resp)); err != nil {
			return err
		}
		fed = true
	}
}

// gsaslClientRun runs `gsasl --client -m mech` against our server s. The
// client prints the mechanism name, then its first output ("" for a
// server-first mechanism), then one line per challenge.
func gsaslClientRun(t *testing.T, mech string, s sasl.Server, o gsaslOpts) error {
	t.Helper()
	args := append([]string{"--client", "-m", mech, "--quiet", "-d"}, o.args()...)
	p, err := startProc(t, nil, gsaslIsPrompt, "gsasl", args...)
	if err != nil {
		return err
	}
	defer func() {
		if t.Failed() {
			t.Logf("gsasl --client transcript:\n%s", p.trace.String())
		}
	}()
	// readMsg returns the client's next message, answering prompts.
	readMsg := func() ([]byte, error) {
		for {
			ev, err := p.next()
			if err != nil {
				return nil, err
			}
			switch ev.kind {
			case evEOF:
				rc, _ := p.wait()
				return nil, fmt.Errorf("gsasl client ended (exit %d) before our server finished: %s", rc, p.stderrText())
			case evPrompt:
				if err := o.answerPrompt(p, ev.text); err != nil {
					return nil, err
				}
			case evLine:
				return b64dec(ev.text)
			}
		}
	}
	if ev, err := p.next(); err != nil || ev.kind != evLine || ev.text != mech {
		return fmt.Errorf("gsasl client: want mechanism line %q, got %q (%v) %s", mech, ev.text, err, p.stderrText())
	}
	resp, err := readMsg()
	if err != nil {
		return err
	}
	if len(resp) == 0 && serverFirst(mech) {
		resp = nil // no initial response
	}
	for {
		chal, done, err := s.Next(resp)
		if err != nil {
			p.kill()
			return fmt.Errorf("our server: %w", err)
		}
		if done {
			// like the server loop, gsasl's client reads one more line
			// after its final step; it may have exited already.
			p.send("")
			rc, err := p.wait()
			if err != nil {
				return err
			}
			if rc != 0 {
				return fmt.Errorf("our server said done but gsasl client: %w (exit %d): %s", errPeerRefused, rc, p.stderrText())
			}
			return nil
		}
		if err := p.send(base64.StdEncoding.EncodeToString(chal)); err != nil {
			return err
		}
		if resp, err = readMsg(); err != nil {
			return err
		}
	}
}
