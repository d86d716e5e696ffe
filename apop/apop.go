// Package apop implements POP3 APOP authentication ([RFC 1939], Section 7)
// on both sides of a POP3 session.
//
// The server puts a timestamp, unique to the connection, in its +OK
// greeting. The client answers
//
//	APOP name digest
//
// where digest is MD5(timestamp ‖ password) as 32 hex digits, so the
// password itself never crosses the wire.
//
// For most uses, a POP3 server makes one [Server] per connection with
// [NewServer], puts [Server.Timestamp] in its greeting and hands the
// arguments of an APOP command to [Server.Verify]; a POP3 client passes the
// greeting line to [Login], which sends the command over a
// net/textproto connection and reads the reply. [Command] builds the command
// line for other client loops, and [ParseGreeting] tells a client whether a
// greeting offers APOP at all.
//
// # Security
//
// APOP is a legacy scheme. [Mechanism] reports it as NeedsTLS and Legacy,
// and both sides refuse it on a connection without TLS unless the
// configuration sets InsecureAuth. What APOP does not protect against:
//
//   - Offline guessing. Anyone who sees a timestamp and the digest can test
//     passwords at the speed of MD5, billions a second on a GPU.
//   - A server that chooses the timestamp. MD5 collisions let a fake server
//     (or a man in the middle of a connection without TLS) pick pairs of
//     timestamps whose digests reveal the password a few characters at a
//     time (Leurent, FSE 2007; Sasaki et al., CT-RSA 2008; CVE-2007-1558).
//     The client's timestamp checks in [ParseGreeting] (printable ASCII, at
//     most 255 octets, an RFC 5322 msg-id) raise the cost of that attack but
//     cannot stop it, because MD5 is broken: only TLS with a verified server
//     certificate does.
//   - Server impersonation. APOP is not mutual: a +OK proves nothing about
//     the server.
//   - Everything after the login. APOP protects neither the session nor
//     the mail.
//   - A stolen user database. The server needs each password in plaintext
//     (a [sasl.PlaintextLookup]); nothing derived from it can verify a digest.
//
// The timestamp of a STLS connection is the one of the greeting sent before
// TLS, so a man in the middle can have chosen it. That is harmless once the
// client has verified the server's certificate: the digest then travels only
// inside TLS to the real server, which rejects a timestamp it did not issue.
//
// A client never falls back to USER/PASS on its own: if APOP is refused, the
// caller decides what to do next.
//
// # Errors
//
// Errors are sentinel values usable with errors.Is: the sasl package's
// [sasl.ErrAuthFailed], [sasl.ErrMalformed], [sasl.ErrTooLarge],
// [sasl.ErrNeedsTLS], [sasl.ErrUnsupportedMechanism] and
// [sasl.ErrUnexpectedClientResponse] where they mean the same, and this
// package's [ErrNoTimestamp], [ErrInvalidTimestamp], [ErrInvalidName] and
// [ErrTooManyAttempts]. Errors from a [sasl.PlaintextLookup] are returned
// unchanged. No error text contains a name, password or digest ([Login]
// quotes the text of a -ERR reply, which is the server's).
//
// # Concurrency
//
// A [ServerConfig] or [ClientConfig] may be shared by any number of
// connections. A [Server] belongs to one connection and is not safe for
// concurrent use.
//
// [RFC 1939]: https://www.rfc-editor.org/rfc/rfc1939#section-7
package apop

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-mailauth/mailauth/sasl"
)

// Name is the name of the scheme, as in the APOP command (RFC 1939,
// Section 7) and curl's "AUTH=+APOP".
const Name = "APOP"

// Mechanism returns the description of APOP for the sasl package's
// mechanism tables: NeedsTLS (a passive eavesdropper can guess the password
// offline from the digest, and MD5 collisions let a chosen timestamp reveal
// it) and Legacy; neither plaintext-equivalent (the password is not sent)
// nor mutual (the server proves nothing).
func Mechanism() sasl.Mechanism {
	return sasl.NewMechanism(Name, sasl.Security{NeedsTLS: true, Legacy: true})
}

