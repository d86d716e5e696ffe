package sasl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds on what a server can make the client read. textproto.Reader.ReadLine
// has no limit, so every read in the client goes through cliReadLine.
const (
	// cliMaxLineLength bounds one response line, CRLF included. RFC 2683,
	// Section 3.2.1.5 asks IMAP peers to accept 8 KiB lines; SMTP replies
	// (RFC 5321, Section 4.5.3.1.5) and POP3 responses (RFC 2449, Section 4)
	// are limited to 512 octets, so 8 KiB leaves room for long capability
	// lists (EAST test X_1) while a hostile server cannot exhaust memory.
	cliMaxLineLength = 8192
	// cliMaxResponseLines bounds the lines of one multi-line reply (SMTP
	// EHLO, POP3 CAPA) and the untagged IMAP responses skipped while waiting
	// for a tagged one, so a server cannot keep the client reading forever
	// on one command.
	cliMaxResponseLines = 1000
	// cliMaxLiteralSkip bounds the total octets of IMAP literals skipped
	// inside untagged responses the client does not want (RFC 9051, Section
	// 4.3); they are discarded, never buffered. CVE-2025-43857 (ruby
	// net-imap) allocated a server-chosen literal size.
	cliMaxLiteralSkip = 1 << 20
	// cliMaxLiteralDigits bounds the digits of a literal length, so parsing
	// it cannot overflow.
	cliMaxLiteralDigits = 10
)

// cliReadLine reads one line of at most cliMaxLineLength octets and returns
// it without its line ending (CRLF, or a bare LF as textproto accepts).
func cliReadLine(r *bufio.Reader) (string, error) {
	return ReadLine(r, cliMaxLineLength)
}

// ---- IMAP (RFC 9051, Section 7; RFC 3501, Section 7) ----

// cliIMAPResp is the first line of one IMAP server response, parsed only as
// far as the client needs.
type cliIMAPResp struct {
	tag  string   // "*" untagged, "+" continuation request, else a tag
	kind string   // upper case: OK NO BAD BYE PREAUTH CAPABILITY, or the data name (EXISTS, FETCH, LIST)
	code string   // response code name in upper case (ALERT, CAPABILITY, REFERRAL), if any
	args []string // CAPABILITY data, or the arguments of a CAPABILITY response code
}

// status reports whether the response is a status response (RFC 9051,
// Section 7.1), whose text cannot carry literals.
func (r *cliIMAPResp) status() bool {
	switch r.kind {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return true
	}
	return false
}

// cliValidIMAPTag reports whether tag is a valid IMAP tag: 1*<any
// ASTRING-CHAR except "+"> (RFC 9051, Section 9).
func cliValidIMAPTag(tag string) bool {
	if tag == "" || len(tag) > cliMaxLineLength/2 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c <= 0x20 || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '{', '%', '*', '"', '\\', '+':
			return false
		}
	}
	return true
}

// cliParseIMAPResponse parses the first line of an IMAP response.
func cliParseIMAPResponse(line string) (cliIMAPResp, error) {
	var r cliIMAPResp
	tag, rest, _ := strings.Cut(line, " ")
	switch {
	case tag == "+":
		r.tag = "+"
		return r, nil
	case tag == "*":
		r.tag = "*"
	case cliValidIMAPTag(tag):
		r.tag = tag
	default:
		return r, fmt.Errorf("%w: IMAP response without a valid tag", ErrMalformed)
	}
	word, rest, _ := strings.Cut(rest, " ")
	if word == "" {
		return r, fmt.Errorf("%w: empty IMAP response", ErrMalformed)
	}
	if r.tag == "*" && cliIsDigits(word) {
		// message-data: "* 54321 EXISTS", "* 1 FETCH (...)".
		word, _, _ = strings.Cut(rest, " ")
		if word == "" {
			return r, fmt.Errorf("%w: IMAP message data without a name", ErrMalformed)
		}
	}
	r.kind = strings.ToUpper(word)
	if r.tag != "*" && r.kind != "OK" && r.kind != "NO" && r.kind != "BAD" {
		return r, fmt.Errorf("%w: tagged IMAP response is not OK, NO or BAD", ErrMalformed)
	}
	switch {
	case r.kind == "CAPABILITY" && r.tag == "*":
		r.args = strings.Fields(rest)
	case r.status() && strings.HasPrefix(rest, "["):
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return r, fmt.Errorf("%w: IMAP response code without ']'", ErrMalformed)
		}
		name, args, _ := strings.Cut(rest[1:end], " ")
		if name == "" {
			return r, fmt.Errorf("%w: empty IMAP response code", ErrMalformed)
		}
		r.code = strings.ToUpper(name)
		if r.code == "CAPABILITY" {
			r.args = strings.Fields(args)
		}
	}
	return r, nil
}

