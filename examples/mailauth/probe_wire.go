package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
)

// The probe does on purpose what tlsutil's client refuses to do: pipeline
// a command after STARTTLS, offer TLS 1.0, go on after a certificate that
// does not verify. This file is that deliberately non-conforming wire
// code, kept to the few lines of greeting, EHLO and STARTTLS it needs. It
// never sends a credential.

const (
	// maxProbeLine bounds one line from the server: the probe must not
	// buffer without limit whatever a hostile server sends.
	maxProbeLine = 16 << 10
	// maxProbeLines bounds the lines of one reply.
	maxProbeLines = 256
	// probeEHLO is the EHLO argument: a name under .invalid (RFC 6761).
	probeEHLO = "mailauth-probe.invalid"
)

// wire is a minimal line client on one connection.
type wire struct {
	conn  net.Conn
	r     *bufio.Reader
	proto sasl.Protocol
}

func newWire(conn net.Conn, proto sasl.Protocol) *wire {
	return &wire{conn: conn, r: bufio.NewReaderSize(conn, 4096), proto: proto}
}

// readLine reads one line without its CRLF, at most maxProbeLine bytes.
func (w *wire) readLine() (string, error) {
	var b []byte
	for {
		frag, err := w.r.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxProbeLine {
			return "", fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxProbeLine)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// send writes lines, each with CRLF, in one write.
func (w *wire) send(lines ...string) error {
	_, err := io.WriteString(w.conn, strings.Join(lines, "\r\n")+"\r\n")
	return err
}

// smtpReply reads an SMTP reply (RFC 5321, Section 4.2): its lines, and
// the code of the last.
func (w *wire) smtpReply() ([]string, string, error) {
	var lines []string
	for range maxProbeLines {
		l, err := w.readLine()
		if err != nil {
			return lines, "", err
		}
		lines = append(lines, l)
		if len(l) < 3 {
			return lines, "", fmt.Errorf("%w: bad SMTP reply", errProtocol)
		}
		if len(l) == 3 || l[3] == ' ' {
			return lines, l[:3], nil
		}
	}
	return lines, "", fmt.Errorf("%w: SMTP reply longer than %d lines", errProtocol, maxProbeLines)
}

// imapTagged reads IMAP responses up to the one tagged tag, and returns
// the untagged lines and the tagged one.
func (w *wire) imapTagged(tag string) ([]string, string, error) {
	var untagged []string
	for range maxProbeLines {
		l, err := w.readLine()
		if err != nil {
			return untagged, "", err
		}
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l, nil
		}
		untagged = append(untagged, l)
	}
	return untagged, "", fmt.Errorf("%w: IMAP reply longer than %d lines", errProtocol, maxProbeLines)
}

// greet reads the greeting, and for SMTP sends EHLO and reads its reply,
// so the session is ready for STARTTLS.
func (w *wire) greet() (string, error) {
	switch w.proto {
	case sasl.SMTP:
		lines, code, err := w.smtpReply()
		if err != nil {
			return "", err
		}
		if code != "220" {
			return "", fmt.Errorf("%w: greeting %q", errProtocol, trunc(strings.Join(lines, " "), 80))
		}
		if err := w.send("EHLO " + probeEHLO); err != nil {
			return "", err
		}
		if _, code, err := w.smtpReply(); err != nil || code != "250" {
			if err == nil {
				err = fmt.Errorf("%w: EHLO answered %s", errProtocol, code)
			}
			return "", err
		}
		return lines[0], nil
	default:
		l, err := w.readLine()
		if err != nil {
			return "", err
		}
		ok := strings.HasPrefix(l, "+OK") && w.proto == sasl.POP3 || strings.HasPrefix(l, "* OK") && w.proto == sasl.IMAP
		if !ok {
			return l, fmt.Errorf("%w: greeting %q", errProtocol, trunc(l, 80))
		}
		return l, nil
	}
}

// startTLSCommand is the command that starts TLS (RFC 2595 Sections 3.1
// and 4; RFC 3207).
func startTLSCommand(p sasl.Protocol, tag string) string {
	switch p {
	case sasl.IMAP:
		return tag + " STARTTLS"
	case sasl.POP3:
		return "STLS"
	}
	return "STARTTLS"
}

// goAhead reads the reply to STARTTLS and reports whether it lets TLS
// start: IMAP tagged OK, POP3 +OK, SMTP 220. before is the text read,
// for the report.
func (w *wire) goAhead(tag string) (ok bool, before []string, err error) {
	switch w.proto {
	case sasl.IMAP:
		untagged, l, err := w.imapTagged(tag)
		return strings.HasPrefix(l, tag+" OK"), append(untagged, l), err
	case sasl.POP3:
		l, err := w.readLine()
		return strings.HasPrefix(l, "+OK"), []string{l}, err
	}
	lines, code, err := w.smtpReply()
	return code == "220", lines, err
}

// injected returns the command the injection test pipelines after
// STARTTLS: the NO STARTTLS tester's (research §1.2), a harmless command
// whose answer is easy to tell.
func injected(p sasl.Protocol) string {
	switch p {
	case sasl.IMAP:
		return randomTag() + " NOOP"
	case sasl.POP3:
		return "CAPA"
	}
	return "EHLO " + probeEHLO
}

// randomTag is five random letters, so an answer cannot be mistaken for
// one to another command.
func randomTag() string {
	b := make([]byte, 5)
	rand.Read(b)
	for i := range b {
		b[i] = 'A' + b[i]%26
	}
	return string(b)
}

// tlsStart is how one STARTTLS went: the outcome and what was seen.
type tlsStart struct {
	// Outcome: "ok" (TLS up), "refused" (no go-ahead), "closed" (the
	// server hung up before the go-ahead), "plaintext-after-go-ahead"
	// (the server sent more after it), "handshake-failed".
	Outcome string
	Detail  string
}

// rawStartTLS runs greeting, (EHLO,) STARTTLS and the handshake on conn,
// the way a client that ignores RFC 2595 Section 3.1 would when inject is
// not "": inject is pipelined after the command, in the same write or
// (split) in a second one. It returns the TLS connection when the
// handshake completed.
func rawStartTLS(ctx context.Context, conn net.Conn, p sasl.Protocol, cfg *tls.Config, inject string, split bool) (*tls.Conn, tlsStart, error) {
	w := newWire(conn, p)
	if _, err := w.greet(); err != nil {
		return nil, tlsStart{Outcome: "error", Detail: err.Error()}, err
	}
	tag := "P1"
	cmd := startTLSCommand(p, tag)
	var err error
	switch {
	case inject == "":
		err = w.send(cmd)
	case split:
		if err = w.send(cmd); err == nil {
			err = w.send(inject)
		}
	default:
		err = w.send(cmd, inject)
	}
	if err != nil {
		return nil, tlsStart{Outcome: "closed", Detail: err.Error()}, nil
	}
	ok, reply, err := w.goAhead(tag)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return nil, tlsStart{Outcome: "closed", Detail: "connection closed before the go-ahead"}, nil
		}
		return nil, tlsStart{Outcome: "error", Detail: err.Error()}, err
	}
	if !ok {
		return nil, tlsStart{Outcome: "refused", Detail: trunc(strings.Join(reply, " | "), 120)}, nil
	}
	if n := w.r.Buffered(); n > 0 {
		extra, _ := w.r.Peek(n)
		return nil, tlsStart{Outcome: "plaintext-after-go-ahead", Detail: trunc(printable(string(extra)), 120)}, nil
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, tlsStart{Outcome: "handshake-failed", Detail: err.Error()}, nil
	}
	return tc, tlsStart{Outcome: "ok"}, nil
}

// isReset reports a connection the peer reset or closed under us.
func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// secure dials t and brings up TLS with cfg, implicit or by (clean)
// STARTTLS: the probe's way to test one TLS version or suite.
func secure(ctx context.Context, t target, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, t, timeout)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if t.implicit {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		tc.SetDeadline(time.Time{})
		return tc, nil
	}
	tc, st, err := rawStartTLS(ctx, conn, t.proto, cfg, "", false)
	if err == nil && tc == nil {
		err = fmt.Errorf("STARTTLS %s: %s", st.Outcome, st.Detail)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// printable replaces control characters, so server text cannot move the
// cursor or forge lines of the report.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, s)
}

func trunc(s string, n int) string {
	s = printable(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