// Errors of this package. Errors it returns wrap one of these, or one of
// the sasl package's sentinels, with the detail of what was wrong.
var (
	// ErrNoTimestamp means the greeting carries no timestamp ("<"): the
	// server does not offer APOP.
	ErrNoTimestamp = errors.New("apop: greeting has no timestamp")
	// ErrInvalidTimestamp means the greeting's timestamp broke a rule of
	// ParseGreeting. A client must not answer such a timestamp: it may have
	// been chosen to collide under MD5 (CVE-2007-1558).
	ErrInvalidTimestamp = errors.New("apop: invalid timestamp")
	// ErrInvalidName means a name cannot be sent in an APOP command: it is
	// empty, too long, not UTF-8, or contains a space or a control
	// character.
	ErrInvalidName = errors.New("apop: invalid name")
	// ErrTooManyAttempts means the client used up the APOP attempts a
	// Server allows on one connection (maxServerAttempts); the server should
	// close the connection.
	ErrTooManyAttempts = errors.New("apop: too many attempts")
)

// Bounds.
const (
	// maxTimestampLen bounds the timestamp a client accepts and a server
	// makes. RFC 1939 sets no bound; real servers send 30 to 80 octets.
	// Longer challenges only give a collision attack (CVE-2007-1558) room
	// for its blocks.
	maxTimestampLen = 255
	// minTimestampLen is the shortest msg-id, "<a@b>".
	minTimestampLen = 5
	// maxLineLen bounds a POP3 response line, the greeting and the reply to
	// APOP: 512 octets including CRLF (RFC 2449, Section 4).
	maxLineLen = 512
	// maxArgsLen bounds the arguments of an APOP command: a command line
	// is at most 255 octets including CRLF (RFC 2449, Section 4), less
	// "APOP " and the CRLF.
	maxArgsLen = 255 - len("APOP ") - len("\r\n")
	// digestHexLen is the length of the digest argument: 16 octets of MD5
	// in hex (RFC 1939, Section 7).
	digestHexLen = 2 * md5.Size
	// maxNameLen bounds the name of an APOP command: what the line leaves
	// after one space and the digest.
	maxNameLen = maxArgsLen - 1 - digestHexLen
	// maxServerAttempts is how many APOP commands a Server verifies on one
	// connection before it answers ErrTooManyAttempts, to slow online
	// password guessing on a connection that stays open.
	maxServerAttempts = 3
	// apopRandomLen is the number of random octets in a server timestamp
	// (128 bits, 32 hex digits): enough that no two connections ever share
	// a timestamp, so a recorded digest can never be replayed.
	apopRandomLen = 16
	// maxReplyTextLen bounds the server text quoted in a client's error.
	maxReplyTextLen = 100
)

// apopDummySecret stands in for the password of an unknown user, so that
// the server does the same MD5 and compare for every name.
const apopDummySecret = "apop-no-such-user"

// errAuthFailed is the one error of every failed verification: a wrong
// digest, an unknown user and a user without a password look the same to
// the caller and to the client.
var errAuthFailed = fmt.Errorf("apop: name or digest not accepted: %w", sasl.ErrAuthFailed)

// ServerConfig configures the APOP servers of a POP3 listener. The zero
// value turns APOP off. A ServerConfig may be shared by many connections
// and must not be modified after first use.
type ServerConfig struct {
	// Plaintext returns a user's plaintext password, which APOP needs
	// (RFC 1939, Section 13): no stored derivative can verify a digest. A
	// user it does not hold is an error wrapping sasl.ErrUnknownUser; any
	// other error is returned by Verify unchanged. If nil, APOP is off and
	// Verify fails with sasl.ErrUnsupportedMechanism.
	Plaintext sasl.PlaintextLookup
	// Hostname is the right-hand side of the timestamps: the server's
	// host name, an RFC 5322 dot-atom. If "", "localhost" is used.
	Hostname string
	// InsecureAuth accepts APOP on connections without TLS. A passive
	// eavesdropper can then guess the password offline from the digest.
	InsecureAuth bool

	// rand, if not nil, replaces crypto/rand for the timestamp (tests only).
	rand io.Reader
}

// Server is the server side of APOP for one POP3 connection: it holds the
// connection's timestamp and counts attempts. Make one per connection with
// NewServer, before the greeting. A Server is not safe for concurrent use.
type Server struct {
	cfg       *ServerConfig // shared, read-only
	timestamp string
	attempts  int
	done      bool

	// MD5 processes its input in 64-octet blocks, so the state after the
	// timestamp's whole blocks is the same for every verification on this
	// connection: it is computed once here (crypto/md5 states marshal),
	// and each verification hashes only the tail and the password. The
	// buffers are reused, so a verification does not allocate.
	md5     hash.Hash
	md5Set  encoding.BinaryUnmarshaler // md5, to reset it to mid
	mid     []byte                     // md5's state after timestamp[:tail]
	tail    int                        // the part of timestamp not in mid
	scratch []byte                     // timestamp[tail:] ‖ password, wiped after use
	sum     []byte                     // the expected digest
}

