// Package ntlm implements NTLMv2 authentication ([MS-NLMP]) on both sides,
// and the NTLM SASL mechanism that Exchange, Microsoft 365 and Outlook
// ("Secure Password Authentication") speak over IMAP ([MS-OXIMAP4]), POP3
// ([MS-OXPOP3]) and SMTP ([MS-SMTPNTLM]).
//
// For most uses, put [NewServerMechanism] in sasl.ServerConfig.Extra and
// [NewClientMechanism] in sasl.ClientConfig.Extra. The server needs an
// [NTHashLookup]; sasl/passdb's DB and Reloader are one ({NTLM} entries,
// and PLAIN ones from which the NT hash is derived).
//
// # Security
//
// NTLM does not authenticate the server, a captured exchange can be
// attacked offline, and the stored NT hash is password-equivalent: a
// thief can log in with it. The mechanism is therefore Legacy and
// NeedsTLS: a sasl.ServerSet offers it only inside TLS and only when
// legacy mechanisms are enabled.
//
// The server accepts NTLMv2 only. LM, NTLMv1 and the NTLM2 session
// response (NTLMv1 with a client nonce) reduce to DES searches that
// recover the NT hash from one capture, so they are refused with
// [ErrNotNTLMv2]; anonymous logins with [ErrAnonymous]. The CHALLENGE
// never offers NEGOTIATE_KEY_EXCH, LM_KEY, SIGN or SEAL: there is no
// security layer after a mail login, and go-ntlmssp refuses KEY_EXCH and
// LM_KEY. It offers extended session security whenever the client asks,
// because curl falls back to NTLMv1 without it.
//
// Each CHALLENGE carries a fresh random server challenge that is used for
// one AUTHENTICATE only and expires after ServerConfig.ChallengeLifetime.
// The NTProofStr is computed over the client's blob exactly as received
// (Windows pads it after MsvAvEOL) and compared in constant time, first
// with the domain the client sent and then with an empty one ([MS-NLMP]
// 3.2.5.1.2). After it, the server checks the blob's timestamp
// (ServerConfig.MaxClockSkew), the MIC when the client's MsvAvFlags says
// one was sent, and the client's channel bindings against the certificate
// this server served ([ChannelBindingPolicy]). An unknown user costs the
// same HMACs as a wrong password and ends in the same error.
//
// The client sends NTLMv2 with a MIC, MsvAvTargetName when
// ClientConfig.TargetName is set, and channel bindings
// (tls-server-end-point, RFC 5929) when the connection is TLS, so servers
// that require Extended Protection accept it. It derives NTOWFv2 once per
// [NewClientMechanism] and keeps it instead of the password.
//
// Azure/go-ntlmssp, the Go NTLM client in common use, has no server side
// and sends neither a MIC nor channel bindings; this package builds both
// sides on x/crypto's MD4 and the standard library, and runs go-ntlmssp as
// the independent client of its tests and the baseline of its benchmarks.
//
// [MS-NLMP]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/
// [MS-OXIMAP4]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oximap4/
// [MS-OXPOP3]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxpop3/
// [MS-SMTPNTLM]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-smtpntlm/
package ntlm

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/md4"

	"github.com/go-mailauth/mailauth/sasl"
)

// MechanismName is the SASL name of NTLM (IANA SASL registry; the
// [MS-OXIMAP4], [MS-OXPOP3] and [MS-SMTPNTLM] keyword).
const MechanismName = "NTLM"

// Errors of this package. Each also matches sasl.ErrAuthFailed with
// errors.Is, so a sasl.Exchange answers them like a wrong password.
var (
	// ErrNotNTLMv2 means the client sent an LM, NTLMv1 or NTLM2 session
	// response; the server accepts NTLMv2 only.
	ErrNotNTLMv2 = fmt.Errorf("%w: NTLM: only NTLMv2 is accepted", sasl.ErrAuthFailed)
	// ErrAnonymous means the client asked for an anonymous login.
	ErrAnonymous = fmt.Errorf("%w: NTLM: anonymous login refused", sasl.ErrAuthFailed)
	// ErrChallengeExpired means the AUTHENTICATE came after the server
	// challenge's lifetime (ServerConfig.ChallengeLifetime).
	ErrChallengeExpired = fmt.Errorf("%w: NTLM: server challenge expired", sasl.ErrAuthFailed)
	// ErrStaleTimestamp means the timestamp in the client's NTLMv2 blob is
	// outside ServerConfig.MaxClockSkew of the server's clock.
	ErrStaleTimestamp = fmt.Errorf("%w: NTLM: response timestamp outside the allowed window", sasl.ErrAuthFailed)
	// ErrMIC means the client announced a MIC and it did not match the
	// three messages: they were altered on the way.
	ErrMIC = fmt.Errorf("%w: NTLM: message integrity code mismatch", sasl.ErrAuthFailed)

	// errAuthFailed is the one error of an unknown user and of a wrong
	// password: the same value, so neither the caller nor the peer can
	// tell them apart.
	errAuthFailed = fmt.Errorf("%w: NTLM AUTHENTICATE: bad response", sasl.ErrAuthFailed)
)

