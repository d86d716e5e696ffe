package passdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// passdbTestFile builds a passwd-file with one user per scheme from the
// doveadm vectors (password "secret"), plus hand-written lines.
func passdbTestFile(t testing.TB) (string, map[string]passdbVector) {
	t.Helper()
	users := make(map[string]passdbVector)
	var b strings.Builder
	b.WriteString("# users for the tests\n\n   \n")
	for _, v := range passdbDovecotVectors(t) {
		if v.Password != "secret" || strings.Contains(v.Scheme, "ARGON2") {
			continue
		}
		name := v.User
		if name == "" {
			name = strings.ToLower(v.Scheme) + "-user"
		}
		if _, dup := users[name]; dup {
			continue
		}
		users[name] = v
		fmt.Fprintf(&b, "%s:%s:1000:1000::/home/%s::userdb_quota_rule=*:storage=1G\r\n", name, v.Hash, name)
	}
	b.WriteString("locked::1001:1001\n")
	b.WriteString("bare\n")
	return b.String(), users
}

func TestParseFile(t *testing.T) {
	text, users := passdbTestFile(t)
	db, err := Parse(strings.NewReader(text))
	require.NoError(t, err)
	assert.Equal(t, len(users)+2, db.Len())
	ctx := context.Background()
	for name, v := range users {
		e, ok := db.Lookup(name)
		require.True(t, ok, name)
		assert.Equal(t, "1000", e.UID)
		assert.Equal(t, "1000", e.GID)
		assert.Equal(t, "/home/"+name, e.Home)
		assert.Equal(t, "userdb_quota_rule=*:storage=1G", e.Extra, "the extra fields keep their colons")
		err := db.VerifyPassword(ctx, name, v.Password)
		if v.Supported {
			assert.NoError(t, err, name)
			assert.ErrorIs(t, db.VerifyPassword(ctx, name, "wrong"), sasl.ErrAuthFailed, name)
		} else {
			assert.ErrorIs(t, err, ErrUnsupportedScheme, name)
		}
	}
	for _, name := range []string{"locked", "bare"} {
		e, ok := db.Lookup(name)
		require.True(t, ok)
		assert.Empty(t, e.Scheme)
		assert.Nil(t, db.Password(name))
		err := db.VerifyPassword(ctx, name, "")
		assert.ErrorIs(t, err, sasl.ErrAuthFailed, "a locked user verifies nothing")
		assert.NotErrorIs(t, err, sasl.ErrUnknownUser)
	}
	_, ok := db.Lookup("nobody")
	assert.False(t, ok)
	assert.Nil(t, db.Password("nobody"))
	assert.Equal(t, 2, db.Schemes()[""])
	assert.Equal(t, 1, db.Schemes()[SchemeSHA512Crypt])
}

func TestParseErrors(t *testing.T) {
	const secret = "hunter2hunter2"
	good := "alice:{PLAIN}" + secret + "\n"
	for _, tt := range []struct {
		name string
		text string
		line int
		want error
	}{
		{"empty user", good + ":{PLAIN}x\n", 2, ErrSyntax},
		{"control in user", good + "bo\x01b:{PLAIN}x\n", 2, ErrSyntax},
		{"long user", good + strings.Repeat("u", MaxUsername+1) + ":{PLAIN}x\n", 2, ErrTooLarge},
		{"duplicate", good + "# c\n" + good, 3, ErrDuplicateUser},
		{"unknown scheme", good + "bob:{NOPE}" + secret + "\n", 2, ErrUnknownScheme},
		{"bad data", good + "bob:{SHA256}" + secret + "\n", 2, ErrSyntax},
		{"long line", good + "bob:{PLAIN}" + strings.Repeat("x", MaxLineLength) + "\n", 2, ErrTooLarge},
		{"long field", good + "bob:{PLAIN}" + strings.Repeat(secret, MaxPasswordField/len(secret)+1) + "\n", 2, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text))
			require.ErrorIs(t, err, tt.want)
			pe, ok := errors.AsType[*ParseError](err)
			require.True(t, ok)
			assert.Equal(t, tt.line, pe.Line)
			assert.Contains(t, err.Error(), fmt.Sprintf("line %d:", tt.line))
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), "alice")
			assert.NotContains(t, err.Error(), "bob")
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	_, err := Config{DefaultScheme: "NOPE"}.Parse(strings.NewReader(""))
	assert.ErrorIs(t, err, ErrUnknownScheme)
	_, err = Config{SCRAMIterations: 100}.Parse(strings.NewReader(""))
	assert.ErrorIs(t, err, ErrSyntax)
	db, err := Config{DefaultScheme: "plain"}.Parse(strings.NewReader("u:secret\n"))
	require.NoError(t, err)
	assert.NoError(t, db.VerifyPassword(context.Background(), "u", "secret"))
}

