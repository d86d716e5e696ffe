package sasl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrOutOfStep marks an error after which the two ends of a connection no
// longer agree on where they are in the protocol: a line was left half
// read because it was too long, a read or write failed or was interrupted
// by the context, a peer's reply broke the framing, or a server reported
// success to a client that could not verify it. The connection cannot carry
// another command: close it (after the final reply, on a server). Errors
// that leave the connection usable (a wrong password, a malformed but
// complete line, a cancelled exchange) never wrap it.
var ErrOutOfStep = errors.New("sasl: connection out of step")

// outOfStepError is an error that also wraps ErrOutOfStep, with the text
// of the error alone.
type outOfStepError struct{ err error }

// Error returns the message.
func (e *outOfStepError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *outOfStepError) Unwrap() []error { return []error{e.err, ErrOutOfStep} }

// outOfStep returns err marked as leaving the connection out of step.
func outOfStep(err error) error {
	if err == nil || errors.Is(err, ErrOutOfStep) {
		return err
	}
	return &outOfStepError{err}
}

// ReadLine reads one line of at most max bytes, its line ending included,
// from r and returns it without the ending (CRLF, or a bare LF as
// net/textproto accepts). It is the line reader of [Exchange] and
// [NegotiateClient], for servers and clients that read their own command
// lines: textproto.Reader.ReadLine has no bound, so a peer could make it
// buffer without limit.
//
// It never holds more than max bytes of the line. A longer line is an error
// wrapping [ErrTooLarge] and [ErrOutOfStep]: the rest of that line stays
// unread, so answer it (IMAP BAD, SMTP 500, POP3 -ERR) and close the
// connection. An EOF inside a line is io.ErrUnexpectedEOF; an EOF before
// it is io.EOF; other errors are r's.
func ReadLine(r *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > max {
			return "", outOfStep(fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, max))
		}
		if err == nil {
			if buf == nil {
				buf = frag // the common case: no copy before string()
			} else {
				buf = append(buf, frag...)
			}
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(buf)+len(frag) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		buf = append(buf, frag...)
	}
	line := buf[:len(buf)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}
