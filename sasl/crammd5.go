package sasl

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CRAMMD5 is the CRAM-MD5 mechanism name (RFC 2195). CRAM-MD5 is legacy:
// RFC 2195 is Informational, the server is not authenticated, and a
// recorded exchange lets an eavesdropper test password guesses offline.
const CRAMMD5 = "CRAM-MD5"

// cramMaxUsername bounds the username in a CRAM-MD5 response; the RFC sets
// no limit, PLAIN's per-field bound is used.
const cramMaxUsername = 1024

// cramMaxResponse bounds the whole response: username, space, 32 hex digits.
const cramMaxResponse = cramMaxUsername + 1 + 2*md5.Size

// cramMaxChallenge bounds the challenge a client accepts: RFC 2195 uses an
// RFC 822 msg-id, a few dozen bytes; 1024 leaves room for long host names
// while keeping a hostile server from making the client hash megabytes.
const cramMaxChallenge = 1024

// cramSecretPrefix is the scheme prefix of Dovecot's passwd-file entries.
const cramSecretPrefix = "{CRAM-MD5}"

// cramMarshaledSize is the length of crypto/md5's MarshalBinary state:
// "md5\x01", four big-endian state words, the 64-byte block buffer and the
// big-endian byte count.
const cramMarshaledSize = 4 + 4*4 + md5.BlockSize + 8

// NewCRAMMD5Client returns a Client for CRAM-MD5 (RFC 2195). It sends no
// initial response and answers the server's challenge with
// username SP lowercase-hex(HMAC-MD5(password, challenge)).
//
// CRAM-MD5 does not authenticate the server, and anyone who records the
// exchange can test password guesses offline: use it only inside TLS, and
// prefer SCRAM. Start fails with an error wrapping ErrMalformed for an empty
// username or password, and ErrTooLarge for a username over 1024 bytes;
// Next fails with ErrMalformed or ErrTooLarge for an empty or oversized
// challenge and with ErrUnexpectedServerChallenge for a second one. The
// Client is single-use and not safe for concurrent use.
func newCRAMMD5Client(username, password string) Client {
	return &cramClient{username: username, password: password}
}

func newCRAMMD5Server(env *serverEnv, mech string) IdentityServer {
	return &cramServer{serverEnv: env, mech: mech}
}

func newCRAMMD5ClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return newCRAMMD5Client(cfg.Username, cfg.Password), nil
}

// NewCRAMMD5Secret returns the CRAM-MD5 secret of password: the MD5 states
// after absorbing the HMAC inner and outer padded keys (RFC 2104,
// Section 2), as Dovecot's {CRAM-MD5} scheme and `doveadm pw -s CRAM-MD5`
// compute them. A password longer than 64 bytes is first hashed, as HMAC
// requires. The result lets a server verify CRAM-MD5 without storing the
// password, but it is password-equivalent for CRAM-MD5: keep it secret.
func NewCRAMMD5Secret(password string) CRAMMD5Secret {
	var key [md5.BlockSize]byte
	if len(password) > md5.BlockSize {
		sum := md5.Sum([]byte(password))
		copy(key[:], sum[:])
	} else {
		copy(key[:], password)
	}
	var sec CRAMMD5Secret
	// Dovecot's layout (hmac_md5_get_cram_context): outer state first.
	cramAbsorbPad(sec[:16], &key, 0x5c)
	cramAbsorbPad(sec[16:], &key, 0x36)
	return sec
}

// cramAbsorbPad runs crypto/md5 over key XOR pad and stores the resulting
// state words little-endian into dst, the layout of CRAMMD5Secret.
func cramAbsorbPad(dst []byte, key *[md5.BlockSize]byte, pad byte) {
	var block [md5.BlockSize]byte
	for i := range block {
		block[i] = key[i] ^ pad
	}
	h := md5.New()
	h.Write(block[:])
	var st [cramMarshaledSize]byte
	b, err := h.(encoding.BinaryAppender).AppendBinary(st[:0])
	if err != nil || len(b) != cramMarshaledSize {
		// unreachable: crypto/md5 always marshals its state in this layout.
		panic("sasl: unexpected crypto/md5 state encoding")
	}
	for i := range 4 {
		binary.LittleEndian.PutUint32(dst[4*i:], binary.BigEndian.Uint32(b[4+4*i:]))
	}
}

