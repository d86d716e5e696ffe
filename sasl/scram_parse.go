package sasl

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Parsers for the four SCRAM messages (RFC 5802, Section 7). They walk the
// message once, attribute by attribute, without splitting it into strings:
// the results point into the message, and the callers copy what they keep.
// Every message has already been checked against scramMaxMessage.

// scramClientFirst is a parsed client-first-message.
type scramClientFirst struct {
	cbFlag  byte   // 'n', 'y' or 'p'
	cbName  []byte // the cb-name after "p=", for cbFlag 'p'
	authzid []byte // the a= saslname, still encoded; nil if absent
	gs2     []byte // the gs2-header, through its second comma
	bare    []byte // client-first-message-bare
	user    []byte // the n= saslname, still encoded
	nonce   []byte // c-nonce
	mext    bool   // the reserved m= attribute was present
}

// scramParseClientFirst parses
//
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func scramParseClientFirst(msg []byte) (m scramClientFirst, err error) {
	rest := msg
	switch {
	case len(rest) >= 2 && (rest[0] == 'n' || rest[0] == 'y') && rest[1] == ',':
		m.cbFlag = rest[0]
		rest = rest[2:]
	case bytes.HasPrefix(rest, []byte("p=")):
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			return m, scramMalformed("client-first-message has no gs2 header")
		}
		m.cbFlag, m.cbName = 'p', rest[2:i]
		if !scramValidCBName(m.cbName) {
			return m, scramMalformed("bad channel-binding type name")
		}
		rest = rest[i+1:]
	default:
		return m, scramMalformed("client-first-message has no gs2-cbind-flag")
	}
	i := bytes.IndexByte(rest, ',')
	if i < 0 {
		return m, scramMalformed("client-first-message has no gs2 header")
	}
	if i > 0 {
		if !bytes.HasPrefix(rest, []byte("a=")) || i == 2 {
			return m, scramMalformed("bad authzid in gs2 header")
		}
		m.authzid = rest[2:i]
	}
	rest = rest[i+1:]
	m.gs2 = msg[:len(msg)-len(rest)]
	m.bare = rest

	attr, rest, _ := scramNextAttr(rest)
	if bytes.HasPrefix(attr, []byte("m=")) {
		m.mext = true
		return m, nil // the caller answers e=extensions-not-supported
	}
	if len(attr) < 3 || attr[0] != 'n' || attr[1] != '=' {
		return m, scramMalformed("client-first-message-bare does not start with n=")
	}
	m.user = attr[2:]
	attr, rest, _ = scramNextAttr(rest)
	if len(attr) < 3 || attr[0] != 'r' || attr[1] != '=' || !scramPrintable(attr[2:]) {
		return m, scramMalformed("missing or bad client nonce")
	}
	m.nonce = attr[2:]
	if err := scramCheckExtensions(rest); err != nil {
		return m, err
	}
	return m, nil
}

// scramClientFinal is a parsed client-final-message.
type scramClientFinal struct {
	cbind        []byte // the c= value, still base64
	nonce        []byte
	withoutProof []byte // client-final-message-without-proof
	proof        []byte // the p= value, still base64
}

// scramParseClientFinal parses
//
//	client-final-message = channel-binding "," nonce ["," extensions] "," proof
func scramParseClientFinal(msg []byte) (m scramClientFinal, err error) {
	attr, rest, _ := scramNextAttr(msg)
	if len(attr) < 2 || attr[0] != 'c' || attr[1] != '=' {
		return m, scramMalformed("client-final-message does not start with c=")
	}
	m.cbind = attr[2:]
	attr, rest, more := scramNextAttr(rest)
	if len(attr) < 3 || attr[0] != 'r' || attr[1] != '=' {
		return m, scramMalformed("client-final-message has no nonce")
	}
	m.nonce = attr[2:]
	if !more {
		return m, scramMalformed("client-final-message has no proof")
	}
	// The proof is the last attribute; extensions may sit before it.
	last, exts := rest, []byte(nil)
	if j := bytes.LastIndexByte(rest, ','); j >= 0 {
		last, exts = rest[j+1:], rest[:j]
	}
	if len(last) < 3 || last[0] != 'p' || last[1] != '=' {
		return m, scramMalformed("client-final-message does not end with a proof")
	}
	m.withoutProof = msg[:len(msg)-len(last)-1]
	m.proof = last[2:]
	if err := scramCheckExtensions(exts); err != nil {
		return m, err
	}
	return m, nil
}

// scramServerFirst is a parsed server-first-message.
type scramServerFirst struct {
	nonce []byte
	salt  []byte // still base64
	iter  []byte // still decimal
	mext  bool
}

// scramParseServerFirst parses
//
//	server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
func scramParseServerFirst(msg []byte) (m scramServerFirst, err error) {
	attr, rest, _ := scramNextAttr(msg)
	if bytes.HasPrefix(attr, []byte("m=")) {
		m.mext = true
		return m, nil
	}
	if len(attr) < 3 || attr[0] != 'r' || attr[1] != '=' || !scramPrintable(attr[2:]) {
		return m, scramMalformed("server-first-message has no nonce")
	}
	m.nonce = attr[2:]
	attr, rest, _ = scramNextAttr(rest)
	if len(attr) < 3 || attr[0] != 's' || attr[1] != '=' {
		return m, scramMalformed("server-first-message has no salt")
	}
	m.salt = attr[2:]
	attr, rest, _ = scramNextAttr(rest)
	if len(attr) < 3 || attr[0] != 'i' || attr[1] != '=' {
		return m, scramMalformed("server-first-message has no iteration count")
	}
	m.iter = attr[2:]
	if err := scramCheckExtensions(rest); err != nil {
		return m, err
	}
	return m, nil
}

