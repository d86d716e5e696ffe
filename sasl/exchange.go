package sasl

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultMaxLineLength bounds one line of an exchange, CRLF included,
	// on both sides, so a peer cannot make us buffer without limit. 64 KiB
	// holds a GSSAPI token with a large Kerberos PAC in base64; RFC 4954
	// Section 4 asks SMTP servers for at least 12288 octets. Exchange's
	// MaxLineLength overrides it.
	DefaultMaxLineLength = 64 << 10
	// DefaultMaxRounds bounds the challenges of one exchange, so a peer
	// cannot keep an exchange going forever. The longest mechanism here
	// (SCRAM with its final empty response, GSSAPI with its security-layer
	// step) needs fewer than 8. Exchange's MaxRounds overrides it.
	DefaultMaxRounds = 16

	// xchgMaxSMTPCommand is the SMTP command-line limit, CRLF included
	// (RFC 5321, Section 4.5.3.1.4). A client sends an initial response on
	// the AUTH line only if the line fits (RFC 4954, Section 4).
	xchgMaxSMTPCommand = 512
	// xchgMaxPOP3Command is the POP3 AUTH line limit, CRLF included
	// (RFC 5034, Section 4: 255 octets).
	xchgMaxPOP3Command = 255
	// xchgMaxMechName is the longest SASL mechanism name (RFC 4422,
	// Section 3.1: 1*20 characters).
	xchgMaxMechName = 20
	// xchgMaxReplyText bounds the server text kept in a ReplyError.
	xchgMaxReplyText = 256
	// xchgMaxUntagged bounds the untagged IMAP lines (CAPABILITY, ALERT)
	// a client skips while waiting for a continuation or the tagged reply,
	// so a server cannot keep it reading forever.
	xchgMaxUntagged = 100
)

// ErrTemporaryFailure means the server could not complete authentication
// for a reason that is not the client's fault (a credential store that is
// down): IMAP NO [UNAVAILABLE], SMTP 454 4.7.0, POP3 -ERR [SYS/TEMP]. A
// client may retry later.
var ErrTemporaryFailure = errors.New("sasl: temporary authentication failure")

// Exchange frames one SASL exchange on a net/textproto connection, for
// either side: IMAP AUTHENTICATE (RFC 9051, Section 6.2.2, with SASL-IR,
// RFC 4959), POP3 AUTH (RFC 5034) and SMTP AUTH (RFC 4954). The server side
// is [Exchange.Serve] followed by [Exchange.WriteResult]; the client side
// is [Exchange.Authenticate]. [ParseAuthCommand] parses the arguments of
// the command that starts the exchange on the server.
//
// The wire rules, common to the three protocols:
//
//   - Every challenge and response is one line of strict base64 (RFC 4648,
//     Section 4, with padding; no whitespace, no line breaks, no stray
//     bits). Anything else is ErrMalformed.
//   - A challenge is "+ " (IMAP, POP3) or "334 " (SMTP) followed by the
//     base64 data; an empty challenge has nothing after the space.
//   - An initial response on the command line is the base64 data, or "="
//     for an empty one; no argument means no initial response (nil, as
//     opposed to []byte{}).
//   - An empty continuation response is an empty line, as RFC 4954 and
//     RFC 5034 say. The client side always sends that: Dovecot refuses "="
//     there, and curl sends an empty line. The server side accepts both an
//     empty line and "=", because go-imap's client sends "=" (go-imap#760).
//   - A response of "*" cancels the exchange (ErrCanceled).
//   - Lines are bounded by MaxLineLength and challenges by MaxRounds
//     (ErrTooLarge); a line is never buffered beyond the bound.
//
// Protocol must be set; the other fields may be zero. An Exchange holds no
// state between calls and may be reused for the next command of the same
// connection (with the new Tag), but it must not be used by two goroutines
// at once on one connection.
type Exchange struct {
	// Protocol selects the framing: IMAP, POP3 or SMTP.
	Protocol Protocol
	// Tag is the IMAP tag of the AUTHENTICATE command: the server's final
	// reply carries it, and the client sends it. If "", "A" is used.
	// Ignored for POP3 and SMTP.
	Tag string
	// SASLIR, for the IMAP client, says the server advertised SASL-IR
	// (RFC 4959), so the initial response goes on the AUTHENTICATE line.
	// Without it the client waits for an empty challenge. POP3 and SMTP
	// always send the initial response inline when it fits the command
	// line (255 and 512 octets).
	SASLIR bool
	// MaxLineLength bounds each line read during the exchange, CRLF
	// included. If 0, DefaultMaxLineLength is used.
	MaxLineLength int
	// MaxRounds bounds the number of challenges. If 0, DefaultMaxRounds is
	// used.
	MaxRounds int
}

