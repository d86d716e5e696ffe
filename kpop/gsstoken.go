package kpop

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// GSS-API token layer of the Kerberos V5 mechanism: the RFC 2743 Section 3.1
// framing of context tokens, the RFC 4121 Section 4.1.1 authenticator
// checksum, and RFC 4121 Section 4.2.6.2 Wrap tokens. gokrb5 has pieces of
// these (gssapi.WrapToken assumes RRC 0 and offers no acceptor side), so
// they are written here on gokrb5's checksum functions.

// Bounds.
const (
	// maxTokenLen bounds a GSS-API token and a sendauth message. An AP-REQ
	// is a ticket plus an authenticator: about 600 octets from MIT, a few
	// kilobytes with an Active Directory PAC (tickets are capped at 64 KiB
	// by MaxTokenSize in Windows).
	maxTokenLen = 64 << 10
	// maxAuthzidLen bounds the authorization identity in the client's
	// security-layer message (RFC 4752, Section 3.1).
	maxAuthzidLen = 1024
)

// krb5OID is the DER encoding of the Kerberos V5 mechanism OID
// 1.2.840.113554.1.2.2 (RFC 1964, Section 1), tag and length included.
var krb5OID = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

// Token identifiers (RFC 4121, Section 4.1 and 4.2.6).
var (
	tokAPReq    = [2]byte{0x01, 0x00}
	tokAPRep    = [2]byte{0x02, 0x00}
	tokKRBError = [2]byte{0x03, 0x00}
	tokWrap     = [2]byte{0x05, 0x04}
)

// gssFrame returns the RFC 2743 Section 3.1 InitialContextToken framing of
// inner: [APPLICATION 0] { mech OID, TOK_ID, inner }. Kerberos uses the
// framing for the AP-REQ, the AP-REP and the KRB-ERROR (RFC 4121, Section
// 4.1).
func gssFrame(tok [2]byte, inner []byte) []byte {
	n := len(krb5OID) + 2 + len(inner)
	b := make([]byte, 0, n+6)
	b = append(b, 0x60)
	b = appendDERLength(b, n)
	b = append(b, krb5OID...)
	b = append(b, tok[:]...)
	return append(b, inner...)
}

func appendDERLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// gssUnframe parses the framing of gssFrame and returns TOK_ID and the
// inner token. The length must be DER (shortest form) and cover exactly
// the rest of b; the OID must be Kerberos V5's.
func gssUnframe(b []byte) (tok [2]byte, inner []byte, err error) {
	if len(b) > maxTokenLen {
		return tok, nil, fmt.Errorf("token longer than %d octets: %w", maxTokenLen, sasl.ErrTooLarge)
	}
	if len(b) < 2 || b[0] != 0x60 {
		return tok, nil, fmt.Errorf("not a GSS-API context token (RFC 2743, Section 3.1): %w", sasl.ErrMalformed)
	}
	n, hdr := 0, 2
	switch l := b[1]; {
	case l < 0x80:
		n = int(l)
	case l >= 0x81 && l <= 0x83:
		k := int(l & 0x7f)
		if len(b) < 2+k {
			return tok, nil, fmt.Errorf("truncated token length: %w", sasl.ErrMalformed)
		}
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr = 2 + k
		if b[2] == 0 || n < 0x80 {
			return tok, nil, fmt.Errorf("token length not in DER form: %w", sasl.ErrMalformed)
		}
	default:
		return tok, nil, fmt.Errorf("bad token length octet: %w", sasl.ErrMalformed)
	}
	if n != len(b)-hdr {
		return tok, nil, fmt.Errorf("token length %d does not match its %d octets: %w", n, len(b)-hdr, sasl.ErrMalformed)
	}
	rest := b[hdr:]
	if !bytes.HasPrefix(rest, krb5OID) {
		return tok, nil, fmt.Errorf("mechanism is not Kerberos V5: %w", sasl.ErrMalformed)
	}
	rest = rest[len(krb5OID):]
	if len(rest) < 2 {
		return tok, nil, fmt.Errorf("truncated token: no TOK_ID: %w", sasl.ErrMalformed)
	}
	tok = [2]byte{rest[0], rest[1]}
	return tok, rest[2:], nil
}

// GSS-API context flags of the authenticator checksum (RFC 4121, Section
// 4.1.1.1; RFC 2744 values).
const (
	flagDeleg    = 1
	flagMutual   = 2
	flagReplay   = 4
	flagSequence = 8
	flagConf     = 16
	flagInteg    = 32
)

// gssChecksumType is the authenticator checksum type of RFC 4121, Section
// 4.1.1: 0x8003, "not a real checksum" but a carrier of channel bindings
// and flags.
const gssChecksumType = 0x8003

// gssChecksum returns the 24-octet 0x8003 checksum value: Lgth = 16 (LE),
// a zero channel-binding hash (RFC 4752 passes no bindings), flags (LE).
func gssChecksum(flags uint32) types.Checksum {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:4], 16)
	binary.LittleEndian.PutUint32(b[20:24], flags)
	return types.Checksum{CksumType: gssChecksumType, Checksum: b}
}

