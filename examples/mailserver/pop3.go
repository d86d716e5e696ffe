package mailserver

import (
	"context"
	"errors"
	"strings"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// maxPOP3User bounds the USER argument kept between USER and PASS.
const maxPOP3User = 255

// pop3CanPassword reports whether USER/PASS and APOP may be used now:
// inside TLS, or with InsecureAuth (RFC 2595, Section 2.3; checklist S7).
func (c *conn) pop3CanPassword() bool { return c.isTLS || c.srv.cfg.InsecureAuth }

func (c *conn) servePOP3() {
	var ap APOPServer
	greeting := "+OK " + c.srv.hostname() + " POP3 ready"
	// The APOP timestamp goes only into a greeting sent where APOP may be
	// used: inside TLS (port 995) or with InsecureAuth. On a plaintext
	// port a stamp would invite clients to send the digest before STLS,
	// where it crosses the network in clear even though the server then
	// refuses it; and POP3 sends no new greeting after STLS, so APOP is
	// not available on such a connection at all (issue 8, defect 9).
	if c.srv.cfg.APOP != nil && c.pop3CanPassword() {
		var err error
		if ap, err = c.srv.cfg.APOP(); err != nil {
			c.log.Error("APOP setup failed", "err", err)
			return
		}
		// RFC 1939, Section 7: the timestamp ends the greeting.
		greeting += " " + ap.Timestamp()
	}
	if c.writeLine("%s", greeting) != nil {
		return
	}
	user := "" // from USER, for PASS
	bad := 0
	for {
		line, err := c.readLine()
		if err != nil {
			if errors.Is(err, sasl.ErrTooLarge) {
				c.writeLine("-ERR Line too long")
			}
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		ok := func(format string, a ...any) bool { return c.writeLine("+OK "+format, a...) == nil }
		fail := func(format string, a ...any) bool { return c.writeLine("-ERR "+format, a...) == nil }
		alive := true
		if cmd != "PASS" {
			user = ""
		}
		switch {
		case cmd == "QUIT":
			ok("%s signing off", c.srv.hostname())
			return
		case cmd == "CAPA":
			alive = c.pop3Capa()
		case cmd == "NOOP" && c.authed:
			alive = ok("")
		case cmd == "STLS":
			switch err := c.checkStartTLS(); {
			case errors.Is(err, tlsutil.ErrTLSActive):
				alive = fail("TLS is already active")
			case errors.Is(err, tlsutil.ErrStartTLSAfterAuth):
				alive = fail("STLS is not allowed after authentication")
			case err != nil:
				alive = fail("STLS is not available")
			default:
				if err := c.startTLS("+OK Begin TLS negotiation"); err != nil {
					c.log.Info("STLS failed", "err", err)
					return
				}
				user = ""
			}
		case c.authed:
			alive = c.pop3Transaction(cmd, args)
		case cmd == "AUTH" && args == "":
			// The pre-RFC 5034 listing some clients still send.
			alive = ok("Methods follow")
			for _, m := range c.set.Mechanisms() {
				alive = alive && c.writeLine("%s", m) == nil
			}
			alive = alive && c.writeLine(".") == nil
		case cmd == "AUTH":
			if c.runAuth(&sasl.Exchange{Protocol: sasl.POP3, MaxLineLength: c.srv.maxLine()}, args) {
				return
			}
		case cmd == "USER":
			switch {
			case !c.pop3CanPassword():
				alive = fail("[AUTH] USER/PASS needs TLS")
			case args == "" || len(args) > maxPOP3User:
				alive = fail("USER takes a name")
			default:
				user = args
				alive = ok("Send PASS")
			}
		case cmd == "PASS":
			name := user
			user = ""
			switch {
			case !c.pop3CanPassword():
				alive = fail("[AUTH] USER/PASS needs TLS")
			case name == "":
				alive = fail("USER first")
			default:
				if err := c.passwordLogin(name, args); err != nil {
					c.log.Info("PASS failed", "err", err)
					x := &sasl.Exchange{Protocol: sasl.POP3}
					alive = c.writeLine("%s", x.Reply(err)) == nil && !c.failed()
				} else {
					alive = ok("Logged in")
				}
			}
		case cmd == "APOP" && ap == nil && c.srv.cfg.APOP != nil:
			// No timestamp was offered on this connection (see the
			// greeting): APOP needs TLS from the start (checklist S7).
			// Not counted as a failure: no credential was checked.
			alive = fail("[AUTH] APOP needs TLS")
		case cmd == "APOP" && ap != nil:
			id, err := ap.Verify(context.Background(), c.state, args)
			if err != nil {
				c.log.Info("APOP failed", "err", err)
				x := &sasl.Exchange{Protocol: sasl.POP3}
				alive = c.writeLine("%s", x.Reply(err)) == nil && !c.failed()
			} else {
				c.loggedIn(id)
				alive = ok("Logged in")
			}
		default:
			bad++
			alive = fail("Unknown command or not valid now") && bad < maxBadCommands
		}
		if !alive {
			return
		}
	}
}

// pop3Capa answers CAPA (RFC 2449) for the session's state.
func (c *conn) pop3Capa() bool {
	lines := []string{"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if !c.authed {
		if c.pop3CanPassword() {
			lines = append(lines, "USER")
		}
		if mechs := c.set.Mechanisms(); len(mechs) > 0 {
			lines = append(lines, "SASL "+strings.Join(mechs, " "))
		}
		if !c.isTLS && c.srv.cfg.TLS != nil {
			lines = append(lines, "STLS")
		}
	}
	lines = append(lines, "IMPLEMENTATION mailauth-example", ".")
	for _, l := range lines {
		if c.writeLine("%s", l) != nil {
			return false
		}
	}
	return true
}

// pop3Transaction answers the TRANSACTION state for an empty maildrop.
func (c *conn) pop3Transaction(cmd, args string) bool {
	switch cmd {
	case "STAT":
		return c.writeLine("+OK 0 0") == nil
	case "LIST", "UIDL":
		if args != "" {
			return c.writeLine("-ERR No such message") == nil
		}
		return c.writeLine("+OK 0 messages") == nil && c.writeLine(".") == nil
	case "RETR", "DELE", "TOP":
		return c.writeLine("-ERR No such message") == nil
	case "RSET", "NOOP":
		return c.writeLine("+OK") == nil
	case "AUTH", "USER", "PASS", "APOP":
		return c.writeLine("-ERR Already authenticated") == nil
	}
	return c.writeLine("-ERR Unknown command") == nil
}
