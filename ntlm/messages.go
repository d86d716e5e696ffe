package ntlm

// The three NTLM messages ([MS-NLMP] Section 2.2.1) and the AV pairs of
// target info ([MS-NLMP] Section 2.2.2.1). Parsers keep subslices of the
// message they were given; every offset and length read from the wire is
// checked in 64-bit arithmetic before it is used, because a 32-bit offset
// plus a 16-bit length wraps in 32 bits (the CVE-2026-32952 class).

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-mailauth/mailauth/sasl"
)

// signature opens every NTLM message ([MS-NLMP] Section 2.2.1).
const signature = "NTLMSSP\x00"

// Message types ([MS-NLMP] Section 2.2.1).
const (
	typeNegotiate    = 1
	typeChallenge    = 2
	typeAuthenticate = 3
)

// NegotiateFlags bits ([MS-NLMP] Section 2.2.2.5).
const (
	flagUnicode                 = 0x00000001 // A
	flagOEM                     = 0x00000002 // B
	flagRequestTarget           = 0x00000004 // C
	flagSign                    = 0x00000010 // D
	flagSeal                    = 0x00000020 // E
	flagDatagram                = 0x00000040 // F
	flagLMKey                   = 0x00000080 // G
	flagNTLM                    = 0x00000200 // H
	flagAnonymous               = 0x00000800 // J
	flagOEMDomainSupplied       = 0x00001000 // K
	flagOEMWorkstationSupplied  = 0x00002000 // L
	flagAlwaysSign              = 0x00008000 // M
	flagTargetTypeDomain        = 0x00010000 // N
	flagTargetTypeServer        = 0x00020000 // O
	flagExtendedSessionSecurity = 0x00080000 // P
	flagIdentify                = 0x00100000 // Q
	flagRequestNonNTSessionKey  = 0x00400000 // R
	flagTargetInfo              = 0x00800000 // S
	flagVersion                 = 0x02000000 // T
	flag128                     = 0x20000000 // U
	flagKeyExch                 = 0x40000000 // V
	flag56                      = 0x80000000 // W
	flagsNeverOffered           = flagKeyExch | flagLMKey | flagSign | flagSeal | flagDatagram
	flagsEchoedInChallenge      = flag128 | flag56 | flagVersion | flagAlwaysSign | flagExtendedSessionSecurity
	clientNegotiateFlags        = flagUnicode | flagOEM | flagRequestTarget | flagNTLM | flagAlwaysSign | flagExtendedSessionSecurity | flagVersion | flag128 | flag56
	_                           = flagTargetTypeServer | flagIdentify | flagRequestNonNTSessionKey | flagOEMDomainSupplied | flagOEMWorkstationSupplied
)

// AV pair identifiers ([MS-NLMP] Section 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avDNSTreeName     = 5
	avFlags           = 6
	avTimestamp       = 7
	avSingleHost      = 8
	avTargetName      = 9
	avChannelBindings = 10
)

// MsvAvFlags bits ([MS-NLMP] Section 2.2.2.1).
const (
	avFlagMIC = 0x00000002 // the AUTHENTICATE carries a MIC
)

// Fixed layout ([MS-NLMP] Sections 2.2.1.1-2.2.1.3, 2.2.2.10).
const (
	negotiateMinLen      = 16 // signature, type, flags: what the oldest clients send
	negotiateFieldsLen   = 32 // plus the domain and workstation fields
	challengeMinLen      = 32 // up to the server challenge (no target info)
	challengeHeaderLen   = 48 // with the target info field
	challengePayload     = 56 // with the Version field: where our payload starts
	authenticateMinLen   = 64 // six fields and the flags
	versionOffset        = 64 // the Version field, when the payload leaves room
	micOffset            = 72 // the MIC, after Version ([MS-NLMP] 2.2.1.3)
	authenticatePayload  = 88 // where the payload starts when a MIC is present
	micLen               = 16
	ntProofLen           = 16
	blobHeaderLen        = 28 // RespType .. Reserved3 ([MS-NLMP] 2.2.2.7)
	ntlmv2MinResponseLen = ntProofLen + blobHeaderLen + 4
	ntlmv1ResponseLen    = 24 // NTLMv1 and the NTLM2 session response
)