func (x *Exchange) maxLine() int {
	if x.MaxLineLength > 0 {
		return x.MaxLineLength
	}
	return DefaultMaxLineLength
}

func (x *Exchange) maxRounds() int {
	if x.MaxRounds > 0 {
		return x.MaxRounds
	}
	return DefaultMaxRounds
}

func (x *Exchange) tag() string {
	if x.Tag == "" {
		return "A"
	}
	return x.Tag
}

// ParseAuthCommand parses the arguments of IMAP "AUTHENTICATE mech [ir]"
// or POP3 and SMTP "AUTH mech [ir]": args is what follows the command name
// and its single space. It returns the mechanism name in upper case (SASL
// names are case-insensitive, RFC 4422 Section 3.1) and the decoded initial
// response: nil when there is none, []byte{} for "=".
//
// Arguments are separated by exactly one space; a single space after the
// name with nothing after it is taken as no initial response, as Dovecot
// does. The name must be 1 to 20 characters of A-Z, 0-9, "-" and "_"; the
// initial response must be strict base64. Anything else is an error
// wrapping ErrMalformed. The error text
// never repeats the initial response, which may hold a password.
func ParseAuthCommand(args string) (mech string, ir []byte, err error) {
	name, rest, hasIR := strings.Cut(args, " ")
	if len(name) == 0 || len(name) > xchgMaxMechName {
		return "", nil, fmt.Errorf("%w: mechanism name must be 1 to %d characters", ErrMalformed, xchgMaxMechName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", nil, fmt.Errorf("%w: bad character in mechanism name", ErrMalformed)
		}
	}
	mech = strings.ToUpper(name)
	if !hasIR {
		return mech, nil, nil
	}
	if strings.IndexByte(rest, ' ') >= 0 {
		return "", nil, fmt.Errorf("%w: too many arguments", ErrMalformed)
	}
	if rest == "" {
		// "AUTHENTICATE CRAM-MD5 " with nothing after the space, as mutt
		// with GNU SASL sends for mechanisms without an initial
		// response: no initial response, as Dovecot takes it. An empty
		// one is "=".
		return mech, nil, nil
	}
	ir, err = xchgDecode(rest, false)
	if err != nil {
		return "", nil, err
	}
	return mech, ir, nil
}

// xchgDecode decodes one base64 line. "=" is the empty message; an empty
// line is too when emptyOK (continuation responses and challenges). The
// result is never nil.
func xchgDecode(s string, emptyOK bool) ([]byte, error) {
	if s == "=" || (s == "" && emptyOK) {
		return []byte{}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty base64", ErrMalformed)
	}
	// Strict: padding required, no whitespace or line breaks, no stray
	// bits (RFC 4648, Section 3.5).
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: invalid base64", ErrMalformed)
	}
	return b, nil
}

// xchgEncode encodes a message for a continuation line: "" for an empty one.
func xchgEncode(b []byte) string {
	return base64.StdEncoding.EncodeToString(b)
}