// NTHashLookup returns the NT hash, MD4 of the UTF-16LE password
// ([MS-NLMP] 3.3.1 NTOWFv1), of a user. It returns an error wrapping
// sasl.ErrUnknownUser for a user it does not hold or cannot give a hash
// for; the server then does the same work as for a wrong password. Other
// errors are passed to the caller unwrapped (a store that is down).
// sasl/passdb's DB and Reloader implement it. It must be safe for
// concurrent use.
type NTHashLookup interface {
	LookupNTHash(ctx context.Context, username string) ([16]byte, error)
}

// Hash returns the NT hash of password: MD4 of its UTF-16LE encoding
// ([MS-NLMP] 3.3.1 NTOWFv1), what an [NTHashLookup] returns and
// Dovecot's {NTLM} scheme stores. It is password-equivalent.
func Hash(password string) [16]byte {
	var stack [256]byte
	h := md4.New()
	h.Write(appendUTF16(stack[:0], password))
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// ChannelBindingPolicy says what the server does with the channel bindings
// (MsvAvChannelBindings, [MS-NLMP] 2.2.2.1) in a client's NTLMv2 blob.
// Channel bindings tie the login to this TLS connection: a relay that
// terminates the client's TLS and logs in over its own cannot forward
// them. The server compares them with tls-server-end-point of the
// certificate it served (RFC 5929 Section 4), never the peer's.
type ChannelBindingPolicy int

const (
	// ChannelBindingIfPresent (the zero value) checks bindings the client
	// sent and accepts clients that send none (curl, go-ntlmssp, old
	// Outlook). A client that sends bindings over a connection without
	// TLS is refused: something between us terminated its TLS.
	ChannelBindingIfPresent ChannelBindingPolicy = iota
	// ChannelBindingRequired refuses clients that send no bindings or
	// bindings that do not match. Only Windows clients with Extended
	// Protection and this package's client send them.
	ChannelBindingRequired
	// ChannelBindingIgnored never looks at them: for servers behind a TLS
	// terminator, whose certificate the server does not know.
	ChannelBindingIgnored
)

// Defaults of ServerConfig.
const (
	// DefaultChallengeLifetime is how long a server challenge stays valid.
	// A client answers within a round trip; the bound limits how long a
	// half-open exchange holds a challenge an attacker could use.
	DefaultChallengeLifetime = 2 * time.Minute
	// DefaultMaxClockSkew is the timestamp window of the NTLMv2 blob: the
	// MaxLifetime of [MS-NLMP] 3.2.5.2.2, 36 hours in Windows and
	// gss-ntlmssp. The single-use challenge is the replay defence; the
	// window only rejects responses made for a different epoch. curl uses
	// its own clock, so it cannot be tight.
	DefaultMaxClockSkew = 36 * time.Hour
	// DefaultDomain and DefaultComputer are the NetBIOS names the
	// CHALLENGE carries when ServerConfig leaves them empty.
	DefaultDomain   = "WORKGROUP"
	DefaultComputer = "MAILAUTH"
)

// ServerConfig configures NTLM servers. It may be shared by many
// connections and must not be modified after first use.
type ServerConfig struct {
	// Hashes looks up users' NT hashes. Required.
	Hashes NTHashLookup
	// Domain and Computer are the NetBIOS domain and computer names sent
	// in the CHALLENGE (MsvAvNbDomainName, MsvAvNbComputerName, and the
	// target name). Empty means DefaultDomain and DefaultComputer. They
	// do not enter verification: the client's own domain field does.
	Domain, Computer string
	// DNSDomain and DNSComputer, when set, are sent as MsvAvDnsDomainName
	// and MsvAvDnsComputerName.
	DNSDomain, DNSComputer string
	// ChallengeLifetime bounds the time between CHALLENGE and
	// AUTHENTICATE. Zero means DefaultChallengeLifetime.
	ChallengeLifetime time.Duration
	// MaxClockSkew bounds the difference between the blob's timestamp and
	// the server's clock. Zero means DefaultMaxClockSkew; negative turns
	// the check off.
	MaxClockSkew time.Duration
	// ChannelBinding is the channel-binding policy; the zero value checks
	// bindings when the client sends them.
	ChannelBinding ChannelBindingPolicy

	now  func() time.Time // tests only: the clock
	rand io.Reader        // tests only: the server challenge source
}

func (c *ServerConfig) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// newServerChallenge returns 8 random bytes from crypto/rand ([MS-NLMP]
// 3.2.5.1.1: NONCE(8)), the only randomness of the server.
func (c *ServerConfig) newServerChallenge() (b [8]byte) {
	if c.rand != nil {
		io.ReadFull(c.rand, b[:])
		return b
	}
	rand.Read(b[:])
	return b
}

// filetime is t as a Windows FILETIME: 100 ns units since 1601-01-01 UTC.
// It is computed from Unix seconds so that years outside 1678-2262
// (the range of UnixNano) do not overflow.
func filetime(t time.Time) int64 {
	return t.Unix()*10_000_000 + int64(t.Nanosecond()/100) + 116444736000000000
}

// Server states.
const (
	srvStart = iota
	srvWantNegotiate
	srvWantAuthenticate
	srvDone
	srvFailed
)

// server is one NTLM exchange on the server side. It is single-use and not
// safe for concurrent use.
type server struct {
	ctx context.Context // the exchange's, from NewServer: go-sasl's Next takes none
	cfg *ServerConfig   // shared, read-only
	// cbWant is MD5 of the gss_channel_bindings_struct for this connection
	// (the certificate we served), nil when TLS gives none.
	cbWant []byte

	state           int
	unicode         bool // negotiated string encoding of the AUTHENTICATE
	serverChallenge [8]byte
	issued          time.Time
	negotiate       []byte // a copy: the MIC covers it
	challenge       []byte // the CHALLENGE we sent: the MIC covers it
	user            string
	keys            keys // scratch space that stays with the exchange
}

// keys holds the secrets and intermediate values of one exchange, in one
// allocation: passed to hash.Hash methods they would each escape.
type keys struct {
	nt, key, proof, sessionKey, mic, zero [16]byte
	cc                                    [8]byte   // the client challenge
	id                                    [128]byte // UTF16LE(Uppercase(User) + UserDom)
}

// hmacSum writes HMAC-MD5(key, a ‖ b...) into dst.
func hmacSum(dst *[16]byte, key, a []byte, b ...[]byte) {
	h := hmac.New(md5.New, key)
	h.Write(a)
	for _, p := range b {
		h.Write(p)
	}
	h.Sum(dst[:0])
}

// newServer returns the server side of one exchange. cbAppData is the
// channel-binding application data of this connection ("tls-server-end-point:"
// and the hash), nil when there is none.
func newServer(ctx context.Context, cfg *ServerConfig, cbAppData []byte) *server {
	s := &server{ctx: ctx, cfg: cfg}
	if cbAppData != nil {
		cb := channelBindingsHash(cbAppData)
		s.cbWant = cb[:]
	}
	return s
}

// next is the server's state machine: an empty challenge when the client
// sent no initial response ([MS-OXIMAP4] 3.1.5.1, [MS-SMTPNTLM] 3.2.5.1),
// the CHALLENGE for a NEGOTIATE, and done for a verified AUTHENTICATE.
func (s *server) next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case srvStart:
		if response == nil {
			s.state = srvWantNegotiate
			return []byte{}, false, nil
		}
		fallthrough
	case srvWantNegotiate:
		ch, err := s.handleNegotiate(response)
		if err != nil {
			s.state = srvFailed
			return nil, false, err
		}
		s.state = srvWantAuthenticate
		return ch, false, nil
	case srvWantAuthenticate:
		// Single use: whatever the outcome, this challenge is spent.
		s.state = srvFailed
		if err := s.handleAuthenticate(response); err != nil {
			return nil, false, err
		}
		s.state = srvDone
		return nil, true, nil
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// handleNegotiate parses the NEGOTIATE and builds the CHALLENGE
// ([MS-NLMP] 3.2.5.1.1).
func (s *server) handleNegotiate(msg []byte) ([]byte, error) {
	neg, err := parseNegotiate(msg)
	if err != nil {
		return nil, err
	}
	s.negotiate = append([]byte(nil), msg...)
	flags := uint32(flagNTLM | flagRequestTarget | flagTargetTypeDomain | flagTargetInfo)
	// Echo what the client asked for of what we support; never KEY_EXCH,
	// LM_KEY, SIGN, SEAL or DATAGRAM (flagsNeverOffered).
	flags |= neg.flags & flagsEchoedInChallenge
	if neg.flags&flagUnicode != 0 {
		flags |= flagUnicode
		s.unicode = true
	} else {
		flags |= flagOEM
	}
	s.serverChallenge = s.cfg.newServerChallenge()
	s.issued = s.cfg.clock()
	s.challenge = s.buildChallenge(flags)
	return s.challenge, nil
}

func (s *server) buildChallenge(flags uint32) []byte {
	domain := cmpOr(s.cfg.Domain, DefaultDomain)
	computer := cmpOr(s.cfg.Computer, DefaultComputer)
	msg := make([]byte, challengePayload, 256)
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeChallenge)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:], s.serverChallenge[:])
	putVersion(msg[48:])

	nameOff := len(msg)
	if s.unicode {
		msg = appendUTF16(msg, domain)
	} else {
		msg = appendOEM(msg, domain)
	}
	putField(msg, 12, nameOff, len(msg)-nameOff)

	infoOff := len(msg)
	msg = appendAVString(msg, avNbDomainName, domain)
	msg = appendAVString(msg, avNbComputerName, computer)
	if s.cfg.DNSDomain != "" {
		msg = appendAVString(msg, avDNSDomainName, s.cfg.DNSDomain)
	}
	if s.cfg.DNSComputer != "" {
		msg = appendAVString(msg, avDNSComputerName, s.cfg.DNSComputer)
	}
	// MsvAvTimestamp: clients then send a MIC ([MS-NLMP] 3.1.5.1.2). No
	// MsvAvFlags here: an empty one makes Windows 10 compute a MIC no
	// server matches (gss-ntlmssp PR #98).
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], uint64(filetime(s.issued)))
	msg = appendAV(msg, avTimestamp, ts[:])
	msg = appendAV(msg, avEOL, nil)
	putField(msg, 40, infoOff, len(msg)-infoOff)
	return msg
}