// maxMessageLen bounds every message this package parses. The largest
// real AUTHENTICATE seen (Windows 7 with MIC, channel bindings and a target
// name, research/ntlm-vectors.json) is 592 bytes; 16 KiB leaves room for
// long names while bounding what one step may make us hold and hash.
const maxMessageLen = 16 << 10

// field is a security buffer: a 16-bit length and a 32-bit offset into the
// message ([MS-NLMP] Section 2.2.2.10, the MaxLen field is ignored).
type field struct {
	off uint64
	len uint64
}

// readField reads the security buffer at header offset at and checks, in
// 64-bit arithmetic, that it lies inside msg.
func readField(msg []byte, at int, what string) (field, []byte, error) {
	f := field{
		len: uint64(binary.LittleEndian.Uint16(msg[at:])),
		off: uint64(binary.LittleEndian.Uint32(msg[at+4:])),
	}
	if f.len == 0 {
		return f, nil, nil
	}
	if f.off+f.len > uint64(len(msg)) {
		return f, nil, fmt.Errorf("%w: %s field (offset %d, length %d) runs past the %d-byte message",
			sasl.ErrMalformed, what, f.off, f.len, len(msg))
	}
	return f, msg[f.off : f.off+f.len], nil
}

// checkHeader checks the signature, type and size bounds shared by the
// three messages.
func checkHeader(msg []byte, typ uint32, minLen int, step string) error {
	if len(msg) > maxMessageLen {
		return fmt.Errorf("%w: NTLM %s: %d bytes, limit %d", sasl.ErrTooLarge, step, len(msg), maxMessageLen)
	}
	if len(msg) < minLen {
		return fmt.Errorf("%w: NTLM %s: %d bytes, need at least %d", sasl.ErrMalformed, step, len(msg), minLen)
	}
	if string(msg[:8]) != signature {
		return fmt.Errorf("%w: NTLM %s: no NTLMSSP signature", sasl.ErrMalformed, step)
	}
	if got := binary.LittleEndian.Uint32(msg[8:]); got != typ {
		return fmt.Errorf("%w: NTLM %s: message type %d, want %d", sasl.ErrMalformed, step, got, typ)
	}
	return nil
}

// negotiateMessage is a parsed NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1).
type negotiateMessage struct {
	flags       uint32
	domain      []byte // OEM, as supplied; unused but bounds-checked
	workstation []byte
}

// parseNegotiate parses a NEGOTIATE_MESSAGE. Messages of 16 to 31 bytes
// (signature, type and flags only) are accepted, as old clients send them.
func parseNegotiate(msg []byte) (negotiateMessage, error) {
	var m negotiateMessage
	if err := checkHeader(msg, typeNegotiate, negotiateMinLen, "NEGOTIATE"); err != nil {
		return m, err
	}
	m.flags = binary.LittleEndian.Uint32(msg[12:])
	if len(msg) < negotiateFieldsLen {
		return m, nil
	}
	var err error
	if _, m.domain, err = readField(msg, 16, "NEGOTIATE domain"); err != nil {
		return m, err
	}
	if _, m.workstation, err = readField(msg, 24, "NEGOTIATE workstation"); err != nil {
		return m, err
	}
	return m, nil
}

// challengeMessage is a parsed CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2).
type challengeMessage struct {
	flags           uint32
	serverChallenge [8]byte
	targetName      []byte
	targetInfo      []byte // the raw AV pairs, through MsvAvEOL
	av              avPairs
}

// parseChallenge parses a CHALLENGE_MESSAGE and its target info.
func parseChallenge(msg []byte) (challengeMessage, error) {
	var m challengeMessage
	if err := checkHeader(msg, typeChallenge, challengeMinLen, "CHALLENGE"); err != nil {
		return m, err
	}
	var err error
	if _, m.targetName, err = readField(msg, 12, "CHALLENGE target name"); err != nil {
		return m, err
	}
	m.flags = binary.LittleEndian.Uint32(msg[20:])
	copy(m.serverChallenge[:], msg[24:32])
	if m.flags&flagTargetInfo == 0 || len(msg) < challengeHeaderLen {
		return m, nil
	}
	var info []byte
	if _, info, err = readField(msg, 40, "CHALLENGE target info"); err != nil {
		return m, err
	}
	if len(info) == 0 {
		return m, nil
	}
	if m.av, err = parseAVPairs(info, "CHALLENGE"); err != nil {
		return m, err
	}
	m.targetInfo = info[:m.av.end]
	return m, nil
}