// xchgReadLine reads one line of at most max bytes (CRLF included) from r
// and returns it without its line ending; see ReadLine.
func xchgReadLine(r *bufio.Reader, max int) (string, error) {
	return ReadLine(r, max)
}

func (x *Exchange) readLine(conn *textproto.Conn) (string, error) {
	line, err := xchgReadLine(conn.R, x.maxLine())
	return line, outOfStep(err)
}

// xchgWriteLine writes one line and its CRLF, and flushes them. A failed
// write leaves the connection out of step.
func xchgWriteLine(conn *textproto.Conn, line string) error {
	w := conn.W
	if _, err := w.WriteString(line); err != nil {
		return outOfStep(err)
	}
	if _, err := w.WriteString("\r\n"); err != nil {
		return outOfStep(err)
	}
	return outOfStep(w.Flush())
}

// xchgWatch applies ctx to raw for one exchange: when ctx is done
// (cancelled, or past its deadline) raw gets a deadline in the past, which
// interrupts a blocked read or write. A ctx that can never be done leaves
// raw alone, so the caller's own deadlines stay. stop undoes it and returns
// err, marked out of step and joined with ctx's error when ctx interrupted
// the exchange (or may have: then raw's deadline is cleared).
func xchgWatch(ctx context.Context, raw net.Conn) (stop func(err error) error) {
	if ctx.Done() == nil {
		return func(err error) error { return err }
	}
	stopAfter := context.AfterFunc(ctx, func() {
		raw.SetDeadline(time.Unix(1, 0))
	})
	return func(err error) error {
		if stopAfter() {
			return err // never fired: raw's deadlines are the caller's
		}
		raw.SetDeadline(time.Time{})
		ctxErr := ctx.Err()
		if err == nil {
			// Done at the last moment: the exchange is over, but raw
			// may have been given a past deadline and cleared since.
			return nil
		}
		if !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
		return outOfStep(err)
	}
}

// challengeLine returns the continuation line that carries chal.
func (x *Exchange) challengeLine(chal []byte) string {
	if x.Protocol == SMTP {
		return "334 " + xchgEncode(chal)
	}
	return "+ " + xchgEncode(chal)
}

// Serve runs the server side of one exchange on conn, a textproto.Conn over
// raw, after the command that started it (parsed with [ParseAuthCommand])
// was read: it drives s from the initial response ir (nil for none) until s
// reports done or fails. ctx bounds the exchange: when it is done, raw gets
// a deadline in the past, which interrupts a blocked read or write (and is
// cleared again before Serve returns); a ctx that is never done leaves raw's
// deadlines alone. Pass the ctx that s was made with
// ([ServerSet.NewServer]), so its lookups are bounded too. It does not write
// the final reply: call [Exchange.WriteResult] with the returned error (or
// write your own reply, e.g. an IMAP OK with a CAPABILITY code).
//
// Each challenge s returns with done=false is sent. When s returns done=true
// the exchange succeeded; if s also returned data, which IMAP, POP3 and SMTP
// cannot carry on success, that data is sent as one more challenge and the
// client must answer with an empty response (RFC 4422, Section 4, item 6).
// An empty continuation response may be an empty line or "=".
//
// It returns nil on success; the error s returned, unchanged (so a caller's
// own error type, such as go-smtp's *SMTPError, survives type assertions);
// an error wrapping ErrCanceled when the client sent "*"; ErrMalformed for a
// response that is not base64; ErrTooLarge for a line longer than
// MaxLineLength or more than MaxRounds challenges; or the connection's I/O
// error, or ctx's error. Errors after which the connection is out of step (a
// line over MaxLineLength, an I/O error, ctx done mid-exchange) wrap
// [ErrOutOfStep]: write the reply if you can, then close the connection.
func (x *Exchange) Serve(ctx context.Context, conn *textproto.Conn, raw net.Conn, s Server, ir []byte) (err error) {
	if raw == nil {
		return errors.New("sasl: Exchange.Serve: no connection to apply ctx to")
	}
	stop := xchgWatch(ctx, raw)
	defer func() { err = stop(err) }()
	return x.serve(conn, s, ir)
}

