package sasl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"time"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// Errors of NegotiateClient and the capability readers. Every error they
// return wraps one of them, ErrMalformed (a reply that breaks the protocol's
// syntax), ErrTooLarge (a reply over a bound of this package: line length,
// lines per reply, literal octets), tlsutil.ErrResponseInjection,
// tlsutil.ErrHandshakeFailed (wrapping a crypto/tls or crypto/x509 error),
// or is an I/O or context error. Error texts never quote server text:
// before TLS it is attacker-chosen (NO STARTTLS "UI spoofing") and could be
// shown to users as if it were authentic.
var (
	// ErrStartTLSRefused means the server answered STARTTLS or STLS with
	// anything but the go-ahead: IMAP NO, BAD, a continuation request or a
	// BYE; POP3 -ERR; SMTP any code but 220 (RFC 2595; RFC 3207, Section 4).
	// The connection is closed; never fall back to plaintext.
	ErrStartTLSRefused = errors.New("sasl: server refused STARTTLS")
	// ErrStartTLSUnavailable means the server did not announce STARTTLS
	// (IMAP STARTTLS, SMTP STARTTLS, POP3 STLS), or the capability command
	// itself failed, so required TLS cannot be had (an attacker may have
	// stripped it). The connection is closed.
	ErrStartTLSUnavailable = errors.New("sasl: STARTTLS not available")
	// ErrBadGreeting means the server greeting was malformed or a refusal:
	// IMAP BYE, NO, a tagged or non-status greeting; SMTP any code but 220;
	// POP3 anything but +OK (CVE-2020-28896).
	ErrBadGreeting = errors.New("sasl: bad server greeting")
	// ErrPreAuth means an IMAP server greeted a connection that was to be
	// upgraded with STARTTLS as PREAUTH: the session would be in the
	// authenticated state, where STARTTLS is not allowed, so TLS can never
	// start (RFC 9051, Section 6.2.1; CVE-2020-12398, CVE-2020-14093).
	ErrPreAuth = errors.New("sasl: IMAP PREAUTH greeting on a connection that requires STARTTLS")
	// ErrCommandFailed means the server rejected a capability command
	// (IMAP CAPABILITY, SMTP EHLO, POP3 CAPA) or said BYE while answering.
	ErrCommandFailed = errors.New("sasl: server rejected command")
	// ErrInvalidClientOption means the caller's arguments cannot give a
	// secure session: an unknown protocol or mode, an invalid IMAP tag or
	// EHLO hostname, or a tls.Config that cannot verify the server (then
	// the error wraps tlsutil.ErrInvalidConfig too).
	ErrInvalidClientOption = errors.New("sasl: invalid client option")
)

// ClientMode says how NegotiateClient secures a connection.
type ClientMode int

const (
	// RequireSTARTTLS upgrades a plaintext connection with STARTTLS (IMAP,
	// SMTP) or STLS (POP3) and fails when that is not possible. It is the
	// zero value. Ports 143, 587 and 110.
	RequireSTARTTLS ClientMode = iota
	// ImplicitTLS starts TLS as soon as the connection is open (RFC 8314,
	// Section 3), on ports 993 (IMAP), 465 (submission) and 995 (POP3). It
	// is the recommended mode: there is no plaintext phase an attacker can
	// tamper with (RFC 8314, Section 5.1; NO STARTTLS, USENIX Security 2021).
	ImplicitTLS
	// InsecurePlaintext uses no TLS at all. Everything the server sends,
	// and everything the client sends, including credentials, is open to
	// anyone on the path. Use it only on loopback or a trusted network, as
	// an explicit opt-in.
	InsecurePlaintext
)

// String returns the constant's name.
func (m ClientMode) String() string {
	switch m {
	case RequireSTARTTLS:
		return "RequireSTARTTLS"
	case ImplicitTLS:
		return "ImplicitTLS"
	case InsecurePlaintext:
		return "InsecurePlaintext"
	default:
		return "ClientMode(" + strconv.Itoa(int(m)) + ")"
	}
}

// DefaultEHLOHostname is the EHLO argument NegotiateClient sends when
// ClientOptions.Hostname is empty, as net/smtp does.
const DefaultEHLOHostname = "localhost"

