package passdb

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// passdbVector is one line of testdata/dovecot-pw.json: the output of
// `doveadm pw` (Dovecot 2.3) for a scheme and password.
type passdbVector struct {
	Scheme    string `json:"scheme"`
	User      string `json:"user"`
	Password  string `json:"password"`
	Hash      string `json:"hash"`
	Supported bool   `json:"supported"`
	Command   string `json:"command"`
}

func passdbDovecotVectors(t testing.TB) []passdbVector {
	t.Helper()
	b, err := os.ReadFile("testdata/dovecot-pw.json")
	require.NoError(t, err)
	var f struct {
		Vectors []passdbVector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotEmpty(t, f.Vectors)
	return f.Vectors
}

func TestDovecotVectors(t *testing.T) {
	for _, v := range passdbDovecotVectors(t) {
		t.Run(v.Command, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePassword(v.Hash, "")
			require.NoError(t, err)
			assert.Equal(t, v.Supported, p.Supported())
			assert.NotContains(t, p.String(), v.Password)
			user := v.User
			if !v.Supported {
				assert.ErrorIs(t, p.Verify(user, v.Password), ErrUnsupportedScheme)
				return
			}
			assert.NoError(t, p.Verify(user, v.Password))
			assert.ErrorIs(t, p.Verify(user, v.Password+"x"), sasl.ErrAuthFailed)
			if !strings.Contains(v.Scheme, "ARGON2") {
				assert.ErrorIs(t, p.Verify(user, ""), sasl.ErrAuthFailed)
			}
			// The derived forms agree with sasl's own functions.
			switch p.Scheme() {
			case SchemeCRAMMD5:
				assert.Equal(t, sasl.NewCRAMMD5Secret(v.Password), p.cram)
			case SchemeSCRAMSHA1, SchemeSCRAMSHA256:
				c, err := sasl.NewSCRAMCredentials(p.Scheme(), v.Password, p.scram.Salt, p.scram.Iterations)
				require.NoError(t, err)
				assert.Equal(t, c, p.scram)
			case SchemeDigestMD5:
				u, r, _ := strings.Cut(v.User, "@")
				assert.Equal(t, md5Hex(u+":"+r+":"+v.Password), hex.EncodeToString(p.digest))
			}
		})
	}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestNTHashOpenSSL(t *testing.T) {
	b, err := os.ReadFile("testdata/ntlm-openssl.json")
	require.NoError(t, err)
	var f struct {
		Vectors []struct {
			Password string `json:"password"`
			NTHash   string `json:"nt_hash"`
		} `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotEmpty(t, f.Vectors)
	for _, v := range f.Vectors {
		sum := NTHash(v.Password)
		assert.Equal(t, v.NTHash, hex.EncodeToString(sum[:]), v.Password)
		p, err := ParsePassword("{NTLM}"+v.NTHash, "")
		require.NoError(t, err)
		assert.NoError(t, p.Verify("", v.Password))
		assert.ErrorIs(t, p.Verify("", v.Password+"x"), sasl.ErrAuthFailed)
		h, err := Hash("NTLM", v.Password)
		require.NoError(t, err)
		assert.Equal(t, "{NTLM}"+v.NTHash, h)
	}
}

// passdbTestCost makes bcrypt and Argon2 cheap in tests; the defaults are
// checked once by TestHashDefaults.
var passdbTestCost = passdbCost{bcrypt: 4, argonTime: 1, argonMem: 64, argonLanes: 1}

func TestHashDefaults(t *testing.T) {
	h, err := Hash("ARGON2ID", "secret")
	require.NoError(t, err)
	assert.Regexp(t, `^\{ARGON2ID\}\$argon2id\$v=19\$m=65536,t=3,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, h)
	h, err = Hash("BLF-CRYPT", "secret")
	require.NoError(t, err)
	assert.Regexp(t, `^\{BLF-CRYPT\}\$2a\$10\$`, h)
	h, err = Hash("SCRAM-SHA-256", "secret")
	require.NoError(t, err)
	assert.Regexp(t, `^\{SCRAM-SHA-256\}4096,[A-Za-z0-9+/]{22}==,`, h)
}

// TestHashRoundTrip writes every scheme Hash supports and verifies it.
func TestHashRoundTrip(t *testing.T) {
	schemes := []string{"PLAIN", "CLEARTEXT", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512",
		"SHA", "SSHA", "SHA256", "SSHA256", "SHA512", "SSHA512", "PLAIN-MD5", "NTLM", "BLF-CRYPT", "ARGON2I", "ARGON2ID", "DIGEST-MD5"}
	for _, scheme := range schemes {
		for _, pw := range []string{"secret", "pässwörd €", "with:colon\nand newline", strings.Repeat("long", 30)} {
			if scheme == "BLF-CRYPT" && len(pw) > 72 {
				_, err := Hash(scheme, pw)
				assert.Error(t, err, "bcrypt refuses passwords over 72 bytes")
				continue
			}
			t.Run(scheme, func(t *testing.T) {
				t.Parallel()
				h, err := passdbHash(scheme, "alice@example.org", pw, &passdbTestCost)
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(h, "{"), h)
				assert.NotContains(t, h, "\n")
				p, err := ParsePassword(h, "")
				require.NoError(t, err)
				assert.NoError(t, p.Verify("alice@example.org", pw))
				assert.ErrorIs(t, p.Verify("alice@example.org", pw+"x"), sasl.ErrAuthFailed)
				// A salted scheme never writes the same string twice.
				if _, salted := passdbDigestSize(p.Scheme()); salted || p.salt != nil || p.scram.Salt != nil || p.crypt != "" {
					h2, err := passdbHash(scheme, "alice@example.org", pw, &passdbTestCost)
					require.NoError(t, err)
					assert.NotEqual(t, h, h2)
				}
			})
		}
	}
	for _, scheme := range []string{"CRYPT", "DES-CRYPT", "PBKDF2"} {
		_, err := Hash(scheme, "x")
		assert.ErrorIs(t, err, ErrUnsupportedScheme, scheme)
	}
	_, err := Hash("DIGEST-MD5", "x")
	assert.ErrorContains(t, err, "HashUser")
	_, err = HashUser("digest-md5", "", "x")
	assert.ErrorContains(t, err, "HashUser")
	_, err = Hash("NOPE", "x")
	assert.ErrorIs(t, err, ErrUnknownScheme)
}