// NewServer returns the APOP server of a new connection, with a fresh
// timestamp "<time.random@host>" (RFC 1939, Section 7): the Unix time in
// nanoseconds and 128 random bits from crypto/rand in hex, which make it
// different for every greeting as the RFC requires. (The RFC's example
// also has the process id; the random bits already keep two processes
// apart, and asking the kernel for the id cost a quarter of a login.) With
// a host name of 9 octets or more ("localhost") the timestamp is longer
// than one 64-octet MD5 block, which lets Verify start from a precomputed
// state. A nil cfg is the zero ServerConfig. It fails with an error
// wrapping ErrInvalidTimestamp if cfg.Hostname is not a dot-atom or makes
// the timestamp longer than 255 octets.
func NewServer(cfg *ServerConfig) (*Server, error) {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	host := cfg.Hostname
	if host == "" {
		host = "localhost"
	}
	if !apopDotAtom(host) {
		return nil, fmt.Errorf("%w: ServerConfig.Hostname is not a dot-atom", ErrInvalidTimestamp)
	}
	var rnd [apopRandomLen]byte
	if cfg.rand != nil {
		if _, err := io.ReadFull(cfg.rand, rnd[:]); err != nil {
			return nil, err
		}
	} else {
		rand.Read(rnd[:]) // never fails (Go 1.24+)
	}
	b := make([]byte, 0, 64+len(host))
	b = append(b, '<')
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, '.')
	b = apopAppendHex(b, rnd[:])
	b = append(b, '@')
	b = append(b, host...)
	b = append(b, '>')
	if len(b) > maxTimestampLen {
		return nil, fmt.Errorf("%w: ServerConfig.Hostname makes the timestamp longer than %d octets", ErrInvalidTimestamp, maxTimestampLen)
	}
	return apopNewServer(cfg, string(b)), nil
}

// apopNewServer returns a Server for timestamp ts, which must be valid.
func apopNewServer(cfg *ServerConfig, ts string) *Server {
	s := &Server{cfg: cfg, timestamp: ts, md5: md5.New()}
	s.md5Set = s.md5.(encoding.BinaryUnmarshaler)
	s.tail = len(ts) &^ (md5.BlockSize - 1)
	s.md5.Write([]byte(ts[:s.tail]))
	s.mid, _ = s.md5.(encoding.BinaryMarshaler).MarshalBinary() // never fails for crypto/md5
	s.scratch = make([]byte, 0, md5.BlockSize)
	s.sum = make([]byte, 0, md5.Size)
	return s
}

// Timestamp returns the connection's timestamp, angle brackets included,
// for the greeting:
//
//	tp.PrintfLine("+OK POP3 server ready %s", srv.Timestamp())
//
// Put it last in the greeting, as above: curl finds a timestamp only at the
// end of the line. It stays the same for the life of the Server: a client
// that sent STLS answers the timestamp of the greeting it got before TLS.
func (s *Server) Timestamp() string { return s.timestamp }

