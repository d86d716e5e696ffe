// Package mailclient logs in to an IMAP, POP3 or SMTP-submission server
// with mailauth: it reads the greeting and capabilities, upgrades with
// STARTTLS (or starts with implicit TLS), lets [sasl.ClientConfig.NewClient]
// choose the mechanism from what the server offers after TLS, and runs it
// with [sasl.Exchange.Authenticate]. It is the client half of the demo in
// examples/maild and of tests against examples/mailserver.
//
// It follows the client side of the STARTTLS checklist: capabilities
// learned before TLS are discarded and fetched again (RFC 2595, Section
// 3.1; RFC 3207, Section 4.2), a server that refuses STARTTLS ends the
// session before any credential is sent, and bytes that arrive after the
// go-ahead line and before the handshake (response injection) are an
// error.
package mailclient

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
)

const (
	// maxCapLines bounds the lines of a CAPABILITY, CAPA or EHLO answer.
	maxCapLines = 100
	// maxLine bounds one line from the server.
	maxLine = sasl.DefaultMaxLineLength
)

// ErrResponseInjection means the server sent data after its STARTTLS
// go-ahead line, before the TLS handshake: a man in the middle injecting
// responses that would otherwise be read as if they came inside TLS.
var ErrResponseInjection = errors.New("mailclient: data pipelined after the STARTTLS go-ahead")

// ErrAPOPNeedsImplicitTLS means APOP was asked for on a connection that
// did not start with TLS: the greeting, whose timestamp APOP answers, came
// in plaintext.
var ErrAPOPNeedsImplicitTLS = errors.New("mailclient: APOP needs implicit TLS")

// ErrStartTLSRefused means the server did not offer or refused STARTTLS.
var ErrStartTLSRefused = errors.New("mailclient: STARTTLS not available")

// Options says how to connect and log in.
type Options struct {
	// Protocol is sasl.IMAP, sasl.POP3 or sasl.SMTP (submission).
	Protocol sasl.Protocol
	// TLS is the client TLS configuration (ServerName, RootCAs, client
	// certificates for EXTERNAL). Required with ImplicitTLS or StartTLS.
	TLS *tls.Config
	// ImplicitTLS starts TLS on connect (993, 995, 465).
	ImplicitTLS bool
	// StartTLS upgrades a plaintext connection before logging in, and
	// fails with ErrStartTLSRefused if the server cannot.
	StartTLS bool
	// SASL holds the credentials and the mechanism policy.
	SASL *sasl.ClientConfig
	// APOP, for POP3, logs in with APOP (RFC 1939, Section 7; package
	// apop) using SASL.Username and SASL.Password instead of AUTH. It
	// needs ImplicitTLS: after STLS the timestamp would come from the
	// plaintext greeting, which a man in the middle can choose
	// (CVE-2007-1558).
	APOP bool
}

// Result reports a login.
type Result struct {
	// Mechanism is the mechanism that was used, or "" if none was chosen.
	Mechanism string
	// Offered is what the server advertised (after TLS, if any).
	Offered []string
}

// Login runs a session on conn: greeting, capabilities, TLS as opts says,
// authentication, and a polite LOGOUT/QUIT. It returns the mechanism used
// and the error of the first step that failed: an error wrapping
// sasl.ErrNoMechanism if nothing fits, a *sasl.ReplyError wrapping
// sasl.ErrAuthFailed if the server rejected the credentials. conn is not
// closed.
func Login(conn net.Conn, opts *Options) (Result, error) {
	var res Result
	c := &client{proto: opts.Protocol, raw: conn, net: conn}
	if opts.ImplicitTLS {
		tc := tls.Client(conn, opts.TLS)
		if err := tc.Handshake(); err != nil {
			return res, err
		}
		c.net = tc
	}
	c.tp = textproto.NewConn(c.net)
	if err := c.greeting(); err != nil {
		return res, err
	}
	caps, err := c.capabilities()
	if err != nil {
		return res, err
	}
	if opts.StartTLS && !opts.ImplicitTLS {
		if err := c.startTLS(caps, opts.TLS); err != nil {
			return res, err
		}
		// Everything learned before TLS is discarded (checklist C6).
		if caps, err = c.capabilities(); err != nil {
			return res, err
		}
	}
	offered, saslIR := c.mechanisms(caps)
	res.Offered = offered
	var state sasl.ConnState
	if tc, ok := c.net.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		state.TLS = &cs
	}
	cfg := opts.SASL
	if cfg == nil {
		cfg = &sasl.ClientConfig{}
	}
	if opts.APOP && c.proto == sasl.POP3 {
		res.Mechanism = "APOP"
		if !opts.ImplicitTLS {
			return res, ErrAPOPNeedsImplicitTLS
		}
		if err := apop.Login(c.tp, &state, c.greetLine, cfg.Username, cfg.Password, nil); err != nil {
			return res, err
		}
		return res, c.quit()
	}
	cl, err := cfg.NewClient(offered, &state)
	if err != nil {
		return res, err
	}
	rec := &recordingClient{Client: cl}
	x := &sasl.Exchange{Protocol: c.proto, Tag: c.nextTag(), SASLIR: saslIR}
	err = x.Authenticate(c.tp, rec)
	res.Mechanism = rec.mech
	if err != nil {
		return res, err
	}
	return res, c.quit()
}

