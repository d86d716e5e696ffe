package sasl

import (
	"fmt"
	"net/textproto"
	"strings"
)

// Capabilities is what a server announced it supports: the IMAP CAPABILITY
// list (RFC 9051, Section 7.2.2), the SMTP EHLO extensions (RFC 5321,
// Section 4.1.1.1) or the POP3 CAPA list (RFC 2449, Section 5).
//
// A Capabilities value read before TLS is whatever an active attacker chose
// to send (RFC 2595, Section 3.1; RFC 3207, Section 4.2). NegotiateClient
// never returns such a list unless the caller asked for InsecurePlaintext.
// The zero value has no capabilities. A Capabilities is immutable and safe
// for concurrent use.
type Capabilities struct {
	proto   Protocol
	entries []cliCapEntry
}

// cliCapEntry is one capability: an IMAP token (name only, "AUTH=PLAIN"), or
// an SMTP/POP3 line split into keyword and parameters ("AUTH PLAIN LOGIN").
type cliCapEntry struct {
	name   string
	params []string
}

// cliNewCapabilities builds Capabilities from IMAP tokens or SMTP/POP3
// capability lines.
func cliNewCapabilities(proto Protocol, items []string) Capabilities {
	c := Capabilities{proto: proto, entries: make([]cliCapEntry, 0, len(items))}
	for _, it := range items {
		if proto == IMAP {
			if !strings.ContainsAny(it, " \t") {
				if it != "" {
					c.entries = append(c.entries, cliCapEntry{name: it}) // one token, the usual case
				}
				continue
			}
			for _, tok := range strings.Fields(it) {
				c.entries = append(c.entries, cliCapEntry{name: tok})
			}
			continue
		}
		f := strings.Fields(it)
		if len(f) == 0 {
			continue
		}
		c.entries = append(c.entries, cliCapEntry{name: f[0], params: f[1:]})
	}
	return c
}

// Protocol returns the protocol whose syntax the list was read in, or 0 for
// the zero value.
func (c Capabilities) Protocol() Protocol { return c.proto }

// Has reports whether the server announced the capability name, compared
// without regard to case. For IMAP, name is a whole token ("STARTTLS",
// "AUTH=PLAIN", "LOGINDISABLED"); for SMTP and POP3 it is the keyword of a
// line ("STARTTLS", "AUTH", "STLS", "SASL").
func (c Capabilities) Has(name string) bool {
	for _, e := range c.entries {
		if strings.EqualFold(e.name, name) {
			return true
		}
	}
	return false
}

// Params returns the parameters of the SMTP or POP3 capability keyword name
// ("SIZE 35882577" gives ["35882577"]), or nil. IMAP capabilities have no
// parameters.
func (c Capabilities) Params(name string) []string {
	for _, e := range c.entries {
		if strings.EqualFold(e.name, name) && len(e.params) > 0 {
			return append([]string(nil), e.params...)
		}
	}
	return nil
}

// AuthMechanisms returns the SASL mechanisms announced, in upper case (RFC
// 4422, Section 3.1 names are upper case), without duplicates, in the
// server's order: IMAP "AUTH=" tokens, the SMTP "AUTH" line (and the
// obsolete "AUTH=" form some servers still send), or the POP3 "SASL" line.
func (c Capabilities) AuthMechanisms() []string {
	var mechs []string
	add := func(m string) {
		m = strings.ToUpper(m)
		if m == "" {
			return
		}
		for _, have := range mechs {
			if have == m {
				return
			}
		}
		mechs = append(mechs, m)
	}
	for _, e := range c.entries {
		name := strings.ToUpper(e.name)
		switch {
		case c.proto == IMAP:
			if after, ok := strings.CutPrefix(name, "AUTH="); ok {
				add(after)
			}
		case c.proto == SMTP && name == "AUTH", c.proto == POP3 && name == "SASL":
			for _, p := range e.params {
				add(p)
			}
		case c.proto == SMTP && strings.HasPrefix(name, "AUTH="):
			add(name[len("AUTH="):])
			for _, p := range e.params {
				add(p)
			}
		}
	}
	return mechs
}

// List returns the capabilities as the server sent them: one IMAP token, or
// one SMTP/POP3 line, per element.
func (c Capabilities) List() []string {
	out := make([]string, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, strings.Join(append([]string{e.name}, e.params...), " "))
	}
	return out
}

