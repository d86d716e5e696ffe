package passdb

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// The crypt(3) password hashes of glibc: SHA256-CRYPT ($5$) and
// SHA512-CRYPT ($6$), specified by Ulrich Drepper's "Unix crypt using
// SHA-256 and SHA-512" (akkadia.org/drepper/SHA-crypt.txt, the scheme
// Dovecot writes by default), and MD5-CRYPT ($1$), Poul-Henning Kamp's
// FreeBSD MD5 crypt. They are constructions over crypto/sha256,
// crypto/sha512 and crypto/md5, not primitives: every hash here comes from
// the standard library, and the constructions are checked against the
// spec's published vectors, glibc and `doveadm pw` (crypt_test.go).

// Bounds and defaults of the crypt(3) families.
const (
	// cryptSHADefaultRounds is the SHA-crypt count without "rounds="
	// (the spec's default).
	cryptSHADefaultRounds = 5000
	// cryptSHAMinRounds is the least SHA-crypt count: a smaller
	// "rounds=" is raised to it, as the spec says.
	cryptSHAMinRounds = 1000
	// maxCryptRounds bounds a SHA-crypt count we verify: the spec allows
	// 999,999,999 (minutes of work per login); this is maxPBKDF2Rounds'
	// bound, a few seconds, so a typo or a hostile entry cannot stall
	// the server. A larger count is a parse error.
	maxCryptRounds = maxPBKDF2Rounds
	// cryptSHAMaxSalt and cryptMD5MaxSalt bound the salt; longer salts
	// are cut, as the spec and glibc do.
	cryptSHAMaxSalt = 16
	cryptMD5MaxSalt = 8
	// cryptMD5Rounds is MD5-crypt's fixed count.
	cryptMD5Rounds = 1000
)

// cryptAlphabet is crypt(3)'s base64 alphabet (not RFC 4648's).
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// cryptHash is a parsed $1$, $5$ or $6$ hash.
type cryptHash struct {
	id             byte   // '1', '5' or '6'
	rounds         int    // SHA-crypt count (raised to 1000); 1000 for MD5
	explicitRounds bool   // "rounds=" was written: it is part of the output
	salt           string // at most 16 (8 for MD5) bytes
	sum            string // the encoded digest: 22, 43 or 86 characters
}

// cryptSumLen is the encoded digest length of each id.
func cryptSumLen(id byte) int {
	switch id {
	case '1':
		return 22
	case '5':
		return 43
	}
	return 86
}

// parseCrypt parses "$id$[rounds=N$]salt$sum". It reports ok=false for
// anything else, so that callers name the error themselves.
func parseCrypt(data string) (cryptHash, error) {
	var h cryptHash
	bad := func(what string) error { return fmt.Errorf("%w: crypt(3) hash: %s", ErrSyntax, what) }
	if len(data) < 4 || data[0] != '$' || data[2] != '$' {
		return h, bad("want $id$salt$hash")
	}
	h.id = data[1]
	rest := data[3:]
	switch h.id {
	case '1':
		h.rounds = cryptMD5Rounds
	case '5', '6':
		h.rounds = cryptSHADefaultRounds
		if r, ok := strings.CutPrefix(rest, "rounds="); ok {
			n, tail, found := strings.Cut(r, "$")
			v, err := strconv.ParseUint(n, 10, 32)
			if !found || err != nil || n == "" || n[0] == '+' {
				return h, bad("bad rounds=")
			}
			if v > maxCryptRounds {
				return h, fmt.Errorf("%w: crypt(3) hash: rounds above %d", ErrSyntax, maxCryptRounds)
			}
			h.rounds = max(int(v), cryptSHAMinRounds)
			h.explicitRounds = true
			rest = tail
		}
	default:
		return h, bad("unknown id")
	}
	salt, sum, found := strings.Cut(rest, "$")
	if !found || strings.Contains(sum, "$") {
		return h, bad("want $id$salt$hash")
	}
	maxSalt := cryptSHAMaxSalt
	if h.id == '1' {
		maxSalt = cryptMD5MaxSalt
	}
	if len(salt) > maxSalt || strings.ContainsAny(salt, ":\n\r\x00") {
		return h, bad("salt too long or with a forbidden character")
	}
	if len(sum) != cryptSumLen(h.id) || strings.Trim(sum, cryptAlphabet) != "" {
		return h, bad("hash has the wrong length or alphabet")
	}
	h.salt, h.sum = salt, sum
	return h, nil
}

// newCrypt writes a crypt(3) hash of password for scheme (MD5-CRYPT,
// SHA256-CRYPT, SHA512-CRYPT) as `doveadm pw` does: a random salt of the
// family's full length from crypt's alphabet, the default count (5000 for
// SHA-crypt, written without "rounds="), "$id$salt$sum".
func newCrypt(scheme, password string) string {
	h := cryptHash{id: '6', rounds: cryptSHADefaultRounds}
	n := cryptSHAMaxSalt
	switch scheme {
	case SchemeMD5Crypt:
		h.id, h.rounds, n = '1', cryptMD5Rounds, cryptMD5MaxSalt
	case SchemeSHA256Crypt:
		h.id = '5'
	}
	salt := make([]byte, n)
	rand.Read(salt)
	for i, b := range salt {
		// 256 is a multiple of 64: every character is equally likely.
		salt[i] = cryptAlphabet[b%64]
	}
	h.salt = string(salt)
	out := append([]byte{'$', h.id, '$'}, h.salt...)
	out = append(out, '$')
	return string(h.encode(out, password))
}