// TestHashDoveadm checks Hash's output with the real `doveadm pw -t`. It
// needs Dovecot and runs only with PASSDB_DOVEADM=1.
func TestHashDoveadm(t *testing.T) {
	if os.Getenv("PASSDB_DOVEADM") != "1" {
		t.Skip("set PASSDB_DOVEADM=1 to check against doveadm")
	}
	for _, scheme := range []string{"PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SHA", "SSHA", "SHA256",
		"SSHA256", "SHA512", "SSHA512", "PLAIN-MD5", "BLF-CRYPT", "ARGON2I", "ARGON2ID", "DIGEST-MD5"} {
		for _, pw := range []string{"secret", "pässwörd €", "with:colon"} {
			h, err := HashUser(scheme, "alice@example.org", pw)
			require.NoError(t, err)
			out, err := exec.Command("doveadm", "pw", "-t", h, "-p", pw, "-u", "alice@example.org").CombinedOutput()
			assert.NoError(t, err, "%s %q: %s", scheme, pw, out)
			out, err = exec.Command("doveadm", "pw", "-t", h, "-p", pw+"x", "-u", "alice@example.org").CombinedOutput()
			assert.Error(t, err, "%s %q: %s", scheme, pw, out)
		}
	}
}

func TestParsePasswordErrors(t *testing.T) {
	const secret = "hunter2hunter2"
	for _, tt := range []struct {
		name, field string
		want        error
	}{
		{"unclosed brace", "{SHA256" + secret, ErrSyntax},
		{"unknown scheme", "{NOPE}" + secret, ErrUnknownScheme},
		{"unknown scheme looks like password", "{" + secret + "}", ErrUnknownScheme},
		{"bad base64", "{SHA256}!!" + secret, ErrSyntax},
		{"short digest", "{SHA256}c2VjcmV0", ErrSyntax},
		{"long digest", "{SHA}" + strings.Repeat("A", 40) + "AAAA", ErrSyntax},
		{"salted without salt", "{SSHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", ErrSyntax},
		{"salt too long", "{SSHA}" + b64(make([]byte, 20+maxSaltLen+1)), ErrSyntax},
		{"cram not hex", "{CRAM-MD5}" + strings.Repeat("zz", 32), ErrSyntax},
		{"cram short", "{CRAM-MD5}abcd", ErrSyntax},
		{"digest-md5 short", "{DIGEST-MD5}abcd", ErrSyntax},
		{"ntlm not hex", "{NTLM}" + strings.Repeat("x", 32), ErrSyntax},
		{"scram garbage", "{SCRAM-SHA-256}" + secret, ErrSyntax},
		{"scram wrong key length", "{SCRAM-SHA-256}4096,AAAA,AAAA,AAAA", ErrSyntax},
		{"scram too many iterations", "{SCRAM-SHA-1}20000000,GtTCFUu9jTGXNtA28dK7sw==,4vlt32ZqULIEfgemj2IOVEB2iOo=,YQdmJ/SQSXCMs1SjUNM7/uKumjs=", ErrSyntax},
		{"bcrypt garbage", "{BLF-CRYPT}$2y$05$" + secret, ErrSyntax},
		{"bcrypt cost", "{BLF-CRYPT}$2y$99$524hLWsCh04eU9k5mGNbLeK7rfcZcfxAlLzKnJheXZy3eSC8Fhcy.", ErrSyntax},
		{"argon2 fields", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$" + secret, ErrSyntax},
		{"argon2 variant", "{ARGON2I}$argon2id$v=19$m=65536,t=3,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 name", "{ARGON2ID}$argon2d$v=19$m=65536,t=3,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 version", "{ARGON2ID}$argon2id$v=16$m=65536,t=3,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 memory", "{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 time", "{ARGON2ID}$argon2id$v=19$m=65536,t=1000,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 lanes", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=256$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 repeated", "{ARGON2ID}$argon2id$v=19$m=65536,m=3,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 missing", "{ARGON2ID}$argon2id$v=19$m=65536,t=3$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 plus", "{ARGON2ID}$argon2id$v=19$m=+65536,t=3,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 salt", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$R4bn$a31RyopJMwkwLmlPMEVdN5fq7fy3MFGa3M/MjH9jlmM", ErrSyntax},
		{"argon2 hash", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$R4bnPbm4f9ueMwA1qSsp+Q$!!", ErrSyntax},
		{"pbkdf2 fields", "{PBKDF2}$1$" + secret, ErrSyntax},
		{"pbkdf2 rounds", "{PBKDF2}$1$y7W0AW7nzpTxN6xD$0$2a151c9eee05999ddcc656bc68add740910d4a2b", ErrSyntax},
		{"pbkdf2 key", "{PBKDF2}$1$y7W0AW7nzpTxN6xD$1000$2a15", ErrSyntax},
		{"encoding suffix unknown", "{SHA256.ROT13}" + secret, ErrSyntax},
		{"encoding suffix not allowed", "{BLF-CRYPT.HEX}" + secret, ErrSyntax},
		{"encoding bad hex", "{PLAIN.HEX}" + secret, ErrSyntax},
		{"encoding bad base64", "{PLAIN.B64}" + secret + "!", ErrSyntax},
		{"too long", "{PLAIN}" + strings.Repeat(secret, MaxPasswordField), ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePassword(tt.field, "")
			require.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), secret, "error text must not contain the field")
			assert.True(t, strings.HasPrefix(err.Error(), "passdb: "), err.Error())
		})
	}
}