// passdbRepeatReader yields line forever, for the size bounds.
type passdbRepeatReader struct {
	line []byte
	off  int
}

func (r *passdbRepeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.off = (r.off + c) % len(r.line)
	}
	return n, nil
}

func TestParseBounds(t *testing.T) {
	// The file bound: a reader that never ends.
	_, err := Parse(&passdbRepeatReader{line: []byte("# comment " + strings.Repeat("x", 1000) + "\n")})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "file larger")
	// A line cut by the file bound reports the bound, not the cut line.
	comments := io.LimitReader(&passdbRepeatReader{line: []byte("#" + strings.Repeat("x", 62) + "\n")}, MaxFileSize-64)
	_, err = Parse(io.MultiReader(comments, strings.NewReader("u:{SHA256}"+strings.Repeat("A", 200)+"\n")))
	require.ErrorIs(t, err, ErrTooLarge)
	assert.NotErrorIs(t, err, ErrSyntax)
	// The user bound.
	var b bytes.Buffer
	for i := range MaxUsers + 1 {
		fmt.Fprintf(&b, "%x\n", i)
	}
	_, err = Parse(&b)
	require.ErrorIs(t, err, ErrTooLarge)
	pe, _ := errors.AsType[*ParseError](err)
	require.NotNil(t, pe)
	assert.Equal(t, MaxUsers+1, pe.Line)
	// A read error is reported with its line.
	_, err = Parse(io.MultiReader(strings.NewReader("a\nb\n"), passdbErrReader{}))
	require.ErrorIs(t, err, errPassdbRead)
	pe, _ = errors.AsType[*ParseError](err)
	require.NotNil(t, pe)
	assert.Equal(t, 3, pe.Line)
}

var errPassdbRead = errors.New("disk on fire")

type passdbErrReader struct{}

func (passdbErrReader) Read([]byte) (int, error) { return 0, errPassdbRead }