// Verify checks the arguments of an APOP command, args being the text after
// "APOP " ("name digest", RFC 1939, Section 7), and returns the
// authenticated identity (Mechanism "APOP", Username the name as sent).
// conn describes the connection now (nil: no TLS), so a Server made before
// STLS accepts APOP once TLS is up. ctx is passed to the password lookup.
//
// The digest is decoded from exactly 32 hex digits, lower case as the RFC
// says, upper or mixed case accepted too (it is the same 16 octets), and
// compared in constant time. An unknown name, a user whose password is
// empty and a wrong digest all take the same MD5 and compare and return the
// same error, wrapping sasl.ErrAuthFailed.
//
// Other errors: sasl.ErrUnsupportedMechanism if cfg.Plaintext is nil;
// sasl.ErrNeedsTLS without TLS unless cfg.InsecureAuth; sasl.ErrMalformed
// or sasl.ErrTooLarge for bad arguments (the reply is "-ERR", and the
// attempt counts); ErrTooManyAttempts once maxServerAttempts commands were
// verified; sasl.ErrUnexpectedClientResponse after a success. Lookup
// errors other than sasl.ErrUnknownUser are returned unchanged.
func (s *Server) Verify(ctx context.Context, conn *sasl.ConnState, args string) (sasl.Identity, error) {
	switch {
	case s.done:
		return sasl.Identity{}, fmt.Errorf("apop: already authenticated: %w", sasl.ErrUnexpectedClientResponse)
	case s.cfg.Plaintext == nil:
		return sasl.Identity{}, fmt.Errorf("apop: no password lookup configured: %w", sasl.ErrUnsupportedMechanism)
	case !apopIsTLS(conn) && !s.cfg.InsecureAuth:
		// Refused before any lookup: on a connection without TLS the
		// digest is open to offline guessing by anyone on the path.
		return sasl.Identity{}, fmt.Errorf("apop: APOP without TLS: %w", sasl.ErrNeedsTLS)
	case s.attempts >= maxServerAttempts:
		return sasl.Identity{}, ErrTooManyAttempts
	}
	s.attempts++
	if ctx == nil {
		ctx = context.Background()
	}
	name, err := s.verify(ctx, args)
	if err != nil {
		return sasl.Identity{}, err
	}
	s.done = true
	return sasl.Identity{Mechanism: Name, Username: name}, nil
}

// verify parses args, looks up the password and checks the digest. It is
// Verify without the state checks.
func (s *Server) verify(ctx context.Context, args string) (string, error) {
	name, digest, err := apopParseArgs(args)
	if err != nil {
		return "", err
	}
	secret, err := s.cfg.Plaintext.LookupPassword(ctx, name)
	known := true
	if err != nil {
		if !errors.Is(err, sasl.ErrUnknownUser) {
			return "", err // the caller's lookup error, unchanged
		}
		known, secret = false, apopDummySecret
	} else if secret == "" {
		// MD5(timestamp) alone is known to anyone who saw the greeting:
		// an empty password must never verify.
		known, secret = false, apopDummySecret
	}
	if !s.check(secret, &digest) || !known {
		return "", errAuthFailed
	}
	return name, nil
}

// check reports whether digest is MD5(timestamp ‖ secret), starting from
// the state after the timestamp's whole blocks. It does not allocate
// unless secret is longer than any before on this connection.
func (s *Server) check(secret string, digest *[md5.Size]byte) bool {
	if err := s.md5Set.UnmarshalBinary(s.mid); err != nil {
		return false // unreachable: mid is crypto/md5's own state
	}
	s.scratch = append(append(s.scratch[:0], s.timestamp[s.tail:]...), secret...)
	s.md5.Write(s.scratch)
	s.sum = s.md5.Sum(s.sum[:0])
	// Wipe our copies of the password: the scratch buffer, and the
	// partial block md5 keeps (restoring mid zeroes it). The lookup's
	// string is the caller's.
	clear(s.scratch)
	s.md5Set.UnmarshalBinary(s.mid)
	// Constant time: the digest is attacker-chosen, and an early exit would
	// tell them how many leading octets of the expected digest they got
	// right.
	return hmac.Equal(digest[:], s.sum)
}

// apopParseArgs splits "name digest" (RFC 1939, Section 3: one space
// between arguments) and decodes the digest.
func apopParseArgs(args string) (name string, digest [md5.Size]byte, err error) {
	if len(args) > maxArgsLen {
		return "", digest, fmt.Errorf("apop: command longer than %d octets: %w", maxArgsLen+len("APOP \r\n"), sasl.ErrTooLarge)
	}
	sp := -1
	for i := 0; i < len(args); i++ {
		if args[i] == ' ' {
			if sp >= 0 {
				return "", digest, fmt.Errorf("apop: APOP takes two arguments, got more: %w", sasl.ErrMalformed)
			}
			sp = i
		}
	}
	if sp < 0 {
		return "", digest, fmt.Errorf("apop: APOP takes two arguments, name and digest: %w", sasl.ErrMalformed)
	}
	name, hexDigest := args[:sp], args[sp+1:]
	if err := apopCheckName(name); err != nil {
		return "", digest, fmt.Errorf("%w: %w", err, sasl.ErrMalformed)
	}
	if !apopDecodeHex(&digest, hexDigest) {
		return "", digest, fmt.Errorf("apop: digest is not %d hex digits: %w", digestHexLen, sasl.ErrMalformed)
	}
	return name, digest, nil
}

