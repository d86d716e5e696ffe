package mailserver

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// maxBadCommands is the number of unknown or malformed commands after
// which a connection is closed, so a peer speaking another protocol (the
// ALPACA cross-protocol attack) cannot go on for long.
const maxBadCommands = 10

// imapCaps returns the IMAP capability list for the session's state
// (RFC 9051, Section 7.2.2). Before TLS and without InsecureAuth it has
// LOGINDISABLED and no AUTH= for mechanisms that need TLS (the ServerSet
// leaves those out); inside TLS it has no STARTTLS.
func (c *conn) imapCaps() string {
	caps := []string{"IMAP4rev1", "LITERAL+", "ID"}
	if !c.authed {
		caps = append(caps, "SASL-IR")
		if !c.isTLS && c.srv.cfg.TLS != nil {
			caps = append(caps, "STARTTLS")
		}
		if !c.isTLS && !c.srv.cfg.InsecureAuth {
			caps = append(caps, "LOGINDISABLED")
		}
		for _, m := range c.set.Mechanisms() {
			caps = append(caps, "AUTH="+m)
		}
	}
	return strings.Join(caps, " ")
}

func (c *conn) serveIMAP() {
	if c.writeLine("* OK [CAPABILITY %s] %s IMAP4rev1 ready", c.imapCaps(), c.srv.hostname()) != nil {
		return
	}
	bad := 0
	for {
		line, err := c.readLine()
		if err != nil {
			if errors.Is(err, sasl.ErrTooLarge) {
				c.writeLine("* BYE Command line too long")
			}
			return
		}
		tag, rest, _ := strings.Cut(line, " ")
		cmd, args, _ := strings.Cut(rest, " ")
		cmd = strings.ToUpper(cmd)
		if !imapValidTag(tag) || cmd == "" {
			bad++
			if c.writeLine("* BAD Invalid tag or command") != nil || bad >= maxBadCommands {
				return
			}
			continue
		}
		if cmd == "UID" {
			sub, more, _ := strings.Cut(args, " ")
			cmd, args = "UID "+strings.ToUpper(sub), more
		}
		switch cmd {
		case "LOGIN", "SELECT", "EXAMINE", "LIST", "LSUB", "STATUS":
			// These read their literals (imapArgs).
		default:
			if imapHasNonSyncLiteral(args) {
				// LITERAL+ data we will not read follows: the next
				// "command" would be the client's data.
				c.writeLine("* BYE Literal not accepted here")
				return
			}
		}
		closeConn, ok := c.imapCommand(tag, cmd, args)
		if closeConn || c.broken {
			return
		}
		if !ok {
			bad++
			if bad >= maxBadCommands {
				c.writeLine("* BYE Too many bad commands")
				return
			}
		}
	}
}