// parseGSSChecksum checks the 0x8003 checksum of an AP-REQ authenticator
// (RFC 4121, Section 4.1.1) and returns its flags. A delegated credential
// (flag 1, with DlgOpt, Dlgth and Deleg after the flags) is skipped: the
// server never uses one. Extensions after it are ignored, as RFC 4121
// allows.
func parseGSSChecksum(c types.Checksum) (uint32, error) {
	if c.CksumType != gssChecksumType {
		return 0, &krbError{code: codeInappCksum, kind: ErrBadChecksum,
			msg: fmt.Sprintf("authenticator checksum type %d is not the GSS-API 0x8003", c.CksumType)}
	}
	b := c.Checksum
	if len(b) < 24 {
		return 0, &krbError{code: codeInappCksum, kind: ErrBadChecksum, msg: "authenticator checksum shorter than 24 octets"}
	}
	if binary.LittleEndian.Uint32(b[0:4]) != 16 {
		return 0, &krbError{code: codeInappCksum, kind: ErrBadChecksum, msg: "authenticator checksum Lgth is not 16"}
	}
	// RFC 4752, Section 5: SASL passes no channel bindings, so the hash
	// must be zero; a client that bound the token to a channel this
	// server knows nothing of is refused rather than silently unbound.
	for _, c := range b[4:20] {
		if c != 0 {
			return 0, &krbError{code: codeInappCksum, kind: ErrBadChecksum, msg: "authenticator checksum carries channel bindings"}
		}
	}
	flags := binary.LittleEndian.Uint32(b[20:24])
	if flags&flagDeleg != 0 {
		if len(b) < 28 {
			return 0, &krbError{code: codeInappCksum, kind: ErrBadChecksum, msg: "authenticator checksum truncated in the delegation fields"}
		}
		dlgth := int(binary.LittleEndian.Uint16(b[26:28]))
		if len(b) < 28+dlgth {
			return 0, &krbError{code: codeInappCksum, kind: ErrBadChecksum, msg: "authenticator checksum truncated in the delegated credential"}
		}
	}
	return flags, nil
}

// Wrap token flags (RFC 4121, Section 4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// wrapHeaderLen is the length of a Wrap token header (RFC 4121, Section
// 4.2.6.2).
const wrapHeaderLen = 16

// wrapKeys are the keys of an established context. Per-message tokens
// use the acceptor subkey when the acceptor sent one, else the
// initiator's subkey, else the ticket session key (RFC 4121, Section 2).
type wrapKeys struct {
	dk          *dkCache
	session     types.EncryptionKey
	initiatorSK types.EncryptionKey // KeyType 0: none
	acceptorSK  types.EncryptionKey // KeyType 0: none
}

// sendKey returns the key and flags for a token we send.
func (k *wrapKeys) sendKey(acceptor bool) (types.EncryptionKey, byte) {
	var fl byte
	if acceptor {
		fl = wrapSentByAcceptor
	}
	if k.acceptorSK.KeyType != 0 {
		return k.acceptorSK, fl | wrapAcceptorSubkey
	}
	if k.initiatorSK.KeyType != 0 {
		return k.initiatorSK, fl
	}
	return k.session, fl
}

// recvKey returns the key of a token we received with flags fl: the
// acceptor subkey when AcceptorSubkey is set (and one was sent), else the
// initiator subkey or session key, as MIT's unwrap does.
func (k *wrapKeys) recvKey(fl byte) (types.EncryptionKey, error) {
	if fl&wrapAcceptorSubkey != 0 {
		if k.acceptorSK.KeyType == 0 {
			return types.EncryptionKey{}, fmt.Errorf("wrap token flags an acceptor subkey that was never sent: %w", sasl.ErrMalformed)
		}
		return k.acceptorSK, nil
	}
	if k.initiatorSK.KeyType != 0 {
		return k.initiatorSK, nil
	}
	return k.session, nil
}

// wrapChecksumLen returns the checksum length of key's enctype: EC of an
// integrity-only Wrap token.
func wrapChecksumLen(key types.EncryptionKey) (int, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return 0, err
	}
	return et.GetHMACBitLength() / 8, nil
}

// wrapChecksum computes the checksum of an integrity-only Wrap token:
// over payload ‖ header with EC and RRC zero (RFC 4121, Section 4.2.4).
func wrapChecksum(c *dkCache, key types.EncryptionKey, usage uint32, flags byte, seq uint64, payload []byte) ([]byte, error) {
	et, err := cryptoFor(c, key.KeyType)
	if err != nil {
		return nil, err
	}
	m := make([]byte, len(payload)+wrapHeaderLen)
	copy(m, payload)
	h := m[len(payload):]
	h[0], h[1], h[2], h[3] = tokWrap[0], tokWrap[1], flags, 0xff
	binary.BigEndian.PutUint64(h[8:], seq)
	return et.GetChecksumHash(key.KeyValue, m, usage)
}