// ParseCRAMMD5Secret parses a CRAM-MD5 secret in Dovecot's form:
// "{CRAM-MD5}" followed by 64 hex digits, the prefix optional and
// case-insensitive, the digits of either case. It returns an error wrapping
// ErrMalformed for anything else; the error never contains the input.
func ParseCRAMMD5Secret(s string) (CRAMMD5Secret, error) {
	var sec CRAMMD5Secret
	if len(s) >= len(cramSecretPrefix) && strings.EqualFold(s[:len(cramSecretPrefix)], cramSecretPrefix) {
		s = s[len(cramSecretPrefix):]
	}
	if len(s) != 2*len(sec) {
		return CRAMMD5Secret{}, fmt.Errorf("%w: CRAM-MD5 secret has %d hex digits, want %d", ErrMalformed, len(s), 2*len(sec))
	}
	if _, err := hex.Decode(sec[:], []byte(s)); err != nil {
		return CRAMMD5Secret{}, fmt.Errorf("%w: CRAM-MD5 secret is not hex", ErrMalformed)
	}
	return sec, nil
}

// String returns the secret in Dovecot's passwd-file form: "{CRAM-MD5}" and
// 64 lowercase hex digits. The value is password-equivalent for CRAM-MD5: do
// not log it.
func (s CRAMMD5Secret) String() string {
	var buf [len(cramSecretPrefix) + 2*len(s)]byte
	copy(buf[:], cramSecretPrefix)
	hex.Encode(buf[len(cramSecretPrefix):], s[:])
	return string(buf[:])
}

// cramDigest computes HMAC-MD5(key, challenge) from the key's midstates:
// each state is restored into crypto/md5 with UnmarshalBinary, so the two
// padded-key blocks are never hashed again. It fails only when crypto/md5
// refuses to run (FIPS 140-only mode).
func cramDigest(sec *CRAMMD5Secret, challenge []byte, out *[md5.Size]byte) error {
	h := md5.New()
	var st [cramMarshaledSize]byte
	cramMidstate(&st, sec[16:]) // inner
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st[:]); err != nil {
		return err
	}
	if _, err := h.Write(challenge); err != nil {
		return err
	}
	var inner [md5.Size]byte
	h.Sum(inner[:0])
	cramMidstate(&st, sec[:16]) // outer
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st[:]); err != nil {
		return err
	}
	if _, err := h.Write(inner[:]); err != nil {
		return err
	}
	h.Sum(out[:0])
	return nil
}

// cramMidstate builds, in crypto/md5's MarshalBinary layout, the MD5 state
// given by half a CRAMMD5Secret: its words, after one 64-byte block.
func cramMidstate(st *[cramMarshaledSize]byte, words []byte) {
	copy(st[:], "md5\x01")
	for i := range 4 {
		binary.BigEndian.PutUint32(st[4+4*i:], binary.LittleEndian.Uint32(words[4*i:]))
	}
	clear(st[4+16 : cramMarshaledSize-8])
	binary.BigEndian.PutUint64(st[cramMarshaledSize-8:], md5.BlockSize)
}

type cramClient struct {
	username, password string
	answered           bool
}

var _ Client = (*cramClient)(nil)

// Start checks the credentials; CRAM-MD5 is server-first, so there is no
// initial response.
func (c *cramClient) Start() (string, []byte, error) {
	switch {
	case c.username == "":
		return "", nil, fmt.Errorf("%w: CRAM-MD5: empty username", ErrMalformed)
	case c.password == "":
		return "", nil, fmt.Errorf("%w: CRAM-MD5: empty password", ErrMalformed)
	case len(c.username) > cramMaxUsername:
		return "", nil, fmt.Errorf("%w: CRAM-MD5: username longer than %d bytes", ErrTooLarge, cramMaxUsername)
	}
	return CRAMMD5, nil, nil
}

// Next answers the challenge (RFC 2195, Section 2).
func (c *cramClient) Next(challenge []byte) ([]byte, error) {
	if c.answered {
		return nil, ErrUnexpectedServerChallenge
	}
	c.answered = true
	switch {
	case len(challenge) == 0:
		return nil, fmt.Errorf("%w: CRAM-MD5 challenge is empty", ErrMalformed)
	case len(challenge) > cramMaxChallenge:
		return nil, fmt.Errorf("%w: CRAM-MD5 challenge longer than %d bytes", ErrTooLarge, cramMaxChallenge)
	}
	sec := NewCRAMMD5Secret(c.password)
	var sum [md5.Size]byte
	if err := cramDigest(&sec, challenge, &sum); err != nil {
		return nil, err
	}
	resp := make([]byte, 0, len(c.username)+1+2*md5.Size)
	resp = append(resp, c.username...)
	resp = append(resp, ' ')
	return hex.AppendEncode(resp, sum[:]), nil
}

// cramState is where a CRAM-MD5 server exchange stands.
type cramState uint8

const (
	cramStart      cramState = iota // nothing sent
	cramChallenged                  // challenge sent, response expected
	cramFinished                    // succeeded or failed
)