// authenticateMessage is a parsed AUTHENTICATE_MESSAGE ([MS-NLMP]
// 2.2.1.3). Its slices point into the message it was parsed from.
type authenticateMessage struct {
	flags       uint32
	lm          []byte
	nt          []byte
	domain      []byte
	user        []byte
	workstation []byte
	sessionKey  []byte // EncryptedRandomSessionKey
	// payloadStart is the lowest offset of a non-empty field: the Version
	// and MIC fields exist only when it leaves room for them.
	payloadStart uint64
}

// hasMICField reports whether the header leaves room for the MIC at
// offset 72.
func (m *authenticateMessage) hasMICField() bool { return m.payloadStart >= authenticatePayload }

// parseAuthenticate parses an AUTHENTICATE_MESSAGE. It refuses fields that
// run past the message, start inside the 64-byte header, or overlap each
// other: overlapping fields would let one set of bytes be read as two
// things (a user name that is also part of the NT response).
func parseAuthenticate(msg []byte) (authenticateMessage, error) {
	var m authenticateMessage
	if err := checkHeader(msg, typeAuthenticate, authenticateMinLen, "AUTHENTICATE"); err != nil {
		return m, err
	}
	var fs [6]field
	var err error
	dst := [6]*[]byte{&m.lm, &m.nt, &m.domain, &m.user, &m.workstation, &m.sessionKey}
	names := [6]string{"AUTHENTICATE LM response", "AUTHENTICATE NT response", "AUTHENTICATE domain",
		"AUTHENTICATE user", "AUTHENTICATE workstation", "AUTHENTICATE session key"}
	for i := range fs {
		if fs[i], *dst[i], err = readField(msg, 12+8*i, names[i]); err != nil {
			return m, err
		}
	}
	m.flags = binary.LittleEndian.Uint32(msg[60:])
	m.payloadStart = uint64(len(msg))
	for i, f := range fs {
		if f.len == 0 {
			continue
		}
		if f.off < authenticateMinLen {
			return m, fmt.Errorf("%w: %s field starts at %d, inside the header", sasl.ErrMalformed, names[i], f.off)
		}
		m.payloadStart = min(m.payloadStart, f.off)
		for j := i + 1; j < len(fs); j++ {
			g := fs[j]
			if g.len != 0 && f.off < g.off+g.len && g.off < f.off+f.len {
				return m, fmt.Errorf("%w: %s and %s fields overlap", sasl.ErrMalformed, names[i], names[j])
			}
		}
	}
	return m, nil
}

// avPairs is what this package reads from an AV pair list.
type avPairs struct {
	flags           uint32
	hasFlags        bool
	timestamp       uint64 // FILETIME
	hasTimestamp    bool
	channelBindings []byte // 16 bytes when present
	targetName      []byte
	end             int // offset just past MsvAvEOL
}

// maxAVPairs bounds the AV pairs one list may hold. Windows sends at most
// eleven kinds; 64 leaves room for unknown ones while bounding the work.
const maxAVPairs = 64

// nextAV reads the AV pair at off. It returns the offset of the next one.
func nextAV(b []byte, off int) (id uint16, val []byte, next int, err error) {
	if len(b)-off < 4 {
		return 0, nil, 0, fmt.Errorf("AV pair at %d is truncated", off)
	}
	id = binary.LittleEndian.Uint16(b[off:])
	n := int(binary.LittleEndian.Uint16(b[off+2:]))
	if len(b)-off-4 < n {
		return 0, nil, 0, fmt.Errorf("AV pair %d at %d (length %d) runs past the list", id, off, n)
	}
	return id, b[off+4 : off+4+n], off + 4 + n, nil
}

