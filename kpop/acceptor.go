package kpop

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultMaxClockSkew is the clock skew an Acceptor allows when
// ServerConfig.MaxClockSkew is 0: MIT's and Active Directory's default of
// five minutes (RFC 4120, Section 1.6).
const DefaultMaxClockSkew = 5 * time.Minute

// DefaultMaxReplayEntries is the replay cache size when
// ServerConfig.MaxReplayEntries is 0. Each entry lives for twice the clock
// skew and takes about 50 octets, so this is ~3 MiB and room for over 200
// logins a second.
const DefaultMaxReplayEntries = 1 << 16

// Principal is a Kerberos principal name: its components and realm
// (RFC 4120, Section 6.2), such as ["alice"] "EXAMPLE.ORG" or
// ["imap", "mail.example.org"] "EXAMPLE.ORG".
type Principal struct {
	Components []string
	Realm      string
}

// String returns the principal in the usual text form,
// "comp1/comp2@REALM", with "/", "@" and "\" in components escaped by a
// backslash (RFC 1964, Section 2.1.1).
func (p Principal) String() string {
	var b strings.Builder
	for i, c := range p.Components {
		if i > 0 {
			b.WriteByte('/')
		}
		escapeName(&b, c, "/@\\")
	}
	b.WriteByte('@')
	escapeName(&b, p.Realm, "@\\")
	return b.String()
}

func escapeName(b *strings.Builder, s, special string) {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
}

// ServerConfig configures an Acceptor: the service's keytab and name, and
// how principals map to local users. A ServerConfig must not be modified
// after NewAcceptor.
type ServerConfig struct {
	// Keytab holds the service keys, as exported with kadmin's ktadd. It
	// may hold other principals' keys too: only service/Host@Realm is ever
	// used.
	Keytab *keytab.Keytab
	// Host is the service host, the second component of the service
	// principal, such as "mail.example.org". The acceptor accepts only
	// tickets for <service>/Host@Realm, service being "imap", "pop" or
	// "smtp" as each protocol names itself (RFC 4752, Section 3.2).
	Host string
	// Realm is the service's realm, and the realm LocalUser's default
	// accepts users from.
	Realm string
	// LocalUser maps an authenticated principal to the local user it logs
	// in as, the Username of the Identity reported. An error refuses the
	// login; return one wrapping ErrNoLocalUser for "no such user". If nil,
	// a principal of one component in Realm maps to that component
	// ("alice@EXAMPLE.ORG" is "alice"), and any other is refused.
	LocalUser func(ctx context.Context, p Principal) (string, error)
	// MaxClockSkew is the largest difference between the client's clock
	// and ours that an authenticator may show. If 0, DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// MaxReplayEntries bounds the replay cache. If 0,
	// DefaultMaxReplayEntries.
	MaxReplayEntries int

	// now, if not nil, replaces time.Now (tests only).
	now func() time.Time
}

// Acceptor is the server side of Kerberos for mail: it verifies AP-REQs
// for its own service principals, remembers the authenticators it has seen
// and makes AP-REPs. One Acceptor serves any number of connections (GSSAPI
// on IMAP, POP3 and SMTP, and KPOP) and is safe for concurrent use; they
// share its replay cache, so make one per process and service host.
type Acceptor struct {
	cfg   ServerConfig
	skew  time.Duration
	cache *replayCache
	dk    *dkCache
}