func TestLookups(t *testing.T) {
	ctx := context.Background()
	cram := sasl.NewCRAMMD5Secret("secret")
	scram256, err := Hash("SCRAM-SHA-256", "secret")
	require.NoError(t, err)
	bcryptHash, err := passdbHash("BLF-CRYPT", "", "secret", &passdbTestCost)
	require.NoError(t, err)
	text := strings.Join([]string{
		"plain:{PLAIN}secret",
		"cram:" + cram.String(),
		"scram:" + scram256,
		"ntlm:{NTLM}" + fmt.Sprintf("%x", NTHash("secret")),
		"bcrypt:" + bcryptHash,
		"alice@example.org:{DIGEST-MD5}543e1aec5d3614f03141652d6ada51b2", // doveadm pw -u alice@example.org
		"bob:{DIGEST-MD5}" + md5Hex("bob::secret"),
		"carol@example.org:{PLAIN}secret",
		"locked:",
	}, "\n")
	secret := []byte("k")
	db, err := Config{SCRAMSecret: secret}.Parse(strings.NewReader(text))
	require.NoError(t, err)

	t.Run("plaintext", func(t *testing.T) {
		pw, err := db.LookupPassword(ctx, "plain")
		require.NoError(t, err)
		assert.Equal(t, "secret", pw)
		for _, u := range []string{"cram", "scram", "bcrypt", "locked", "nobody"} {
			_, err := db.LookupPassword(ctx, u)
			assert.ErrorIs(t, err, sasl.ErrUnknownUser, u)
		}
	})
	t.Run("cram-md5", func(t *testing.T) {
		for _, u := range []string{"plain", "cram"} {
			got, err := db.LookupCRAMMD5(ctx, u)
			require.NoError(t, err)
			assert.Equal(t, cram, got, u)
		}
		for _, u := range []string{"scram", "bcrypt", "ntlm", "locked", "nobody"} {
			_, err := db.LookupCRAMMD5(ctx, u)
			assert.ErrorIs(t, err, sasl.ErrUnknownUser, u)
		}
	})
	t.Run("ntlm", func(t *testing.T) {
		for _, u := range []string{"plain", "ntlm"} {
			got, err := db.LookupNTHash(ctx, u)
			require.NoError(t, err)
			assert.Equal(t, NTHash("secret"), got, u)
		}
		for _, u := range []string{"scram", "cram", "locked", "nobody"} {
			_, err := db.LookupNTHash(ctx, u)
			assert.ErrorIs(t, err, sasl.ErrUnknownUser, u)
		}
	})
	t.Run("scram", func(t *testing.T) {
		c, err := db.LookupSCRAM(ctx, "SCRAM-SHA-256", "scram")
		require.NoError(t, err)
		c.Salt[0] ^= 1 // the DB must not change
		c2, err := db.LookupSCRAM(ctx, "SCRAM-SHA-256", "scram")
		require.NoError(t, err)
		assert.NotEqual(t, c.Salt, c2.Salt)
		// Derived from PLAIN: stable, sasl's own keys for that salt.
		for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
			d, err := db.LookupSCRAM(ctx, mech, "plain")
			require.NoError(t, err)
			want, err := sasl.NewSCRAMCredentials(mech, "secret", d.Salt, 4096)
			require.NoError(t, err)
			assert.Equal(t, want, d)
			again, err := db.LookupSCRAM(ctx, mech, "plain")
			require.NoError(t, err)
			assert.Equal(t, d.Salt, again.Salt, "derived salts are stable")
		}
		for _, u := range []string{"cram", "bcrypt", "locked", "nobody"} {
			_, err := db.LookupSCRAM(ctx, "SCRAM-SHA-256", u)
			assert.ErrorIs(t, err, sasl.ErrUnknownUser, u)
		}
		_, err = db.LookupSCRAM(ctx, "SCRAM-SHA-1", "scram")
		assert.ErrorIs(t, err, sasl.ErrUnknownUser, "a SHA-256 key cannot serve SHA-1")
		_, err = db.LookupSCRAM(ctx, "PLAIN", "scram")
		assert.ErrorIs(t, err, sasl.ErrUnsupportedMechanism)
	})
	t.Run("digest-md5", func(t *testing.T) {
		for _, tt := range []struct{ user, realm, want string }{
			{"bob", "", md5Hex("bob::secret")},
			{"plain", "example.org", md5Hex("plain:example.org:secret")},
			{"plain", "", md5Hex("plain::secret")},
			{"carol@example.org", "", md5Hex("carol@example.org::secret")},
			{"carol@example.org", "other.org", md5Hex("carol@example.org:other.org:secret")},
		} {
			got, err := db.LookupDigestMD5(ctx, tt.user, tt.realm)
			require.NoError(t, err, "%s %s", tt.user, tt.realm)
			assert.Equal(t, tt.want, fmt.Sprintf("%x", got), "%s %s", tt.user, tt.realm)
		}
		for _, tt := range []struct{ user, realm string }{
			{"alice", "example.org"},       // only the entry named "alice" answers (issue 8, defect 3)
			{"carol", "example.org"},       // likewise, from a PLAIN carol@example.org
			{"alice", "other.org"},         // hash made for example.org
			{"alice", ""},                  // no entry "alice"
			{"alice@example.org", ""},      // hash is alice:example.org, not alice@example.org:
			{"bob", "example.org"},         // hash made for the empty realm
			{"bcrypt", "example.org"},      // scheme cannot serve
			{"locked", ""}, {"nobody", ""}, // no password, no user
		} {
			_, err := db.LookupDigestMD5(ctx, tt.user, tt.realm)
			assert.ErrorIs(t, err, sasl.ErrUnknownUser, "%s %s", tt.user, tt.realm)
		}
		// ISO 8859-1 where it fits, as DIGEST-MD5 clients hash.
		db2, err := Parse(strings.NewReader("jörg:{PLAIN}pässwörd\n"))
		require.NoError(t, err)
		got, err := db2.LookupDigestMD5(ctx, "jörg", "ex")
		require.NoError(t, err)
		assert.Equal(t, md5Hex("j\xf6rg:ex:p\xe4ssw\xf6rd"), fmt.Sprintf("%x", got))
	})
	t.Run("verify", func(t *testing.T) {
		for _, u := range []string{"plain", "cram", "scram", "ntlm", "bcrypt", "alice@example.org", "bob", "carol@example.org"} {
			assert.NoError(t, db.VerifyPassword(ctx, u, "secret"), u)
			err := db.VerifyPassword(ctx, u, "wrong")
			assert.ErrorIs(t, err, sasl.ErrAuthFailed, u)
			assert.NotErrorIs(t, err, sasl.ErrUnknownUser, u)
		}
		err := db.VerifyPassword(ctx, "nobody", "secret")
		assert.ErrorIs(t, err, sasl.ErrUnknownUser)
		assert.NotErrorIs(t, err, sasl.ErrAuthFailed)
		assert.NotContains(t, err.Error(), "nobody")
	})
}

