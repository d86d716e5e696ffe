package passdb_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xdg-go/scram"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

// passdbE2EFile has a user for each scheme sasl's servers use, written by
// Hash and by `doveadm pw` (the DIGEST-MD5 and SCRAM-SHA-256 lines).
func passdbE2EFile(t *testing.T) string {
	t.Helper()
	lines := []string{
		"# mailauth end-to-end users",
		"plain:{PLAIN}secret",
		"cram:{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
		"alice@example.org:{DIGEST-MD5}543e1aec5d3614f03141652d6ada51b2",
		"scram:{SCRAM-SHA-256}4096,/h2E01g+ClyvvhPYG6vblQ==,fNV9kMWo8MZXmAD/3BxgYFq3aGOxLhMeIDeUo6EW1MA=,LBl9PwlNUnDTgUbP8pYz94Q2f+CyM8XAEUEgQDKgg+A=",
		"ssha:{SSHA512}9H/a+0LmIVb5VCufnWzMfQqBKRNUTa24xXkjGdHPOrL4ZkOrecKjgbN+NtacKyRDizioKIW+xKTc+HCG54xiUAt1gLY=",
		"bcrypt:{BLF-CRYPT}$2y$04$524hLWsCh04eU9k5mGNbLeK7rfcZcfxAlLzKnJheXZy3eSC8Fhcy.",
		"locked:",
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestServerConfigEndToEnd(t *testing.T) {
	db, err := passdb.Config{SCRAMSecret: []byte("test scram secret")}.Parse(strings.NewReader(passdbE2EFile(t)))
	require.NoError(t, err)
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"),
		Passwords: db, Plaintext: db, CRAMMD5: db, DigestMD5: db, SCRAM: db,
		Hostname: "example.org", InsecureAuth: true, Legacy: true,
	}
	ctx := context.Background()
	login := func(t *testing.T, mech, user, password string) (sasl.Identity, error, error) {
		t.Helper()
		set := sasl.NewServerSet(cfg, nil)
		s, err := set.NewServer(ctx, mech)
		require.NoError(t, err)
		ccfg := &sasl.ClientConfig{Username: user, Password: password, Mechanisms: []string{mech},
			InsecureAuth: true, Host: "example.org"}
		c, err := ccfg.NewClient([]string{mech}, nil)
		require.NoError(t, err)
		cerr, serr := storetest.Exchange(c, s)
		id, _ := set.Identity()
		return id, cerr, serr
	}
	for _, tt := range []struct {
		mech, user string
		ok         bool
	}{
		// PLAIN verifies any scheme.
		{"PLAIN", "plain", true}, {"PLAIN", "cram", true}, {"PLAIN", "scram", true},
		{"PLAIN", "ssha", true}, {"PLAIN", "bcrypt", true}, {"PLAIN", "alice@example.org", true},
		{"PLAIN", "locked", false}, {"PLAIN", "nobody", false},
		{"LOGIN", "ssha", true},
		// CRAM-MD5 from stored midstates or the plaintext.
		{"CRAM-MD5", "cram", true}, {"CRAM-MD5", "plain", true},
		{"CRAM-MD5", "bcrypt", false}, {"CRAM-MD5", "nobody", false}, {"CRAM-MD5", "locked", false},
		// DIGEST-MD5 answers only from the entry the client names: the
		// hash of alice@example.org never logs anyone in as "alice".
		{"DIGEST-MD5", "alice", false}, {"DIGEST-MD5", "plain", true},
		{"DIGEST-MD5", "ssha", false}, {"DIGEST-MD5", "nobody", false},
		// SCRAM-SHA-256 from stored keys or derived from the plaintext.
		{"SCRAM-SHA-256", "scram", true}, {"SCRAM-SHA-256", "plain", true}, {"SCRAM-SHA-1", "plain", true},
		{"SCRAM-SHA-1", "scram", false}, {"SCRAM-SHA-256", "bcrypt", false}, {"SCRAM-SHA-256", "nobody", false},
	} {
		t.Run(tt.mech+"/"+tt.user, func(t *testing.T) {
			id, cerr, serr := login(t, tt.mech, tt.user, "secret")
			if tt.ok {
				require.NoError(t, cerr)
				require.NoError(t, serr)
				assert.Equal(t, tt.user, id.Username)
				assert.Equal(t, tt.mech, id.Mechanism)
				// A wrong password fails like an unknown user.
				_, cerr, serr = login(t, tt.mech, tt.user, "wrong")
				require.NoError(t, cerr)
				assert.ErrorIs(t, serr, sasl.ErrAuthFailed)
				return
			}
			require.NoError(t, cerr)
			assert.ErrorIs(t, serr, sasl.ErrAuthFailed)
		})
	}
}

// TestDigestMD5ReportsTheEntryVerified (issue 8, defect 3): the identity
// DIGEST-MD5 reports is exactly the entry whose credentials were verified.
// Before the fix LookupDigestMD5("alice", "example.org") answered from the
// entry "alice@example.org" when "alice" could not serve, and the server
// reported Username "alice": the password of alice@example.org opened
// alice's account.
func TestDigestMD5ReportsTheEntryVerified(t *testing.T) {
	bcrypt, err := passdb.Hash("BLF-CRYPT", "alices-own")
	require.NoError(t, err)
	for name, file := range map[string]string{
		"alice exists":   "alice@example.org:{PLAIN}other\nalice:" + bcrypt + "\n",
		"alice absent":   "alice@example.org:{PLAIN}other\n",
		"digest entry":   "alice@example.org:{DIGEST-MD5}" + md5Hex("alice:example.org:other") + "\nalice:" + bcrypt + "\n",
		"digest, absent": "alice@example.org:{DIGEST-MD5}" + md5Hex("alice:example.org:other") + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			db, err := passdb.Config{SCRAMSecret: []byte("test scram secret")}.Parse(strings.NewReader(file))
			require.NoError(t, err)
			_, err = db.LookupDigestMD5(t.Context(), "alice", "example.org")
			require.ErrorIs(t, err, sasl.ErrUnknownUser)
			cfg := &sasl.ServerConfig{DigestMD5: db, Hostname: "example.org", InsecureAuth: true,
				Mechanisms: []string{sasl.DigestMD5}}
			set := sasl.NewServerSet(cfg, nil)
			s, err := set.NewServer(t.Context(), sasl.DigestMD5)
			require.NoError(t, err)
			ccfg := &sasl.ClientConfig{Username: "alice", Password: "other", Mechanisms: []string{sasl.DigestMD5},
				InsecureAuth: true, Host: "example.org"}
			c, err := ccfg.NewClient([]string{sasl.DigestMD5}, nil)
			require.NoError(t, err)
			_, serr := storetest.Exchange(c, s)
			require.ErrorIs(t, serr, sasl.ErrAuthFailed)
			_, ok := set.Identity()
			assert.False(t, ok, "logged in as alice with alice@example.org's password")
		})
	}
	// The entry itself still works under its own name, from the plaintext.
	db, err := passdb.Config{SCRAMSecret: []byte("test scram secret")}.Parse(strings.NewReader("alice@example.org:{PLAIN}other\n"))
	require.NoError(t, err)
	got, err := db.LookupDigestMD5(t.Context(), "alice@example.org", "example.org")
	require.NoError(t, err)
	assert.Equal(t, md5Hex("alice@example.org:example.org:other"), hex.EncodeToString(got[:]))
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// passdbXDGClient adapts an xdg-go/scram client conversation to
// sasl.Client.
type passdbXDGClient struct {
	conv *scram.ClientConversation
}