// NewAcceptor returns an Acceptor for cfg. It fails if cfg has no keytab,
// host or realm, or the keytab holds no key for any of imap/Host, pop/Host
// and smtp/Host in Realm.
func NewAcceptor(cfg *ServerConfig) (*Acceptor, error) {
	if cfg == nil || cfg.Keytab == nil {
		return nil, errors.New("kpop: ServerConfig.Keytab is nil")
	}
	if cfg.Host == "" || cfg.Realm == "" {
		return nil, errors.New("kpop: ServerConfig.Host and Realm are required")
	}
	found := false
	for _, e := range cfg.Keytab.Entries {
		if e.Principal.Realm == cfg.Realm && len(e.Principal.Components) == 2 && e.Principal.Components[1] == cfg.Host {
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("kpop: keytab has no key for a service on host %q in realm %q", cfg.Host, cfg.Realm)
	}
	a := &Acceptor{cfg: *cfg, skew: cfg.MaxClockSkew}
	if a.skew <= 0 {
		a.skew = DefaultMaxClockSkew
	}
	n := cfg.MaxReplayEntries
	if n <= 0 {
		n = DefaultMaxReplayEntries
	}
	a.cache = newReplayCache(n)
	a.dk = newDKCache()
	return a, nil
}

func (a *Acceptor) now() time.Time {
	if a.cfg.now != nil {
		return a.cfg.now()
	}
	return time.Now()
}

// ServicePrincipal returns the principal the Acceptor accepts tickets for
// as service ("imap", "pop" or "smtp"): service/Host@Realm.
func (a *Acceptor) ServicePrincipal(service string) Principal {
	return Principal{Components: []string{service, a.cfg.Host}, Realm: a.cfg.Realm}
}

// aesEnctype reports whether id is one of the AES enctypes (RFC 3962, RFC
// 8009): the only ones with RFC 4121 tokens that gokrb5 makes and the
// only ones current KDCs issue by default. DES, 3DES and RC4 are refused.
func aesEnctype(id int32) bool {
	switch id {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
		return true
	}
	return false
}

// keySize returns the key length of an AES enctype. It is not
// etype.GetKeyByteSize, which says 24 for aes256-cts-hmac-sha384-192
// (RFC 8009, Section 5 makes its keys 256 bits).
func keySize(id int32) int {
	switch id {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128:
		return 16
	case etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA384_192:
		return 32
	}
	return 0
}

// newKey returns a random key of enctype id (AES), from crypto/rand: for
// AES, random-to-key is the identity (RFC 3962, Section 6; RFC 8009,
// Section 5).
func newKey(id int32) types.EncryptionKey {
	b := make([]byte, keySize(id))
	rand.Read(b)
	return types.EncryptionKey{KeyType: id, KeyValue: b}
}

// checkKey checks that k is an AES key of the right length.
func checkKey(k types.EncryptionKey, what string) error {
	if !aesEnctype(k.KeyType) {
		return &krbError{code: codeEtype, kind: ErrEnctype, msg: fmt.Sprintf("%s has enctype %d", what, k.KeyType)}
	}
	if len(k.KeyValue) != keySize(k.KeyType) {
		return &krbError{code: codeEtype, kind: ErrEnctype, msg: fmt.Sprintf("%s has a key of %d octets", what, len(k.KeyValue))}
	}
	return nil
}

// decrypt decrypts ed with key and usage, refusing enctype mismatches and
// ciphertexts too short to hold a confounder and a checksum, on which
// gokrb5's decryption would panic.
func decrypt(c *dkCache, ed types.EncryptedData, key types.EncryptionKey, usage uint32, what string) ([]byte, error) {
	if ed.EType != key.KeyType {
		return nil, &krbError{code: codeEtype, kind: ErrEnctype, msg: fmt.Sprintf("%s encrypted with enctype %d, key is %d", what, ed.EType, key.KeyType)}
	}
	et, err := cryptoFor(c, key.KeyType)
	if err != nil {
		return nil, &krbError{code: codeEtype, kind: ErrEnctype, msg: fmt.Sprintf("%s: %v", what, err)}
	}
	if len(ed.Cipher) < et.GetConfounderByteSize()+et.GetHMACBitLength()/8 {
		return nil, &krbError{code: codeBadIntegrity, kind: ErrIntegrity, base: sasl.ErrMalformed, msg: what + " is truncated"}
	}
	b, err := et.DecryptMessage(key.KeyValue, ed.Cipher, usage)
	if err != nil {
		return nil, &krbError{code: codeBadIntegrity, kind: ErrIntegrity, msg: what + " does not decrypt"}
	}
	return b, nil
}

// parseAPReq unmarshals a raw AP-REQ (RFC 4120, Section 5.5.1).
func parseAPReq(b []byte) (ap *messages.APReq, err error) {
	if len(b) > maxTokenLen {
		return nil, fmt.Errorf("AP-REQ longer than %d octets: %w", maxTokenLen, sasl.ErrTooLarge)
	}
	if !derShape(b, 0) {
		return nil, fmt.Errorf("AP-REQ is not DER: %w", sasl.ErrMalformed)
	}
	defer func() {
		// gokrb5's and gofork's ASN.1 decoders are not written for
		// hostile input; a panic there is a malformed message here.
		if r := recover(); r != nil {
			ap, err = nil, fmt.Errorf("AP-REQ does not decode: %w", sasl.ErrMalformed)
		}
	}()
	ap = new(messages.APReq)
	if err := ap.Unmarshal(b); err != nil {
		return nil, &krbError{code: codeMsgType, kind: ErrIntegrity, base: sasl.ErrMalformed, msg: "AP-REQ does not decode"}
	}
	return ap, nil
}

// maxDERDepth bounds the nesting derShape follows; a Kerberos message
// nests about 10 deep.
const maxDERDepth = 32

// derShape reports whether b is exactly one DER element (low tag numbers,
// minimal definite lengths) whose constructed elements are each exactly
// covered by their children, to maxDERDepth. gofork's decoder skips the
// outer length of EXPLICIT tags and ignores trailing octets, so without
// this a message has many encodings; the cryptography of Kerberos covers
// the encrypted parts, not the framing around them.
func derShape(b []byte, depth int) bool {
	if depth > maxDERDepth {
		return false
	}
	s := cryptobyte.String(b)
	for n := 0; !s.Empty(); n++ {
		var el, content cryptobyte.String
		var tag cbasn1.Tag
		if (depth == 0 && n > 0) || !s.ReadAnyASN1Element(&el, &tag) {
			return false
		}
		if tag&0x20 != 0 { // constructed
			if !el.ReadAnyASN1(&content, &tag) || !derShape(content, depth+1) {
				return false
			}
		}
	}
	return depth > 0 || len(b) > 0
}

// accepted is the result of a verified AP-REQ.
type accepted struct {
	apreq    *messages.APReq // ticket and authenticator decrypted
	client   Principal
	user     string // LocalUser(client)
	mutual   bool   // the client asked for an AP-REP
	gssFlags uint32 // from the 0x8003 checksum, when gss
	keys     wrapKeys
	seqRecv  uint64 // the initiator's first sequence number
	seqSend  uint64 // ours: the AP-REP's, or the initiator's without one
	aprep    []byte // raw AP-REP, when mutual
}

// accept verifies a raw AP-REQ for service, as krb5_rd_req does, and
// makes the AP-REP if the client asked for mutual authentication. With gss
// the authenticator must carry the GSS-API checksum (RFC 4121, Section
// 4.1.1); without it (KPOP's krb5_sendauth) it may carry none. remote is
// the peer's address, for tickets that list client addresses.
func (a *Acceptor) accept(ctx context.Context, b []byte, service string, remote net.Addr, gss bool) (*accepted, error) {
	ap, err := parseAPReq(b)
	if err != nil {
		return nil, err
	}
	if ap.PVNO != 5 || ap.Ticket.TktVNO != 5 {
		return nil, &krbError{code: codeBadVersion, kind: ErrIntegrity, base: sasl.ErrMalformed, msg: "AP-REQ or ticket version is not 5"}
	}
	if types.IsFlagSet(&ap.APOptions, flags.APOptionUseSessionKey) {
		return nil, &krbError{code: codeNoKey, kind: ErrNoKey, msg: "user-to-user tickets are not accepted"}
	}
	// Trust boundary: the ticket's SName is the client's claim. gokrb5
	// would decrypt with whatever keytab key matches it, so a ticket for
	// another service whose key we happen to hold would pass (RFC 4752,
	// Section 3.2 and DESIGN: acceptors check the ticket is for them).
	want := a.ServicePrincipal(service)
	sn := ap.Ticket.SName.NameString
	if len(sn) != 2 || sn[0] != want.Components[0] || sn[1] != want.Components[1] || ap.Ticket.Realm != want.Realm {
		return nil, &krbError{code: codeNotUs, kind: ErrWrongService, msg: "ticket is for another service principal"}
	}
	if !aesEnctype(ap.Ticket.EncPart.EType) {
		return nil, &krbError{code: codeEtype, kind: ErrEnctype, msg: fmt.Sprintf("ticket encrypted with enctype %d", ap.Ticket.EncPart.EType)}
	}
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: want.Components}
	key, kvno, err := a.cfg.Keytab.GetEncryptionKey(sname, want.Realm, ap.Ticket.EncPart.KVNO, ap.Ticket.EncPart.EType)
	if err != nil {
		code := int32(codeNoKey)
		if _, _, err2 := a.cfg.Keytab.GetEncryptionKey(sname, want.Realm, 0, ap.Ticket.EncPart.EType); err2 == nil {
			code = codeBadKeyVer
		}
		return nil, &krbError{code: code, kind: ErrNoKey, msg: fmt.Sprintf("no key for kvno %d enctype %d", ap.Ticket.EncPart.KVNO, ap.Ticket.EncPart.EType)}
	}
	_ = kvno
	pt, err := decrypt(a.dk, ap.Ticket.EncPart, key, keyusage.KDC_REP_TICKET, "ticket")
	if err != nil {
		return nil, err
	}
	// From here the ticket is the KDC's word.
	if err := ap.Ticket.DecryptedEncPart.Unmarshal(pt); err != nil {
		return nil, &krbError{code: codeBadIntegrity, kind: ErrIntegrity, base: sasl.ErrMalformed, msg: "ticket part does not decode"}
	}
	tkt := &ap.Ticket.DecryptedEncPart
	if err := checkKey(tkt.Key, "session key"); err != nil {
		return nil, err
	}
	now := a.now().UTC()
	start := tkt.StartTime
	if start.IsZero() {
		start = tkt.AuthTime
	}
	if start.Sub(now) > a.skew || types.IsFlagSet(&tkt.Flags, flags.Invalid) {
		return nil, &krbError{code: codeTktNYV, kind: ErrTicketTime, msg: "ticket not yet valid"}
	}
	if now.Sub(tkt.EndTime) > a.skew {
		return nil, &krbError{code: codeTktExpired, kind: ErrTicketTime, msg: "ticket expired"}
	}
	if len(tkt.CAddr) > 0 {
		// Addressed tickets (MIT's noaddresses = false) are good only from
		// the addresses they list.
		var ip net.IP
		if ta, ok := remote.(*net.TCPAddr); ok {
			ip = ta.IP
		}
		if ip == nil || !types.HostAddressesContains(tkt.CAddr, types.HostAddressFromNetIP(ip)) {
			return nil, &krbError{code: codeBadAddr, kind: ErrBadMatch, msg: "ticket is not for the client's address"}
		}
	}
	// Authorization data, the MIT PAC included, is ignored on purpose:
	// MIT 1.20+ KDCs put a PAC without KerbValidationInfo in every ticket,
	// which gokrb5's service.VerifyAPREQ refuses (gokrb5#545), and nothing
	// here reads a PAC. The login rests on the ticket's client name alone.
	apt, err := decrypt(a.dk, ap.EncryptedAuthenticator, tkt.Key, keyusage.AP_REQ_AUTHENTICATOR, "authenticator")
	if err != nil {
		return nil, err
	}
	if err := ap.Authenticator.Unmarshal(apt); err != nil {
		return nil, &krbError{code: codeBadIntegrity, kind: ErrIntegrity, base: sasl.ErrMalformed, msg: "authenticator does not decode"}
	}
	au := &ap.Authenticator
	if !au.CName.Equal(tkt.CName) || au.CRealm != tkt.CRealm {
		return nil, &krbError{code: codeBadMatch, kind: ErrBadMatch, msg: "authenticator names another client than the ticket"}
	}
	ct := au.CTime.Add(time.Duration(au.Cusec) * time.Microsecond)
	if d := now.Sub(ct); d > a.skew || -d > a.skew {
		return nil, &krbError{code: codeSkew, kind: ErrClockSkew, msg: "authenticator time outside the allowed clock skew"}
	}
	if au.SubKey.KeyType != 0 {
		if err := checkKey(au.SubKey, "authenticator subkey"); err != nil {
			return nil, err
		}
	}
	acc := &accepted{
		apreq:  ap,
		client: Principal{Components: append([]string(nil), tkt.CName.NameString...), Realm: tkt.CRealm},
		mutual: types.IsFlagSet(&ap.APOptions, flags.APOptionMutualRequired),
		keys:   wrapKeys{dk: a.dk, session: tkt.Key, initiatorSK: au.SubKey},
	}
	acc.seqRecv = uint64(uint32(au.SeqNumber))
	if gss {
		if acc.gssFlags, err = parseGSSChecksum(au.Cksum); err != nil {
			return nil, err
		}
		// RFC 4121, Section 4.1.1: the mutual flag asks for an AP-REP as
		// the AP option does.
		acc.mutual = acc.mutual || acc.gssFlags&flagMutual != 0
	}
	// The replay check comes after every cryptographic check, so only a
	// holder of a valid ticket can add entries.
	if err := a.cache.check(ap.EncryptedAuthenticator.Cipher, ct, a.skew, now); err != nil {
		return nil, err
	}
	if acc.user, err = a.localUser(ctx, acc.client); err != nil {
		return nil, err
	}
	acc.seqSend = acc.seqRecv
	if acc.mutual {
		if acc.aprep, err = a.makeAPRep(acc); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

// localUser applies ServerConfig.LocalUser, or the default rule.
func (a *Acceptor) localUser(ctx context.Context, p Principal) (string, error) {
	if a.cfg.LocalUser != nil {
		u, err := a.cfg.LocalUser(ctx, p)
		if err != nil {
			return "", err // the caller's error, unchanged
		}
		if u == "" {
			return "", &krbError{code: codeGeneric, kind: ErrNoLocalUser, msg: "principal maps to no local user"}
		}
		return u, nil
	}
	if len(p.Components) != 1 || p.Realm != a.cfg.Realm || !validUser(p.Components[0]) {
		return "", &krbError{code: codeGeneric, kind: ErrNoLocalUser, msg: "principal is not a user of the server's realm"}
	}
	return p.Components[0], nil
}

// validUser reports whether s can be a local user name: 1 to 255 octets of
// UTF-8 without controls or spaces, which would split a POP3 USER command.
func validUser(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// makeAPRep makes the KRB_AP_REP for a verified AP-REQ, as krb5_mk_rep
// does (RFC 4120, Section 5.5.2): EncAPRepPart {ctime, cusec, subkey,
// seq-number} in the ticket session key, key usage 12. The acceptor
// subkey is fresh and of the session key's enctype, as MIT's acceptor
// makes one for every CFX context (RFC 4121, Section 2); per-message
// tokens then use it. gokrb5 can read an AP-REP but not make one.
func (a *Acceptor) makeAPRep(acc *accepted) ([]byte, error) {
	sk := newKey(acc.keys.session.KeyType) // checked by checkKey
	var s [4]byte
	rand.Read(s[:])
	seq := binary.BigEndian.Uint32(s[:]) & 0x3fffffff // 30 bits, as MIT and gokrb5
	au := &acc.apreq.Authenticator
	enc, err := marshalEncAPRepPart(au.CTime, au.Cusec, sk, seq)
	if err != nil {
		return nil, err
	}
	ed, err := encrypt(a.dk, enc, acc.keys.session, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("kpop: encrypting AP-REP: %v", err)
	}
	rep, err := marshalAPRep(ed)
	if err != nil {
		return nil, err
	}
	acc.keys.acceptorSK = sk
	acc.seqSend = uint64(seq)
	return rep, nil
}

// The AP-REP is DER-encoded here with x/crypto's cryptobyte rather than
// gofork's reflective asn1.Marshal, which took a third of the acceptor's
// time; a test checks the octets are the same.

// ASN.1 tags of RFC 4120's modules.
const (
	tagAPRep        = 15
	tagEncAPRepPart = 27
)

func appTag(n int) cbasn1.Tag { return cbasn1.Tag(n).Constructed() | 0x40 } // [APPLICATION n]
func ctxTag(n int) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

// marshalEncAPRepPart encodes EncAPRepPart (RFC 4120, Section 5.5.2):
// ctime (whole seconds), cusec, subkey and seq-number (omitted when 0, as
// an OPTIONAL zero value is by asn1.Marshal).
func marshalEncAPRepPart(ctime time.Time, cusec int, subkey types.EncryptionKey, seq uint32) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(appTag(tagEncAPRepPart), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) {
				b.AddASN1GeneralizedTime(ctime.UTC().Truncate(time.Second))
			})
			b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(cusec)) })
			b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(subkey.KeyType)) })
					b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(subkey.KeyValue) })
				})
			})
			if seq != 0 {
				b.AddASN1(ctxTag(3), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(seq)) })
			}
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kpop: encoding EncAPRepPart: %v", err)
	}
	return out, nil
}

// marshalAPRep encodes KRB_AP_REP (RFC 4120, Section 5.5.2) around ed.
func marshalAPRep(ed types.EncryptedData) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(appTag(tagAPRep), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(5) })
			b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(msgtype.KRB_AP_REP) })
			b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(ed.EType)) })
					if ed.KVNO != 0 {
						b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(ed.KVNO)) })
					}
					b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) { b.AddASN1OctetString(ed.Cipher) })
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kpop: encoding AP-REP: %v", err)
	}
	return out, nil
}

// krbErrorReply returns a KRB-ERROR (RFC 4120, Section 5.9.1) for err,
// as krb5_recvauth sends it: the error code, e-text the error's text,
// server our principal for service.
func (a *Acceptor) krbErrorReply(service string, err error) ([]byte, error) {
	p := a.ServicePrincipal(service)
	// e-text is our own refusal text, which names no principal; another
	// error (a LocalUser lookup's) stays in the server's log.
	etext := "authentication failed"
	var k *krbError
	if errors.As(err, &k) {
		etext = k.msg
	}
	ke := messages.NewKRBError(types.PrincipalName{NameType: nametype.KRB_NT_SRV_HST, NameString: p.Components}, p.Realm, errorCode(err), etext)
	return ke.Marshal()
}