// putVersion writes our 8-byte VERSION structure ([MS-NLMP] 2.2.2.10):
// 10.0, build 0, NTLMSSP_REVISION_W2K3.
func putVersion(b []byte) {
	b[0], b[1] = 10, 0
	b[7] = 15
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// handleAuthenticate parses and verifies the AUTHENTICATE ([MS-NLMP]
// 3.2.5.1.2, 3.3.2).
func (s *server) handleAuthenticate(msg []byte) error {
	m, err := parseAuthenticate(msg)
	if err != nil {
		return err
	}
	// Policy before any lookup: none of this depends on the user.
	if m.flags&flagAnonymous != 0 || len(m.user) == 0 {
		return fmt.Errorf("%w (empty user name or the anonymous flag)", ErrAnonymous)
	}
	switch n := len(m.nt); {
	case n == 0:
		return fmt.Errorf("%w (LM response only)", ErrNotNTLMv2)
	case n == ntlmv1ResponseLen && m.flags&flagExtendedSessionSecurity != 0:
		return fmt.Errorf("%w (NTLM2 session response)", ErrNotNTLMv2)
	case n == ntlmv1ResponseLen:
		return fmt.Errorf("%w (NTLMv1 response)", ErrNotNTLMv2)
	case n < ntlmv2MinResponseLen:
		return fmt.Errorf("%w: NTLM AUTHENTICATE: NT response of %d bytes is neither NTLMv1 nor NTLMv2", sasl.ErrMalformed, n)
	}
	proof, blob := m.nt[:ntProofLen], m.nt[ntProofLen:]
	// NTLMv2_CLIENT_CHALLENGE ([MS-NLMP] 2.2.2.7): RespType, HiRespType 1.
	if blob[0] != 1 || blob[1] != 1 {
		return fmt.Errorf("%w: NTLM AUTHENTICATE: NTLMv2 blob version %d.%d, want 1.1", sasl.ErrMalformed, blob[0], blob[1])
	}
	av, err := parseAVPairs(blob[blobHeaderLen:], "AUTHENTICATE")
	if err != nil {
		return err
	}
	withMIC := av.hasFlags && av.flags&avFlagMIC != 0
	if withMIC && !m.hasMICField() {
		return fmt.Errorf("%w: NTLM AUTHENTICATE: MsvAvFlags announces a MIC but the payload starts at %d", sasl.ErrMalformed, m.payloadStart)
	}
	// The challenge's age: public, so checked before the lookup.
	now := s.cfg.clock()
	if now.Sub(s.issued) > cmpOrDur(s.cfg.ChallengeLifetime, DefaultChallengeLifetime) {
		return ErrChallengeExpired
	}
	user, err := decodeString(m.user, s.unicode, "user name")
	if err != nil {
		return err
	}
	if strings.ContainsRune(user, 0) {
		// A NUL would end the name early in C stores and logs.
		return fmt.Errorf("%w: NTLM AUTHENTICATE: user name contains NUL", sasl.ErrMalformed)
	}

	k := &s.keys
	k.nt, err = s.cfg.Hashes.LookupNTHash(s.ctx, user)
	known := err == nil
	if err != nil && !errors.Is(err, sasl.ErrUnknownUser) {
		return err // the store failed: the caller's error, unwrapped
	}
	if !known {
		k.nt = [16]byte{}
	}

	// NTOWFv2 = HMAC_MD5(NT hash, UTF16LE(Uppercase(User) + UserDom))
	// ([MS-NLMP] 3.3.2), tried with the domain the client sent and then,
	// as for a standalone server, with an empty one. An unknown user runs
	// the same HMACs over a zero hash.
	id := appendUpperIdentity(k.id[:0], user)
	userLen := len(id)
	if s.unicode {
		id = append(id, m.domain...)
	} else {
		id = appendWidened(id, m.domain)
	}
	ok := false
	for _, ident := range [2][]byte{id, id[:userLen]} {
		hmacSum(&k.key, k.nt[:], ident)
		hmacSum(&k.proof, k.key[:], s.serverChallenge[:], blob)
		// Constant time: proof is attacker-chosen, and an early exit would
		// tell them how many leading bytes of the expected proof they got.
		if hmac.Equal(proof, k.proof[:]) && known {
			ok = true
			break
		}
		if len(m.domain) == 0 {
			break
		}
	}
	if !ok {
		return errAuthFailed
	}

	// The blob's timestamp ([MS-NLMP] 3.2.5.2.2 MaxLifetime). It is
	// authenticated by the proof, so this is checked after it.
	if skew := cmpOrDur(s.cfg.MaxClockSkew, DefaultMaxClockSkew); skew > 0 {
		ts := binary.LittleEndian.Uint64(blob[8:16])
		d := filetime(now) - int64(ts)
		if ts > 1<<62 || d > int64(skew/100) || -d > int64(skew/100) {
			return ErrStaleTimestamp
		}
	}

	// MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖
	// AUTHENTICATE with the MIC zeroed) ([MS-NLMP] 3.1.5.1.2). We never
	// offer KEY_EXCH, so ExportedSessionKey is the SessionBaseKey.
	if withMIC {
		// SessionBaseKey = HMAC_MD5(NTOWFv2, NTProofStr) ([MS-NLMP] 3.3.2).
		hmacSum(&k.sessionKey, k.key[:], k.proof[:])
		hmacSum(&k.mic, k.sessionKey[:], s.negotiate, s.challenge, msg[:micOffset], k.zero[:], msg[micOffset+micLen:])
		// Constant time: a MIC is a MAC under the session key.
		if !hmac.Equal(msg[micOffset:micOffset+micLen], k.mic[:]) {
			return ErrMIC
		}
	}

	if err := s.checkChannelBindings(av.channelBindings); err != nil {
		return err
	}
	s.user = user
	return nil
}

// checkChannelBindings applies the ChannelBindingPolicy. got is the
// client's MsvAvChannelBindings, nil when absent; all zeros means the
// client has no bindings ([MS-NLMP] 3.1.5.1.2).
func (s *server) checkChannelBindings(got []byte) error {
	if s.cfg.ChannelBinding == ChannelBindingIgnored {
		return nil
	}
	sent := got != nil && !hmac.Equal(got, make([]byte, 16))
	if !sent {
		if s.cfg.ChannelBinding == ChannelBindingRequired {
			return fmt.Errorf("%w: NTLM AUTHENTICATE: the client sent no channel bindings", sasl.ErrChannelBinding)
		}
		return nil
	}
	if s.cbWant == nil {
		// The client believes it is inside TLS and we are not on its
		// channel: a relay terminated its TLS.
		return fmt.Errorf("%w: NTLM AUTHENTICATE: channel bindings sent, but this connection has none", sasl.ErrChannelBinding)
	}
	if !hmac.Equal(got, s.cbWant) {
		return fmt.Errorf("%w: NTLM AUTHENTICATE: channel bindings do not match this connection", sasl.ErrChannelBinding)
	}
	return nil
}

func cmpOrDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// channelBindingsHash is MD5 of a gss_channel_bindings_struct with no
// addresses and appData as application data ([MS-NLMP] 2.2.2.1
// MsvAvChannelBindings; RFC 2744 Section 3.11): four zero 32-bit fields,
// the 32-bit length of appData, appData.
func channelBindingsHash(appData []byte) [16]byte {
	h := md5.New()
	var hdr [20]byte
	binary.LittleEndian.PutUint32(hdr[16:], uint32(len(appData)))
	h.Write(hdr[:])
	h.Write(appData)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// tlsServerEndPointPrefix starts the application data of tls-server-end-point
// bindings in GSS-API and NTLM (RFC 5929 Section 4, RFC 5056).
const tlsServerEndPointPrefix = "tls-server-end-point:"

// appendUpperIdentity appends Uppercase(user) in UTF-16LE.
func appendUpperIdentity(dst []byte, user string) []byte {
	for i := 0; i < len(user); i++ {
		if user[i] >= 0x80 {
			return appendUTF16(dst, strings.ToUpper(user))
		}
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c, 0)
	}
	return dst
}

// appendWidened appends OEM (Latin-1) bytes as UTF-16LE.
func appendWidened(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, c, 0)
	}
	return dst
}