func (x *Exchange) serve(conn *textproto.Conn, s Server, ir []byte) error {
	resp := ir
	for round := 0; ; round++ {
		chal, done, err := s.Next(resp)
		if err != nil {
			return err
		}
		if done && len(chal) == 0 {
			return nil
		}
		if round >= x.maxRounds() {
			return fmt.Errorf("%w: more than %d challenges", ErrTooLarge, x.maxRounds())
		}
		if err := xchgWriteLine(conn, x.challengeLine(chal)); err != nil {
			return err
		}
		line, err := x.readLine(conn)
		if err != nil {
			return err
		}
		if line == "*" {
			err := fmt.Errorf("%w by the client", ErrCanceled)
			if c, ok := s.(canceler); ok {
				// A ServerSet's Server counts a cancel after the client
				// sent credentials (a rejected token answered with "*")
				// as a failed attempt for its Limiter.
				return c.canceled(err)
			}
			return err
		}
		resp, err = xchgDecode(line, true)
		if err != nil {
			return err
		}
		if done {
			// The extra round that carried success data: only an
			// empty answer completes it.
			if len(resp) != 0 {
				return fmt.Errorf("%w: expected an empty response after the final challenge", ErrMalformed)
			}
			return nil
		}
	}
}

// Reply returns the line a server sends to end an exchange (or to refuse
// the command that would start one) whose outcome is err, without CRLF:
// [ReplyFor](err) written for x.Protocol with x's tag. The text is fixed per
// outcome and never contains what the client sent or what err says, so it
// cannot leak a username or a secret. A caller with its own error types
// (go-smtp's *SMTPError) should write their replies itself and use Reply for
// the rest.
func (x *Exchange) Reply(err error) string {
	return ReplyFor(err).Line(x.Protocol, x.tag())
}

// WriteResult writes [Exchange.Reply] for err to conn and flushes it: the
// final reply of an exchange run by [Exchange.Serve], or the refusal of
// an AUTH/AUTHENTICATE command that failed before it (a malformed command,
// a mechanism [ServerSet.NewServer] refused).
func (x *Exchange) WriteResult(conn *textproto.Conn, err error) error {
	return xchgWriteLine(conn, x.Reply(err))
}

// ReplyError is the server's final reply to an exchange it did not
// accept, as returned by [Exchange.Authenticate]. Err is the sentinel the
// reply maps to, so errors.Is(err, ErrAuthFailed) tells a rejected
// password from other failures.
type ReplyError struct {
	// Protocol is the protocol of the exchange.
	Protocol Protocol
	// Code is the SMTP reply code, or 0 for IMAP and POP3.
	Code int
	// Text is the server's reply without the IMAP tag, truncated to 256
	// bytes, e.g. "NO [AUTHENTICATIONFAILED] Authentication failed" or
	// "535 5.7.8 Authentication credentials invalid".
	Text string
	// Err is ErrAuthFailed, ErrAuthzFailed, ErrNeedsTLS,
	// ErrUnsupportedMechanism, ErrTemporaryFailure, ErrMalformed,
	// ErrTooLarge or ErrCanceled, or nil when the reply says nothing
	// more specific than "no".
	Err error
}

// Error returns "sasl: <protocol> server refused authentication: <text>".
func (e *ReplyError) Error() string {
	return "sasl: " + e.Protocol.String() + " server refused authentication: " + e.Text
}

// Unwrap returns Err.
func (e *ReplyError) Unwrap() error { return e.Err }