// apopCheckName checks a name for the APOP command line: 1 to maxNameLen
// octets of UTF-8 (RFC 6856 lets POP3 names be UTF-8) without space or
// control characters, which would split or end the command.
func apopCheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: longer than %d octets", ErrInvalidName, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: control character or space at offset %d", ErrInvalidName, i)
		}
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	for _, r := range name {
		if r >= 0x80 && r < 0xa0 { // C1 controls
			return fmt.Errorf("%w: control character", ErrInvalidName)
		}
	}
	return nil
}

// apopDecodeHex decodes exactly 32 hex digits, either case, into dst. The
// digest is the client's, not a secret, so the decoding need not be
// constant time; it is table-driven because it is a good part of the cost
// of a verification.
func apopDecodeHex(dst *[md5.Size]byte, s string) bool {
	if len(s) != digestHexLen {
		return false
	}
	var bad byte
	for i := range dst {
		hi, lo := apopHexTable[s[2*i]], apopHexTable[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad&0xf0 == 0
}

// apopHexTable maps an octet to its hex value, either case, or to 0xff.
const apopHexTable = "" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\xff\xff\xff\xff\xff\xff" +
	"\xff\x0a\x0b\x0c\x0d\x0e\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\x0a\x0b\x0c\x0d\x0e\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

const apopHexDigits = "0123456789abcdef"

func apopAppendHex(dst, src []byte) []byte {
	for _, c := range src {
		dst = append(dst, apopHexDigits[c>>4], apopHexDigits[c&0x0f])
	}
	return dst
}

// apopDigest returns the digest argument for timestamp and password: MD5
// of their concatenation as 32 lower-case hex digits (RFC 1939, Section 7).
func apopDigest(timestamp, password string) string {
	sum := md5.Sum([]byte(timestamp + password))
	return string(apopAppendHex(make([]byte, 0, digestHexLen), sum[:]))
}

func apopIsTLS(conn *sasl.ConnState) bool {
	return conn.TLS() != nil
}

// ClientConfig is a POP3 client's APOP policy. The zero value (or nil)
// refuses APOP on a connection without TLS. A ClientConfig may be shared
// and must not be modified after first use.
type ClientConfig struct {
	// InsecureAuth lets the client send APOP on a connection without TLS.
	// A passive eavesdropper can then guess the password offline from the
	// digest, and an active one can choose the timestamp (see the package
	// documentation).
	InsecureAuth bool
}

// ParseGreeting returns the timestamp of a POP3 greeting ("+OK ... <...>",
// as read, with or without CRLF), which the client must answer with APOP.
// It takes the text from the "<" to the first ">" and rejects, never
// repairs, anything that is not a plain msg-id, so that a server cannot
// choose the arbitrary octets an MD5 collision needs (CVE-2007-1558):
//
//   - the greeting starts with "+OK", is at most 512 octets (RFC 2449) and
//     has no NUL, CR or LF before its line end;
//   - it holds exactly one "<" and one ">", in that order;
//   - the timestamp is 5 to 255 octets, each in 0x21–0x7E;
//   - it is an RFC 5322 msg-id, "<" id-left "@" id-right ">": id-left a
//     dot-atom-text, id-right a dot-atom-text or a no-fold-literal
//     ("[" dtext "]"), with exactly one "@".
//
// These checks are a superset of those of fetchmail, mutt, Thunderbird and
// Evolution. It returns an error wrapping ErrNoTimestamp if the greeting
// has no "<" (the server does not offer APOP), ErrInvalidTimestamp (and
// also sasl.ErrTooLarge for a greeting over 512 octets) if it breaks a
// rule, or sasl.ErrMalformed if it is not a +OK line.
func ParseGreeting(greeting string) (string, error) {
	if len(greeting) > maxLineLen {
		return "", fmt.Errorf("%w: greeting longer than %d octets: %w", ErrInvalidTimestamp, maxLineLen, sasl.ErrTooLarge)
	}
	// The greeting as textproto reads it has no CRLF; accept one given
	// with it, but only at the end.
	if n := len(greeting); n >= 2 && greeting[n-2:] == "\r\n" {
		greeting = greeting[:n-2]
	} else if n >= 1 && greeting[n-1] == '\n' {
		greeting = greeting[:n-1]
	}
	if len(greeting) < 3 || greeting[:3] != "+OK" || (len(greeting) > 3 && greeting[3] != ' ') {
		return "", fmt.Errorf("apop: greeting is not a +OK line: %w", sasl.ErrMalformed)
	}
	text := greeting[3:]
	lt, gt := -1, -1
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case 0, '\r', '\n':
			// Not part of one line: a greeting read by textproto has none.
			return "", fmt.Errorf("%w: NUL, CR or LF inside the greeting", ErrInvalidTimestamp)
		case '<':
			if lt >= 0 {
				return "", fmt.Errorf("%w: more than one %q in the greeting", ErrInvalidTimestamp, '<')
			}
			lt = i
		case '>':
			if gt >= 0 {
				return "", fmt.Errorf("%w: more than one %q in the greeting", ErrInvalidTimestamp, '>')
			}
			gt = i
		}
	}
	if lt < 0 {
		return "", ErrNoTimestamp
	}
	if gt < lt {
		return "", fmt.Errorf("%w: no %q after the %q", ErrInvalidTimestamp, '>', '<')
	}
	ts := text[lt : gt+1]
	if err := apopCheckTimestamp(ts); err != nil {
		return "", err
	}
	// From here the timestamp is trusted to be a plain msg-id. It is still
	// the server's choice, and on a connection without TLS maybe an
	// attacker's: only TLS makes answering it safe.
	return ts, nil
}