// scramParseServerFinal parses
//
//	server-final-message = (server-error / verifier) ["," extensions]
//
// It returns the v= value (base64) or the e= value.
func scramParseServerFinal(msg []byte) (verifier, serverErr []byte, err error) {
	attr, rest, _ := scramNextAttr(msg)
	switch {
	case len(attr) >= 2 && attr[0] == 'e' && attr[1] == '=':
		if len(attr) == 2 {
			return nil, nil, scramMalformed("empty server-error-value")
		}
		return nil, attr[2:], nil
	case len(attr) >= 3 && attr[0] == 'v' && attr[1] == '=':
		if err := scramCheckExtensions(rest); err != nil {
			return nil, nil, err
		}
		return attr[2:], nil, nil
	}
	return nil, nil, scramMalformed("server-final-message has neither v= nor e=")
}

// scramNextAttr splits off the attribute before the next comma.
func scramNextAttr(b []byte) (attr, rest []byte, more bool) {
	if i := bytes.IndexByte(b, ','); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

// scramCheckExtensions checks that what follows the mandatory attributes is
// a list of ALPHA "=" 1*value-char extensions, which are then ignored
// (RFC 5802, Section 5.1: unknown extensions are ignored).
func scramCheckExtensions(rest []byte) error {
	for len(rest) > 0 {
		var attr []byte
		attr, rest, _ = scramNextAttr(rest)
		if len(attr) < 3 || attr[1] != '=' || !scramAlpha(attr[0]) || bytes.IndexByte(attr, 0) >= 0 {
			return scramMalformed("bad extension attribute")
		}
	}
	return nil
}

func scramAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// scramValidCBName: cb-name = 1*(ALPHA / DIGIT / "." / "-").
func scramValidCBName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !scramAlpha(c) && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// scramPrintable: printable = %x21-2B / %x2D-7E, the nonce alphabet.
func scramPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// scramDecodeName decodes a saslname (RFC 5802, Section 5.1): "=2C" is ',',
// "=3D" is '=', any other '=' fails. The name must be non-empty UTF-8 with
// no NUL.
func scramDecodeName(b []byte) (string, error) {
	if len(b) == 0 {
		return "", scramMalformed("empty name")
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return "", scramMalformed("name is not valid UTF-8")
	}
	if bytes.IndexByte(b, '=') < 0 {
		return string(b), nil
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '=' {
			sb.WriteByte(b[i])
			continue
		}
		switch {
		case i+2 < len(b) && b[i+1] == '2' && b[i+2] == 'C':
			sb.WriteByte(',')
		case i+2 < len(b) && b[i+1] == '3' && b[i+2] == 'D':
			sb.WriteByte('=')
		default:
			return "", scramMalformed("name has '=' not followed by 2C or 3D")
		}
		i += 2
	}
	return sb.String(), nil
}

// scramAppendName appends name as a saslname.
func scramAppendName(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case ',':
			dst = append(dst, "=2C"...)
		case '=':
			dst = append(dst, "=3D"...)
		default:
			dst = append(dst, name[i])
		}
	}
	return dst
}

// scramParseIter parses an iteration count (posit-number = %x31-39 *DIGIT)
// and checks it against [min, max] before any PBKDF2 work is done: a
// hostile server could otherwise make the client compute for minutes
// (RFC 5802, Section 9).
func scramParseIter(b []byte, min, max int) (int, error) {
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, scramMalformed("bad iteration count")
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, scramMalformed("bad iteration count")
		}
		// Checked before multiplying: with a max near MaxInt, n*10 would
		// wrap around and a 20-digit count could come out small.
		if d := int(c - '0'); n > (max-d)/10 {
			return 0, fmt.Errorf("%w: SCRAM server demands more than %d iterations", ErrTooLarge, max)
		}
		n = n*10 + int(c-'0')
	}
	if n < min {
		return 0, fmt.Errorf("%w: SCRAM server offers %d iterations, fewer than %d", ErrAuthFailed, n, min)
	}
	return n, nil
}

// scramDecodeBase64 decodes standard padded base64 into dst, which must be
// large enough; it fails unless the result has exactly want bytes (want<0:
// any length).
func scramDecodeBase64(dst, src []byte, want int) ([]byte, error) {
	if base64.StdEncoding.DecodedLen(len(src)) > len(dst) {
		return nil, scramMalformed("base64 value too long")
	}
	n, err := base64.StdEncoding.Decode(dst, src)
	if err != nil || (want >= 0 && n != want) {
		return nil, scramMalformed("bad base64 value")
	}
	return dst[:n], nil
}

func scramMalformed(what string) error {
	return fmt.Errorf("%w: SCRAM: %s", ErrMalformed, what)
}