// recordingClient remembers the mechanism its Client started.
type recordingClient struct {
	sasl.Client
	mech string
}

func (r *recordingClient) Start() (string, []byte, error) {
	mech, ir, err := r.Client.Start()
	r.mech = mech
	return mech, ir, err
}

type client struct {
	proto sasl.Protocol
	raw   net.Conn
	net   net.Conn
	tp    *textproto.Conn
	tag   int

	greetLine string // the greeting as read, for APOP
}

func (c *client) nextTag() string {
	c.tag++
	return fmt.Sprintf("c%d", c.tag)
}

func (c *client) greeting() error {
	switch c.proto {
	case sasl.IMAP:
		line, err := c.readLine()
		if err != nil {
			return err
		}
		// A PREAUTH greeting would skip authentication, and on a
		// STARTTLS connection TLS too (checklist C3): refuse it.
		if !strings.HasPrefix(line, "* OK") {
			return fmt.Errorf("mailclient: bad IMAP greeting %q", trunc(line))
		}
	case sasl.POP3:
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("mailclient: bad POP3 greeting %q", trunc(line))
		}
		c.greetLine = line
	default:
		if _, err := c.readSMTP(220); err != nil {
			return err
		}
	}
	return nil
}

// capabilities asks for the capability list: IMAP CAPABILITY, POP3 CAPA,
// SMTP EHLO. It returns one entry per capability (IMAP) or per line.
func (c *client) capabilities() ([]string, error) {
	switch c.proto {
	case sasl.IMAP:
		tag := c.nextTag()
		if err := c.tp.PrintfLine("%s CAPABILITY", tag); err != nil {
			return nil, err
		}
		var caps []string
		for range maxCapLines {
			line, err := c.readLine()
			if err != nil {
				return nil, err
			}
			if rest, ok := strings.CutPrefix(line, "* CAPABILITY "); ok {
				caps = append(caps, strings.Fields(rest)...)
				continue
			}
			if rest, ok := strings.CutPrefix(line, tag+" "); ok {
				if !strings.HasPrefix(rest, "OK") {
					return nil, fmt.Errorf("mailclient: CAPABILITY failed: %q", trunc(rest))
				}
				return caps, nil
			}
		}
		return nil, errors.New("mailclient: CAPABILITY answer too long")
	case sasl.POP3:
		if err := c.tp.PrintfLine("CAPA"); err != nil {
			return nil, err
		}
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(line, "+OK") {
			return nil, nil // no CAPA: no SASL, no STLS
		}
		var caps []string
		for range maxCapLines {
			line, err := c.readLine()
			if err != nil {
				return nil, err
			}
			if line == "." {
				return caps, nil
			}
			caps = append(caps, line)
		}
		return nil, errors.New("mailclient: CAPA answer too long")
	default:
		if err := c.tp.PrintfLine("EHLO localhost"); err != nil {
			return nil, err
		}
		lines, err := c.readSMTP(250)
		if err != nil {
			return nil, err
		}
		return lines[1:], nil
	}
}