// ClientConfig holds an NTLM client's credentials and options. It may be
// shared and must not be modified after first use.
type ClientConfig struct {
	// Username is "user", `DOMAIN\user` or a UPN "user@example.com"; a UPN
	// is sent whole with an empty domain, as Windows does.
	Username string
	// Password is the user's password. It is ignored when NTHash is set.
	Password string
	// NTHash, when 16 bytes, is the NT hash to use instead of Password.
	NTHash []byte
	// Workstation is the client's NetBIOS name sent in the AUTHENTICATE;
	// empty sends none.
	Workstation string
	// TargetName is the service principal the client means to log in to,
	// sent as MsvAvTargetName ([MS-NLMP] 2.2.2.1), e.g. "imap/mail.example.com".
	// Empty sends none.
	TargetName string
}

// Client states.
const (
	cliStart = iota
	cliSentNegotiate
	cliDone
	cliFailed
)

// client is one NTLM exchange on the client side. It is single-use and not
// safe for concurrent use.
type client struct {
	cred      *credentials // shared, read-only
	cb        [16]byte     // MsvAvChannelBindings: zero without TLS
	state     int
	resent    bool // the NEGOTIATE was sent again after an empty challenge
	negotiate []byte
	negBuf    [40]byte // negotiate's storage: one allocation less
	keys      keys
	now       func() time.Time // tests only
	rand      io.Reader        // tests only
}