// IMAPCapabilities sends "tag CAPABILITY" on tp and reads the reply (RFC
// 9051, Section 6.1.1). Untagged responses other than CAPABILITY are read
// and dropped; an untagged BYE, a NO or BAD, or a tagged OK without
// capability data gives an error wrapping ErrCommandFailed or
// ErrMalformed. tag must be a valid IMAP tag not in use.
//
// Call it only on a connection whose security is settled: inside TLS, or in
// plaintext where nothing depends on the answer. It uses no deadline of its
// own; set one on the connection. Not safe for concurrent use with other
// reads or writes on tp.
func IMAPCapabilities(tp *textproto.Conn, tag string) (Capabilities, error) {
	if !cliValidIMAPTag(tag) {
		return Capabilities{}, fmt.Errorf("%w: invalid IMAP tag", ErrInvalidClientOption)
	}
	if err := tp.PrintfLine("%s CAPABILITY", tag); err != nil {
		return Capabilities{}, err
	}
	return cliReadIMAPCapabilities(tp, tag)
}

// cliReadIMAPCapabilities reads the responses to "tag CAPABILITY".
func cliReadIMAPCapabilities(tp *textproto.Conn, tag string) (Capabilities, error) {
	var (
		data    []string
		seen    bool
		skipped int64
	)
	for range cliMaxResponseLines {
		resp, err := cliReadIMAPResponse(tp.R, &skipped)
		if err != nil {
			return Capabilities{}, err
		}
		switch {
		case resp.tag == "*" && resp.kind == "CAPABILITY":
			data = append(data, resp.args...)
			seen = true
		case resp.tag == "*" && resp.kind == "BYE":
			return Capabilities{}, fmt.Errorf("%w: IMAP CAPABILITY: server said BYE", ErrCommandFailed)
		case resp.tag == "*":
			// Unsolicited data (EXISTS, [ALERT], ...) is not ours to keep.
		case resp.tag == "+":
			return Capabilities{}, fmt.Errorf("%w: IMAP CAPABILITY: unexpected continuation request", ErrMalformed)
		case resp.tag != tag:
			return Capabilities{}, fmt.Errorf("%w: IMAP CAPABILITY: reply with a foreign tag", ErrMalformed)
		case resp.kind != "OK":
			return Capabilities{}, fmt.Errorf("%w: IMAP CAPABILITY: %s", ErrCommandFailed, resp.kind)
		default:
			if !seen && resp.code == "CAPABILITY" {
				data, seen = resp.args, true
			}
			if !seen {
				return Capabilities{}, fmt.Errorf("%w: IMAP CAPABILITY: no capability data", ErrMalformed)
			}
			return cliNewCapabilities(IMAP, data), nil
		}
	}
	return Capabilities{}, fmt.Errorf("%w: IMAP CAPABILITY: more than %d responses", ErrTooLarge, cliMaxResponseLines)
}

// POP3Capabilities sends CAPA on tp and reads the list (RFC 2449, Section
// 5). A "-ERR" reply gives an error wrapping ErrCommandFailed.
//
// Call it only on a connection whose security is settled; see
// IMAPCapabilities.
func POP3Capabilities(tp *textproto.Conn) (Capabilities, error) {
	if err := tp.PrintfLine("CAPA"); err != nil {
		return Capabilities{}, err
	}
	line, err := cliReadLine(tp.R)
	if err != nil {
		return Capabilities{}, err
	}
	ok, err := cliParsePOP3Status(line)
	if err != nil {
		return Capabilities{}, err
	}
	if !ok {
		return Capabilities{}, fmt.Errorf("%w: POP3 CAPA: -ERR", ErrCommandFailed)
	}
	lines, err := cliReadPOP3Multi(tp.R)
	if err != nil {
		return Capabilities{}, err
	}
	return cliNewCapabilities(POP3, lines), nil
}

// SMTPEhlo sends "EHLO hostname" on tp and reads the extensions from the 250
// reply (RFC 5321, Section 4.1.1.1). Any other reply gives an error wrapping
// ErrCommandFailed. hostname is the client's domain or address literal; it
// must be non-empty printable ASCII without spaces.
//
// Call it only on a connection whose security is settled; see
// IMAPCapabilities.
func SMTPEhlo(tp *textproto.Conn, hostname string) (Capabilities, error) {
	if !cliValidHostname(hostname) {
		return Capabilities{}, fmt.Errorf("%w: invalid EHLO hostname", ErrInvalidClientOption)
	}
	if err := tp.PrintfLine("EHLO %s", hostname); err != nil {
		return Capabilities{}, err
	}
	code, lines, err := cliReadSMTPReply(tp.R)
	if err != nil {
		return Capabilities{}, err
	}
	if code != 250 {
		return Capabilities{}, fmt.Errorf("%w: SMTP EHLO: %d", ErrCommandFailed, code)
	}
	// The first line is the server's domain and greeting, not an extension.
	return cliNewCapabilities(SMTP, lines[1:]), nil
}

// cliValidHostname reports whether h can go on an EHLO line: 1 to 255
// printable ASCII characters, no space (an attacker-chosen CRLF here would
// be command injection by the caller's own configuration).
func cliValidHostname(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if h[i] <= 0x20 || h[i] >= 0x7f {
			return false
		}
	}
	return true
}
