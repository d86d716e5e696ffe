package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/go-mailauth/mailauth/sasl"
)

// tracer prints login -v's transcript: "C: " for what the client sends,
// "S: " for what the server sends. SASL data is shown decoded, with every
// secret masked: passwords, proofs, digests, tokens, and whole messages of
// mechanisms it does not know. A nil *tracer prints nothing.
type tracer struct {
	w       io.Writer
	secrets []string

	mu     sync.Mutex
	stop   bool   // the plaintext phase is over (a TLS record was sent)
	mech   string // the mechanism of the exchange in progress, or ""
	lastCh string // the last challenge, decoded (LOGIN asks by name)
	cbuf   []byte // partial client line
	sbuf   []byte // partial server line
}

func newTracer(w io.Writer, secrets []string) *tracer {
	if w == nil {
		return nil
	}
	return &tracer{w: w, secrets: secrets}
}

// traceConn copies what crosses conn to the tracer.
type traceConn struct {
	net.Conn
	t   *tracer
	tls bool // inside TLS: everything is shown; else until the first TLS record
}

// wrapPlain traces conn's plaintext phase (greeting, STARTTLS), and
// stops at the first TLS record.
func (t *tracer) wrapPlain(c net.Conn) net.Conn {
	if t == nil {
		return c
	}
	return &traceConn{Conn: c, t: t}
}

// wrapTLS traces the session inside TLS.
func (t *tracer) wrapTLS(c net.Conn) net.Conn {
	if t == nil {
		return c
	}
	return &traceConn{Conn: c, t: t, tls: true}
}

// Read reads from the connection and records what it read.
func (c *traceConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.t.data(false, p[:n], c.tls)
	}
	return n, err
}

// Write records p and writes it to the connection.
func (c *traceConn) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.t.data(true, p, c.tls)
	}
	return c.Conn.Write(p)
}

// tlsUp notes that TLS is up and what NegotiateClient read inside it.
func (t *tracer) tlsUp(r *loginResult, cc *sasl.ClientSession) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stop = true
	fmt.Fprintf(t.w, "-- %s %s established; server certificate verified for the host name\n", r.TLSVersion, r.Suite)
	if cc.Greeting != "" {
		fmt.Fprintf(t.w, "S: %s\n", trunc(cc.Greeting, 300))
	}
	fmt.Fprintf(t.w, "-- capabilities read inside TLS: %s\n", trunc(strings.Join(cc.Capabilities.List(), " | "), 600))
}

func (t *tracer) data(client bool, p []byte, inTLS bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !inTLS {
		if t.stop {
			return
		}
		if client && len(p) > 0 && p[0] == 0x16 {
			// A TLS handshake record: the plaintext phase is over.
			t.stop = true
			fmt.Fprintln(t.w, "-- TLS handshake")
			return
		}
	}
	buf := &t.sbuf
	if client {
		buf = &t.cbuf
	}
	*buf = append(*buf, p...)
	for {
		i := bytes.IndexByte(*buf, '\n')
		if i < 0 {
			if len(*buf) > maxProbeLine {
				*buf = (*buf)[:0] // never buffer without bound
			}
			return
		}
		line := strings.TrimRight(string((*buf)[:i]), "\r")
		*buf = (*buf)[i+1:]
		if client {
			fmt.Fprintf(t.w, "C: %s\n", t.client(line))
		} else {
			fmt.Fprintf(t.w, "S: %s\n", t.server(line))
		}
	}
}

// client masks one client line.
func (t *tracer) client(line string) string {
	f := strings.Fields(line)
	switch {
	case t.mech != "":
		// A response in the exchange, or "*" to cancel.
		if line == "" {
			return "(empty response)"
		}
		if line == "*" {
			return line
		}
		return "<" + t.mask(line) + ">"
	case len(f) >= 2 && (strings.EqualFold(f[0], "AUTH") || len(f) >= 3 && strings.EqualFold(f[1], "AUTHENTICATE")):
		i := 1
		if !strings.EqualFold(f[0], "AUTH") {
			i = 2
		}
		t.mech = strings.ToUpper(f[i])
		t.lastCh = ""
		out := strings.Join(f[:i+1], " ")
		if len(f) > i+1 {
			ir := f[i+1]
			if ir == "=" {
				out += " ="
			} else {
				out += " <" + t.mask(ir) + ">"
			}
		}
		return out
	case len(f) == 3 && strings.EqualFold(f[0], "APOP"):
		return "APOP " + f[1] + " <digest hidden>"
	case len(f) >= 2 && (strings.EqualFold(f[0], "PASS") || len(f) >= 3 && strings.EqualFold(f[1], "LOGIN")):
		return f[0] + " <hidden>"
	}
	return t.scrub(line)
}

// server shows one server line, decoding challenges.
func (t *tracer) server(line string) string {
	if t.mech != "" {
		if data, ok := strings.CutPrefix(line, "+ "); ok || strings.HasPrefix(line, "334 ") || line == "+" {
			if strings.HasPrefix(line, "334 ") {
				data = line[4:]
			}
			dec, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return t.scrub(line)
			}
			t.lastCh = string(dec)
			return line[:len(line)-len(data)] + "<" + t.scrub(string(dec)) + ">"
		}
		t.mech = "" // the final reply
	}
	// A server that echoes what it was sent must not print the secret.
	return t.scrub(line)
}

var (
	scramProof  = regexp.MustCompile(`,p=[^,]*$`)
	digestResp  = regexp.MustCompile(`(?i)response=[0-9a-f"]+`)
	bearerToken = regexp.MustCompile(`(?i)auth=Bearer [^\x01]*`)
)

// mask decodes one base64 SASL message and hides its secrets.
func (t *tracer) mask(b64 string) string {
	dec, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Sprintf("%d bytes of base64, hidden", len(b64))
	}
	s := string(dec)
	switch {
	case t.mech == sasl.Plain:
		p := strings.Split(s, "\x00")
		if len(p) == 3 {
			return fmt.Sprintf("authzid=%q authcid=%q password=<hidden>", p[0], p[1])
		}
		return "<hidden>"
	case t.mech == sasl.Login:
		if strings.Contains(strings.ToLower(t.lastCh), "user") {
			return t.scrub(s)
		}
		return "<password hidden>"
	case t.mech == sasl.CRAMMD5:
		if u, _, ok := strings.Cut(s, " "); ok {
			return u + " <digest hidden>"
		}
		return "<hidden>"
	case strings.HasPrefix(t.mech, "SCRAM-"):
		// The proof is client-final's last attribute (RFC 5802, Section 7);
		// the gs2 header's "p=" names the channel-binding type.
		return t.scrub(scramProof.ReplaceAllString(s, ",p=<proof hidden>"))
	case t.mech == sasl.DigestMD5:
		return t.scrub(digestResp.ReplaceAllString(s, "response=<hidden>"))
	case t.mech == sasl.OAuthBearer || t.mech == sasl.XOAuth2:
		return t.scrub(strings.ReplaceAll(bearerToken.ReplaceAllString(s, "auth=Bearer <token hidden>"), "\x01", "^A"))
	case t.mech == sasl.External || t.mech == sasl.Anonymous:
		return t.scrub(s)
	}
	// GSSAPI, NTLM and anything else: opaque tokens, shown by size only.
	return fmt.Sprintf("%d bytes, hidden", len(dec))
}

// scrub hides any secret the user gave that still appears in s (a
// mechanism this file does not know the layout of, an echoing server).
func (t *tracer) scrub(s string) string {
	for _, sec := range t.secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, "<hidden>")
		}
	}
	return trunc(s, 300)
}