// credentials is what a client keeps of a ClientConfig: NTOWFv2, derived
// once, instead of the password ([MS-NLMP] 3.3.2: it depends only on the
// password, the user and the user's domain).
type credentials struct {
	user, domain, workstation, targetName string
	ntowfv2                               [16]byte
	// keyed is HMAC-MD5 keyed with NTOWFv2, its padded key already
	// absorbed (Reset precomputes both pads' states). Each exchange
	// clones it (hash.Cloner) and never writes to it, so it is safe to
	// share; a clone saves the two pad blocks of every HMAC under NTOWFv2.
	keyed hash.Hash
	err   error // a config error, reported by each exchange
}

// keyedMAC returns an HMAC-MD5 keyed with NTOWFv2 for one exchange.
func (cr *credentials) keyedMAC() hash.Hash {
	if c, ok := cr.keyed.(hash.Cloner); ok {
		if h, err := c.Clone(); err == nil {
			return h
		}
	}
	return hmac.New(md5.New, cr.ntowfv2[:])
}

// sumInto finishes h into dst.
func sumInto(h hash.Hash, dst *[16]byte) { h.Sum(dst[:0]) }

// derive checks cfg and derives its NTOWFv2.
func (cfg *ClientConfig) derive() *credentials {
	cr := &credentials{workstation: cfg.Workstation, targetName: cfg.TargetName}
	cr.user, cr.domain = splitUsername(cfg.Username)
	var nt [16]byte
	switch {
	case cr.user == "":
		cr.err = fmt.Errorf("%w: NTLM: empty user name (anonymous login is not supported)", sasl.ErrMalformed)
		return cr
	case len(cfg.NTHash) == 16:
		nt = [16]byte(cfg.NTHash)
	case cfg.NTHash != nil:
		cr.err = fmt.Errorf("%w: NTLM: NTHash has %d bytes, want 16", sasl.ErrMalformed, len(cfg.NTHash))
		return cr
	default:
		nt = Hash(cfg.Password)
	}
	var stack [128]byte
	id := appendUpperIdentity(stack[:0], cr.user)
	id = appendUTF16(id, cr.domain)
	hmacSum(&cr.ntowfv2, nt[:], id)
	cr.keyed = hmac.New(md5.New, cr.ntowfv2[:])
	cr.keyed.Reset() // precompute the pad states: clones then skip them
	return cr
}