// imapCommand runs one command. It returns whether to close the
// connection and whether the command was valid.
func (c *conn) imapCommand(tag, cmd, args string) (closeConn, ok bool) {
	reply := func(format string, a ...any) (bool, bool) {
		return c.writeLine(tag+" "+format, a...) != nil, true
	}
	badReply := func(text string) (bool, bool) {
		return c.writeLine("%s BAD %s", tag, text) != nil, false
	}
	switch cmd {
	case "CAPABILITY":
		if c.writeLine("* CAPABILITY %s", c.imapCaps()) != nil {
			return true, true
		}
		return reply("OK CAPABILITY completed")
	case "NOOP", "CHECK":
		return reply("OK %s completed", cmd)
	case "LOGOUT":
		c.writeLine("* BYE %s logging out", c.srv.hostname())
		c.writeLine("%s OK LOGOUT completed", tag)
		return true, true
	case "ID":
		if c.writeLine("* ID NIL") != nil {
			return true, true
		}
		return reply("OK ID completed")
	case "STARTTLS":
		if args != "" {
			return badReply("STARTTLS takes no arguments")
		}
		switch err := c.checkStartTLS(); {
		case errors.Is(err, tlsutil.ErrTLSActive):
			return badReply("TLS is already active")
		case errors.Is(err, tlsutil.ErrStartTLSAfterAuth):
			// STARTTLS only in the not-authenticated state (RFC 9051,
			// Section 6.2.1).
			return badReply("STARTTLS is not allowed after authentication")
		case err != nil:
			return badReply("STARTTLS is not available")
		}
		if err := c.startTLS(tag + " OK Begin TLS negotiation now"); err != nil {
			c.log.Info("STARTTLS failed", "err", err)
			return true, true
		}
		return false, true
	case "AUTHENTICATE":
		if c.authed {
			return badReply("Already authenticated")
		}
		x := &sasl.Exchange{Protocol: sasl.IMAP, Tag: tag, MaxLineLength: c.srv.maxLine()}
		return c.runAuth(x, args), true
	case "LOGIN":
		if c.authed {
			return badReply("Already authenticated")
		}
		if !c.isTLS && !c.srv.cfg.InsecureAuth {
			// LOGINDISABLED is advertised; RFC 9051, Section 6.2.3.
			return reply("NO [PRIVACYREQUIRED] LOGIN is disabled without TLS")
		}
		a, err := c.imapArgs(args)
		if err != nil || len(a) != 2 {
			return badReply("LOGIN takes a user name and a password")
		}
		if err := c.passwordLogin(a[0], a[1]); err != nil {
			c.log.Info("LOGIN failed", "err", err)
			x := &sasl.Exchange{Protocol: sasl.IMAP, Tag: tag}
			if c.writeLine("%s", x.Reply(err)) != nil {
				return true, true
			}
			return c.failed(), true
		}
		return reply("OK [CAPABILITY %s] LOGIN completed", c.imapCaps())
	}
	if !c.authed {
		switch cmd {
		case "SELECT", "EXAMINE", "LIST", "LSUB", "STATUS", "CREATE", "DELETE", "RENAME",
			"SUBSCRIBE", "UNSUBSCRIBE", "APPEND", "ENABLE", "NAMESPACE", "CLOSE", "UNSELECT",
			"EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID SEARCH", "UID FETCH",
			"UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE":
			return badReply("Command not valid before authentication")
		}
		return badReply("Unknown command")
	}
	return c.imapAuthenticated(tag, cmd, args)
}

// imapAuthenticated answers the commands of the authenticated and
// selected states for one empty INBOX.
func (c *conn) imapAuthenticated(tag, cmd, args string) (closeConn, ok bool) {
	reply := func(format string, a ...any) (bool, bool) {
		return c.writeLine(tag+" "+format, a...) != nil, true
	}
	untagged := func(lines ...string) bool {
		for _, l := range lines {
			if c.writeLine("%s", l) != nil {
				return false
			}
		}
		return true
	}
	switch cmd {
	case "SELECT", "EXAMINE":
		a, err := c.imapArgs(args)
		if err != nil || len(a) < 1 {
			return reply("BAD %s takes a mailbox name", cmd)
		}
		if !strings.EqualFold(a[0], "INBOX") {
			return reply("NO [NONEXISTENT] No such mailbox")
		}
		if !untagged("* 0 EXISTS", "* 0 RECENT", `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)`,
			"* OK [PERMANENTFLAGS ()] No permanent flags", "* OK [UIDVALIDITY 1] UIDs valid",
			"* OK [UIDNEXT 1] Predicted next UID") {
			return true, true
		}
		mode := "READ-WRITE"
		if cmd == "EXAMINE" {
			mode = "READ-ONLY"
		}
		return reply("OK [%s] %s completed", mode, cmd)
	case "LIST", "LSUB":
		a, err := c.imapArgs(args)
		if err != nil || len(a) != 2 {
			return reply("BAD %s takes a reference and a pattern", cmd)
		}
		switch pattern := a[1]; {
		case pattern == "":
			if !untagged(`* ` + cmd + ` (\Noselect) "/" ""`) {
				return true, true
			}
		case imapMatchesInbox(pattern):
			if !untagged(`* ` + cmd + ` (\HasNoChildren) "/" INBOX`) {
				return true, true
			}
		}
		return reply("OK %s completed", cmd)
	case "STATUS":
		a, err := c.imapArgs(args)
		if err != nil || len(a) != 2 {
			return reply("BAD STATUS takes a mailbox and items")
		}
		if !strings.EqualFold(a[0], "INBOX") {
			return reply("NO [NONEXISTENT] No such mailbox")
		}
		if !untagged("* STATUS INBOX (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY 1 UNSEEN 0)") {
			return true, true
		}
		return reply("OK STATUS completed")
	case "NAMESPACE":
		if !untagged(`* NAMESPACE (("" "/")) NIL NIL`) {
			return true, true
		}
		return reply("OK NAMESPACE completed")
	case "SEARCH", "UID SEARCH":
		if !untagged("* SEARCH") {
			return true, true
		}
		return reply("OK SEARCH completed")
	case "ENABLE", "CLOSE", "UNSELECT", "EXPUNGE", "UID EXPUNGE", "FETCH", "UID FETCH",
		"STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE", "SUBSCRIBE", "UNSUBSCRIBE":
		// The mailbox is empty: there is nothing to fetch, store or copy.
		return reply("OK %s completed", cmd)
	case "CREATE", "DELETE", "RENAME", "APPEND":
		return reply("NO [CANNOT] %s is not supported", cmd)
	}
	return c.writeLine("%s BAD Unknown command", tag) != nil, false
}