func TestParsePasswordDefaults(t *testing.T) {
	// No scheme: CRYPT, dispatched on the hash.
	p, err := ParsePassword("$2y$04$524hLWsCh04eU9k5mGNbLeK7rfcZcfxAlLzKnJheXZy3eSC8Fhcy.", "")
	require.NoError(t, err)
	assert.Equal(t, SchemeCrypt, p.Scheme())
	assert.NoError(t, p.Verify("", "secret"))
	p, err = ParsePassword("$6$uf23LBRzZYbDZ/ml$FTAHVtRCm7Jrl8CDhkpBUW7lNq3J.6nOh7Zdkf9Jq2fsWtkLkr48B5JvuYwiCHrUkgXAWpjum.GhEIP2Cgurt/", "")
	require.NoError(t, err)
	assert.True(t, p.Supported())
	assert.NoError(t, p.Verify("", "secret")) // glibc's crypt(3) of "secret"
	assert.ErrorIs(t, p.Verify("", "wrong"), sasl.ErrAuthFailed)
	// DES crypt(3) parses but is not verified.
	p, err = ParsePassword("T1zyI3adnv8/s", "")
	require.NoError(t, err)
	assert.False(t, p.Supported())
	assert.ErrorIs(t, p.Verify("", "secret"), ErrUnsupportedScheme)
	// A configured default, case-insensitive names, aliases.
	p, err = ParsePassword("secret", "plain")
	require.NoError(t, err)
	assert.Equal(t, SchemePlain, p.Scheme())
	assert.NoError(t, p.Verify("", "secret"))
	for alias, canon := range map[string]string{"clear": SchemePlain, "HMAC-MD5": SchemeCRAMMD5, "sha1": SchemeSHA, "MD5": SchemeMD5Crypt} {
		p, err := ParsePassword("{"+alias+"}", "")
		if err == nil {
			assert.Equal(t, canon, p.Scheme(), alias)
		} else {
			assert.ErrorIs(t, err, ErrSyntax, alias) // empty digest
		}
	}
	// Hex where the length fits, as Dovecot's password_decode.
	p, err = ParsePassword("{SHA256}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b", "")
	require.NoError(t, err)
	assert.NoError(t, p.Verify("", "secret"))
	// The zero Password verifies nothing.
	var zero Password
	assert.False(t, zero.Supported())
	assert.Error(t, zero.Verify("", ""))
}

