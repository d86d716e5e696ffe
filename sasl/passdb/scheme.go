package passdb

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/md4"

	"github.com/go-mailauth/mailauth/sasl"
)

// Scheme names, as Dovecot spells them (doveadm pw -l). Aliases Dovecot
// also accepts (CLEAR, CLEARTEXT, SHA1, HMAC-MD5, MD5) are parsed to these.
const (
	SchemePlain       = "PLAIN"         // the password itself
	SchemeCRAMMD5     = "CRAM-MD5"      // HMAC-MD5 midstates, hex
	SchemeDigestMD5   = "DIGEST-MD5"    // MD5(user:realm:password), hex
	SchemeSCRAMSHA1   = "SCRAM-SHA-1"   // iterations,salt,StoredKey,ServerKey
	SchemeSCRAMSHA256 = "SCRAM-SHA-256" // iterations,salt,StoredKey,ServerKey
	SchemeSCRAMSHA512 = "SCRAM-SHA-512" // not in Dovecot; sasl's extension
	SchemeSHA         = "SHA"           // SHA-1, base64
	SchemeSSHA        = "SSHA"          // SHA-1 of password‖salt, base64(digest‖salt)
	SchemeSHA256      = "SHA256"
	SchemeSSHA256     = "SSHA256"
	SchemeSHA512      = "SHA512"
	SchemeSSHA512     = "SSHA512"
	SchemePlainMD5    = "PLAIN-MD5" // MD5, hex
	SchemeLDAPMD5     = "LDAP-MD5"  // MD5, base64
	SchemeSMD5        = "SMD5"      // MD5 of password‖salt, base64(digest‖salt)
	SchemePlainMD4    = "PLAIN-MD4" // MD4 of the password bytes, hex
	SchemeNTLM        = "NTLM"      // MD4(UTF-16LE(password)), hex: the NT hash
	SchemeBLFCrypt    = "BLF-CRYPT" // bcrypt, $2a$/$2b$/$2y$
	SchemeArgon2I     = "ARGON2I"   // PHC string $argon2i$v=19$m=,t=,p=$salt$hash
	SchemeArgon2ID    = "ARGON2ID"  // PHC string $argon2id$v=19$m=,t=,p=$salt$hash
	SchemePBKDF2      = "PBKDF2"    // Dovecot's $1$salt$rounds$hex(PBKDF2-SHA1)
	SchemeCrypt       = "CRYPT"     // crypt(3): bcrypt, Argon2, $1$, $5$, $6$ served; DES not
	SchemeMD5Crypt    = "MD5-CRYPT" // $1$, FreeBSD MD5-crypt
	SchemeSHA256Crypt = "SHA256-CRYPT"
	SchemeSHA512Crypt = "SHA512-CRYPT"
	SchemeDESCrypt    = "DES-CRYPT"
)

// schemeCanon maps a scheme name Dovecot accepts (upper case) to the
// canonical one; it lists every scheme this package parses. A switch, not
// a package-level map: no table that code could change at run time.
// DES-CRYPT, PLAIN-TRUNC, LANMAN, RPA, OTP and SKEY are known and parsed
// but not verifiable.
func schemeCanon(name string) (string, bool) {
	switch name {
	case "PLAIN", "CLEAR", "CLEARTEXT":
		return SchemePlain, true
	case "CRAM-MD5", "HMAC-MD5":
		return SchemeCRAMMD5, true
	case "DIGEST-MD5":
		return SchemeDigestMD5, true
	case "SCRAM-SHA-1":
		return SchemeSCRAMSHA1, true
	case "SCRAM-SHA-256":
		return SchemeSCRAMSHA256, true
	case "SCRAM-SHA-512":
		return SchemeSCRAMSHA512, true
	case "SHA", "SHA1":
		return SchemeSHA, true
	case "SSHA":
		return SchemeSSHA, true
	case "SHA256":
		return SchemeSHA256, true
	case "SSHA256":
		return SchemeSSHA256, true
	case "SHA512":
		return SchemeSHA512, true
	case "SSHA512":
		return SchemeSSHA512, true
	case "PLAIN-MD5":
		return SchemePlainMD5, true
	case "LDAP-MD5":
		return SchemeLDAPMD5, true
	case "SMD5":
		return SchemeSMD5, true
	case "PLAIN-MD4":
		return SchemePlainMD4, true
	case "NTLM":
		return SchemeNTLM, true
	case "BLF-CRYPT":
		return SchemeBLFCrypt, true
	case "ARGON2I":
		return SchemeArgon2I, true
	case "ARGON2ID":
		return SchemeArgon2ID, true
	case "PBKDF2":
		return SchemePBKDF2, true
	case "CRYPT":
		return SchemeCrypt, true
	case "MD5", "MD5-CRYPT":
		return SchemeMD5Crypt, true
	case "SHA256-CRYPT":
		return SchemeSHA256Crypt, true
	case "SHA512-CRYPT":
		return SchemeSHA512Crypt, true
	case "DES-CRYPT":
		return SchemeDESCrypt, true
	case "PLAIN-TRUNC":
		return "PLAIN-TRUNC", true
	case "LANMAN":
		return "LANMAN", true
	case "RPA":
		return "RPA", true
	case "OTP":
		return "OTP", true
	case "SKEY":
		return "SKEY", true
	}
	return "", false
}