// apopCheckTimestamp checks a timestamp, angle brackets included, against
// the rules listed at ParseGreeting.
func apopCheckTimestamp(ts string) error {
	if len(ts) < minTimestampLen {
		return fmt.Errorf("%w: shorter than %d octets", ErrInvalidTimestamp, minTimestampLen)
	}
	if len(ts) > maxTimestampLen {
		return fmt.Errorf("%w: longer than %d octets", ErrInvalidTimestamp, maxTimestampLen)
	}
	for i := 0; i < len(ts); i++ {
		if c := ts[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: octet 0x%02x at offset %d is not printable ASCII", ErrInvalidTimestamp, c, i)
		}
	}
	if ts[0] != '<' || ts[len(ts)-1] != '>' {
		return fmt.Errorf("%w: not enclosed in %q and %q", ErrInvalidTimestamp, '<', '>') // unreachable from ParseGreeting
	}
	inner := ts[1 : len(ts)-1]
	at := -1
	for i := 0; i < len(inner); i++ {
		if inner[i] == '@' {
			if at >= 0 {
				return fmt.Errorf("%w: more than one %q", ErrInvalidTimestamp, '@')
			}
			at = i
		}
	}
	if at < 0 {
		return fmt.Errorf("%w: no %q", ErrInvalidTimestamp, '@')
	}
	left, right := inner[:at], inner[at+1:]
	if left == "" || right == "" {
		return fmt.Errorf("%w: empty side of %q", ErrInvalidTimestamp, '@')
	}
	if !apopDotAtom(left) {
		return fmt.Errorf("%w: id-left is not a dot-atom-text (RFC 5322, Section 3.6.4)", ErrInvalidTimestamp)
	}
	if !apopDotAtom(right) && !apopNoFoldLiteral(right) {
		return fmt.Errorf("%w: id-right is neither a dot-atom-text nor a no-fold-literal (RFC 5322, Section 3.6.4)", ErrInvalidTimestamp)
	}
	return nil
}

// apopDotAtom reports whether s is an RFC 5322 dot-atom-text:
// 1*atext *("." 1*atext).
func apopDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if s[i-1] == '.' {
				return false
			}
			continue
		}
		if !apopAtext(c) {
			return false
		}
	}
	return true
}

// apopAtext reports whether c is an RFC 5322 atext character (Section 3.2.3).
func apopAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '/', '=', '?', '^', '_', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

// apopNoFoldLiteral reports whether s is an RFC 5322 no-fold-literal:
// "[" *dtext "]", dtext being %d33-90 / %d94-126.
func apopNoFoldLiteral(s string) bool {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c < 33 || c > 126 || (c >= 91 && c <= 93) {
			return false
		}
	}
	return true
}