type cramServer struct {
	*serverEnv
	mech  string
	state cramState
	// challenge is the challenge sent; tests set it before the first Next
	// to replay RFC 2195's vector.
	challenge []byte
}

var _ IdentityServer = (*cramServer)(nil)

// Next sends the challenge, then checks the response (RFC 2195, Section 2).
func (s *cramServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case cramStart:
		if len(response) != 0 {
			s.state = cramFinished
			return nil, false, fmt.Errorf("%w: CRAM-MD5 takes no initial response", ErrMalformed)
		}
		if s.challenge == nil {
			s.challenge = cramNewChallenge(s.cfg.hostname())
		}
		s.state = cramChallenged
		return s.challenge, false, nil
	case cramChallenged:
		s.state = cramFinished
		username, digest, err := cramParseResponse(response)
		if err != nil {
			return nil, false, err
		}
		if err := s.verify(username, &digest); err != nil {
			return nil, false, err
		}
		if err := s.succeed(Identity{Mechanism: s.mech, Username: username}); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, ErrUnexpectedClientResponse
}

// cramNewChallenge returns <random.time@host>, the msg-id form of RFC 2195,
// Section 2, with 64 bits from crypto/rand so challenges never repeat.
func cramNewChallenge(host string) []byte {
	r := binary.BigEndian.Uint64(randomBytes(8))
	b := make([]byte, 0, 2+20+1+20+1+len(host))
	b = append(b, '<')
	b = strconv.AppendUint(b, r, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, '@')
	b = append(b, host...)
	return append(b, '>')
}

// cramParseResponse splits username SP digest, the digest being 32
// lowercase hex digits (RFC 2195, Section 2). The last space separates
// them, since a username may contain spaces.
func cramParseResponse(resp []byte) (string, [md5.Size]byte, error) {
	var digest [md5.Size]byte
	if len(resp) > cramMaxResponse {
		return "", digest, fmt.Errorf("%w: CRAM-MD5 response longer than %d bytes", ErrTooLarge, cramMaxResponse)
	}
	sp := bytes.LastIndexByte(resp, ' ')
	if sp < 0 {
		return "", digest, fmt.Errorf("%w: CRAM-MD5 response has no space", ErrMalformed)
	}
	user, hx := resp[:sp], resp[sp+1:]
	switch {
	case sp == 0:
		return "", digest, fmt.Errorf("%w: CRAM-MD5 username is empty", ErrMalformed)
	case len(hx) != 2*md5.Size:
		return "", digest, fmt.Errorf("%w: CRAM-MD5 digest has %d characters, want %d", ErrMalformed, len(hx), 2*md5.Size)
	case !cramLowerHex(hx):
		return "", digest, fmt.Errorf("%w: CRAM-MD5 digest is not lowercase hex", ErrMalformed)
	case bytes.IndexByte(user, 0) >= 0:
		return "", digest, fmt.Errorf("%w: CRAM-MD5 username contains NUL", ErrMalformed)
	case !utf8.Valid(user):
		return "", digest, fmt.Errorf("%w: CRAM-MD5 username is not UTF-8", ErrMalformed)
	}
	hex.Decode(digest[:], hx) // cannot fail: checked above
	return string(user), digest, nil
}

func cramLowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// verify checks digest against the user's secret. An unknown user is
// checked against a dummy secret, so both paths do the same work and end in
// the same ErrAuthFailed.
func (s *cramServer) verify(username string, digest *[md5.Size]byte) error {
	var sec CRAMMD5Secret
	unknown := false
	switch cfg := s.cfg; {
	case cfg.CRAMMD5 != nil:
		v, err := cfg.CRAMMD5.LookupCRAMMD5(s.ctx, username)
		if err != nil {
			if !errors.Is(err, ErrUnknownUser) {
				return err
			}
			unknown, v = true, CRAMMD5Secret{} // a dummy: same work as a real secret
		}
		sec = v
	case cfg.Plaintext != nil:
		pw, err := cfg.Plaintext.LookupPassword(s.ctx, username)
		if err != nil {
			if !errors.Is(err, ErrUnknownUser) {
				return err
			}
			unknown, pw = true, ""
		}
		sec = NewCRAMMD5Secret(pw)
	default:
		return fmt.Errorf("%w: no CRAM-MD5 credentials configured", ErrUnsupportedMechanism)
	}
	var want [md5.Size]byte
	if err := cramDigest(&sec, s.challenge, &want); err != nil {
		return err
	}
	// Constant time: the digest is attacker-chosen, and an early exit
	// would tell them how many leading bytes of the expected one matched.
	if !hmac.Equal(want[:], digest[:]) || unknown {
		return ErrAuthFailed
	}
	return nil
}