// Bounds on the parameters of a stored hash. The file is the operator's,
// but a typo or a hostile entry must not make one login cost gigabytes.
const (
	// MaxPasswordField bounds the password field of one entry ({SCHEME}
	// and its data), so a single value cannot dominate memory.
	MaxPasswordField = 4096
	// maxArgon2Memory bounds Argon2's m in KiB (1 GiB): Dovecot's
	// default is 64 MiB, libsodium's "sensitive" level 1 GiB.
	maxArgon2Memory = 1 << 20
	// maxArgon2Time bounds Argon2's t passes.
	maxArgon2Time = 64
	// maxArgon2Lanes bounds Argon2's p (x/crypto takes a uint8).
	maxArgon2Lanes = 255
	// maxPBKDF2Rounds bounds Dovecot PBKDF2 and derived SCRAM work
	// per login.
	maxPBKDF2Rounds = 10_000_000
	// maxSaltLen bounds the salt of a salted digest, Argon2 or PBKDF2.
	maxSaltLen = 1024
	// maxArgon2KeyLen bounds the Argon2 output length.
	maxArgon2KeyLen = 1024
)

// Default parameters of [Hash].
const (
	// HashSaltLen is the salt length of salted digests, Argon2 and the
	// SCRAM schemes that Hash writes.
	HashSaltLen = 16
	// HashBcryptCost is the bcrypt cost Hash uses (Dovecot's own default
	// of 5 is too cheap today).
	HashBcryptCost = 10
	// HashArgon2Time, HashArgon2Memory (KiB) and HashArgon2Lanes are the
	// Argon2id parameters Hash uses: Dovecot's (libsodium's "moderate")
	// t=3, m=64 MiB, p=1.
	HashArgon2Time   = 3
	HashArgon2Memory = 64 * 1024
	HashArgon2Lanes  = 1
	// HashSCRAMIterations is the SCRAM iteration count Hash writes,
	// Dovecot's and RFC 7677's 4096.
	HashSCRAMIterations = 4096
)

// Password is a decoded password field: a scheme and what it stores. The
// zero Password verifies nothing. A Password is immutable and safe for
// concurrent use; it never prints its secret.
type Password struct {
	scheme string // canonical name
	plain  string // PLAIN: the password
	digest []byte // fixed-length digests, SCRAM StoredKey, Argon2/PBKDF2 output
	salt   []byte
	crypt  string // bcrypt hash ($2y$...)
	cram   sasl.CRAMMD5Secret
	scram  sasl.SCRAMCredentials
	// Argon2 parameters; PBKDF2 uses iter.
	argonID           bool
	iter, mem, lanes  uint32
	sc                cryptHash // MD5-CRYPT, SHA256-CRYPT, SHA512-CRYPT, CRYPT of those; id 0 if none
	unsupportedReason string
}

// Scheme returns the canonical scheme name of p (PLAIN for CLEAR and
// CLEARTEXT, CRAM-MD5 for HMAC-MD5, SHA for SHA1, MD5-CRYPT for MD5).
func (p *Password) Scheme() string { return p.scheme }

// String returns "{SCHEME}" without the secret, so a Password can be
// logged. It has a value receiver so that printing a Password value, not
// only a pointer, hides the secret too.
func (p Password) String() string { return "{" + p.scheme + "}" }

// GoString is String, for %#v.
func (p Password) GoString() string { return p.String() }