// TestUnknownUserWork checks the dummy: the most common verifiable scheme.
func TestUnknownUserWork(t *testing.T) {
	b1, err := passdbHash("BLF-CRYPT", "", "a", &passdbTestCost)
	require.NoError(t, err)
	b2, err := passdbHash("BLF-CRYPT", "", "b", &passdbTestCost)
	require.NoError(t, err)
	db, err := Parse(strings.NewReader("x:{PLAIN}p\ny:" + b1 + "\nz:" + b2 + "\nw:{DES-CRYPT}T1zyI3adnv8/s\nv:{DES-CRYPT}T1zyI3adnv8/s\nu:{DES-CRYPT}T1zyI3adnv8/s\n"))
	require.NoError(t, err)
	require.NotNil(t, db.dummy)
	assert.Equal(t, SchemeBLFCrypt, db.dummy.Scheme, "unsupported schemes are never the dummy")
	// The dummy's own password does not log an unknown user in.
	assert.ErrorIs(t, db.VerifyPassword(context.Background(), "nobody", "a"), sasl.ErrUnknownUser)
	// The zero and the empty DB have no dummy and still answer.
	var zero DB
	assert.ErrorIs(t, zero.VerifyPassword(context.Background(), "u", "p"), sasl.ErrUnknownUser)
	_, err = zero.LookupCRAMMD5(context.Background(), "u")
	assert.ErrorIs(t, err, sasl.ErrUnknownUser)
	assert.Equal(t, 0, zero.Len())
}

// TestDummyNeverCostsMore (issue 8, "also check"): the model of an
// unknown user is the most common (scheme, cost) pair, so one entry with
// a huge Argon2 or PBKDF2 cost cannot make every unknown-user login that
// expensive. Before the fix any user of the most common scheme could be
// the model, and map order picked it.
func TestDummyNeverCostsMore(t *testing.T) {
	pb := func(rounds int) string {
		return fmt.Sprintf("{PBKDF2}$1$salt$%d$%s", rounds, strings.Repeat("00", 20))
	}
	// Map order varies: parse several times so a lucky order cannot pass.
	for range 20 {
		text := "a:" + pb(1000) + "\nb:" + pb(1000) + "\nc:" + pb(1000) + "\n" +
			"big1:" + pb(10_000_000) + "\nbig2:" + pb(9_000_000) + "\n" +
			"argon:{ARGON2ID}$argon2id$v=19$m=1048576,t=64,p=1$c2FsdHNhbHQ$aGFzaGhhc2g\n"
		db, err := Parse(strings.NewReader(text))
		require.NoError(t, err)
		require.NotNil(t, db.dummy)
		require.Equal(t, uint64(1000), db.dummy.pw.cost(), "dummy is %s", db.dummy.User)
	}
	// Ties go to the cheaper cost.
	db, err := Parse(strings.NewReader("a:" + pb(5000) + "\nb:" + pb(1000) + "\n"))
	require.NoError(t, err)
	assert.Equal(t, "b", db.dummy.User)
}