func (c *passdbXDGClient) Start() (string, []byte, error) {
	r, err := c.conv.Step("")
	return sasl.SCRAMSHA256, []byte(r), err
}

func (c *passdbXDGClient) Next(ch []byte) ([]byte, error) {
	r, err := c.conv.Step(string(ch))
	if err != nil {
		return nil, err
	}
	if c.conv.Done() && !c.conv.Valid() {
		return nil, errors.New("xdg-go: server signature not valid")
	}
	return []byte(r), nil
}

// TestIndependentClients logs in with clients that are not mailauth's:
// xdg-go/scram for SCRAM-SHA-256 (stored by doveadm and derived from
// PLAIN) and emersion/go-sasl for PLAIN, against servers backed by a DB.
func TestIndependentClients(t *testing.T) {
	db, err := passdb.Config{SCRAMSecret: []byte("test scram secret")}.Parse(strings.NewReader(passdbE2EFile(t)))
	require.NoError(t, err)
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: db, Plaintext: db, CRAMMD5: db, DigestMD5: db, SCRAM: db,
		Hostname: "example.org", InsecureAuth: true}
	ctx := context.Background()
	for _, tt := range []struct {
		user, password string
		ok             bool
	}{
		{"scram", "secret", true}, {"plain", "secret", true},
		{"scram", "wrong", false}, {"plain", "wrong", false}, {"bcrypt", "secret", false}, {"nobody", "secret", false},
	} {
		t.Run("xdg-go-scram/"+tt.user+"/"+tt.password, func(t *testing.T) {
			xc, err := scram.SHA256.NewClient(tt.user, tt.password, "")
			require.NoError(t, err)
			s, err := sasl.NewServerSet(cfg, nil).NewServer(ctx, sasl.SCRAMSHA256)
			require.NoError(t, err)
			cerr, serr := storetest.Exchange(&passdbXDGClient{conv: xc.NewConversation()}, s)
			if tt.ok {
				assert.NoError(t, cerr)
				assert.NoError(t, serr)
			} else {
				assert.ErrorIs(t, serr, sasl.ErrAuthFailed)
			}
		})
	}
	for _, user := range []string{"plain", "ssha", "bcrypt", "scram", "cram", "alice@example.org"} {
		t.Run("go-sasl-plain/"+user, func(t *testing.T) {
			s, err := sasl.NewServerSet(cfg, nil).NewServer(ctx, "PLAIN")
			require.NoError(t, err)
			cerr, serr := storetest.Exchange(gosasl.NewPlainClient("", user, "secret"), s)
			assert.NoError(t, cerr)
			assert.NoError(t, serr)
			s, err = sasl.NewServerSet(cfg, nil).NewServer(ctx, "PLAIN")
			require.NoError(t, err)
			_, serr = storetest.Exchange(gosasl.NewPlainClient("", user, "wrong"), s)
			assert.ErrorIs(t, serr, sasl.ErrAuthFailed)
		})
	}
}