// newClient returns the client side of one exchange. cbAppData is the
// channel-binding application data of this connection, nil without TLS.
func newClient(cfg *ClientConfig, cbAppData []byte) *client {
	return newClientFrom(cfg.derive(), cbAppData)
}

func newClientFrom(cred *credentials, cbAppData []byte) *client {
	c := &client{cred: cred}
	if cbAppData != nil {
		c.cb = channelBindingsHash(cbAppData)
	}
	return c
}

// start returns the NEGOTIATE ([MS-NLMP] 3.1.5.1.1): Unicode or OEM,
// NTLM, extended session security, 128/56 and VERSION; no SIGN, SEAL or
// KEY_EXCH, because mail has no security layer after the login.
func (c *client) start() []byte {
	msg := c.negBuf[:]
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeNegotiate)
	binary.LittleEndian.PutUint32(msg[12:], clientNegotiateFlags)
	putField(msg, 16, 40, 0)
	putField(msg, 24, 40, 0)
	putVersion(msg[32:])
	c.negotiate = msg
	c.state = cliSentNegotiate
	return msg
}

func (c *client) next(challenge []byte) ([]byte, error) {
	if c.state != cliSentNegotiate {
		c.state = cliFailed
		return nil, fmt.Errorf("%w: NTLM: no challenge expected at this step", sasl.ErrUnexpectedServerChallenge)
	}
	if len(challenge) == 0 && !c.resent {
		// The server asked for the client's first message (the framing
		// sent no initial response): send the NEGOTIATE again, once.
		c.resent = true
		return c.negotiate, nil
	}
	c.state = cliFailed
	msg, err := c.authenticate(challenge)
	if err != nil {
		return nil, err
	}
	c.state = cliDone
	return msg, nil
}