// TestMixedFileSameSCRAMWork (issue 8, defect 5): in a passwd-file that
// mixes {PLAIN} and {SCRAM-*} users, LookupSCRAM does the same PBKDF2 (same
// hash, same count) for a PLAIN user, a stored-SCRAM user, a user of another
// scheme and an unknown user. Before the fix a stored {SCRAM-SHA-256} user
// answered without any PBKDF2 (under 1 µs against about 700 µs).
func TestMixedFileSameSCRAMWork(t *testing.T) {
	stored, err := Hash("SCRAM-SHA-256", "pw")
	require.NoError(t, err)
	db, err := Config{SCRAMIterations: 5000}.Parse(strings.NewReader("p:{PLAIN}pw\ns:" + stored + "\nm:{PLAIN-MD5}" + md5Hex("pw") + "\n"))
	require.NoError(t, err)
	type call struct {
		scheme string
		iter   int
	}
	var calls []call
	db.testPBKDF2 = func(s string, i int) { calls = append(calls, call{s, i}) }
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1"} {
		var want []call
		for _, u := range []string{"p", "s", "m", "nobody"} {
			calls = nil
			_, _ = db.LookupSCRAM(t.Context(), mech, u)
			if want == nil {
				want = calls
				require.Equal(t, []call{{mech, 5000}}, want)
			}
			assert.Equal(t, want, calls, "%s %s", mech, u)
		}
	}
	// A file without PLAIN users derives nothing, and so fakes nothing.
	db, err = Parse(strings.NewReader("s:" + stored + "\n"))
	require.NoError(t, err)
	db.testPBKDF2 = func(s string, i int) { calls = append(calls, call{s, i}) }
	calls = nil
	_, _ = db.LookupSCRAM(t.Context(), "SCRAM-SHA-256", "s")
	_, _ = db.LookupSCRAM(t.Context(), "SCRAM-SHA-256", "nobody")
	assert.Empty(t, calls)
}