// cliIsDigits reports whether s is a non-empty run of ASCII digits.
func cliIsDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cliIMAPLiteral returns the length of the literal announced at the end of
// line ("{n}", "{n+}", or "~{n}"), or -1 when there is none.
func cliIMAPLiteral(line string) (int64, error) {
	if !strings.HasSuffix(line, "}") {
		return -1, nil
	}
	open := strings.LastIndexByte(line, '{')
	if open < 0 {
		return -1, nil
	}
	digits := strings.TrimSuffix(line[open+1:len(line)-1], "+")
	if !cliIsDigits(digits) {
		return -1, nil
	}
	if len(digits) > cliMaxLiteralDigits {
		return 0, fmt.Errorf("%w: IMAP literal length too long", ErrTooLarge)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: IMAP literal length", ErrMalformed)
	}
	return n, nil
}

// cliReadIMAPResponse reads one whole IMAP response and parses its first
// line. Literals inside untagged data are skipped, never kept; the text after
// them is read and dropped. *skipped counts octets of literals skipped so far
// in this exchange and is checked against cliMaxLiteralSkip.
func cliReadIMAPResponse(r *bufio.Reader, skipped *int64) (cliIMAPResp, error) {
	line, err := cliReadLine(r)
	if err != nil {
		return cliIMAPResp{}, err
	}
	resp, err := cliParseIMAPResponse(line)
	if err != nil {
		return resp, err
	}
	if resp.tag != "*" || resp.status() {
		return resp, nil // no literals in status responses or continuation requests
	}
	for i := 0; ; i++ {
		n, err := cliIMAPLiteral(line)
		if err != nil {
			return resp, err
		}
		if n < 0 {
			return resp, nil
		}
		if i >= cliMaxResponseLines || n > cliMaxLiteralSkip-*skipped {
			return resp, fmt.Errorf("%w: IMAP literals exceed %d octets", ErrTooLarge, cliMaxLiteralSkip)
		}
		*skipped += n
		if _, err := io.CopyN(io.Discard, r, n); err != nil {
			return resp, cliEOF(err)
		}
		if line, err = cliReadLine(r); err != nil {
			return resp, err
		}
	}
}

// cliEOF turns a clean EOF in the middle of a response into
// io.ErrUnexpectedEOF.
func cliEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ---- SMTP (RFC 5321, Section 4.2) ----

// cliParseSMTPLine parses one reply line "ddd-text", "ddd text" or "ddd".
// more is true on every line but the last of a multi-line reply.
func cliParseSMTPLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
		line[2] < '0' || line[2] > '9' {
		return 0, false, "", fmt.Errorf("%w: SMTP reply without a valid code", ErrMalformed)
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", fmt.Errorf("%w: SMTP reply code not followed by space or '-'", ErrMalformed)
	}
	return code, more, line[4:], nil
}

// cliReadSMTPReply reads one whole reply, possibly multi-line, and returns
// its code and the text of each line.
func cliReadSMTPReply(r *bufio.Reader) (int, []string, error) {
	var lines []string
	first := 0
	for {
		line, err := cliReadLine(r)
		if err != nil {
			if len(lines) > 0 {
				err = cliEOF(err)
			}
			return 0, nil, err
		}
		code, more, text, err := cliParseSMTPLine(line)
		if err != nil {
			return 0, nil, err
		}
		if first == 0 {
			first = code
		} else if code != first {
			return 0, nil, fmt.Errorf("%w: SMTP reply lines with different codes", ErrMalformed)
		}
		lines = append(lines, text)
		if !more {
			return code, lines, nil
		}
		if len(lines) >= cliMaxResponseLines {
			return 0, nil, fmt.Errorf("%w: SMTP reply longer than %d lines", ErrTooLarge, cliMaxResponseLines)
		}
	}
}

// ---- POP3 (RFC 1939, Section 3; RFC 2449) ----

// cliParsePOP3Status parses a status line: "+OK", "+OK text", "-ERR" or
// "-ERR text". Status indicators are upper case (RFC 1939, Section 3).
func cliParsePOP3Status(line string) (ok bool, err error) {
	switch {
	case line == "+OK" || strings.HasPrefix(line, "+OK "):
		return true, nil
	case line == "-ERR" || strings.HasPrefix(line, "-ERR "):
		return false, nil
	}
	return false, fmt.Errorf("%w: POP3 response is neither +OK nor -ERR", ErrMalformed)
}

// cliReadPOP3Multi reads the body of a multi-line response (RFC 1939,
// Section 3) after its status line, undoing dot-stuffing.
func cliReadPOP3Multi(r *bufio.Reader) ([]string, error) {
	var lines []string
	for {
		line, err := cliReadLine(r)
		if err != nil {
			return nil, cliEOF(err)
		}
		if line == "." {
			return lines, nil
		}
		if len(lines) >= cliMaxResponseLines {
			return nil, fmt.Errorf("%w: POP3 response longer than %d lines", ErrTooLarge, cliMaxResponseLines)
		}
		lines = append(lines, strings.TrimPrefix(line, "."))
	}
}