// parseAVPairs parses an AV pair list up to MsvAvEOL. Bytes after MsvAvEOL
// are ignored (Windows pads the client blob with zeros after it). A list
// without MsvAvEOL, a repeated known pair, or a known pair of the wrong
// size is malformed: two MsvAvChannelBindings could be read differently
// by two checkers.
func parseAVPairs(b []byte, step string) (avPairs, error) {
	var av avPairs
	var seen uint32
	off := 0
	for range maxAVPairs {
		id, val, next, err := nextAV(b, off)
		if err != nil {
			return av, fmt.Errorf("%w: NTLM %s: %v", sasl.ErrMalformed, step, err)
		}
		if id <= avChannelBindings {
			if seen&(1<<id) != 0 {
				return av, fmt.Errorf("%w: NTLM %s: AV pair %d repeated", sasl.ErrMalformed, step, id)
			}
			seen |= 1 << id
		}
		want := -1
		switch id {
		case avEOL:
			want = 0
			av.end = next
		case avFlags:
			want = 4
		case avTimestamp:
			want = 8
		case avChannelBindings:
			want = 16
		}
		if want >= 0 && len(val) != want {
			return av, fmt.Errorf("%w: NTLM %s: AV pair %d has length %d, want %d", sasl.ErrMalformed, step, id, len(val), want)
		}
		switch id {
		case avEOL:
			return av, nil
		case avFlags:
			av.flags, av.hasFlags = binary.LittleEndian.Uint32(val), true
		case avTimestamp:
			av.timestamp, av.hasTimestamp = binary.LittleEndian.Uint64(val), true
		case avChannelBindings:
			av.channelBindings = val
		case avTargetName:
			av.targetName = val
		}
		off = next
	}
	return av, fmt.Errorf("%w: NTLM %s: more than %d AV pairs", sasl.ErrTooLarge, step, maxAVPairs)
}

// appendAV appends one AV pair.
func appendAV(dst []byte, id uint16, val []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, id)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(val)))
	return append(dst, val...)
}

// appendAVString appends an AV pair holding s in UTF-16LE, as every name
// pair is ([MS-NLMP] 2.2.2.1).
func appendAVString(dst []byte, id uint16, s string) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, id)
	lenAt := len(dst)
	dst = append(dst, 0, 0)
	dst = appendUTF16(dst, s)
	binary.LittleEndian.PutUint16(dst[lenAt:], uint16(len(dst)-lenAt-2))
	return dst
}

// putField writes a security buffer for a payload of n bytes at off.
func putField(msg []byte, at, off, n int) {
	binary.LittleEndian.PutUint16(msg[at:], uint16(n))
	binary.LittleEndian.PutUint16(msg[at+2:], uint16(n))
	binary.LittleEndian.PutUint32(msg[at+4:], uint32(off))
}

// appendUTF16 appends s in UTF-16LE. Invalid UTF-8 becomes U+FFFD.
func appendUTF16(dst []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			dst = binary.LittleEndian.AppendUint16(dst, uint16(r1))
			r = r2
		}
		dst = binary.LittleEndian.AppendUint16(dst, uint16(r))
	}
	return dst
}

// appendOEM appends s as single bytes (Latin-1, what curl sends when
// Unicode was not negotiated); runes above U+00FF become '?'.
func appendOEM(dst []byte, s string) []byte {
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		dst = append(dst, byte(r))
	}
	return dst
}

// decodeString decodes a name field: UTF-16LE when Unicode was negotiated,
// else one byte per rune (Latin-1, as curl and fetchmail widen bytes).
func decodeString(b []byte, unicode bool, what string) (string, error) {
	if !unicode {
		ascii := true
		for _, c := range b {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			return string(b), nil
		}
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), nil
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: NTLM AUTHENTICATE: %s has an odd number of bytes in UTF-16", sasl.ErrMalformed, what)
	}
	var stack [128]byte
	out := stack[:0]
	for i := 0; i < len(b); i += 2 {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		if utf16.IsSurrogate(u) && i+3 < len(b) {
			if r := utf16.DecodeRune(u, rune(binary.LittleEndian.Uint16(b[i+2:]))); r != utf8.RuneError {
				out = utf8.AppendRune(out, r)
				i += 2
				continue
			}
		}
		if utf16.IsSurrogate(u) {
			u = utf8.RuneError
		}
		out = utf8.AppendRune(out, u)
	}
	return string(out), nil
}