// xchgSMTPCode maps an SMTP reply code and enhanced status to a sentinel.
func xchgSMTPCode(code int, text string) error {
	switch {
	case code == 535 || strings.Contains(text, " 5.7.8 "):
		return ErrAuthFailed
	case code == 538 || code == 530:
		// 530 5.7.0: "Must issue a STARTTLS command first".
		return ErrNeedsTLS
	case code == 504 || code == 534:
		// 534 5.7.9: mechanism too weak (RFC 4954, Section 6).
		return ErrUnsupportedMechanism
	case code == 500:
		return ErrTooLarge
	case code == 501:
		return ErrMalformed
	case code >= 400 && code < 500:
		return ErrTemporaryFailure
	}
	return nil
}

// xchgIMAPCode maps an IMAP tagged NO/BAD reply (without the tag) to a
// sentinel.
func xchgIMAPCode(text string) error {
	status, rest, _ := strings.Cut(text, " ")
	code := ""
	if strings.HasPrefix(rest, "[") {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			code, _, _ = strings.Cut(rest[1:end], " ")
		}
	}
	switch strings.ToUpper(code) {
	case "AUTHENTICATIONFAILED":
		return ErrAuthFailed
	case "AUTHORIZATIONFAILED":
		return ErrAuthzFailed
	case "PRIVACYREQUIRED":
		return ErrNeedsTLS
	case "UNAVAILABLE", "SERVERBUG":
		return ErrTemporaryFailure
	case "CANNOT":
		return ErrUnsupportedMechanism
	}
	if strings.EqualFold(status, "BAD") {
		return ErrMalformed
	}
	// RFC 9051, Section 6.2.2: NO is an authentication failure.
	return ErrAuthFailed
}

// xchgPOP3Code maps a POP3 -ERR reply to a sentinel (RFC 3206).
func xchgPOP3Code(text string) error {
	rest := strings.TrimPrefix(text, "-ERR")
	rest = strings.TrimPrefix(rest, " ")
	if strings.HasPrefix(rest, "[") {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			code := strings.ToUpper(rest[1:end])
			switch {
			case code == "AUTH":
				return ErrAuthFailed
			case strings.HasPrefix(code, "SYS"), code == "IN-USE", code == "LOGIN-DELAY":
				return ErrTemporaryFailure
			}
		}
	}
	// A bare -ERR says only "no"; servers use it for bad credentials.
	return ErrAuthFailed
}

// xchgReply is one line the client read from the server.
type xchgReply struct {
	cont bool   // a continuation carrying chal
	chal []byte // the decoded challenge, never nil when cont
	ok   bool   // the final reply is success
	err  error  // the final reply's ReplyError, or a framing error
}

// readReply reads the server's next continuation or final reply.
func (x *Exchange) readReply(conn *textproto.Conn) xchgReply {
	for untagged := 0; ; untagged++ {
		if untagged > xchgMaxUntagged {
			return xchgReply{err: outOfStep(fmt.Errorf("%w: more than %d untagged lines", ErrTooLarge, xchgMaxUntagged))}
		}
		line, err := x.readLine(conn)
		if err != nil {
			return xchgReply{err: err}
		}
		switch x.Protocol {
		case IMAP:
			if line == "+" || strings.HasPrefix(line, "+ ") {
				return x.contReply(strings.TrimPrefix(strings.TrimPrefix(line, "+"), " "))
			}
			if strings.HasPrefix(line, "* ") {
				continue // untagged data (CAPABILITY): not ours
			}
			rest, ok := strings.CutPrefix(line, x.tag()+" ")
			if !ok {
				return xchgReply{err: outOfStep(fmt.Errorf("%w: unexpected IMAP line during authentication", ErrMalformed))}
			}
			status, _, _ := strings.Cut(rest, " ")
			if strings.EqualFold(status, "OK") {
				return xchgReply{ok: true}
			}
			return xchgReply{err: &ReplyError{Protocol: IMAP, Text: truncate(rest, xchgMaxReplyText), Err: xchgIMAPCode(rest)}}
		case POP3:
			if line == "+" || strings.HasPrefix(line, "+ ") {
				return x.contReply(strings.TrimPrefix(strings.TrimPrefix(line, "+"), " "))
			}
			if line == "+OK" || strings.HasPrefix(line, "+OK ") {
				return xchgReply{ok: true}
			}
			if strings.HasPrefix(line, "-ERR") {
				return xchgReply{err: &ReplyError{Protocol: POP3, Text: truncate(line, xchgMaxReplyText), Err: xchgPOP3Code(line)}}
			}
			return xchgReply{err: outOfStep(fmt.Errorf("%w: unexpected POP3 line during authentication", ErrMalformed))}
		default:
			code, text, err := x.readSMTPReply(conn, line)
			if err != nil {
				return xchgReply{err: outOfStep(err)}
			}
			switch {
			case code == 334:
				return x.contReply(strings.TrimPrefix(text[3:], " "))
			case code >= 200 && code < 300:
				return xchgReply{ok: true}
			}
			return xchgReply{err: &ReplyError{Protocol: SMTP, Code: code, Text: truncate(text, xchgMaxReplyText), Err: xchgSMTPCode(code, text)}}
		}
	}
}