// imapMatchesInbox reports whether a LIST pattern matches "INBOX"
// (RFC 9051, Section 6.3.9: "*" and "%" are wildcards). It is the usual
// two-pointer wildcard match, which backtracks only to the last wildcard:
// O(len(pattern) * len("INBOX")) steps. A recursive match that tried every
// split at every wildcard took about a second of CPU per LIST for 63 "*"
// and a letter, which an authenticated client could send in a loop.
func imapMatchesInbox(pattern string) bool {
	const s = "INBOX"
	if len(pattern) > 64 {
		return false // not a pattern a real client sends
	}
	p, i := 0, 0
	star, mark := -1, 0 // last wildcard in pattern, and where it was tried in s
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '*' || pattern[p] == '%'):
			star, mark = p, i
			p++
		case p < len(pattern) && strings.EqualFold(pattern[p:p+1], s[i:i+1]):
			p++
			i++
		case star >= 0:
			// Let the last wildcard take one more byte and retry.
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && (pattern[p] == '*' || pattern[p] == '%') {
		p++
	}
	return p == len(pattern)
}

func imapValidTag(tag string) bool {
	if tag == "" || len(tag) > 64 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		switch c := tag[i]; {
		case c <= ' ', c >= 0x7f, strings.IndexByte(`(){%*"\]+`, c) >= 0:
			return false
		}
	}
	return true
}

// imapHasNonSyncLiteral reports whether the line ends with a LITERAL+
// literal "{n+}", whose data follows without a continuation.
func imapHasNonSyncLiteral(line string) bool {
	_, plus, ok := imapLiteralSize(line)
	return ok && plus
}

// imapLiteralSize parses a literal announcement "{n}" or "{n+}" at the end
// of line.
func imapLiteralSize(line string) (n int, plus, ok bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false, false
	}
	open := strings.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	num := line[open+1 : len(line)-1]
	if num, plus = strings.CutSuffix(num, "+"); num == "" || len(num) > 10 {
		return 0, false, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, false, false
	}
	return n, plus, true
}

// imapArgs splits IMAP command arguments into strings: atoms, quoted
// strings (RFC 9051, Section 4.3) and literals, reading literal data and
// the rest of the command from the connection. A parenthesized list is
// returned as one string with its parentheses. Literals are bounded by
// maxLiteral, arguments by maxArgs.
func (c *conn) imapArgs(s string) ([]string, error) {
	var out []string
	for s != "" {
		if len(out) >= maxArgs {
			return nil, errors.New("too many arguments")
		}
		switch s[0] {
		case ' ':
			s = s[1:]
			continue
		case '"':
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated quoted string")
			}
			out = append(out, b.String())
			s = s[i+1:]
		case '(':
			end := strings.IndexByte(s, ')')
			if end < 0 {
				return nil, errors.New("unterminated list")
			}
			out = append(out, s[:end+1])
			s = s[end+1:]
		case '{':
			n, plus, ok := imapLiteralSize(s)
			if !ok || strings.IndexByte(s, '}') != len(s)-1 {
				return nil, errors.New("bad literal")
			}
			if n > maxLiteral {
				// A LITERAL+ client is sending the data anyway: the
				// connection is out of step.
				c.broken = plus
				return nil, errors.New("literal too large")
			}
			if !plus {
				if err := c.writeLine("+ Ready for literal data"); err != nil {
					c.broken = true
					return nil, err
				}
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.tp.R, buf); err != nil {
				c.broken = true
				return nil, err
			}
			out = append(out, string(buf))
			rest, err := c.readLine()
			if err != nil {
				c.broken = true
				return nil, err
			}
			s = rest
		default:
			end := strings.IndexAny(s, " (")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return nil, fmt.Errorf("bad argument")
			}
			atom := s[:end]
			if strings.EqualFold(atom, "NIL") {
				atom = ""
			}
			out = append(out, atom)
			s = s[end:]
		}
	}
	return out, nil
}