// ClientOptions configures NegotiateClient. A ClientOptions may be shared
// and must not be modified while in use.
type ClientOptions struct {
	// Protocol is the mail protocol on the connection. Required.
	Protocol Protocol
	// Mode says how the connection is secured; the zero value is
	// RequireSTARTTLS.
	Mode ClientMode
	// TLSConfig verifies the server; NewClientConfig makes a hardened one.
	// Required unless Mode is InsecurePlaintext. ServerName must be the
	// host the user configured, never a name taken from DNS SRV or MX
	// answers (RFC 7817, Section 3), and may be empty only with
	// InsecureSkipVerify. A MinVersion below TLS 1.2 is raised to TLS 1.2
	// (RFC 8997). The config is not modified.
	TLSConfig *tls.Config
	// Hostname is the SMTP EHLO argument (RFC 5321, Section 4.1.1.1);
	// empty means DefaultEHLOHostname. Unused for IMAP and POP3.
	Hostname string
}

// ClientSession is a mail session after NegotiateClient: secured as asked,
// its greeting read and its capabilities read inside TLS. It is not
// authenticated (RFC 2595, Sections 3.1 and 4). Not safe for concurrent use.
type ClientSession struct {
	// Conn is the connection to use from now on: TLS, except in
	// InsecurePlaintext mode, where it is the connection given.
	Conn net.Conn
	// TLS is the TLS connection, nil in InsecurePlaintext mode. Its
	// ConnectionState gives channel-binding data (see tlsutil.ChannelBinding;
	// or build the SASL ConnState with ClientConn).
	TLS *tls.Conn
	// Text reads and writes on Conn. Its reader may hold data the server
	// sent unprompted; keep using Text, or check Text.R.Buffered() is 0
	// before handing Conn to another library. textproto.Reader.ReadLine is
	// not length-bounded; bound your own reads.
	Text *textproto.Conn
	// Capabilities were read on Conn after the last change of security:
	// IMAP CAPABILITY, SMTP EHLO, POP3 CAPA. After STARTTLS, nothing
	// learned before TLS survives (RFC 2595, Section 3.1; RFC 3207,
	// Section 4.2). A POP3 server that rejects CAPA gives an empty list.
	Capabilities Capabilities
	// Greeting is the server's greeting line (the first line for SMTP), when
	// it came over Conn: ImplicitTLS and InsecurePlaintext. In
	// RequireSTARTTLS mode it is empty, because the greeting was sent in
	// plaintext and may be an attacker's. That includes a POP3 APOP
	// timestamp: APOP after STLS answers a challenge an attacker can choose
	// (the MD5 collision attack, CVE-2007-1558).
	Greeting string
	// PreAuth reports an IMAP PREAUTH greeting (RFC 9051, Section 7.1.4).
	// It is possible only in ImplicitTLS and InsecurePlaintext modes.
	PreAuth bool

	tagN int // IMAP tags issued so far
}

// NextTag returns a fresh IMAP command tag ("a1", "a2", ...) that continues
// the sequence NegotiateClient used.
func (c *ClientSession) NextTag() string {
	c.tagN++
	return "a" + strconv.Itoa(c.tagN)
}