// mechanisms extracts the SASL mechanisms and SASL-IR from capabilities.
func (c *client) mechanisms(caps []string) (mechs []string, saslIR bool) {
	for _, cp := range caps {
		switch c.proto {
		case sasl.IMAP:
			if m, ok := cutPrefixFold(cp, "AUTH="); ok {
				mechs = append(mechs, strings.ToUpper(m))
			}
			if strings.EqualFold(cp, "SASL-IR") {
				saslIR = true
			}
		case sasl.POP3:
			if rest, ok := cutPrefixFold(cp, "SASL "); ok {
				mechs = append(mechs, strings.Fields(strings.ToUpper(rest))...)
			}
		default:
			if rest, ok := cutPrefixFold(cp, "AUTH "); ok {
				mechs = append(mechs, strings.Fields(strings.ToUpper(rest))...)
			}
		}
	}
	return mechs, saslIR
}

func (c *client) startTLS(caps []string, cfg *tls.Config) error {
	want := map[sasl.Protocol]string{sasl.IMAP: "STARTTLS", sasl.POP3: "STLS", sasl.SMTP: "STARTTLS"}[c.proto]
	found := false
	for _, cp := range caps {
		found = found || strings.EqualFold(cp, want)
	}
	if !found {
		return ErrStartTLSRefused // checklist C1
	}
	var err error
	switch c.proto {
	case sasl.IMAP:
		tag := c.nextTag()
		if err = c.tp.PrintfLine("%s STARTTLS", tag); err == nil {
			var line string
			if line, err = c.readLine(); err == nil && !strings.HasPrefix(line, tag+" OK") {
				err = fmt.Errorf("%w: %q", ErrStartTLSRefused, trunc(line))
			}
		}
	case sasl.POP3:
		if err = c.tp.PrintfLine("STLS"); err == nil {
			var line string
			if line, err = c.readLine(); err == nil && !strings.HasPrefix(line, "+OK") {
				err = fmt.Errorf("%w: %q", ErrStartTLSRefused, trunc(line))
			}
		}
	default:
		if err = c.tp.PrintfLine("STARTTLS"); err == nil {
			if _, err = c.readSMTP(220); err != nil {
				err = fmt.Errorf("%w: %w", ErrStartTLSRefused, err)
			}
		}
	}
	if err != nil {
		return err
	}
	// Checklist C5: anything already buffered came before TLS.
	if c.tp.R.Buffered() > 0 {
		return ErrResponseInjection
	}
	tc := tls.Client(c.raw, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.net = tc
	c.tp = textproto.NewConn(tc)
	return nil
}

func (c *client) quit() error {
	switch c.proto {
	case sasl.IMAP:
		tag := c.nextTag()
		if err := c.tp.PrintfLine("%s LOGOUT", tag); err != nil {
			return err
		}
		for range maxCapLines {
			line, err := c.readLine()
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, tag+" ") {
				return nil
			}
		}
		return errors.New("mailclient: LOGOUT answer too long")
	case sasl.POP3:
		if err := c.tp.PrintfLine("QUIT"); err != nil {
			return err
		}
		_, err := c.readLine()
		return err
	default:
		if err := c.tp.PrintfLine("QUIT"); err != nil {
			return err
		}
		_, err := c.readSMTP(221)
		return err
	}
}

// readLine reads one line of at most maxLine bytes: a server cannot make
// the client buffer without limit.
func (c *client) readLine() (string, error) {
	var buf []byte
	for {
		frag, err := c.tp.R.ReadSlice('\n')
		if len(buf)+len(frag) > maxLine {
			return "", fmt.Errorf("%w: server line longer than %d bytes", sasl.ErrTooLarge, maxLine)
		}
		buf = append(buf, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r"), nil
}

// readSMTP reads an SMTP reply of at most maxCapLines lines and checks
// its code. It returns the text of each line.
func (c *client) readSMTP(want int) ([]string, error) {
	var lines []string
	for range maxCapLines {
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return nil, fmt.Errorf("%w: bad SMTP reply %q", sasl.ErrMalformed, trunc(line))
		}
		if len(line) > 4 {
			lines = append(lines, line[4:])
		} else {
			lines = append(lines, "")
		}
		if len(line) == 3 || line[3] == ' ' {
			if code := line[:3]; code != strconv.Itoa(want) {
				return nil, fmt.Errorf("mailclient: SMTP reply %q, want %d", trunc(line), want)
			}
			return lines, nil
		}
	}
	return nil, fmt.Errorf("%w: SMTP reply longer than %d lines", sasl.ErrTooLarge, maxCapLines)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