// FuzzScheme checks the {SCHEME}data decoder: no panic, errors carry the
// package prefix and never the field, and a parsed cheap scheme verifies
// without panicking.
func FuzzScheme(f *testing.F) {
	for _, v := range passdbDovecotVectors(f) {
		f.Add(v.Hash, v.Password)
	}
	f.Add("{PLAIN.B64}c2U6Y3JldA==", "se:cret")
	f.Add("{ARGON2ID}$argon2id$v=19$m=8,t=1,p=1$R4bnPbm4f9ueMwA1qSsp+Q$a31RyopJMwkw", "x")
	f.Fuzz(func(t *testing.T, field, password string) {
		p, err := ParsePassword(field, "")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "passdb: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			// The scheme name may be named; the data after it must not
			// be ("{PLAIN-MD4}" with no data is all scheme name).
			prefix, data := "", field
			if _, rest, ok := strings.Cut(field, "}"); ok && strings.HasPrefix(field, "{") {
				prefix, data = field[:len(field)-len(rest)], rest
			}
			if len(data) >= 8 && strings.Contains(err.Error(), data) {
				// Data that happens to be a piece of a fixed message
				// ("$argon2i" in "want $argon2id$...") is not a leak:
				// with its letters' case swapped it is no longer found,
				// while an echoed field would be echoed swapped too.
				swapped := passdbSwapCase(data)
				_, err2 := ParsePassword(prefix+swapped, "")
				if swapped == data || err2 != nil && strings.Contains(err2.Error(), swapped) {
					t.Fatalf("error contains the field's data: %v", err)
				}
			}
			return
		}
		switch p.Scheme() {
		case SchemeArgon2I, SchemeArgon2ID, SchemeBLFCrypt, SchemeCrypt, SchemePBKDF2,
			SchemeSCRAMSHA1, SchemeSCRAMSHA256, SchemeSCRAMSHA512:
			return // costly by design; their parsers are bounded above
		}
		_ = p.Verify("user@realm", password)
		if p.Scheme() == SchemePlain && p.Verify("", p.plain) != nil {
			t.Fatal("PLAIN does not verify its own password")
		}
	})
}

func TestLookupSCRAMPlusSuffix(t *testing.T) {
	h, err := Hash("SCRAM-SHA-256", "secret")
	require.NoError(t, err)
	db, err := Parse(strings.NewReader("u:" + h + "\n"))
	require.NoError(t, err)
	c, err := db.LookupSCRAM(context.Background(), "SCRAM-SHA-256-PLUS", "u")
	require.NoError(t, err)
	assert.Equal(t, HashSCRAMIterations, c.Iterations)
}

func passdbSwapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
