package sasl

import "strconv"

// Protocol names the mail protocol spoken on a connection. It selects the
// framing of an [Exchange] (IMAP AUTHENTICATE, POP3 AUTH, SMTP AUTH), and
// for [NegotiateClient] the STARTTLS command and its go-ahead reply, the
// greeting syntax, and how capabilities are read. The zero value is not a
// protocol; functions given it return an error.
type Protocol uint8

const (
	// IMAP is IMAP4rev1/IMAP4rev2 (RFC 3501, RFC 9051). Authentication is
	// AUTHENTICATE (RFC 9051, Section 6.2.2) with the SASL-IR extension
	// (RFC 4959). STARTTLS is the tagged command "tag STARTTLS"; TLS starts
	// after the CRLF of the tagged OK (RFC 2595, Section 3.1). Implicit TLS
	// port: 993 (RFC 8314).
	IMAP Protocol = iota + 1
	// POP3 is RFC 1939 with the CAPA extension (RFC 2449). Authentication
	// is AUTH (RFC 5034), with RFC 3206 response codes. STARTTLS is the
	// STLS command; TLS starts after the CRLF of "+OK" (RFC 2595, Section
	// 4). Implicit TLS port: 995 (RFC 8314).
	POP3
	// SMTP is SMTP and message submission (RFC 5321, RFC 6409).
	// Authentication is AUTH (RFC 4954), with RFC 3463 enhanced status
	// codes. STARTTLS is the STARTTLS command; TLS starts after the "220"
	// reply (RFC 3207, Section 4). Implicit TLS port for submission: 465
	// (RFC 8314).
	SMTP
)

// String returns "IMAP", "POP3" or "SMTP", or "Protocol(n)" for other values.
func (p Protocol) String() string {
	switch p {
	case IMAP:
		return "IMAP"
	case POP3:
		return "POP3"
	case SMTP:
		return "SMTP"
	default:
		return "Protocol(" + strconv.Itoa(int(p)) + ")"
	}
}

// valid reports whether p is one of the defined protocols.
func (p Protocol) valid() bool { return p == IMAP || p == POP3 || p == SMTP }