// cost estimates the work of verifying p, in arbitrary units that order
// the parameters of one scheme: Argon2 m*t*p, PBKDF2 and SCRAM
// iterations, SHA-crypt rounds, 2^bcrypt cost. Schemes without
// parameters cost 1.
func (p *Password) cost() uint64 {
	switch {
	case p.mem != 0:
		return uint64(p.mem) * uint64(p.iter) * uint64(p.lanes)
	case p.scheme == SchemePBKDF2:
		return uint64(p.iter)
	case p.crypt != "":
		c, _ := bcrypt.Cost([]byte(p.crypt))
		return 1 << uint(c)
	case p.sc.id != 0:
		return uint64(p.sc.rounds)
	case p.scram.Iterations > 0:
		return uint64(p.scram.Iterations)
	}
	return 1
}

// Supported reports whether p can be verified by this package.
func (p *Password) Supported() bool { return p.scheme != "" && p.unsupportedReason == "" }

// ParsePassword decodes a password field: "{SCHEME}data", where SCHEME is
// case-insensitive and may end in ".HEX", ".B64" or ".BASE64" (Dovecot's
// encoding suffixes) for the digest schemes and PLAIN. A field without a
// scheme is read with defaultScheme ("" means CRYPT, Dovecot's default).
// The data is checked now: a digest of the wrong length, bad base64 or
// hex, an Argon2 string outside the bounds, is an error wrapping
// ErrSyntax. A scheme Dovecot knows but this package cannot verify
// (DES-CRYPT, LANMAN, RPA, OTP, SKEY, PLAIN-TRUNC) parses, and its
// verification fails with ErrUnsupportedScheme. Any other scheme name is an error wrapping
// ErrUnknownScheme. Error text never contains the field.
func ParsePassword(field, defaultScheme string) (*Password, error) {
	if len(field) > MaxPasswordField {
		return nil, fmt.Errorf("%w: password field longer than %d bytes", ErrTooLarge, MaxPasswordField)
	}
	name, data := defaultScheme, field
	if name == "" {
		name = SchemeCrypt
	}
	if rest, ok := strings.CutPrefix(field, "{"); ok {
		var found bool
		name, data, found = strings.Cut(rest, "}")
		if !found {
			return nil, fmt.Errorf("%w: password field has '{' without '}'", ErrSyntax)
		}
	}
	name = strings.ToUpper(name)
	base, enc, _ := strings.Cut(name, ".")
	canon, ok := schemeCanon(base)
	if !ok {
		return nil, fmt.Errorf("%w: the scheme name is not one Dovecot knows", ErrUnknownScheme)
	}
	p := &Password{scheme: canon}
	if enc != "" {
		if !passdbEncodable(canon) {
			return nil, fmt.Errorf("%w: {%s} takes no encoding suffix", ErrSyntax, canon)
		}
		var dec []byte
		var err error
		switch enc {
		case "HEX":
			dec, err = hex.DecodeString(data)
		case "B64", "BASE64":
			dec, err = base64.StdEncoding.DecodeString(data)
		default:
			return nil, fmt.Errorf("%w: {%s} has an unknown encoding suffix", ErrSyntax, canon)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: {%s.%s} data is not %s", ErrSyntax, canon, enc, strings.ToLower(enc))
		}
		return p, p.setBytes(dec)
	}
	return p, p.setString(data)
}

// passdbEncodable reports whether Dovecot's .HEX/.B64 suffixes apply: the
// schemes whose value is raw bytes.
func passdbEncodable(s string) bool {
	switch s {
	case SchemePlain, SchemeCRAMMD5, SchemeDigestMD5, SchemeSHA, SchemeSSHA, SchemeSHA256, SchemeSSHA256,
		SchemeSHA512, SchemeSSHA512, SchemePlainMD5, SchemeLDAPMD5, SchemeSMD5, SchemePlainMD4, SchemeNTLM:
		return true
	}
	return false
}

// passdbDigestSize returns the digest size of a plain or salted digest
// scheme, and whether the scheme is salted.
func passdbDigestSize(s string) (size int, salted bool) {
	switch s {
	case SchemeSHA:
		return sha1.Size, false
	case SchemeSSHA:
		return sha1.Size, true
	case SchemeSHA256:
		return sha256.Size, false
	case SchemeSSHA256:
		return sha256.Size, true
	case SchemeSHA512:
		return sha512.Size, false
	case SchemeSSHA512:
		return sha512.Size, true
	case SchemePlainMD5, SchemeLDAPMD5, SchemeDigestMD5, SchemeNTLM, SchemePlainMD4:
		return md5.Size, false
	case SchemeSMD5:
		return md5.Size, true
	case SchemeCRAMMD5:
		return len(sasl.CRAMMD5Secret{}), false
	}
	return 0, false
}