// NegotiateClient secures a new mail connection as opts.Mode asks, reads the
// greeting, and reads the capabilities inside TLS. conn is the freshly
// dialed connection, with nothing read from or written to it yet. For
// ImplicitTLS it may also be a *tls.Conn, whose own config then verifies the
// server (opts.TLSConfig must still be valid). ctx bounds the whole
// negotiation, handshake included (DefaultNegotiationTimeout when ctx has no
// deadline); NegotiateClient uses conn's deadline for that and clears it
// before returning.
//
// In RequireSTARTTLS mode it checks the greeting (ErrBadGreeting; IMAP
// PREAUTH gives ErrPreAuth) and that STARTTLS/STLS is announced
// (ErrStartTLSUnavailable), sends the command and nothing after it until the
// handshake is done (RFC 2595, Section 3.1), requires the go-ahead
// (ErrStartTLSRefused), refuses bytes that follow it
// (tlsutil.ErrResponseInjection), verifies the certificate
// (tlsutil.ErrHandshakeFailed), and then discards every piece of pre-TLS
// state: the greeting, capabilities ([CAPABILITY] codes in the greeting and
// in the STARTTLS reply included), untagged data, alerts and referrals. It
// re-reads capabilities inside TLS: a new IMAP CAPABILITY, SMTP EHLO or POP3
// CAPA.
//
// It returns only with TLS established (except in InsecurePlaintext mode) or
// with an error, so no credential can be sent before TLS. On any error it
// closes conn: the caller must not authenticate, retry in plaintext or reuse
// conn. IMAP tags are "a1", "a2", ...; continue with ClientSession.NextTag.
func NegotiateClient(ctx context.Context, conn net.Conn, opts ClientOptions) (cc *ClientSession, err error) {
	if err := cliCheckOptions(&opts); err != nil {
		conn.Close()
		return nil, err
	}
	ctx, cancel := cliDefaultTimeout(ctx)
	defer cancel()
	stop := cliWatch(ctx, conn)
	defer func() {
		if stop() && err == nil {
			err = ctx.Err() // cancelled at the last moment: the deadline may be in the past
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w (%w)", err, ctxErr)
			}
			conn.Close()
			cc = nil
		}
	}()
	cc = &ClientSession{}
	switch opts.Mode {
	case ImplicitTLS:
		tc, err := tlsutil.ClientHandshake(ctx, conn, opts.TLSConfig)
		if err != nil {
			return nil, err
		}
		cc.Conn, cc.TLS = tc, tc
	case InsecurePlaintext:
		cc.Conn = conn
	default: // RequireSTARTTLS
		if err := cliUpgrade(ctx, conn, opts, cc); err != nil {
			return nil, err
		}
		return cc, nil
	}
	// ImplicitTLS or InsecurePlaintext: the greeting and capabilities come
	// over the final connection and can be kept.
	cc.Text = textproto.NewConn(cc.Conn)
	g, err := cliReadGreeting(cc.Text, opts.Protocol)
	if err != nil {
		return nil, err
	}
	cc.Greeting, cc.PreAuth = g.line, g.preAuth
	switch opts.Protocol {
	case IMAP:
		if g.caps != nil {
			cc.Capabilities = cliNewCapabilities(IMAP, g.caps)
		} else if cc.Capabilities, err = IMAPCapabilities(cc.Text, cc.NextTag()); err != nil {
			return nil, err
		}
	case POP3:
		cc.Capabilities, err = cliPOP3CapsOptional(cc.Text)
	case SMTP:
		cc.Capabilities, err = SMTPEhlo(cc.Text, opts.Hostname)
	}
	if err != nil {
		return nil, err
	}
	return cc, nil
}

// cliUpgrade runs the RequireSTARTTLS path of NegotiateClient and fills cc.
func cliUpgrade(ctx context.Context, conn net.Conn, opts ClientOptions, cc *ClientSession) error {
	tp := textproto.NewConn(conn)
	g, err := cliReadGreeting(tp, opts.Protocol)
	if err != nil {
		return err
	}
	if g.preAuth {
		return ErrPreAuth
	}
	// Untrusted from here to the handshake: an attacker may have written
	// every byte. The capabilities are used only to decide whether to try
	// STARTTLS, which we then insist on; nothing read here is kept.
	var pre Capabilities
	switch opts.Protocol {
	case IMAP:
		if g.caps != nil {
			pre = cliNewCapabilities(IMAP, g.caps)
		} else if pre, err = IMAPCapabilities(tp, cc.NextTag()); err != nil {
			return fmt.Errorf("%w: %w", ErrStartTLSUnavailable, err)
		}
	case POP3:
		if pre, err = POP3Capabilities(tp); err != nil {
			return fmt.Errorf("%w: %w", ErrStartTLSUnavailable, err)
		}
	case SMTP:
		if pre, err = SMTPEhlo(tp, opts.Hostname); err != nil {
			return fmt.Errorf("%w: %w", ErrStartTLSUnavailable, err)
		}
	}
	if !pre.Has(cliStartTLSCapability(opts.Protocol)) {
		return fmt.Errorf("%w: %s not announced", ErrStartTLSUnavailable, cliStartTLSCapability(opts.Protocol))
	}
	tag := ""
	if opts.Protocol == IMAP {
		tag = cc.NextTag()
	}
	tc, tp, err := cliStartTLS(ctx, tp, conn, opts.Protocol, tag, opts.TLSConfig, nil)
	if err != nil {
		return err
	}
	// Inside TLS: forget pre, g and everything else, and ask again (RFC
	// 2595, Section 3.1; RFC 3207, Section 4.2). The greeting is not
	// resent, so ClientSession.Greeting stays empty.
	cc.Conn, cc.TLS, cc.Text = tc, tc, tp
	switch opts.Protocol {
	case IMAP:
		cc.Capabilities, err = IMAPCapabilities(tp, cc.NextTag())
	case POP3:
		cc.Capabilities, err = cliPOP3CapsOptional(tp)
	case SMTP:
		cc.Capabilities, err = SMTPEhlo(tp, opts.Hostname)
	}
	return err
}

