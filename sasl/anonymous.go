package sasl

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Anonymous is the ANONYMOUS mechanism name (RFC 4505).
const Anonymous = "ANONYMOUS"

// anonMaxTraceChars is RFC 4505, Section 2's bound on the trace: 1 to 255
// UTF-8 characters.
const anonMaxTraceChars = 255

// anonMaxTraceBytes bounds the trace in bytes before it is decoded: 255
// characters of at most 4 bytes each.
const anonMaxTraceBytes = 4 * anonMaxTraceChars

// NewAnonymousClient returns a Client for ANONYMOUS (RFC 4505). It sends
// trace, an email address or other text for the server's logs, as its
// initial response; "" sends an empty response. Start fails with an error
// wrapping ErrTooLarge for a trace of more than 255 characters, and
// ErrMalformed for one that is not UTF-8 or contains NUL, CR or LF. The
// Client is single-use and not safe for concurrent use.
func newAnonymousClient(trace string) Client {
	return &oneMsgClient{mech: Anonymous, msg: trace, check: anonCheckTrace}
}

func newAnonymousServer(env *serverEnv, mech string) IdentityServer {
	env.spare.one = oneMsgServer{serverEnv: env, mech: mech, verify: anonVerify}
	return &env.spare.one
}

func newAnonymousClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	if !anonTraceOK(cfg.Trace) {
		return nil, anonCheckTrace([]byte(cfg.Trace))
	}
	// Checked here, so Start need not check again.
	return &oneMsgClient{mech: Anonymous, msg: cfg.Trace}, nil
}

func anonCheckTrace(b []byte) error {
	if len(b) > anonMaxTraceBytes {
		return fmt.Errorf("%w: ANONYMOUS trace longer than %d bytes", ErrTooLarge, anonMaxTraceBytes)
	}
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("%w: ANONYMOUS trace is not UTF-8", ErrMalformed)
		case r == 0 || r == '\r' || r == '\n':
			return fmt.Errorf("%w: ANONYMOUS trace contains NUL, CR or LF", ErrMalformed)
		}
		b = b[size:]
		n++
	}
	if n > anonMaxTraceChars {
		return fmt.Errorf("%w: ANONYMOUS trace longer than %d characters", ErrTooLarge, anonMaxTraceChars)
	}
	return nil
}

// anonTraceOK reports whether anonCheckTrace accepts s, without copying it.
func anonTraceOK(s string) bool {
	return len(s) <= anonMaxTraceBytes && utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\r\n") &&
		utf8.RuneCountInString(s) <= anonMaxTraceChars
}

// anonVerify receives the trace message (RFC 4505, Section 2).
func anonVerify(s *serverEnv, response []byte) (Identity, error) {
	if err := anonCheckTrace(response); err != nil {
		return Identity{}, err
	}
	if s.cfg.Anonymous == nil {
		return Identity{}, fmt.Errorf("%w: ANONYMOUS is not enabled", ErrUnsupportedMechanism)
	}
	if err := s.cfg.Anonymous(s.ctx, string(response)); err != nil {
		return Identity{}, err
	}
	return Identity{Anonymous: true}, nil
}