// setString decodes data in the scheme's default encoding.
func (p *Password) setString(data string) error {
	switch p.scheme {
	case SchemePlain:
		p.plain = data
		return nil
	case SchemeSCRAMSHA1, SchemeSCRAMSHA256, SchemeSCRAMSHA512:
		mech, c, err := sasl.ParseSCRAMCredentials("{" + p.scheme + "}" + data)
		if err != nil || mech != p.scheme {
			return fmt.Errorf("%w: {%s} data is not iterations,salt,StoredKey,ServerKey", ErrSyntax, p.scheme)
		}
		if c.Iterations > maxPBKDF2Rounds || len(c.Salt) > maxSaltLen {
			return fmt.Errorf("%w: {%s} iterations or salt too large", ErrSyntax, p.scheme)
		}
		p.scram = c
		return nil
	case SchemeBLFCrypt:
		return p.setBcrypt(data)
	case SchemeArgon2I, SchemeArgon2ID:
		return p.setArgon2(data)
	case SchemePBKDF2:
		return p.setPBKDF2(data)
	case SchemeMD5Crypt:
		return p.setCrypt(data, '1')
	case SchemeSHA256Crypt:
		return p.setCrypt(data, '5')
	case SchemeSHA512Crypt:
		return p.setCrypt(data, '6')
	case SchemeCrypt:
		switch {
		case strings.HasPrefix(data, "$2"):
			return p.setBcrypt(data)
		case strings.HasPrefix(data, "$argon2"):
			return p.setArgon2(data)
		case strings.HasPrefix(data, "$1$"), strings.HasPrefix(data, "$5$"), strings.HasPrefix(data, "$6$"):
			return p.setCrypt(data, data[1])
		}
		p.unsupportedReason = "crypt(3) hash other than bcrypt, Argon2, $1$, $5$ or $6$ (DES?)"
		return nil
	}
	size, _ := passdbDigestSize(p.scheme)
	if size == 0 {
		p.unsupportedReason = "scheme not verifiable by this package"
		return nil
	}
	// Dovecot's password_decode: the hex form when the length fits it,
	// else base64. Base64 of a digest never has twice the digest's length.
	var dec []byte
	var err error
	switch p.scheme {
	case SchemeCRAMMD5, SchemeDigestMD5, SchemePlainMD5, SchemePlainMD4, SchemeNTLM:
		dec, err = hex.DecodeString(data) // hex by default
	default:
		// Only unsalted digests have a fixed length to recognise hex by.
		if _, salted := passdbDigestSize(p.scheme); !salted && len(data) == 2*size {
			dec, err = hex.DecodeString(data)
		} else {
			dec, err = base64.StdEncoding.DecodeString(data)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: {%s} data is neither hex nor base64", ErrSyntax, p.scheme)
	}
	return p.setBytes(dec)
}

// setBytes stores decoded bytes of a digest scheme or PLAIN.
func (p *Password) setBytes(b []byte) error {
	if p.scheme == SchemePlain {
		p.plain = string(b)
		return nil
	}
	size, salted := passdbDigestSize(p.scheme)
	switch {
	case salted && len(b) <= size:
		return fmt.Errorf("%w: {%s} holds %d bytes, want a %d-byte digest and a salt", ErrSyntax, p.scheme, len(b), size)
	case salted && len(b) > size+maxSaltLen:
		return fmt.Errorf("%w: {%s} salt longer than %d bytes", ErrSyntax, p.scheme, maxSaltLen)
	case !salted && len(b) != size:
		return fmt.Errorf("%w: {%s} holds %d bytes, want %d", ErrSyntax, p.scheme, len(b), size)
	}
	if p.scheme == SchemeCRAMMD5 {
		copy(p.cram[:], b)
		return nil
	}
	p.digest = append([]byte(nil), b[:size]...)
	if salted {
		p.salt = append([]byte(nil), b[size:]...)
	}
	return nil
}

// setBcrypt checks a bcrypt hash with x/crypto's own parser.
func (p *Password) setBcrypt(data string) error {
	cost, err := bcrypt.Cost([]byte(data))
	if err != nil || len(data) != 60 || cost > bcrypt.MaxCost {
		return fmt.Errorf("%w: {%s} data is not a bcrypt hash", ErrSyntax, p.scheme)
	}
	p.crypt = data
	return nil
}

// setArgon2 parses the PHC string format
// $argon2id$v=19$m=65536,t=3,p=1$salt$hash (unpadded base64), as libsodium
// and Dovecot write it. Only version 19 (0x13) exists in x/crypto.
func (p *Password) setArgon2(data string) error {
	bad := func(what string) error { return fmt.Errorf("%w: {%s} Argon2 string: %s", ErrSyntax, p.scheme, what) }
	f := strings.Split(data, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("want $argon2id$v=19$m=,t=,p=$salt$hash")
	}
	switch f[1] {
	case "argon2id":
		p.argonID = true
	case "argon2i":
	default:
		return bad("not argon2i or argon2id")
	}
	if p.scheme == SchemeArgon2I && p.argonID || p.scheme == SchemeArgon2ID && !p.argonID {
		return bad("variant does not match the scheme")
	}
	if f[2] != "v=19" {
		return bad("version is not 19")
	}
	var seen [3]bool
	for kv := range strings.SplitSeq(f[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || v[0] == '+' {
			return bad("bad parameter")
		}
		switch {
		case k == "m" && !seen[0] && n >= 8 && n <= maxArgon2Memory:
			p.mem, seen[0] = uint32(n), true
		case k == "t" && !seen[1] && n >= 1 && n <= maxArgon2Time:
			p.iter, seen[1] = uint32(n), true
		case k == "p" && !seen[2] && n >= 1 && n <= maxArgon2Lanes:
			p.lanes, seen[2] = uint32(n), true
		default:
			return bad("parameter unknown, repeated or out of range")
		}
	}
	if !seen[0] || !seen[1] || !seen[2] || p.mem < 8*p.lanes {
		return bad("m, t and p are required, m >= 8p")
	}
	var err error
	e := base64.RawStdEncoding
	if p.salt, err = e.DecodeString(f[4]); err != nil || len(p.salt) < 8 || len(p.salt) > maxSaltLen {
		return bad("salt is not 8 to 1024 bytes of base64")
	}
	if p.digest, err = e.DecodeString(f[5]); err != nil || len(p.digest) < 4 || len(p.digest) > maxArgon2KeyLen {
		return bad("hash is not 4 to 1024 bytes of base64")
	}
	return nil
}

// setCrypt parses a $1$, $5$ or $6$ crypt(3) hash whose id must be id.
func (p *Password) setCrypt(data string, id byte) error {
	h, err := parseCrypt(data)
	if err != nil {
		return fmt.Errorf("%w ({%s})", err, p.scheme)
	}
	if h.id != id {
		return fmt.Errorf("%w: {%s} holds a crypt(3) hash of another kind", ErrSyntax, p.scheme)
	}
	p.sc = h
	return nil
}

// setPBKDF2 parses Dovecot's PBKDF2 scheme: $1$salt$rounds$hex, where the
// salt is used as the literal bytes between the dollars and the key is
// PBKDF2-HMAC-SHA1 of 20 bytes (password-scheme-pbkdf2.c).
func (p *Password) setPBKDF2(data string) error {
	f := strings.Split(data, "$")
	if len(f) != 5 || f[0] != "" || f[1] != "1" || f[2] == "" || len(f[2]) > maxSaltLen {
		return fmt.Errorf("%w: {PBKDF2} data is not $1$salt$rounds$hex", ErrSyntax)
	}
	n, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil || n < 1 || n > maxPBKDF2Rounds || f[3][0] == '+' {
		return fmt.Errorf("%w: {PBKDF2} rounds out of range", ErrSyntax)
	}
	if p.digest, err = hex.DecodeString(f[4]); err != nil || len(p.digest) != sha1.Size {
		return fmt.Errorf("%w: {PBKDF2} key is not 40 hex digits", ErrSyntax)
	}
	p.salt, p.iter = []byte(f[2]), uint32(n)
	return nil
}

// Verify checks password against p. username is the entry's name; only
// DIGEST-MD5 uses it (split at the first '@' into user and realm, as
// Dovecot does). A mismatch is an error wrapping sasl.ErrAuthFailed; a
// scheme this package cannot verify is ErrUnsupportedScheme. Digests are
// compared in constant time; bcrypt and Argon2 take their usual time.
func (p *Password) Verify(username, password string) error {
	if !p.verify(username, password) {
		if !p.Supported() {
			return fmt.Errorf("%w: {%s}: %s", ErrUnsupportedScheme, p.scheme, p.reason())
		}
		return errMismatch
	}
	return nil
}

func (p *Password) reason() string {
	if p.unsupportedReason == "" {
		return "empty password field"
	}
	return p.unsupportedReason
}

// verify reports whether password matches; false for unsupported schemes.
func (p *Password) verify(username, password string) bool {
	switch p.scheme {
	case "":
		return false
	case SchemePlain:
		// Constant time on fixed-length digests: comparing the strings
		// would leak the stored password's length and matching prefix.
		want, got := sha256.Sum256([]byte(p.plain)), sha256.Sum256([]byte(password))
		return subtle.ConstantTimeCompare(want[:], got[:]) == 1
	case SchemeCRAMMD5:
		got := sasl.NewCRAMMD5Secret(password)
		// Constant time: the midstates are password-equivalent.
		return subtle.ConstantTimeCompare(got[:], p.cram[:]) == 1
	case SchemeDigestMD5:
		user, realm, _ := strings.Cut(username, "@")
		got := md5.Sum([]byte(user + ":" + realm + ":" + password))
		return passdbEqual(got[:], p.digest)
	case SchemeSCRAMSHA1, SchemeSCRAMSHA256, SchemeSCRAMSHA512:
		return passdbSCRAMMatches(p.scheme, password, &p.scram)
	case SchemeBLFCrypt:
		return bcrypt.CompareHashAndPassword([]byte(p.crypt), []byte(password)) == nil
	case SchemeCrypt:
		switch {
		case p.crypt != "":
			return bcrypt.CompareHashAndPassword([]byte(p.crypt), []byte(password)) == nil
		case p.mem != 0:
			return p.verifyArgon2(password)
		case p.sc.id != 0:
			return p.sc.verify(password)
		}
		return false
	case SchemeMD5Crypt, SchemeSHA256Crypt, SchemeSHA512Crypt:
		return p.sc.verify(password)
	case SchemeArgon2I, SchemeArgon2ID:
		return p.verifyArgon2(password)
	case SchemePBKDF2:
		got, err := pbkdf2.Key(sha1.New, password, p.salt, int(p.iter), sha1.Size)
		return err == nil && passdbEqual(got, p.digest)
	case SchemeNTLM:
		got := NTHash(password)
		return passdbEqual(got[:], p.digest)
	case SchemePlainMD4:
		h := md4.New()
		h.Write([]byte(password))
		return passdbEqual(h.Sum(nil), p.digest)
	}
	return passdbDigestMatches(p.scheme, password, p.salt, p.digest)
}

// passdbDigestMatches hashes password‖salt with the one-shot function of
// scheme (no allocation for passwords and salts of up to 256 bytes) and
// compares the digest with want.
func passdbDigestMatches(scheme, password string, salt, want []byte) bool {
	var buf [256]byte
	in := append(append(buf[:0], password...), salt...)
	switch scheme {
	case SchemeSHA, SchemeSSHA:
		got := sha1.Sum(in)
		return passdbEqual(got[:], want)
	case SchemeSHA256, SchemeSSHA256:
		got := sha256.Sum256(in)
		return passdbEqual(got[:], want)
	case SchemeSHA512, SchemeSSHA512:
		got := sha512.Sum512(in)
		return passdbEqual(got[:], want)
	case SchemePlainMD5, SchemeLDAPMD5, SchemeSMD5:
		got := md5.Sum(in)
		return passdbEqual(got[:], want)
	}
	return false
}

// passdbEqual compares two digests of the scheme's fixed length.
// Constant time: the stored digest is secret, and an early exit would
// tell an attacker how many leading bytes of a guess's digest matched.
func passdbEqual(got, want []byte) bool { return hmac.Equal(got, want) }

func (p *Password) verifyArgon2(password string) bool {
	var got []byte
	if p.argonID {
		got = argon2.IDKey([]byte(password), p.salt, p.iter, p.mem, uint8(p.lanes), uint32(len(p.digest)))
	} else {
		got = argon2.Key([]byte(password), p.salt, p.iter, p.mem, uint8(p.lanes), uint32(len(p.digest)))
	}
	return passdbEqual(got, p.digest)
}

// passdbHashFunc returns the hash of a plain or salted digest scheme.
func passdbHashFunc(s string) func() hash.Hash {
	switch s {
	case SchemeSHA, SchemeSSHA:
		return sha1.New
	case SchemeSHA256, SchemeSSHA256:
		return sha256.New
	case SchemeSHA512, SchemeSSHA512:
		return sha512.New
	case SchemePlainMD5, SchemeLDAPMD5, SchemeSMD5:
		return md5.New
	}
	return nil
}

// passdbSCRAMHash returns the hash of a SCRAM scheme.
func passdbSCRAMHash(s string) func() hash.Hash {
	switch s {
	case SchemeSCRAMSHA1:
		return sha1.New
	case SchemeSCRAMSHA256:
		return sha256.New
	}
	return sha512.New
}

// passdbSCRAMMatches runs the password through SCRAM and compares
// StoredKey (see passdbSCRAMKeys).
func passdbSCRAMMatches(scheme, password string, c *sasl.SCRAMCredentials) bool {
	stored, _, err := passdbSCRAMKeys(scheme, password, c.Salt, c.Iterations)
	// Constant time: StoredKey is secret.
	return err == nil && passdbEqual(stored, c.StoredKey)
}

// passdbSCRAMKeys derives StoredKey and ServerKey (RFC 5802, Section 3):
// SaltedPassword = PBKDF2-HMAC-H(password, salt, iter), ClientKey =
// HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey), ServerKey
// = HMAC(SaltedPassword, "Server Key"). The password is SASLprep'd as
// SCRAM clients do; if SASLprep refuses it the raw bytes are used, as
// Dovecot (which does no SASLprep) hashed them.
func passdbSCRAMKeys(scheme, password string, salt []byte, iter int) (stored, server []byte, err error) {
	if prepped, err := sasl.SASLprep(password); err == nil {
		password = prepped
	}
	h := passdbSCRAMHash(scheme)
	salted, err := pbkdf2.Key(h, password, salt, iter, h().Size())
	if err != nil {
		return nil, nil, fmt.Errorf("passdb: SCRAM key derivation: %w", err)
	}
	mac := hmac.New(h, salted)
	mac.Write([]byte("Client Key"))
	d := h()
	d.Write(mac.Sum(nil))
	mac = hmac.New(h, salted)
	mac.Write([]byte("Server Key"))
	return d.Sum(nil), mac.Sum(nil), nil
}

// passdbNewSCRAM returns SCRAM credentials for password with salt and iter.
func passdbNewSCRAM(scheme, password string, salt []byte, iter int) (sasl.SCRAMCredentials, error) {
	stored, server, err := passdbSCRAMKeys(scheme, password, salt, iter)
	if err != nil {
		return sasl.SCRAMCredentials{}, err
	}
	return sasl.SCRAMCredentials{Salt: salt, Iterations: iter, StoredKey: stored, ServerKey: server}, nil
}

// NTHash returns the NT hash of password: MD4 of its UTF-16LE encoding
// ([MS-NLMP] Section 3.3.1, NTOWFv1), the value of Dovecot's {NTLM} scheme.
// Invalid UTF-8 is encoded as U+FFFD. The NT hash is password-equivalent
// for NTLM.
func NTHash(password string) [16]byte {
	var buf [256]byte
	b := buf[:0]
	for _, r := range password {
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError || r2 != utf8.RuneError {
			b = binary.LittleEndian.AppendUint16(b, uint16(r1))
			b = binary.LittleEndian.AppendUint16(b, uint16(r2))
		} else {
			b = binary.LittleEndian.AppendUint16(b, uint16(r))
		}
	}
	h := md4.New()
	h.Write(b)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// Hash returns password in scheme, as a "{SCHEME}data" password field for
// a passwd-file. Supported: PLAIN (written as {PLAIN.B64} when the
// password contains ':', '\n' or '\r', which the file cannot hold),
// CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512 (HashSaltLen random
// bytes of salt, HashSCRAMIterations), SHA, SSHA, SHA256, SSHA256, SHA512,
// SSHA512 (HashSaltLen random bytes of salt), PLAIN-MD5, NTLM, BLF-CRYPT
// (HashBcryptCost; passwords over 72 bytes are an error), ARGON2I and
// ARGON2ID (HashArgon2* parameters), SHA512-CRYPT, SHA256-CRYPT (16
// characters of salt, 5000 rounds, as `doveadm pw` writes them) and
// MD5-CRYPT (8 characters of salt). DIGEST-MD5 needs the user and realm:
// use [HashUser]. Other schemes are an error wrapping ErrUnsupportedScheme.
// Salts come from crypto/rand.
func Hash(scheme, password string) (string, error) {
	if strings.EqualFold(scheme, SchemeDigestMD5) {
		return "", errDigestNeedsUser
	}
	return HashUser(scheme, "", password)
}

var errDigestNeedsUser = errors.New("passdb: {DIGEST-MD5} hashes the user name and realm: use HashUser with the passwd-file name")

// HashUser is [Hash] for schemes that bind the user: for DIGEST-MD5,
// username is the passwd-file name, "user@realm" or "user" (empty realm),
// and the result is MD5(user ":" realm ":" password) as
// `doveadm pw -s DIGEST-MD5 -u user@realm` writes it. Other schemes ignore
// username.
func HashUser(scheme, username, password string) (string, error) {
	cost := passdbCost{HashBcryptCost, HashArgon2Time, HashArgon2Memory, HashArgon2Lanes}
	return passdbHash(scheme, username, password, &cost)
}

// passdbCost holds Hash's work parameters; tests use cheaper ones.
type passdbCost struct {
	bcrypt              int
	argonTime, argonMem uint32
	argonLanes          uint8
}

func passdbHash(scheme, username, password string, cost *passdbCost) (string, error) {
	canon, ok := schemeCanon(strings.ToUpper(scheme))
	if !ok {
		return "", fmt.Errorf("%w: {%s}", ErrUnknownScheme, passdbTruncate(scheme, 32))
	}
	pre := "{" + canon + "}"
	b64 := base64.StdEncoding.EncodeToString
	switch canon {
	case SchemePlain:
		if strings.ContainsAny(password, ":\r\n") {
			return "{PLAIN.B64}" + b64([]byte(password)), nil
		}
		return pre + password, nil
	case SchemeCRAMMD5:
		return sasl.NewCRAMMD5Secret(password).String(), nil
	case SchemeDigestMD5:
		if username == "" {
			return "", errDigestNeedsUser
		}
		user, realm, _ := strings.Cut(username, "@")
		sum := md5.Sum([]byte(user + ":" + realm + ":" + password))
		return pre + hex.EncodeToString(sum[:]), nil
	case SchemeSCRAMSHA1, SchemeSCRAMSHA256, SchemeSCRAMSHA512:
		salt := make([]byte, HashSaltLen)
		rand.Read(salt)
		c, err := passdbNewSCRAM(canon, password, salt, HashSCRAMIterations)
		if err != nil {
			return "", err
		}
		return c.Format(canon), nil
	case SchemeNTLM:
		sum := NTHash(password)
		return pre + hex.EncodeToString(sum[:]), nil
	case SchemeBLFCrypt:
		h, err := bcrypt.GenerateFromPassword([]byte(password), cost.bcrypt)
		if err != nil {
			return "", fmt.Errorf("passdb: BLF-CRYPT: %w", err)
		}
		return pre + string(h), nil
	case SchemeArgon2I, SchemeArgon2ID:
		salt := make([]byte, HashSaltLen)
		rand.Read(salt)
		variant, f := "argon2i", argon2.Key
		if canon == SchemeArgon2ID {
			variant, f = "argon2id", argon2.IDKey
		}
		key := f([]byte(password), salt, cost.argonTime, cost.argonMem, cost.argonLanes, 32)
		e := base64.RawStdEncoding.EncodeToString
		return fmt.Sprintf("%s$%s$v=19$m=%d,t=%d,p=%d$%s$%s", pre, variant, cost.argonMem, cost.argonTime,
			cost.argonLanes, e(salt), e(key)), nil
	case SchemePlainMD5:
		sum := md5.Sum([]byte(password))
		return pre + hex.EncodeToString(sum[:]), nil
	case SchemeMD5Crypt, SchemeSHA256Crypt, SchemeSHA512Crypt:
		return pre + newCrypt(canon, password), nil
	}
	newHash := passdbHashFunc(canon)
	if newHash == nil {
		return "", fmt.Errorf("%w: cannot write {%s}", ErrUnsupportedScheme, canon)
	}
	var salt []byte
	if _, salted := passdbDigestSize(canon); salted {
		salt = make([]byte, HashSaltLen)
		rand.Read(salt)
	}
	h := newHash()
	h.Write([]byte(password))
	h.Write(salt)
	return pre + b64(append(h.Sum(nil), salt...)), nil
}

// passdbLatin1 converts s from UTF-8 to ISO 8859-1 when every character
// fits, as DIGEST-MD5 clients hash with charset=utf-8 (RFC 2831, Section
// 2.1.2.1) and sasl's server expects; otherwise s is unchanged.
func passdbLatin1(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	ascii := true
	for _, r := range s {
		if r > 0xff {
			return s
		}
		if r >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

// passdbTruncate shortens a scheme name for an error message.
func passdbTruncate(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strconv.Quote(s)
}
