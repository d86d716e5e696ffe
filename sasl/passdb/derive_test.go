package passdb

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// TestPasswordDerive checks the per-field lookups against DB's, which
// serve the same schemes the same way.
func TestPasswordDerive(t *testing.T) {
	parse := func(f string) *Password {
		p, err := ParsePassword(f, "")
		require.NoError(t, err)
		return p
	}
	plain := parse("{PLAIN}secret")
	salt := []byte("0123456789abcdef")

	pw, ok := plain.Plaintext()
	assert.True(t, ok)
	assert.Equal(t, "secret", pw)
	cram, ok := plain.CRAMMD5()
	assert.True(t, ok)
	assert.Equal(t, sasl.NewCRAMMD5Secret("secret"), cram)
	stored := parse(sasl.NewCRAMMD5Secret("secret").String())
	cram2, ok := stored.CRAMMD5()
	assert.True(t, ok)
	assert.Equal(t, cram, cram2)

	d, ok := plain.DigestMD5("alice", "example.org")
	assert.True(t, ok)
	assert.Equal(t, passdbDigestURP("alice", "example.org", "secret"), d)
	h, err := HashUser(SchemeDigestMD5, "alice@example.org", "secret")
	require.NoError(t, err)
	sd, ok := parse(h).StoredDigestMD5()
	assert.True(t, ok)
	assert.Equal(t, d, sd)
	_, ok = parse(h).DigestMD5("alice", "example.org")
	assert.False(t, ok, "a stored hash is not derived")

	c, ok := plain.SCRAM("SCRAM-SHA-256-PLUS", salt, 4096)
	require.True(t, ok)
	want, err := passdbNewSCRAM(SchemeSCRAMSHA256, "secret", salt, 4096)
	require.NoError(t, err)
	assert.Equal(t, want, c)
	_, ok = plain.SCRAM("SCRAM-SHA-256", salt, 100)
	assert.False(t, ok, "iterations below 4096")
	_, ok = plain.SCRAM("CRAM-MD5", salt, 4096)
	assert.False(t, ok)
	sf := parse(c.Format(SchemeSCRAMSHA256))
	c2, ok := sf.SCRAM(SchemeSCRAMSHA256, nil, 0)
	require.True(t, ok)
	assert.Equal(t, c, c2)
	c2.StoredKey[0] ^= 1
	c3, _ := sf.SCRAM(SchemeSCRAMSHA256, nil, 0)
	assert.NotEqual(t, c2.StoredKey, c3.StoredKey, "copies")
	_, ok = sf.SCRAM(SchemeSCRAMSHA1, nil, 0)
	assert.False(t, ok)

	nt, ok := plain.NTHash()
	assert.True(t, ok)
	assert.Equal(t, NTHash("secret"), nt)
	ntf, err := Hash(SchemeNTLM, "secret")
	require.NoError(t, err)
	nt2, ok := parse(ntf).NTHash()
	assert.True(t, ok)
	assert.Equal(t, nt, nt2)

	bc := parse("{BLF-CRYPT}$2y$04$524hLWsCh04eU9k5mGNbLeK7rfcZcfxAlLzKnJheXZy3eSC8Fhcy.")
	_, ok1 := bc.Plaintext()
	_, ok2 := bc.CRAMMD5()
	_, ok3 := bc.DigestMD5("a", "b")
	_, ok4 := bc.StoredDigestMD5()
	_, ok5 := bc.SCRAM(SchemeSCRAMSHA256, salt, 4096)
	_, ok6 := bc.NTHash()
	assert.False(t, ok1 || ok2 || ok3 || ok4 || ok5 || ok6, "bcrypt serves only VerifyPassword")
}