func TestOpenAndReload(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(path, []byte("u:{PLAIN}one\n"), 0o600))
	r, err := NewReloader(path, Config{SCRAMSecret: []byte("k")})
	require.NoError(t, err)
	assert.NoError(t, r.VerifyPassword(ctx, "u", "one"))

	require.NoError(t, os.WriteFile(path, []byte("u:{PLAIN}two\nv:{PLAIN}three\n"), 0o600))
	require.NoError(t, r.Reload())
	assert.NoError(t, r.VerifyPassword(ctx, "u", "two"))
	assert.Equal(t, 2, r.DB().Len())

	// A broken file keeps the old DB and names the path and line.
	require.NoError(t, os.WriteFile(path, []byte("u:{PLAIN}x\nu:{PLAIN}y\n"), 0o600))
	err = r.Reload()
	require.ErrorIs(t, err, ErrDuplicateUser)
	assert.Contains(t, err.Error(), path+":2: ")
	assert.NoError(t, r.VerifyPassword(ctx, "u", "two"))

	// Every lookup goes to the current DB.
	pw, err := r.LookupPassword(ctx, "v")
	require.NoError(t, err)
	assert.Equal(t, "three", pw)
	_, err = r.LookupCRAMMD5(ctx, "v")
	assert.NoError(t, err)
	_, err = r.LookupDigestMD5(ctx, "v", "r")
	assert.NoError(t, err)
	_, err = r.LookupSCRAM(ctx, "SCRAM-SHA-256", "v")
	assert.NoError(t, err)
	_, err = r.LookupNTHash(ctx, "v")
	assert.NoError(t, err)

	_, err = Open(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = NewReloader(filepath.Join(t.TempDir(), "missing"), Config{})
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestReloadConcurrent runs lookups while reloading (run with -race).
func TestReloadConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(path, []byte("u:{PLAIN}p\n"), 0o600))
	r, err := NewReloader(path, Config{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if err := r.VerifyPassword(ctx, "u", "p"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 20 {
		require.NoError(t, r.Reload())
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzParse feeds arbitrary files to Parse: no panic, errors are
// *ParseError values with the package prefix, a parsed DB answers
// lookups for each of its users.
func FuzzParse(f *testing.F) {
	text, _ := passdbTestFile(f)
	f.Add(text)
	f.Add("a:{PLAIN}x\na:{PLAIN}y\n")
	f.Add("#c\n\nu\nv:\nw:{CRAM-MD5}" + strings.Repeat("00", 32) + ":1:2:g:/h:/s:k=v a=b:c\r\n")
	f.Add("u:{PLAIN.B64}c2U6Y3JldA==\n")
	f.Fuzz(func(t *testing.T, text string) {
		db, err := Parse(strings.NewReader(text))
		if err != nil {
			if _, ok := errors.AsType[*ParseError](err); !ok {
				t.Fatalf("not a *ParseError: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "passdb: ") {
				t.Fatalf("no prefix: %v", err)
			}
			return
		}
		ctx := context.Background()
		for name, e := range db.users {
			if e.User != name {
				t.Fatalf("entry under the wrong name")
			}
			if e.pw != nil && e.pw.scheme == SchemePlain {
				if err := db.VerifyPassword(ctx, name, e.pw.plain); err != nil {
					t.Fatalf("PLAIN user does not verify: %v", err)
				}
			}
			_, _ = db.LookupCRAMMD5(ctx, name)
			_, _ = db.LookupDigestMD5(ctx, name, "")
			_, _ = db.LookupNTHash(ctx, name)
			_, _ = db.LookupPassword(ctx, name)
		}
	})
}

// TestReviewReloadKeepsDerivedSalts: a PLAIN user's derived SCRAM salt
// must not change at a reload or a restart while unknown users' fake salts
// stay: the change would tell who exists. With Config.SCRAMSecret it is
// stable; without one PLAIN users get no SCRAM keys at all (the lookup
// fails like an unknown user's), rather than a salt random per process.
func TestReviewReloadKeepsDerivedSalts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(path, []byte("u:{PLAIN}one\n"), 0o600))

	r, err := NewReloader(path, Config{})
	require.NoError(t, err)
	_, err = r.LookupSCRAM(ctx, sasl.SCRAMSHA256, "u")
	require.ErrorIs(t, err, sasl.ErrNoCredentials)
	require.ErrorIs(t, err, sasl.ErrUnknownUser)
	assert.False(t, r.db.Load().HoldsCredentials(sasl.SCRAMSHA256))
	require.NoError(t, r.VerifyPassword(ctx, "u", "one"), "PLAIN still works")

	secret := []byte("0123456789abcdef0123456789abcdef")
	r, err = NewReloader(path, Config{SCRAMSecret: secret})
	require.NoError(t, err)
	before, err := r.LookupSCRAM(ctx, sasl.SCRAMSHA256, "u")
	require.NoError(t, err)
	require.NoError(t, r.Reload())
	after, err := r.LookupSCRAM(ctx, sasl.SCRAMSHA256, "u")
	require.NoError(t, err)
	assert.Equal(t, before.Salt, after.Salt)
	assert.Equal(t, before.StoredKey, after.StoredKey)
	// A second process with the same secret derives the same salt.
	db, err := Config{SCRAMSecret: secret}.Parse(strings.NewReader("u:{PLAIN}one\n"))
	require.NoError(t, err)
	other, err := db.LookupSCRAM(ctx, sasl.SCRAMSHA256, "u")
	require.NoError(t, err)
	assert.Equal(t, before.Salt, other.Salt)
}
