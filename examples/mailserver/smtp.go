package mailserver

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// smtpSession is the SMTP state that STARTTLS and RSET reset.
type smtpSession struct {
	helo  string // EHLO/HELO argument; "" before
	from  bool   // MAIL FROM accepted
	rcpts int    // RCPT TO accepted
}

func (c *conn) serveSMTP() {
	if c.writeLine("220 %s ESMTP ready", c.srv.hostname()) != nil {
		return
	}
	var st smtpSession
	bad := 0
	for {
		line, err := c.readLine()
		if err != nil {
			if errors.Is(err, sasl.ErrTooLarge) {
				c.writeLine("500 5.5.6 Line too long")
			}
			return
		}
		verb, args, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		reply := func(format string, a ...any) bool { return c.writeLine(format, a...) == nil }
		alive := true
		switch verb {
		case "EHLO", "HELO":
			if args == "" {
				alive = reply("501 5.5.4 %s needs a domain", verb)
				break
			}
			st = smtpSession{helo: args}
			if verb == "HELO" {
				alive = reply("250 %s", c.srv.hostname())
			} else {
				alive = c.smtpEHLO()
			}
		case "STARTTLS":
			switch err := c.checkStartTLS(); {
			case args != "":
				alive = reply("501 5.5.4 STARTTLS takes no parameters")
			case errors.Is(err, tlsutil.ErrTLSActive):
				alive = reply("503 5.5.1 TLS is already active")
			case errors.Is(err, tlsutil.ErrStartTLSAfterAuth):
				alive = reply("503 5.5.1 STARTTLS is not allowed after authentication")
			case err != nil:
				alive = reply("502 5.5.1 STARTTLS is not available")
			default:
				if err := c.startTLS("220 2.0.0 Ready to start TLS"); err != nil {
					c.log.Info("STARTTLS failed", "err", err)
					return
				}
				// RFC 3207, Section 4.2: forget the EHLO argument and
				// any transaction; the client must EHLO again.
				st = smtpSession{}
			}
		case "AUTH":
			switch {
			case st.helo == "":
				alive = reply("503 5.5.1 EHLO first")
			case c.authed:
				alive = reply("503 5.5.1 Already authenticated")
			case st.from:
				alive = reply("503 5.5.1 AUTH is not allowed during a mail transaction")
			case len(c.set.Mechanisms()) == 0 && !c.isTLS:
				// Checklist S7: nothing is offered before TLS.
				alive = reply("530 5.7.0 Must issue a STARTTLS command first")
			default:
				if c.runAuth(&sasl.Exchange{Protocol: sasl.SMTP, MaxLineLength: c.srv.maxLine()}, args) {
					return
				}
			}
		case "MAIL":
			switch {
			case st.helo == "":
				alive = reply("503 5.5.1 EHLO first")
			case !c.authed:
				// Submission requires authentication (RFC 6409, Section 4.3).
				alive = reply("530 5.7.0 Authentication required")
			case st.from:
				alive = reply("503 5.5.1 Nested MAIL command")
			case !strings.HasPrefix(strings.ToUpper(args), "FROM:"):
				alive = reply("501 5.5.4 Syntax: MAIL FROM:<address>")
			default:
				st.from = true
				alive = reply("250 2.1.0 Ok")
			}
		case "RCPT":
			switch {
			case !st.from:
				alive = reply("503 5.5.1 MAIL first")
			case !strings.HasPrefix(strings.ToUpper(args), "TO:"):
				alive = reply("501 5.5.4 Syntax: RCPT TO:<address>")
			case st.rcpts >= maxRecipients:
				alive = reply("452 4.5.3 Too many recipients")
			default:
				st.rcpts++
				alive = reply("250 2.1.5 Ok")
			}
		case "DATA":
			if st.rcpts == 0 {
				alive = reply("503 5.5.1 RCPT first")
				break
			}
			if !reply("354 End data with <CR><LF>.<CR><LF>") {
				return
			}
			n, err := c.discardData()
			if err != nil {
				return
			}
			st.from, st.rcpts = false, 0
			if n > c.srv.maxMessage() {
				alive = reply("552 5.3.4 Message too big")
			} else {
				alive = reply("250 2.0.0 Ok: discarded")
			}
		case "RSET":
			st.from, st.rcpts = false, 0
			alive = reply("250 2.0.0 Ok")
		case "NOOP":
			alive = reply("250 2.0.0 Ok")
		case "VRFY":
			alive = reply("252 2.5.2 Cannot VRFY user")
		case "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			bad++
			alive = reply("500 5.5.2 Command not recognized") && bad < maxBadCommands
		}
		if !alive {
			return
		}
	}
}

// smtpEHLO writes the EHLO reply: STARTTLS only before TLS (RFC 3207,
// Section 4.2), AUTH only with mechanisms to offer (RFC 4954).
func (c *conn) smtpEHLO() bool {
	lines := []string{c.srv.hostname(), "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE " + strconv.Itoa(c.srv.maxMessage())}
	if !c.isTLS && c.srv.cfg.TLS != nil {
		lines = append(lines, "STARTTLS")
	}
	if mechs := c.set.Mechanisms(); len(mechs) > 0 && !c.authed {
		lines = append(lines, "AUTH "+strings.Join(mechs, " "))
	}
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		if c.writeLine("250%s%s", sep, l) != nil {
			return false
		}
	}
	return true
}

// discardData reads a DATA message up to the terminating <CRLF>.<CRLF>
// (RFC 5321, Section 4.1.1.4) and discards it, returning its size. Only
// CRLF "." CRLF ends it: a bare LF "." LF does not, so a message cannot be
// ended early by the SMTP smuggling trick (CVE-2023-51764 and kin). Memory
// is bounded by the reader's buffer whatever the message size; the time
// is bounded by the idle timeout per read.
func (c *conn) discardData() (int, error) {
	return discardData(c.tp.R, func() { c.touch() })
}

// touch extends the read deadline while a message streams in.
func (c *conn) touch() { c.net.SetReadDeadline(time.Now().Add(c.idle())) }

func discardData(r *bufio.Reader, progress func()) (int, error) {
	n := 0
	// atLineStart: the previous chunk ended with CRLF (the "354" reply
	// counts as one), so a ".\r\n" chunk now is the terminator.
	atLineStart := true
	for {
		progress()
		chunk, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return n, err
		}
		complete := err == nil
		if complete && atLineStart && bytes.Equal(chunk, []byte(".\r\n")) {
			return n, nil
		}
		n += len(chunk)
		atLineStart = complete && bytes.HasSuffix(chunk, []byte("\r\n"))
	}
}