// verify computes the hash of password with h's salt and count and
// compares it with h.sum in constant time: the stored hash is secret, and
// an early exit would tell a guesser how many leading characters matched.
func (h *cryptHash) verify(password string) bool {
	var buf [86]byte
	got := h.encode(buf[:0], password)
	return subtle.ConstantTimeCompare(got, []byte(h.sum)) == 1
}

// encode appends the encoded digest of password under h's parameters.
func (h *cryptHash) encode(dst []byte, password string) []byte {
	switch h.id {
	case '1':
		return md5Crypt(dst, []byte(password), []byte(h.salt))
	case '5':
		return shaCrypt(dst, sha256.New, []byte(password), []byte(h.salt), h.rounds)
	}
	return shaCrypt(dst, sha512.New, []byte(password), []byte(h.salt), h.rounds)
}

// shaCrypt is steps 1 to 22 of Drepper's SHA-crypt algorithm, for
// SHA-256 (newHash = sha256.New) or SHA-512, appending the encoded digest
// (steps 22e/f) to dst.
func shaCrypt(dst []byte, newHash func() hash.Hash, pw, salt []byte, rounds int) []byte {
	// Steps 4-8: digest B = H(password salt password).
	b := newHash()
	b.Write(pw)
	b.Write(salt)
	b.Write(pw)
	sumB := b.Sum(nil)
	n := len(sumB)
	// Steps 1-3, 9-12: digest A.
	a := newHash()
	a.Write(pw)
	a.Write(salt)
	for i := len(pw); i > 0; i -= n { // step 9/10: B for each block of len(pw)
		a.Write(sumB[:min(i, n)])
	}
	for i := len(pw); i > 0; i >>= 1 { // step 11: B for 1 bits, the password for 0
		if i&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(pw)
		}
	}
	sumA := a.Sum(nil)
	// Steps 13-16: the P sequence, DP repeated to len(pw) bytes.
	dp := newHash()
	for range pw {
		dp.Write(pw)
	}
	p := cryptRepeat(dp.Sum(nil), len(pw))
	// Steps 17-20: the S sequence, DS repeated to len(salt) bytes.
	ds := newHash()
	for range 16 + int(sumA[0]) {
		ds.Write(salt)
	}
	s := cryptRepeat(ds.Sum(nil), len(salt))
	// Step 21: the rounds.
	c := sumA
	d := newHash()
	for i := range rounds {
		d.Reset()
		if i&1 != 0 {
			d.Write(p)
		} else {
			d.Write(c)
		}
		if i%3 != 0 {
			d.Write(s)
		}
		if i%7 != 0 {
			d.Write(p)
		}
		if i&1 != 0 {
			d.Write(c)
		} else {
			d.Write(p)
		}
		c = d.Sum(c[:0])
	}
	// Step 22e/f: the output order of the digest's bytes.
	if n == sha256.Size {
		for _, t := range [...][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
			{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}} {
			dst = cryptB64(dst, c[t[0]], c[t[1]], c[t[2]], 4)
		}
		return cryptB64(dst, 0, c[31], c[30], 3)
	}
	for k := range 21 {
		x, y, z := c[k], c[k+21], c[k+42]
		switch k % 3 {
		case 1:
			x, y, z = y, z, x
		case 2:
			x, y, z = z, x, y
		}
		dst = cryptB64(dst, x, y, z, 4)
	}
	return cryptB64(dst, 0, 0, c[63], 2)
}

// cryptRepeat returns the first n bytes of sum repeated.
func cryptRepeat(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, sum[:min(len(sum), n-len(out))]...)
	}
	return out
}

// md5Crypt is FreeBSD's MD5-crypt ($1$), appending the encoded digest.
func md5Crypt(dst []byte, pw, salt []byte) []byte {
	alt := md5.New()
	alt.Write(pw)
	alt.Write(salt)
	alt.Write(pw)
	final := alt.Sum(nil)
	ctx := md5.New()
	ctx.Write(pw)
	ctx.Write([]byte("$1$"))
	ctx.Write(salt)
	for i := len(pw); i > 0; i -= md5.Size {
		ctx.Write(final[:min(i, md5.Size)])
	}
	// The original clears final here and then writes final[0] (a zero)
	// for each 1 bit of the length, the password's first byte for each 0.
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	final = ctx.Sum(final[:0])
	d := md5.New()
	for i := range cryptMD5Rounds {
		d.Reset()
		if i&1 != 0 {
			d.Write(pw)
		} else {
			d.Write(final)
		}
		if i%3 != 0 {
			d.Write(salt)
		}
		if i%7 != 0 {
			d.Write(pw)
		}
		if i&1 != 0 {
			d.Write(final)
		} else {
			d.Write(pw)
		}
		final = d.Sum(final[:0])
	}
	for _, t := range [...][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		dst = cryptB64(dst, final[t[0]], final[t[1]], final[t[2]], 4)
	}
	return cryptB64(dst, 0, 0, final[11], 2)
}

// cryptB64 appends n characters of the 24-bit group b2 b1 b0, least
// significant six bits first (b64_from_24bit in the spec).
func cryptB64(dst []byte, b2, b1, b0 byte, n int) []byte {
	w := uint32(b2)<<16 | uint32(b1)<<8 | uint32(b0)
	for range n {
		dst = append(dst, cryptAlphabet[w&0x3f])
		w >>= 6
	}
	return dst
}