// Command returns the APOP command line, without CRLF, that answers
// greeting for username and password: "APOP name digest" (RFC 1939,
// Section 7). conn describes the connection (nil: no TLS); cfg may be nil.
// It is for client loops that do their own I/O; [Login] uses it.
//
// It fails with an error wrapping sasl.ErrNeedsTLS on a connection without
// TLS unless cfg.InsecureAuth is set, ErrInvalidName if username cannot be
// sent, and the errors of ParseGreeting if the greeting has no acceptable
// timestamp. The password never leaves the function except through MD5.
func Command(conn *sasl.ConnState, greeting, username, password string, cfg *ClientConfig) (string, error) {
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	if err := apopCheckName(username); err != nil {
		return "", err
	}
	if !apopIsTLS(conn) && !cfg.InsecureAuth {
		// Without TLS the greeting, timestamp included, may be an
		// attacker's, chosen so that the digest reveals the password
		// (CVE-2007-1558), and anyone on the path can guess it offline.
		return "", fmt.Errorf("apop: APOP without TLS: %w", sasl.ErrNeedsTLS)
	}
	ts, err := ParseGreeting(greeting)
	if err != nil {
		return "", err
	}
	return "APOP " + username + " " + apopDigest(ts, password), nil
}

// Login logs in to a POP3 server with APOP over tp, a textproto.Conn over
// raw, in the AUTHORIZATION state: greeting is the server's greeting line
// as read, and cfg may be nil. Whether the connection has TLS is read from
// raw (a *tls.Conn whose handshake is complete): if tp reads through a
// wrapper (a trace, a counter), pass the *tls.Conn under it. It sends the command built
// by [Command] and reads the reply, at most 512 octets (RFC 2449, Section
// 4). It returns nil on "+OK".
//
// ctx bounds the login: when it is done, raw gets a deadline in the past,
// which interrupts a blocked read or write (and is cleared again before
// Login returns); a ctx that is never done leaves raw's deadlines alone.
//
// It fails, before sending anything, with the errors of Command. A "-ERR"
// reply is an error wrapping sasl.ErrAuthFailed that quotes the server's
// text (RFC 2449 response codes such as [IN-USE] show there); a reply that
// is neither, sasl.ErrMalformed. A longer reply (sasl.ErrTooLarge), an I/O
// error and ctx done mid-login give errors wrapping sasl.ErrOutOfStep:
// close the connection. Login never falls back to USER/PASS.
func Login(ctx context.Context, tp *textproto.Conn, raw net.Conn, greeting, username, password string, cfg *ClientConfig) (err error) {
	cmd, err := Command(sasl.ClientConn(raw), greeting, username, password, cfg)
	if err != nil {
		return err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if stop() {
				return
			}
			raw.SetDeadline(time.Time{})
			if err != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (%w)", err, ctx.Err())
			}
		}()
	}
	if err := tp.PrintfLine("%s", cmd); err != nil {
		return fmt.Errorf("apop: sending APOP: %w (%w)", err, sasl.ErrOutOfStep)
	}
	line, err := apopReadLine(tp.R)
	if err != nil {
		return err
	}
	switch {
	case line == "+OK" || len(line) > 3 && line[:4] == "+OK ":
		return nil
	case line == "-ERR" || len(line) > 4 && line[:5] == "-ERR ":
		return fmt.Errorf("apop: server refused APOP: %q: %w", apopReplyText(line[4:]), sasl.ErrAuthFailed)
	}
	return fmt.Errorf("apop: reply to APOP is neither +OK nor -ERR: %w", sasl.ErrMalformed)
}

// apopReadLine reads one line of at most maxLineLen octets including the
// line end and returns it without CRLF.
func apopReadLine(r *bufio.Reader) (string, error) {
	line, err := sasl.ReadLine(r, maxLineLen)
	if err != nil {
		if errors.Is(err, io.EOF) { // a reply was due
			err = io.ErrUnexpectedEOF
		}
		if !errors.Is(err, sasl.ErrOutOfStep) {
			err = fmt.Errorf("%w (%w)", err, sasl.ErrOutOfStep)
		}
		return "", fmt.Errorf("apop: reading the reply to APOP: %w", err)
	}
	return line, nil
}

// apopReplyText makes the server's text safe to quote in an error: printable
// ASCII only, and at most maxReplyTextLen octets.
func apopReplyText(s string) string {
	if len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	b := make([]byte, 0, min(len(s), maxReplyTextLen))
	for i := 0; i < len(s) && len(b) < maxReplyTextLen; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