// cliPOP3CapsOptional reads CAPA, where a "-ERR" (a server without RFC 2449)
// gives an empty list rather than an error.
func cliPOP3CapsOptional(tp *textproto.Conn) (Capabilities, error) {
	caps, err := POP3Capabilities(tp)
	if errors.Is(err, ErrCommandFailed) {
		return Capabilities{proto: POP3}, nil
	}
	return caps, err
}

// cliStartTLSCapability is the capability that announces STARTTLS.
func cliStartTLSCapability(p Protocol) string {
	if p == POP3 {
		return "STLS" // RFC 2595, Section 4
	}
	return "STARTTLS" // RFC 2595, Section 3.1; RFC 3207, Section 4
}

// cliCheckOptions validates opts and fills defaults.
func cliCheckOptions(opts *ClientOptions) error {
	if !opts.Protocol.valid() {
		return fmt.Errorf("%w: unknown protocol %v", ErrInvalidClientOption, opts.Protocol)
	}
	switch opts.Mode {
	case RequireSTARTTLS, ImplicitTLS:
		if err := cliCheckTLSConfig(opts.TLSConfig); err != nil {
			return err
		}
	case InsecurePlaintext:
	default:
		return fmt.Errorf("%w: unknown mode %v", ErrInvalidClientOption, opts.Mode)
	}
	if opts.Hostname == "" {
		opts.Hostname = DefaultEHLOHostname
	}
	if opts.Protocol == SMTP && !cliValidHostname(opts.Hostname) {
		return fmt.Errorf("%w: invalid EHLO hostname", ErrInvalidClientOption)
	}
	return nil
}

// cliCheckTLSConfig insists on a config that verifies the server's name.
func cliCheckTLSConfig(cfg *tls.Config) error {
	if err := tlsutil.CheckClientConfig(cfg); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidClientOption, err)
	}
	return nil
}

// DefaultNegotiationTimeout bounds NegotiateClient and StartTLSClient when
// their ctx has no deadline, so a server that stalls (before its greeting,
// in a capability reply or in the handshake) cannot hang the client. A few
// round trips and one handshake fit in it many times over.
const DefaultNegotiationTimeout = 30 * time.Second

// cliDefaultTimeout returns ctx, or ctx with DefaultNegotiationTimeout when
// it has no deadline.
func cliDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultNegotiationTimeout)
}

// cliWatch makes ctx interrupt blocking I/O on conn: when ctx is done
// (cancelled or past its deadline) conn gets a deadline in the past. Only
// then, so that an interrupted read always finds ctx.Err() set. stop undoes
// that and reports whether ctx interrupted (or may have interrupted) conn.
func cliWatch(ctx context.Context, conn net.Conn) (stop func() bool) {
	stopAfter := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
	})
	return func() bool {
		fired := !stopAfter()
		conn.SetDeadline(time.Time{})
		return fired
	}
}

// cliGreeting is what the client learns from a greeting.
type cliGreeting struct {
	line    string
	preAuth bool     // IMAP PREAUTH
	caps    []string // IMAP [CAPABILITY] code; nil when absent
}