// splitUsername splits `DOMAIN\user`; a UPN or a plain name keeps an
// empty domain (go-ntlmssp and Windows do the same).
func splitUsername(s string) (user, domain string) {
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		return s[i+1:], s[:i]
	}
	return s, ""
}

// authenticate builds the AUTHENTICATE for a CHALLENGE ([MS-NLMP]
// 3.1.5.1.2, 3.3.2): NTLMv2 with MsvAvFlags (MIC), MsvAvChannelBindings
// and MsvAvTargetName in the blob, Z(24) as LM response, and the MIC at
// offset 72.
func (c *client) authenticate(challenge []byte) ([]byte, error) {
	ch, err := parseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	if ch.flags&flagNTLM == 0 {
		return nil, fmt.Errorf("%w: NTLM CHALLENGE: the server does not offer NTLM", sasl.ErrMalformed)
	}
	cr := c.cred
	if cr.err != nil {
		return nil, cr.err
	}
	k := &c.keys
	mac := cr.keyedMAC()
	unicode := ch.flags&flagUnicode != 0
	appendStr := appendOEM
	if unicode {
		appendStr = appendUTF16
	}

	var ft int64
	if ch.av.hasTimestamp {
		ft = int64(ch.av.timestamp)
	} else {
		ft = filetime(c.clock())
	}

	// Layout: 64-byte header, Version, MIC, then domain, user,
	// workstation, LM and NT responses.
	size := authenticatePayload + 2*(len(cr.user)+len(cr.domain)+len(cr.workstation)) + 24 +
		ntProofLen + blobHeaderLen + len(ch.targetInfo) + 8 + 8 + 20 + 4 + 2*len(cr.targetName) + 8 + 16
	msg := make([]byte, authenticatePayload, size)
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeAuthenticate)
	putVersion(msg[versionOffset:])

	off := len(msg)
	msg = appendStr(msg, cr.domain)
	putField(msg, 28, off, len(msg)-off)
	off = len(msg)
	msg = appendStr(msg, cr.user)
	putField(msg, 36, off, len(msg)-off)
	off = len(msg)
	msg = appendStr(msg, cr.workstation)
	putField(msg, 44, off, len(msg)-off)

	// LmChallengeResponse: Z(24) when the server sent target info
	// ([MS-NLMP] 3.1.5.2.1, as Windows does with a MIC), else LMv2.
	cc := k.cc[:]
	c.random(cc)
	off = len(msg)
	if ch.targetInfo != nil {
		msg = append(msg, make([]byte, 24)...)
	} else {
		// LMv2 = HMAC_MD5(NTOWFv2, ServerChallenge ‖ ClientChallenge) ‖ ClientChallenge
		mac.Write(ch.serverChallenge[:])
		mac.Write(cc)
		sumInto(mac, &k.mic)
		mac.Reset()
		msg = append(append(msg, k.mic[:]...), cc...)
	}
	putField(msg, 12, off, 24)

	// NtChallengeResponse = NTProofStr ‖ blob.
	ntOff := len(msg)
	msg = append(msg, make([]byte, ntProofLen)...)
	blobOff := len(msg)
	msg = append(msg, 1, 1, 0, 0, 0, 0, 0, 0)
	msg = binary.LittleEndian.AppendUint64(msg, uint64(ft))
	msg = append(msg, cc...)
	msg = append(msg, 0, 0, 0, 0)
	// The server's AV pairs, then ours ([MS-NLMP] 3.1.5.2.1).
	for i := 0; i < len(ch.targetInfo); {
		id, val, next, _ := nextAV(ch.targetInfo, i) // parsed already
		i = next
		switch id {
		case avEOL, avFlags, avChannelBindings, avTargetName, avSingleHost:
			continue
		}
		msg = appendAV(msg, id, val)
	}
	var fl [4]byte
	binary.LittleEndian.PutUint32(fl[:], avFlagMIC)
	msg = appendAV(msg, avFlags, fl[:])
	msg = appendAV(msg, avChannelBindings, c.cb[:])
	if cr.targetName != "" {
		msg = appendAVString(msg, avTargetName, cr.targetName)
	}
	msg = appendAV(msg, avEOL, nil)
	msg = append(msg, 0, 0, 0, 0)
	// NTProofStr = HMAC_MD5(NTOWFv2, ServerChallenge ‖ blob)
	mac.Write(ch.serverChallenge[:])
	mac.Write(msg[blobOff:])
	sumInto(mac, &k.proof)
	copy(msg[ntOff:], k.proof[:])
	putField(msg, 20, ntOff, len(msg)-ntOff)

	// SessionBaseKey = KeyExchangeKey for NTLMv2 ([MS-NLMP] 3.3.2, 3.4.5.1).
	mac.Reset()
	mac.Write(k.proof[:])
	sumInto(mac, &k.sessionKey)
	exported := k.sessionKey[:]
	flags := ch.flags&(clientNegotiateFlags|flagTargetInfo) | flagVersion
	flags &^= flagOEM
	if !unicode {
		flags = flags&^flagUnicode | flagOEM
	}
	off = len(msg)
	if ch.flags&flagKeyExch != 0 {
		// The server wants a random session key, RC4-encrypted under the
		// KeyExchangeKey ([MS-NLMP] 3.1.5.1.2); it keys the MIC.
		c.random(k.mic[:])
		rc, _ := rc4.NewCipher(exported)
		msg = append(msg, k.mic[:]...)
		rc.XORKeyStream(msg[off:], k.mic[:])
		exported = k.mic[:]
		flags |= flagKeyExch
	}
	putField(msg, 52, off, len(msg)-off)
	binary.LittleEndian.PutUint32(msg[60:], flags)

	hmacSum(&k.proof, exported, c.negotiate, challenge, msg)
	copy(msg[micOffset:], k.proof[:])
	return msg, nil
}

func (c *client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// random fills b from crypto/rand, the client's only randomness.
func (c *client) random(b []byte) {
	if c.rand != nil {
		io.ReadFull(c.rand, b)
		return
	}
	rand.Read(b)
}
