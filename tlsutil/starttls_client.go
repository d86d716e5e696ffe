package tlsutil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
)

// StartTLSClient upgrades a plaintext mail session to TLS, the client-side
// counterpart of StartTLSServer: it sends the STARTTLS command of proto on tp
// (IMAP "tag STARTTLS", POP3 "STLS", SMTP "STARTTLS"), waits for the
// go-ahead (the tagged IMAP OK, POP3 "+OK", SMTP 220), and runs the TLS
// handshake on raw with config. It returns the TLS connection and a new
// textproto.Conn on it. tag is used only for IMAP and must be a valid tag
// not in use.
//
// tp must read from raw. Bytes buffered after the go-ahead line, in tp's
// reader, in raw itself when it has a Buffered() int method, or in any of
// layers (each read layer stacked between raw and tp), give
// ErrResponseInjection (CVE-2011-0411, client side): they were sent in
// plaintext but would be parsed as if they came inside TLS. Bytes that
// arrive later reach the handshake, which fails. Nothing is written after
// the command until the handshake is done (RFC 2595, Section 3.1).
//
// Untagged IMAP responses before the tagged OK are read and dropped
// ([CAPABILITY] codes, [ALERT] texts, mailbox data); so is the text of the
// go-ahead. Any other reply is ErrStartTLSRefused: IMAP NO, BAD, "+" or BYE;
// POP3 -ERR; SMTP 454, 502, 354 or any code but 220. POP3 and SMTP data
// waiting before the command is ErrMalformedResponse. config.ServerName
// must be set (see ClientOptions.TLSConfig); a failed handshake or
// certificate check is ErrHandshakeFailed. ctx bounds the exchange through
// raw's deadline, which is cleared before returning; without a ctx
// deadline, DefaultNegotiationTimeout applies.
//
// The caller must discard everything it learned before TLS, capabilities
// first, and read them again on the returned connection (RFC 2595, Section
// 3.1; RFC 3207, Section 4.2); NegotiateClient does all of that. On error,
// raw is closed: do not authenticate or fall back to plaintext.
func StartTLSClient(ctx context.Context, tp *textproto.Conn, raw net.Conn, proto Protocol, tag string, config *tls.Config, layers ...Buffered) (tlsConn *tls.Conn, tlsText *textproto.Conn, err error) {
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
func cliStartTLS(ctx context.Context, tp *textproto.Conn, conn net.Conn, proto Protocol, tag string, config *tls.Config, layers []Buffered) (*tls.Conn, *textproto.Conn, error) {
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
		return nil, nil, fmt.Errorf("%w: unsolicited %v data before STARTTLS", ErrMalformedResponse, proto)
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
	// The go-ahead is the last plaintext byte we accept. Anything already
	// buffered behind it was sent in plaintext by whoever is on the path;
	// refuse it rather than feed it to the handshake or, worse, read it
	// later as a TLS-protected response.
	if n := bufferedOctets(tp, conn, layers); n > 0 {
		return nil, nil, fmt.Errorf("%w: %d octets", ErrResponseInjection, n)
	}
	// tls.Client reads from conn, below tp's buffer: bytes arriving from now
	// on are handshake input, and plaintext there fails the handshake.
	tc := tls.Client(conn, cliTLSConfig(config))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshakeFailed, err)
	}
	return tc, textproto.NewConn(tc), nil
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
	return fmt.Errorf("%w: IMAP STARTTLS: more than %d responses", ErrMalformedResponse, cliMaxResponseLines)
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
