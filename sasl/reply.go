package sasl

import (
	"errors"
	"strconv"
)

// Reply is a server's final answer to an authentication exchange, or its
// refusal of the command that would start one, in each of the three
// protocols. [ReplyFor] chooses it from the exchange's outcome; it is the
// one table that [Exchange.Reply] writes on net/textproto servers and that
// the go-imap and go-smtp integrations (examples/goimap IMAPError,
// examples/gosmtp SMTPError) turn into *imap.Error and *smtp.SMTPError, so
// a client gets the same answer from each.
//
// The texts are fixed per outcome and never contain what the client sent
// or what the error says, so a reply cannot leak a username or a secret.
type Reply struct {
	// IMAPStatus is the IMAP status of the tagged reply: "OK", "NO" or
	// "BAD" (RFC 9051, Section 7.1).
	IMAPStatus string
	// IMAPCode is the IMAP response code (RFC 5530) without its brackets,
	// such as "AUTHENTICATIONFAILED", or "" for none.
	IMAPCode string
	// SMTPCode is the SMTP reply code (RFC 4954, Section 6), such as 535.
	SMTPCode int
	// SMTPStatus is the SMTP enhanced status code (RFC 3463), such as
	// {5, 7, 8}.
	SMTPStatus [3]int
	// SMTPText is the text of the SMTP reply, in RFC 4954's words.
	SMTPText string
	// POP3Code is the POP3 response code (RFC 3206) without its brackets,
	// "AUTH" or "SYS/TEMP", or "" for none. A POP3 reply is "+OK" exactly
	// when IMAPStatus is "OK".
	POP3Code string
	// Text is the text of the IMAP and POP3 replies.
	Text string
}

// ReplyFor returns the reply to an exchange whose outcome is err: nil for
// success, or the error [Exchange.Serve], [ServerSet.NewServer],
// [ParseAuthCommand] or a mechanism returned, tested with errors.Is in this
// order:
//
//	outcome                        IMAP                        SMTP        POP3
//	nil                            OK                          235 2.7.0   +OK
//	ErrCanceled                    BAD                         501 5.0.0   -ERR
//	ErrTooLarge                    BAD                         500 5.5.6   -ERR
//	ErrMalformed,
//	  ErrUnexpectedClientResponse  BAD                         501 5.5.2   -ERR
//	ErrAuthzFailed                 NO [AUTHORIZATIONFAILED]    535 5.7.8   -ERR [AUTH]
//	ErrAuthFailed, ErrUnknownUser,
//	  ErrChannelBinding            NO [AUTHENTICATIONFAILED]   535 5.7.8   -ERR [AUTH]
//	ErrNeedsTLS                    NO [PRIVACYREQUIRED]        538 5.7.11  -ERR [AUTH]
//	ErrUnsupportedMechanism        NO [CANNOT]                 504 5.5.4   -ERR
//	ErrTemporaryFailure, and
//	  anything else                NO [UNAVAILABLE]            454 4.7.0   -ERR [SYS/TEMP]
//
// A cancelled exchange is BAD and 501 because RFC 9051 (Section 6.2.2) and
// RFC 4954 (Section 4) say so. An error this package does not know, such as
// a credential store that is down or a lookup's context.DeadlineExceeded,
// is a temporary failure, so the client may retry and does not take it for
// a wrong password. IMAP codes are from RFC 5530, SMTP codes from RFC 4954,
// Section 6, POP3 codes from RFC 3206.
func ReplyFor(err error) Reply {
	switch {
	case err == nil:
		return Reply{"OK", "", 235, [3]int{2, 7, 0}, "Authentication successful", "", "Authenticated"}
	case errors.Is(err, ErrCanceled):
		return Reply{"BAD", "", 501, [3]int{5, 0, 0}, "Authentication cancelled", "", "Authentication cancelled"}
	case errors.Is(err, ErrTooLarge):
		return Reply{"BAD", "", 500, [3]int{5, 5, 6}, "Authentication exchange too long", "", "Authentication exchange too long"}
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnexpectedClientResponse):
		return Reply{"BAD", "", 501, [3]int{5, 5, 2}, "Cannot decode authentication exchange", "", "Malformed authentication exchange"}
	case errors.Is(err, ErrAuthzFailed):
		return Reply{"NO", "AUTHORIZATIONFAILED", 535, [3]int{5, 7, 8}, "Authentication credentials invalid", "AUTH", "Authorization failed"}
	case errors.Is(err, ErrAuthFailed), errors.Is(err, ErrChannelBinding), errors.Is(err, ErrUnknownUser):
		return Reply{"NO", "AUTHENTICATIONFAILED", 535, [3]int{5, 7, 8}, "Authentication credentials invalid", "AUTH", "Authentication failed"}
	case errors.Is(err, ErrNeedsTLS):
		return Reply{"NO", "PRIVACYREQUIRED", 538, [3]int{5, 7, 11}, "Encryption required for requested authentication mechanism", "AUTH", "Mechanism requires TLS"}
	case errors.Is(err, ErrUnsupportedMechanism):
		return Reply{"NO", "CANNOT", 504, [3]int{5, 5, 4}, "Unrecognized authentication type", "", "Unsupported authentication mechanism"}
	default:
		return Reply{"NO", "UNAVAILABLE", 454, [3]int{4, 7, 0}, "Temporary authentication failure", "SYS/TEMP", "Temporary authentication failure"}
	}
}

// Line returns the reply as protocol p writes it, without CRLF: for IMAP
// "tag NO [AUTHENTICATIONFAILED] Authentication failed" (tag "" is written
// as "A"), for SMTP "535 5.7.8 Authentication credentials invalid", for
// POP3 "-ERR [AUTH] Authentication failed". tag is used only for IMAP.
func (r Reply) Line(p Protocol, tag string) string {
	switch p {
	case IMAP:
		if tag == "" {
			tag = "A"
		}
		return tag + " " + r.IMAPStatus + replyCode(r.IMAPCode) + " " + r.Text
	case SMTP:
		s := r.SMTPStatus
		return strconv.Itoa(r.SMTPCode) + " " + strconv.Itoa(s[0]) + "." + strconv.Itoa(s[1]) + "." + strconv.Itoa(s[2]) + " " + r.SMTPText
	default:
		if r.IMAPStatus == "OK" {
			return "+OK " + r.Text
		}
		return "-ERR" + replyCode(r.POP3Code) + " " + r.Text
	}
}

// replyCode returns " [code]", or "" for no code.
func replyCode(code string) string {
	if code == "" {
		return ""
	}
	return " [" + code + "]"
}
