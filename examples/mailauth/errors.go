package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// opError is a failed step against one server: "host: step: cause".
type opError struct {
	host string // the target as the user named it, e.g. "imap://mail.example.org:143"
	step string // "connect", "STARTTLS", "TLS handshake", "AUTHENTICATE SCRAM-SHA-256", ...
	err  error
}

// Error returns the message.
func (e *opError) Error() string { return fmt.Sprintf("%s: %s: %v", e.host, e.step, e.err) }

// Unwrap returns the cause.
func (e *opError) Unwrap() error { return e.err }

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

// Error returns the message.
func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// codeError carries an exit status for an error that is already reported
// (quiet) or that has no library sentinel to classify it by.
type codeError struct {
	code int
	err  error
}

// Error returns the message.
func (e codeError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e codeError) Unwrap() error { return e.err }

// quietError is an outcome already printed in full (a probe with
// findings, a bench with failed logins): main prints nothing more.
type quietError struct{ code int }

// Error returns the message.
func (e quietError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// errPasswordMismatch is pw -t's "does not match".
var errPasswordMismatch = errors.New("password does not match")

// exitCode classifies err by the library's sentinel errors into the
// documented exit statuses.
func exitCode(err error) int {
	var ue usageError
	var ce codeError
	var qe quietError
	var ne net.Error
	var re *sasl.ReplyError
	var certInvalid x509.CertificateInvalidError
	var hostErr x509.HostnameError
	var unknownAuth x509.UnknownAuthorityError
	var alert tls.AlertError
	var recHdr tls.RecordHeaderError
	var verifyErr *tls.CertificateVerificationError
	var pathErr *fs.PathError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &qe):
		return qe.code
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, errPasswordMismatch):
		return exitAuth
	case errors.Is(err, errServerNotVerified):
		// A mutual mechanism's server proof is missing or wrong: the
		// peer is not who it claims, which is the TLS class of failure
		// (an impostor), not a refused password.
		return exitTLS
	// TLS and certificates, and STARTTLS that could not be had: without
	// it nothing is sent, so these are TLS failures, not protocol ones.
	case errors.Is(err, tlsutil.ErrHandshakeFailed), errors.Is(err, sasl.ErrStartTLSUnavailable),
		errors.Is(err, sasl.ErrStartTLSRefused), errors.Is(err, tlsutil.ErrResponseInjection),
		errors.Is(err, sasl.ErrPreAuth), errors.Is(err, tlsutil.ErrCertificateExpired),
		errors.Is(err, tlsutil.ErrChannelBindingUnavailable), errors.Is(err, sasl.ErrChannelBinding),
		errors.As(err, &certInvalid), errors.As(err, &hostErr), errors.As(err, &unknownAuth),
		errors.As(err, &alert), errors.As(err, &recHdr), errors.As(err, &verifyErr):
		return exitTLS
	case errors.Is(err, sasl.ErrAuthFailed), errors.Is(err, sasl.ErrAuthzFailed):
		return exitAuth
	case errors.As(err, &pathErr):
		// A file (keytab, credential cache, -ca): its errno would
		// otherwise pass for a network error below.
		return exitFailure
	case errors.As(err, &re) && re.Err == nil:
		// A plain "NO"/"-ERR"/5xx without a code: the server refused.
		return exitAuth
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		return exitNetwork
	case errors.Is(err, sasl.ErrBadGreeting),
		errors.Is(err, sasl.ErrCommandFailed), errors.Is(err, sasl.ErrMalformed), errors.Is(err, sasl.ErrTooLarge),
		errors.Is(err, sasl.ErrNoMechanism), errors.Is(err, sasl.ErrUnsupportedMechanism),
		errors.Is(err, sasl.ErrNeedsTLS), errors.Is(err, sasl.ErrTemporaryFailure), errors.Is(err, sasl.ErrCanceled),
		errors.Is(err, sasl.ErrUnexpectedServerChallenge), errors.Is(err, apop.ErrNoTimestamp),
		errors.Is(err, apop.ErrInvalidTimestamp), errors.As(err, &re), errors.Is(err, errProtocol):
		return exitProtocol
	}
	return exitFailure
}

// errProtocol marks a reply the command could not make sense of.
var errProtocol = errors.New("protocol error")

// causeOf names the class of err for bench's error counts and probe's
// table: "auth", "tls", "protocol", "network", "other".
func causeOf(err error) string {
	switch exitCode(err) {
	case exitAuth:
		return "auth refused"
	case exitTLS:
		return "tls"
	case exitProtocol:
		return "protocol"
	case exitNetwork:
		if errors.Is(err, context.DeadlineExceeded) {
			return "timeout"
		}
		return "network"
	}
	return "other"
}