// makeWrap returns an integrity-only Wrap token (conf_flag FALSE, as RFC
// 4752, Section 3.1 asks) carrying payload, with RRC 0 as MIT sends.
func (k *wrapKeys) makeWrap(acceptor bool, seq uint64, payload []byte) ([]byte, error) {
	key, fl := k.sendKey(acceptor)
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if acceptor {
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	sum, err := wrapChecksum(k.dk, key, usage, fl, seq, payload)
	if err != nil {
		return nil, err
	}
	b := make([]byte, wrapHeaderLen, wrapHeaderLen+len(payload)+len(sum))
	b[0], b[1], b[2], b[3] = tokWrap[0], tokWrap[1], fl, 0xff
	binary.BigEndian.PutUint16(b[4:6], uint16(len(sum)))
	binary.BigEndian.PutUint64(b[8:16], seq)
	b = append(b, payload...)
	return append(b, sum...), nil
}

// wrapToken is a parsed Wrap token, its data un-rotated.
type wrapToken struct {
	flags   byte
	ec      int
	seq     uint64
	payload []byte
	sum     []byte
}

// parseWrap parses an integrity-only Wrap token (RFC 4121, Section
// 4.2.6.2), undoing the right rotation by RRC (Section 4.2.5) that
// Windows applies. It checks the header; the checksum is checked by
// unwrap, which knows the key.
func parseWrap(b []byte) (*wrapToken, error) {
	if len(b) > maxTokenLen {
		return nil, fmt.Errorf("wrap token longer than %d octets: %w", maxTokenLen, sasl.ErrTooLarge)
	}
	if len(b) < wrapHeaderLen {
		return nil, fmt.Errorf("truncated wrap token: %d octets: %w", len(b), sasl.ErrMalformed)
	}
	if b[0] != tokWrap[0] || b[1] != tokWrap[1] {
		return nil, fmt.Errorf("not a wrap token (TOK_ID %02x %02x): %w", b[0], b[1], sasl.ErrMalformed)
	}
	if b[3] != 0xff {
		return nil, fmt.Errorf("wrap token filler is not 0xFF: %w", sasl.ErrMalformed)
	}
	w := &wrapToken{flags: b[2], ec: int(binary.BigEndian.Uint16(b[4:6])), seq: binary.BigEndian.Uint64(b[8:16])}
	if w.flags&wrapSealed != 0 {
		// RFC 4752, Section 3.1 wraps the negotiation with conf_flag
		// FALSE; gokrb5 cannot unseal, and nothing needs it.
		return nil, fmt.Errorf("sealed wrap token: only integrity-only tokens are accepted: %w", sasl.ErrMalformed)
	}
	data := b[wrapHeaderLen:]
	if w.ec > len(data) {
		return nil, fmt.Errorf("truncated wrap token: checksum of %d octets in %d: %w", w.ec, len(data), sasl.ErrMalformed)
	}
	if rrc := int(binary.BigEndian.Uint16(b[6:8])); rrc != 0 && len(data) > 0 {
		// The data was rotated right by RRC; rotate it left back.
		rrc %= len(data)
		d := make([]byte, len(data))
		copy(d, data[rrc:])
		copy(d[len(data)-rrc:], data[:rrc])
		data = d
	}
	w.payload, w.sum = data[:len(data)-w.ec], data[len(data)-w.ec:]
	return w, nil
}

// unwrap verifies a Wrap token from the peer and returns its payload. It
// checks the direction flag, the checksum under the key the flags name,
// and the sequence number, which must be wantSeq: the SASL negotiation is
// the first token in each direction (RFC 4752, Section 3.1 makes any
// GSS_Unwrap supplementary status, such as a gap, fatal).
func (k *wrapKeys) unwrap(b []byte, fromAcceptor bool, wantSeq uint64) ([]byte, error) {
	w, err := parseWrap(b)
	if err != nil {
		return nil, err
	}
	if (w.flags&wrapSentByAcceptor != 0) != fromAcceptor {
		return nil, &krbError{code: codeBadDirection, kind: ErrIntegrity, msg: "wrap token has the wrong direction flag"}
	}
	key, err := k.recvKey(w.flags)
	if err != nil {
		return nil, err
	}
	n, err := wrapChecksumLen(key)
	if err != nil {
		return nil, err
	}
	if w.ec != n {
		return nil, &krbError{code: codeModified, kind: ErrIntegrity, msg: fmt.Sprintf("wrap token EC %d is not the %d-octet checksum of its enctype", w.ec, n)}
	}
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if fromAcceptor {
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	want, err := wrapChecksum(k.dk, key, usage, w.flags, w.seq, w.payload)
	if err != nil {
		return nil, err
	}
	// Constant time: the checksum is a MAC under the context key, and an
	// early exit would let the peer learn it octet by octet.
	if !hmacEqual(w.sum, want) {
		return nil, &krbError{code: codeModified, kind: ErrIntegrity, msg: "wrap token checksum does not verify"}
	}
	if w.seq != wantSeq {
		return nil, &krbError{code: codeBadSeq, kind: ErrSequence, msg: "wrap token has the wrong sequence number"}
	}
	return w.payload, nil
}