// cliReadGreeting reads and checks the server greeting (RFC 9051, Section
// 7.1; RFC 5321, Section 4.3.1; RFC 1939, Section 4). Anything but a clean
// welcome is ErrBadGreeting.
func cliReadGreeting(tp *textproto.Conn, p Protocol) (cliGreeting, error) {
	var g cliGreeting
	switch p {
	case IMAP:
		line, err := cliReadLine(tp.R)
		if err != nil {
			return g, err
		}
		resp, err := cliParseIMAPResponse(line)
		if err != nil {
			return g, fmt.Errorf("%w: %w", ErrBadGreeting, err)
		}
		if resp.tag != "*" || resp.kind != "OK" && resp.kind != "PREAUTH" {
			return g, fmt.Errorf("%w: IMAP greeting is not * OK or * PREAUTH", ErrBadGreeting)
		}
		g.line, g.preAuth = line, resp.kind == "PREAUTH"
		if resp.code == "CAPABILITY" {
			g.caps = append([]string{}, resp.args...)
		}
	case SMTP:
		code, lines, err := cliReadSMTPReply(tp.R)
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				err = fmt.Errorf("%w: %w", ErrBadGreeting, err)
			}
			return g, err
		}
		if code != 220 {
			return g, fmt.Errorf("%w: SMTP greeting %d", ErrBadGreeting, code)
		}
		g.line = "220 " + lines[0]
	case POP3:
		line, err := cliReadLine(tp.R)
		if err != nil {
			return g, err
		}
		ok, err := cliParsePOP3Status(line)
		if err != nil || !ok {
			return g, fmt.Errorf("%w: POP3 greeting is not +OK", ErrBadGreeting)
		}
		g.line = line
	}
	return g, nil
}

// StartTLSClient upgrades a plaintext mail session to TLS, the client-side
// counterpart of tlsutil.StartTLSServer: it sends the STARTTLS command of
// proto on tp (IMAP "tag STARTTLS", POP3 "STLS", SMTP "STARTTLS"), waits for
// the go-ahead (the tagged IMAP OK, POP3 "+OK", SMTP 220), and runs the TLS
// handshake on raw with config. It returns the TLS connection and a new
// textproto.Conn on it. tag is used only for IMAP and must be a valid tag
// not in use.
//
// tp must read from raw. Bytes buffered after the go-ahead line, in tp's
// reader, in raw itself when it has a Buffered() int method, or in any of
// layers (each read layer stacked between raw and tp), give
// tlsutil.ErrResponseInjection (CVE-2011-0411, client side): they were sent
// in plaintext but would be parsed as if they came inside TLS. Bytes that
// arrive later reach the handshake, which fails. Nothing is written after
// the command until the handshake is done (RFC 2595, Section 3.1).
//
// Untagged IMAP responses before the tagged OK are read and dropped
// ([CAPABILITY] codes, [ALERT] texts, mailbox data); so is the text of the
// go-ahead. Any other reply is ErrStartTLSRefused: IMAP NO, BAD, "+" or BYE;
// POP3 -ERR; SMTP 454, 502, 354 or any code but 220. POP3 and SMTP data
// waiting before the command is ErrMalformed. config.ServerName must be set
// (see ClientOptions.TLSConfig); a failed handshake or certificate check is
// tlsutil.ErrHandshakeFailed. ctx bounds the exchange through raw's
// deadline, which is cleared before returning; without a ctx deadline,
// DefaultNegotiationTimeout applies.
//
// The caller must discard everything it learned before TLS, capabilities
// first, and read them again on the returned connection (RFC 2595, Section
// 3.1; RFC 3207, Section 4.2); NegotiateClient does all of that. On error,
// raw is closed: do not authenticate or fall back to plaintext.
func StartTLSClient(ctx context.Context, tp *textproto.Conn, raw net.Conn, proto Protocol, tag string, config *tls.Config, layers ...tlsutil.Buffered) (tlsConn *tls.Conn, tlsText *textproto.Conn, err error) {
	ctx, cancel := cliDefaultTimeout(ctx)
	defer cancel()
	stop := cliWatch(ctx, raw)
	defer func() {
		if stop() && err == nil {
			err = ctx.Err()
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w (%w)", err, ctxErr)
			}
			raw.Close()
			tlsConn, tlsText = nil, nil
		}
	}()
	return cliStartTLS(ctx, tp, raw, proto, tag, config, layers)
}

