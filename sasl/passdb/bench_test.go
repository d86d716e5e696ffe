package passdb

import (
	"context"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/md4"

	"github.com/go-mailauth/mailauth/sasl"
)

// passdbBench wraps f as a sub-benchmark body that reports allocations.
func passdbBench(f func()) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f()
		}
	}
}

// BenchmarkVerifyPassword times DB.VerifyPassword for one user of each
// scheme (the doveadm vector for "secret") beside the raw primitive the
// scheme costs, computed with the standard library or x/crypto one-shot.
func BenchmarkVerifyPassword(b *testing.B) {
	ctx := context.Background()
	vec := make(map[string]passdbVector)
	for _, v := range passdbDovecotVectors(b) {
		if v.Password == "secret" && v.User == "" {
			if _, ok := vec[v.Scheme]; !ok {
				vec[v.Scheme] = v
			}
		}
	}
	pw := []byte("secret")
	raw := map[string]func(p *Password){
		// PLAIN hashes both sides to compare fixed-length values.
		"PLAIN": func(*Password) { sha256.Sum256(pw); sha256.Sum256(pw) },
		"CRAM-MD5": func(*Password) {
			sasl.NewCRAMMD5Secret("secret")
		},
		"SHA":     func(*Password) { sha1.Sum(pw) },
		"SHA256":  func(*Password) { sha256.Sum256(pw) },
		"SHA512":  func(*Password) { sha512.Sum512(pw) },
		"SSHA512": func(p *Password) { sha512.Sum512(append(pw[:len(pw):len(pw)], p.salt...)) },
		"SMD5":    func(p *Password) { md5.Sum(append(pw[:len(pw):len(pw)], p.salt...)) },
		"PLAIN-MD4": func(*Password) {
			h := md4.New()
			h.Write(pw)
			h.Sum(nil)
		},
		"PBKDF2": func(p *Password) { pbkdf2.Key(sha1.New, "secret", p.salt, int(p.iter), sha1.Size) },
		"SCRAM-SHA-256": func(p *Password) {
			pbkdf2.Key(sha256.New, "secret", p.scram.Salt, p.scram.Iterations, sha256.Size)
		},
		"BLF-CRYPT": func(p *Password) { bcrypt.CompareHashAndPassword([]byte(p.crypt), pw) },
		"ARGON2ID": func(p *Password) {
			argon2.IDKey(pw, p.salt, p.iter, p.mem, uint8(p.lanes), uint32(len(p.digest)))
		},
		// The crypt(3) constructions: their floor is the hash calls of
		// the rounds, about rounds+4 one-block digests.
		"SHA512-CRYPT": func(p *Password) {
			for range p.sc.rounds {
				sha512.Sum512(pw)
			}
		},
		"SHA256-CRYPT": func(p *Password) {
			for range p.sc.rounds {
				sha256.Sum256(pw)
			}
		},
		"MD5-CRYPT": func(p *Password) {
			for range p.sc.rounds {
				md5.Sum(pw)
			}
		},
	}
	for _, scheme := range []string{"PLAIN", "CRAM-MD5", "SHA", "SHA256", "SHA512", "SSHA512", "SMD5", "PLAIN-MD4",
		"PBKDF2", "SCRAM-SHA-256", "BLF-CRYPT", "ARGON2ID", "SHA512-CRYPT", "SHA256-CRYPT", "MD5-CRYPT"} {
		v, ok := vec[scheme]
		require.True(b, ok, scheme)
		db, err := Parse(strings.NewReader("u:" + v.Hash + "\n"))
		require.NoError(b, err)
		require.NoError(b, db.VerifyPassword(ctx, "u", "secret"))
		name := strings.ToLower(scheme)
		if scheme == "BLF-CRYPT" {
			name += fmt.Sprintf("-cost%s", v.Hash[15:17])
		}
		b.Run("scheme="+name+"/side=server", passdbBench(func() { db.VerifyPassword(ctx, "u", "secret") }))
		b.Run("scheme="+name+"/side=unknown-user", passdbBench(func() { db.VerifyPassword(ctx, "nobody", "secret") }))
		p := db.Password("u")
		b.Run("scheme="+name+"/raw=primitive", passdbBench(func() { raw[scheme](p) }))
	}
	nt := NTHash("secret")
	db, err := Parse(strings.NewReader(fmt.Sprintf("u:{NTLM}%x\n", nt)))
	require.NoError(b, err)
	b.Run("scheme=ntlm/side=server", passdbBench(func() { db.VerifyPassword(ctx, "u", "secret") }))
	b.Run("scheme=ntlm/raw=md4-utf16", passdbBench(func() {
		h := md4.New()
		h.Write([]byte("s\x00e\x00c\x00r\x00e\x00t\x00"))
		h.Sum(nil)
	}))
}

// BenchmarkLookupSCRAMMixed times LookupSCRAM in a passwd-file that mixes
// {PLAIN} and {SCRAM-SHA-256} users (issue 8, defect 5): a stored user, a
// PLAIN one and an unknown one all cost one PBKDF2.
func BenchmarkLookupSCRAMMixed(b *testing.B) {
	stored, err := Hash("SCRAM-SHA-256", "pw")
	require.NoError(b, err)
	db, err := Config{SCRAMSecret: []byte("k")}.Parse(strings.NewReader("p:{PLAIN}pw\ns:" + stored + "\n"))
	require.NoError(b, err)
	ctx := context.Background()
	for _, u := range []string{"s", "p", "nobody"} {
		name := map[string]string{"s": "stored-scram", "p": "plain", "nobody": "unknown"}[u]
		b.Run("user="+name, passdbBench(func() { db.LookupSCRAM(ctx, "SCRAM-SHA-256", u) }))
	}
}

// BenchmarkLookup times the derived-credential lookups of a PLAIN user.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	db, err := Config{SCRAMSecret: []byte("k")}.Parse(strings.NewReader("u:{PLAIN}secret\nc:" + sasl.NewCRAMMD5Secret("secret").String() + "\n"))
	require.NoError(b, err)
	b.Run("lookup=cram-md5/stored", passdbBench(func() { db.LookupCRAMMD5(ctx, "c") }))
	b.Run("lookup=cram-md5/from=plain", passdbBench(func() { db.LookupCRAMMD5(ctx, "u") }))
	b.Run("lookup=digest-md5/from=plain", passdbBench(func() { db.LookupDigestMD5(ctx, "u", "example.org") }))
	b.Run("lookup=scram-sha-256/from=plain", passdbBench(func() { db.LookupSCRAM(ctx, "SCRAM-SHA-256", "u") }))
	b.Run("lookup=scram-sha-256/user=unknown", passdbBench(func() { db.LookupSCRAM(ctx, "SCRAM-SHA-256", "nobody") }))
	b.Run("lookup=nthash/from=plain", passdbBench(func() { db.LookupNTHash(ctx, "u") }))
}

// BenchmarkParse times reading a file of 10,000 users.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "user%d@example.org:{SSHA512}9H/a+0LmIVb5VCufnWzMfQqBKRNUTa24xXkjGdHPOrL4ZkOrecKjgbN+NtacKyRDizioKIW+xKTc+HCG54xiUAt1gLY=:1000:1000::/home/u%d::\n", i, i)
	}
	text := sb.String()
	b.Run("users=10000", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		passdbBench(func() { Parse(strings.NewReader(text)) })(b)
	})
}
