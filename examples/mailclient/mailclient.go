// Package mailclient logs in to an IMAP, POP3 or SMTP-submission server
// with mailauth: [sasl.NegotiateClient] secures the connection (implicit
// TLS or required STARTTLS), reads the greeting and reads the capabilities
// inside TLS; [sasl.ClientConfig.NewClient] chooses the mechanism from what
// the server offers there; [sasl.Exchange.Authenticate] runs it. It is the
// client half of the demo in examples/maild and of tests against
// examples/mailserver.
//
// Everything on the STARTTLS client checklist is sasl.NegotiateClient's: no credential
// before TLS, no fallback when STARTTLS is missing or refused, no bytes
// accepted between the go-ahead and the handshake, no capability kept from
// before TLS.
package mailclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
)

const (
	// maxReplyLines bounds the lines of a LOGOUT or QUIT answer.
	maxReplyLines = 100
	// maxLine bounds one line from the server.
	maxLine = sasl.DefaultMaxLineLength
	// DefaultSessionTimeout bounds a Login whose ctx has no deadline:
	// negotiation, authentication and LOGOUT/QUIT together.
	DefaultSessionTimeout = 2 * time.Minute
)

// ErrAPOPNeedsImplicitTLS means APOP was asked for on a connection that
// did not start with TLS: the greeting, whose timestamp APOP answers, came
// in plaintext, where a man in the middle can choose it (CVE-2007-1558).
var ErrAPOPNeedsImplicitTLS = errors.New("mailclient: APOP needs implicit TLS")

// Options says how to connect and log in.
type Options struct {
	// Protocol is sasl.IMAP, sasl.POP3 or sasl.SMTP (submission).
	Protocol sasl.Protocol
	// TLS is the client TLS configuration (ServerName, RootCAs, client
	// certificates for EXTERNAL). Required unless Mode is
	// sasl.InsecurePlaintext.
	TLS *tls.Config
	// Mode says how the connection is secured. The zero value is
	// sasl.RequireSTARTTLS, which fails (sasl.ErrStartTLSUnavailable,
	// ErrStartTLSRefused, ErrResponseInjection, ...) rather than go on
	// without TLS; sasl.ImplicitTLS is for ports 993, 995 and 465 and is
	// preferred (RFC 8314); sasl.InsecurePlaintext is an explicit
	// opt-out.
	Mode sasl.ClientMode
	// SASL holds the credentials and the mechanism policy.
	SASL *sasl.ClientConfig
	// APOP, for POP3, logs in with APOP (RFC 1939, Section 7; package
	// apop) using SASL.Username and SASL.Password instead of AUTH. It
	// needs Mode sasl.ImplicitTLS.
	APOP bool
}

// Result reports a login.
type Result struct {
	// Mechanism is the mechanism that was used, or "" if none was chosen.
	Mechanism string
	// Offered is what the server advertised (inside TLS, if any).
	Offered []string
}

// Login runs a session on conn: TLS as opts says, greeting, capabilities,
// authentication, and a polite LOGOUT/QUIT. It returns the mechanism used
// and the error of the first step that failed: sasl's and tlsutil's errors for the
// TLS negotiation (then conn is closed), an error wrapping
// sasl.ErrNoMechanism if nothing fits, a *sasl.ReplyError wrapping
// sasl.ErrAuthFailed if the server rejected the credentials. ctx bounds
// the whole session: its deadline (DefaultSessionTimeout if it has none)
// is set as conn's deadline, and canceling it interrupts a blocked read or
// write; the error then wraps ctx's error.
func Login(ctx context.Context, conn net.Conn, opts *Options) (res Result, err error) {
	if _, ok := ctx.Deadline(); !ok {
		// A server that stops answering after the TLS negotiation must
		// not hang the client for ever.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSessionTimeout)
		defer cancel()
	}
	cc, err := sasl.NegotiateClient(ctx, conn, sasl.ClientOptions{
		Protocol:  opts.Protocol,
		Mode:      opts.Mode,
		TLSConfig: opts.TLS,
	})
	if err != nil {
		return res, err
	}
	// NegotiateClient clears the deadline it used; the rest of the
	// session is bounded by ctx too: its deadline, and its cancellation
	// through a deadline in the past.
	dl, _ := ctx.Deadline()
	cc.Conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { cc.Conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		if ctxErr := ctx.Err(); err != nil && ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
	}()
	c := &client{proto: opts.Protocol, cc: cc}
	res.Offered = cc.Capabilities.AuthMechanisms()
	state := sasl.ClientConn(cc.Conn)
	cfg := opts.SASL
	if cfg == nil {
		cfg = &sasl.ClientConfig{}
	}
	if opts.APOP && opts.Protocol == sasl.POP3 {
		res.Mechanism = "APOP"
		if opts.Mode != sasl.ImplicitTLS || cc.Greeting == "" {
			return res, ErrAPOPNeedsImplicitTLS
		}
		if err := apop.Login(ctx, cc.Text, cc.Conn, cc.Greeting, cfg.Username, cfg.Password, nil); err != nil {
			return res, err
		}
		return res, c.quit()
	}
	cl, err := cfg.NewClient(res.Offered, state)
	if err != nil {
		return res, err
	}
	if m, ok := sasl.ChosenMechanism(cl); ok {
		res.Mechanism = m.Name()
	}
	x := &sasl.Exchange{
		Protocol: opts.Protocol,
		Tag:      cc.NextTag(),
		SASLIR:   opts.Protocol == sasl.IMAP && cc.Capabilities.Has("SASL-IR"),
	}
	// Authenticate refuses a success before a mutual mechanism verified
	// the server (sasl.ErrServerNotVerified): then nothing was logged in.
	if err = x.Authenticate(ctx, cc.Text, cc.Conn, cl); err != nil {
		return res, err
	}
	return res, c.quit()
}

type client struct {
	proto sasl.Protocol
	cc    *sasl.ClientSession
}

func (c *client) quit() error {
	tp := c.cc.Text
	switch c.proto {
	case sasl.IMAP:
		tag := c.cc.NextTag()
		if err := tp.PrintfLine("%s LOGOUT", tag); err != nil {
			return err
		}
		for range maxReplyLines {
			line, err := c.readLine()
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, tag+" ") {
				return nil
			}
		}
		return fmt.Errorf("%w: LOGOUT answer too long", sasl.ErrTooLarge)
	case sasl.POP3:
		if err := tp.PrintfLine("QUIT"); err != nil {
			return err
		}
		_, err := c.readLine()
		return err
	default:
		if err := tp.PrintfLine("QUIT"); err != nil {
			return err
		}
		for range maxReplyLines {
			line, err := c.readLine()
			if err != nil {
				return err
			}
			if len(line) < 4 || line[3] != '-' {
				if !strings.HasPrefix(line, "221") {
					return fmt.Errorf("mailclient: QUIT answered %q", trunc(line))
				}
				return nil
			}
		}
		return fmt.Errorf("%w: QUIT answer too long", sasl.ErrTooLarge)
	}
}

// readLine reads one line of at most maxLine bytes: a server cannot make
// the client buffer without limit (textproto's ReadLine has no bound).
func (c *client) readLine() (string, error) {
	return sasl.ReadLine(c.cc.Text.R, maxLine)
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
