package passdb_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

// TestHoldsCredentials: a ServerSet on a passwd-file offers only the
// SCRAM hashes (and CRAM-MD5, DIGEST-MD5, NTLM) its entries can serve, so
// a client that takes the strongest hash offered (mbsync) does not pick one
// its users have no keys for; a user without them is logged as such.
func TestHoldsCredentials(t *testing.T) {
	const scram256 = "carol:{SCRAM-SHA-256}4096,/h2E01g+ClyvvhPYG6vblQ==,fNV9kMWo8MZXmAD/3BxgYFq3aGOxLhMeIDeUo6EW1MA=,LBl9PwlNUnDTgUbP8pYz94Q2f+CyM8XAEUEgQDKgg+A=\n"
	db, err := passdb.Config{SCRAMSecret: []byte("test scram secret")}.Parse(strings.NewReader(scram256))
	require.NoError(t, err)
	for mech, want := range map[string]bool{
		sasl.SCRAMSHA256: true, sasl.SCRAMSHA256Plus: true, sasl.SCRAMSHA1: false, sasl.SCRAMSHA512: false,
		sasl.CRAMMD5: false, sasl.DigestMD5: false, "NTLM": false, sasl.Plain: true,
	} {
		assert.Equal(t, want, db.HoldsCredentials(mech), mech)
	}
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: db, SCRAM: db, CRAMMD5: db, DigestMD5: db, Legacy: true,
		Mechanisms: []string{sasl.SCRAMSHA512, sasl.SCRAMSHA256, sasl.SCRAMSHA1, sasl.Plain, sasl.CRAMMD5, sasl.DigestMD5}}
	set := sasl.NewServerSet(cfg, sasl.ServerConnState(passdbTLS(), nil, nil))
	assert.Equal(t, []string{sasl.SCRAMSHA256, sasl.Plain}, set.Mechanisms())

	// A file with a PLAIN user can serve every form.
	all, err := passdb.Config{SCRAMSecret: []byte("test scram secret")}.Parse(strings.NewReader(scram256 + "dave:{PLAIN}secret\n"))
	require.NoError(t, err)
	cfg.Passwords, cfg.SCRAM, cfg.CRAMMD5, cfg.DigestMD5 = all, all, all, all
	set = sasl.NewServerSet(cfg, sasl.ServerConnState(passdbTLS(), nil, nil))
	assert.Equal(t, cfg.Mechanisms, set.Mechanisms())

	// carol has no SHA-512 keys: the peer sees a wrong proof, the log says why.
	s, err := set.NewServer(context.Background(), sasl.SCRAMSHA512)
	require.NoError(t, err)
	c, err := (&sasl.ClientConfig{Username: "carol", Password: "secret"}).NewClient([]string{sasl.SCRAMSHA512}, sasl.ClientConnState(passdbTLS()))
	require.NoError(t, err)
	_, serr := storetest.Exchange(c, s)
	require.ErrorIs(t, serr, sasl.ErrAuthFailed)
	assert.ErrorContains(t, serr, "no SCRAM-SHA-512 keys for this user")
	var se *sasl.SCRAMError
	require.ErrorAs(t, serr, &se)
	assert.Equal(t, "invalid-proof", se.Value)
}

func passdbTLS() *tls.ConnectionState {
	return &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
}
