package kpop

import (
	"crypto/hmac"
	"errors"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// Errors of this package. Every refusal of a peer's credentials wraps one
// of these and sasl.ErrAuthFailed; a token that cannot be parsed wraps
// sasl.ErrMalformed or sasl.ErrTooLarge instead.
var (
	// ErrWrongService means the ticket is for another service principal
	// than the acceptor's own (KRB_AP_ERR_NOT_US), even if the keytab holds
	// that principal's key.
	ErrWrongService = errors.New("kpop: ticket is not for this service")
	// ErrNoKey means the keytab has no key for the ticket's key version
	// and enctype (KRB_AP_ERR_NOKEY, KRB_AP_ERR_BADKEYVER).
	ErrNoKey = errors.New("kpop: no service key for the ticket")
	// ErrEnctype means an enctype other than the AES family was used for
	// the ticket, the session key or a subkey (KDC_ERR_ETYPE_NOSUPP).
	ErrEnctype = errors.New("kpop: enctype not accepted")
	// ErrIntegrity means a decryption or checksum failed: the ticket or
	// authenticator was not made with the right key, or was changed
	// (KRB_AP_ERR_BAD_INTEGRITY, KRB_AP_ERR_MODIFIED).
	ErrIntegrity = errors.New("kpop: integrity check failed")
	// ErrReplay means the authenticator was seen before (KRB_AP_ERR_REPEAT).
	ErrReplay = errors.New("kpop: replayed authenticator")
	// ErrReplayCacheFull means the replay cache holds its maximum of live
	// entries; the AP-REQ is refused, since accepting it unrecorded would
	// allow its replay. It is a temporary condition: it wraps
	// sasl.ErrTemporaryFailure, not sasl.ErrAuthFailed.
	ErrReplayCacheFull = errors.New("kpop: replay cache full")
	// ErrClockSkew means the authenticator's time is further from the
	// server's clock than the allowed skew (KRB_AP_ERR_SKEW).
	ErrClockSkew = errors.New("kpop: clock skew too great")
	// ErrTicketTime means the ticket has expired or is not yet valid
	// (KRB_AP_ERR_TKT_EXPIRED, KRB_AP_ERR_TKT_NYV).
	ErrTicketTime = errors.New("kpop: ticket expired or not yet valid")
	// ErrBadChecksum means the authenticator lacks the GSS-API 0x8003
	// checksum or it is malformed (RFC 4121, Section 4.1.1).
	ErrBadChecksum = errors.New("kpop: bad GSS-API authenticator checksum")
	// ErrSequence means a Wrap token had the wrong sequence number.
	ErrSequence = errors.New("kpop: wrong sequence number")
	// ErrBadMatch means the authenticator names another client than the
	// ticket, or the ticket's client addresses exclude the peer
	// (KRB_AP_ERR_BADMATCH, KRB_AP_ERR_BADADDR).
	ErrBadMatch = errors.New("kpop: authenticator does not match the ticket")
	// ErrNoLocalUser means the authenticated principal maps to no local
	// user under the server's rule (by default: one component, in the
	// server's realm).
	ErrNoLocalUser = errors.New("kpop: principal maps to no local user")
	// ErrKRBError means the peer sent a KRB-ERROR; the error text names
	// its code and e-text.
	ErrKRBError = errors.New("kpop: peer sent KRB-ERROR")
)

// Kerberos error codes sent in KRB-ERROR replies (RFC 4120, Section 7.5.9).
const (
	codeEtype        = errorcode.KDC_ERR_ETYPE_NOSUPP
	codeBadIntegrity = errorcode.KRB_AP_ERR_BAD_INTEGRITY
	codeTktExpired   = errorcode.KRB_AP_ERR_TKT_EXPIRED
	codeTktNYV       = errorcode.KRB_AP_ERR_TKT_NYV
	codeRepeat       = errorcode.KRB_AP_ERR_REPEAT
	codeNotUs        = errorcode.KRB_AP_ERR_NOT_US
	codeBadMatch     = errorcode.KRB_AP_ERR_BADMATCH
	codeSkew         = errorcode.KRB_AP_ERR_SKEW
	codeBadAddr      = errorcode.KRB_AP_ERR_BADADDR
	codeBadVersion   = errorcode.KRB_AP_ERR_BADVERSION
	codeMsgType      = errorcode.KRB_AP_ERR_MSG_TYPE
	codeModified     = errorcode.KRB_AP_ERR_MODIFIED
	codeBadKeyVer    = errorcode.KRB_AP_ERR_BADKEYVER
	codeNoKey        = errorcode.KRB_AP_ERR_NOKEY
	codeMutFail      = errorcode.KRB_AP_ERR_MUT_FAIL
	codeBadDirection = errorcode.KRB_AP_ERR_BADDIRECTION
	codeBadSeq       = errorcode.KRB_AP_ERR_BADSEQ
	codeInappCksum   = errorcode.KRB_AP_ERR_INAPP_CKSUM
	codeGeneric      = errorcode.KRB_ERR_GENERIC
)

// krbError is a refusal with its Kerberos error code, for KRB-ERROR
// replies. It is one of this package's sentinels (kind) and
// sasl.ErrAuthFailed (or base, when set) for errors.Is. Its text names no
// principal.
type krbError struct {
	code int32
	kind error
	base error
	msg  string
}

// Error returns the message.
func (e *krbError) Error() string { return e.msg }

// Unwrap returns the cause.
func (e *krbError) Unwrap() []error {
	base := e.base
	if base == nil {
		base = sasl.ErrAuthFailed
	}
	return []error{e.kind, base}
}

// errorCode returns the Kerberos error code for err: its krbError's, else
// KRB_ERR_GENERIC.
func errorCode(err error) int32 {
	var ke *krbError
	if errors.As(err, &ke) {
		return ke.code
	}
	return codeGeneric
}

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