// readSMTPReply reads the rest of a (multi-line, "250-...") SMTP reply
// whose first line is first, and returns its code and first line. The
// number of lines is bounded by MaxRounds, their length by MaxLineLength.
func (x *Exchange) readSMTPReply(conn *textproto.Conn, first string) (int, string, error) {
	line := first
	for n := 0; ; n++ {
		if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return 0, "", fmt.Errorf("%w: malformed SMTP reply", ErrMalformed)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return 0, "", fmt.Errorf("%w: malformed SMTP reply code", ErrMalformed)
		}
		if len(line) == 3 || line[3] == ' ' {
			return code, first, nil
		}
		if n >= x.maxRounds() {
			return 0, "", fmt.Errorf("%w: SMTP reply has too many lines", ErrTooLarge)
		}
		if line, err = x.readLine(conn); err != nil {
			return 0, "", err
		}
	}
}

func (x *Exchange) contReply(data string) xchgReply {
	chal, err := xchgDecode(data, true)
	if err != nil {
		return xchgReply{cont: true, err: err}
	}
	return xchgReply{cont: true, chal: chal}
}

// Authenticate runs the client side of one exchange on conn, a
// textproto.Conn over raw: it sends the command (IMAP "tag AUTHENTICATE mech
// [ir]", POP3 and SMTP "AUTH mech [ir]"), answers the server's challenges
// with c, and reads the final reply. The initial response from c.Start goes
// on the command line as base64, or "=" when it is empty, if the protocol
// allows it (IMAP only with SASLIR; POP3 and SMTP when the line fits);
// otherwise it answers the server's first, empty challenge. An empty
// continuation response is sent as an empty line, which every server accepts
// (Dovecot refuses "=").
//
// It returns nil when the server accepted the exchange and c has finished
// its side: for a mutual mechanism, verified the server ([FinishedClient]).
// A success reply before that is an error wrapping ErrServerNotVerified,
// after which the connection must be closed: the peer may be an impostor
// that now holds a proof it can attack offline. If c.Start fails, nothing is
// sent and its error is returned unchanged. If c.Next fails, or a challenge
// is not base64, or there are more than MaxRounds challenges, the client
// cancels with "*", reads the server's reply and returns that error (c's
// unchanged). If the server refuses, the error is a *ReplyError whose Err is
// the matching sentinel, e.g. ErrAuthFailed for rejected credentials. When
// the server accepts, a client that has a Finished() error method must be
// finished: a mutual mechanism's client that has not verified the server
// returns its Finished error (wrapping ErrServerNotVerified) instead of nil.
//
// ctx bounds the exchange as for [Exchange.Serve]. Errors after which the
// connection is out of step wrap [ErrOutOfStep]: a line longer than
// MaxLineLength, an I/O error, ctx done mid-exchange, a reply that breaks
// the framing, a cancel the server did not answer, and a success the client
// could not verify. Close the connection after any of them.
func (x *Exchange) Authenticate(ctx context.Context, conn *textproto.Conn, raw net.Conn, c Client) (err error) {
	if raw == nil {
		return errors.New("sasl: Exchange.Authenticate: no connection to apply ctx to")
	}
	stop := xchgWatch(ctx, raw)
	defer func() { err = stop(err) }()
	return x.authenticate(conn, c)
}

