package tlsutil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// Errors of the server side of STARTTLS (IMAP STARTTLS, RFC 9051 Section
// 6.2.1; POP3 STLS, RFC 2595 Section 4; SMTP STARTTLS, RFC 3207).
var (
	// ErrPlaintextAfterStartTLS means the client sent bytes after the
	// STARTTLS/STLS command line and before the TLS handshake: the command
	// injection of CVE-2011-0411 (Postfix) and CVE-2021-33515 (Dovecot),
	// where a man in the middle appends a command that the server would
	// otherwise run as if it came inside TLS. RFC 2595, Section 3.1: the
	// client MUST NOT send anything until TLS is up. The server must not
	// start TLS; close the connection.
	ErrPlaintextAfterStartTLS = errors.New("tlsutil: plaintext pipelined after STARTTLS")
	// ErrTLSActive means STARTTLS arrived on a connection that already has
	// TLS (implicit TLS or an earlier STARTTLS; checklist S6). IMAP answers
	// BAD, POP3 -ERR, SMTP 503 (or 554).
	ErrTLSActive = errors.New("tlsutil: TLS is already active")
	// ErrStartTLSAfterAuth means STARTTLS arrived after the client
	// authenticated (checklist S5: session fixation, where a man in the
	// middle logs in with their own account and then lets the victim's
	// client start TLS into the attacker's mailbox). STARTTLS is valid only
	// in the not-authenticated state (RFC 9051, Section 6.2.1; RFC 2595,
	// Section 4; RFC 3207, Section 4.2). IMAP answers BAD, POP3 -ERR, SMTP
	// 503.
	ErrStartTLSAfterAuth = errors.New("tlsutil: STARTTLS after authentication")
)

// Buffered is a read layer that may hold bytes it has read from the
// connection but not yet returned: *bufio.Reader, and any line-limit
// reader, trace tee or literal reader a server stacks over its connection.
// Buffered returns the number of such bytes.
type Buffered interface {
	Buffered() int
}

// Session is the part of a mail session's state that decides whether
// STARTTLS may run. The zero value is a fresh plaintext session. A server
// sets TLS after implicit TLS or a successful [StartTLSServer], and
// Authenticated after a successful login (AUTHENTICATE, LOGIN, AUTH,
// USER/PASS, APOP); it resets Authenticated when the protocol does (SMTP
// RSET does not).
type Session struct {
	TLS           bool // TLS is active
	Authenticated bool // the client has authenticated
}

// CheckStartTLS returns nil if STARTTLS may run in s, [ErrTLSActive] inside
// TLS (checklist S6) and [ErrStartTLSAfterAuth] once authenticated
// (checklist S5). Call it before [StartTLSServer] and answer the protocol's
// error reply when it fails.
func (s Session) CheckStartTLS() error {
	if s.TLS {
		return ErrTLSActive
	}
	if s.Authenticated {
		return ErrStartTLSAfterAuth
	}
	return nil
}

// StartTLSServer runs the server side of STARTTLS (IMAP, SMTP) or STLS
// (POP3) once the caller has read the command line from tc, a
// textproto.Conn over raw. In order:
//
//  1. If any byte is buffered after the command line, in tc.R, in any of
//     layers (every other buffering reader stacked between raw and tc) or
//     in raw itself if it has a Buffered method, it returns [ErrPlaintextAfterStartTLS] having written nothing
//     (checklist S1–S3). The caller should then close the connection.
//  2. It writes goAhead (the line without CRLF, such as
//     "A1 OK Begin TLS negotiation now", "+OK Begin TLS negotiation" or
//     "220 2.0.0 Ready to start TLS") through tc and flushes it, with raw's
//     write deadline set to ctx's deadline (then cleared), so a client that
//     does not read cannot block it.
//  3. It runs the TLS handshake on raw with config, bounded by ctx's
//     deadline or, if ctx has none, [DefaultHandshakeTimeout] (checklist
//     S9); that bound covers step 2 too. Bytes that arrive after the go-ahead line and are not a TLS
//     record fail the handshake with [ErrNotTLS]; they are never read as
//     commands. A failed handshake closes raw (checklist S8).
//  4. It returns the TLS connection and a new textproto.Conn over it.
//
// After it returns nil, nothing from before TLS may be trusted or kept
// (RFC 3207, Section 4.2; RFC 2595, Section 3.1): drop tc and the layers,
// read and write only through the returned Conn, re-create the SASL
// sasl.ServerSet from the new connection state, forget an SMTP EHLO
// argument and transaction, and set [Session].TLS. The session stays
// not authenticated, even with a client certificate.
//
// The returned textproto.Conn has no line-length bound (textproto.NewConn
// has none); a server that bounds its lines builds its own reader stack
// over the returned *tls.Conn instead. The *tls.Conn is made by [Server],
// so [ServedCertificate] gives its leaf. goAhead containing CR or LF is an error. config must not be
// modified after the call.
func StartTLSServer(ctx context.Context, tc *textproto.Conn, raw net.Conn, config *tls.Config, goAhead string, layers ...Buffered) (*tls.Conn, *textproto.Conn, error) {
	if strings.ContainsAny(goAhead, "\r\n") {
		return nil, nil, errors.New("tlsutil: STARTTLS go-ahead line contains CR or LF")
	}
	// Checked before the go-ahead line is written (S3): once it is out, a
	// well-behaved client sends its ClientHello, and bytes arriving after
	// our check land in the socket, where the handshake reads them as a
	// (failing) TLS record. Buffered bytes are the only ones that could be
	// mistaken for commands.
	if n := bufferedOctets(tc, raw, layers); n > 0 {
		return nil, nil, fmt.Errorf("%w (%d bytes)", ErrPlaintextAfterStartTLS, n)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultHandshakeTimeout)
		defer cancel()
	}
	// The go-ahead write is bounded too: a client that stops reading (its
	// receive window full of earlier replies) would otherwise block the
	// write, and the goroutine, for ever.
	deadline, _ := ctx.Deadline()
	_ = raw.SetWriteDeadline(deadline)
	if err := tc.PrintfLine("%s", goAhead); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// ctx's deadline, which may pass on the conn a moment before
			// ctx's own timer fires: report it as ctx would.
			return nil, nil, fmt.Errorf("tlsutil: STARTTLS go-ahead: %w (%w)", err, context.DeadlineExceeded)
		}
		return nil, nil, fmt.Errorf("tlsutil: STARTTLS go-ahead: %w", err)
	}
	_ = raw.SetWriteDeadline(time.Time{})
	conn := Server(raw, config)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("tlsutil: STARTTLS handshake: %w", err)
	}
	return conn, textproto.NewConn(conn), nil
}

// bufferedOctets returns the octets read ahead on every layer under a
// textproto session, on either side of STARTTLS: tp's bufio.Reader, raw
// when it reads ahead itself (a bufio-backed conn wrapper, whose bytes would
// otherwise become the start of the handshake input), and layers. Any of
// them is plaintext that must not be taken as if it came inside TLS.
func bufferedOctets(tp *textproto.Conn, raw net.Conn, layers []Buffered) int {
	n := tp.R.Buffered()
	if b, ok := raw.(Buffered); ok {
		n += b.Buffered()
	}
	for _, l := range layers {
		n += l.Buffered()
	}
	return n
}