// cliStartTLS is StartTLSClient without the deadline handling, for callers
// that already watch ctx.
func cliStartTLS(ctx context.Context, tp *textproto.Conn, conn net.Conn, proto Protocol, tag string, config *tls.Config, layers []tlsutil.Buffered) (*tls.Conn, *textproto.Conn, error) {
	if err := cliCheckTLSConfig(config); err != nil {
		return nil, nil, err
	}
	var cmd string
	switch proto {
	case IMAP:
		if !cliValidIMAPTag(tag) {
			return nil, nil, fmt.Errorf("%w: invalid IMAP tag", ErrInvalidClientOption)
		}
		cmd = tag + " STARTTLS"
	case POP3:
		cmd = "STLS"
	case SMTP:
		cmd = "STARTTLS"
	default:
		return nil, nil, fmt.Errorf("%w: unknown protocol %v", ErrInvalidClientOption, proto)
	}
	if proto != IMAP && tp.R.Buffered() > 0 {
		// POP3 and SMTP servers speak only when spoken to: data waiting
		// before our command is either injected or would be taken for the
		// go-ahead.
		return nil, nil, fmt.Errorf("%w: unsolicited %v data before STARTTLS", ErrMalformed, proto)
	}
	if err := tp.PrintfLine("%s", cmd); err != nil {
		return nil, nil, err
	}
	var err error
	switch proto {
	case IMAP:
		err = cliIMAPGoAhead(tp, tag)
	case POP3:
		err = cliPOP3GoAhead(tp)
	case SMTP:
		err = cliSMTPGoAhead(tp)
	}
	if err != nil {
		return nil, nil, err
	}
	// The go-ahead is the last plaintext byte we accept: tlsutil refuses
	// anything buffered behind it (ErrResponseInjection) and hands the
	// connection to the handshake.
	return tlsutil.StartTLSClient(ctx, tp, conn, config, layers...)
}

// cliIMAPGoAhead reads the reply to "tag STARTTLS" up to the tagged OK (RFC
// 2595, Section 3.1). Untagged responses before it are legal and dropped.
func cliIMAPGoAhead(tp *textproto.Conn, tag string) error {
	var skipped int64
	for range cliMaxResponseLines {
		resp, err := cliReadIMAPResponse(tp.R, &skipped)
		if err != nil {
			return err
		}
		switch {
		case resp.tag == "*" && resp.kind == "BYE":
			return fmt.Errorf("%w: IMAP BYE", ErrStartTLSRefused)
		case resp.tag == "*":
			// Dropped: [ALERT], [CAPABILITY], [REFERRAL], EXISTS, ...
			// (NO STARTTLS classes T and U; RFC 2595, Section 3.1).
		case resp.tag == "+":
			return fmt.Errorf("%w: IMAP continuation request", ErrStartTLSRefused)
		case resp.tag != tag:
			return fmt.Errorf("%w: IMAP reply with a foreign tag", ErrStartTLSRefused)
		case resp.kind != "OK":
			return fmt.Errorf("%w: IMAP %s", ErrStartTLSRefused, resp.kind)
		default:
			// A [CAPABILITY] code here is plaintext too and is ignored
			// (the go-imap v2 client gap, tls-security.md §1.3).
			return nil
		}
	}
	return fmt.Errorf("%w: IMAP STARTTLS: more than %d responses", ErrTooLarge, cliMaxResponseLines)
}

// cliPOP3GoAhead reads the reply to STLS (RFC 2595, Section 4).
func cliPOP3GoAhead(tp *textproto.Conn) error {
	line, err := cliReadLine(tp.R)
	if err != nil {
		return err
	}
	if ok, err := cliParsePOP3Status(line); err != nil || !ok {
		return fmt.Errorf("%w: POP3 STLS not answered +OK", ErrStartTLSRefused)
	}
	return nil
}

// cliSMTPGoAhead reads the reply to STARTTLS (RFC 3207, Section 4).
func cliSMTPGoAhead(tp *textproto.Conn) error {
	code, _, err := cliReadSMTPReply(tp.R)
	if err != nil {
		return err
	}
	if code != 220 {
		return fmt.Errorf("%w: SMTP %d", ErrStartTLSRefused, code)
	}
	return nil
}