func (x *Exchange) authenticate(conn *textproto.Conn, c Client) error {
	mech, ir, err := c.Start()
	if err != nil {
		return err
	}
	cmd := "AUTH " + mech
	if x.Protocol == IMAP {
		cmd = x.tag() + " AUTHENTICATE " + mech
	}
	pending := ir // the initial response, until it is sent
	if ir != nil {
		arg := xchgEncode(ir)
		if len(ir) == 0 {
			arg = "="
		}
		inline := len(cmd)+1+len(arg)+2 <= xchgMaxSMTPCommand
		switch x.Protocol {
		case IMAP:
			inline = x.SASLIR
		case POP3:
			inline = len(cmd)+1+len(arg)+2 <= xchgMaxPOP3Command
		}
		if inline {
			cmd += " " + arg
			pending = nil
		}
	}
	if err := xchgWriteLine(conn, cmd); err != nil {
		return err
	}
	for round := 0; ; round++ {
		r := x.readReply(conn)
		if !r.cont {
			if r.ok {
				// The server now thinks the session authenticated; if
				// the client does not, the two are out of step.
				return outOfStep(clientFinished(mech, c))
			}
			return r.err
		}
		if r.err != nil {
			return x.cancel(conn, r.err)
		}
		if round >= x.maxRounds() {
			return x.cancel(conn, fmt.Errorf("%w: more than %d challenges", ErrTooLarge, x.maxRounds()))
		}
		var resp []byte
		if pending != nil {
			// RFC 4422, Section 5: an initial response that was not
			// sent with the command answers the first, empty challenge.
			if round != 0 || len(r.chal) != 0 {
				return x.cancel(conn, fmt.Errorf("%w: expected an empty challenge for the initial response", ErrUnexpectedServerChallenge))
			}
			resp, pending = pending, nil
		} else {
			resp, err = c.Next(r.chal)
			if err != nil {
				return x.cancel(conn, err)
			}
		}
		if err := xchgWriteLine(conn, xchgEncode(resp)); err != nil {
			return err
		}
	}
}

// clientFinished holds the mutual-authentication invariant at the seam
// between the framing and the mechanism: a server's success counts only
// once the client has verified the server (SCRAM v=, DIGEST-MD5 rspauth),
// since a fake server that knows no password can still say OK.
func clientFinished(mech string, c Client) error {
	if fc, ok := c.(FinishedClient); ok {
		return fc.Finished()
	}
	if m := lookupMech(mech); m != nil && m.sec.Mutual {
		return fmt.Errorf("%w: the %s client cannot say whether it verified the server", ErrServerNotVerified, m.name)
	}
	return nil
}

// cancel sends "*", reads the server's final reply, and returns cause, out
// of step if no final reply came.
func (x *Exchange) cancel(conn *textproto.Conn, cause error) error {
	if err := xchgWriteLine(conn, "*"); err != nil {
		return outOfStep(cause)
	}
	// The server should answer a cancel with a failure; whatever it
	// says, the exchange failed with cause. Read until a final reply
	// so the connection stays in step.
	for i := 0; i <= x.maxRounds(); i++ {
		r := x.readReply(conn)
		if !r.cont {
			if errors.Is(r.err, ErrOutOfStep) {
				return outOfStep(cause)
			}
			return cause
		}
		if err := xchgWriteLine(conn, "*"); err != nil {
			break
		}
	}
	return outOfStep(cause)
}
