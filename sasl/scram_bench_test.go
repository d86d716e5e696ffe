package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xdg-go/scram"
)

// scramBenchStore returns the same credentials for every user, as the
// xdg-go lookup beside it does.
type scramBenchStore struct{ c SCRAMCredentials }

func (s scramBenchStore) LookupSCRAM(context.Context, string, string) (SCRAMCredentials, error) {
	return s.c, nil
}

// BenchmarkSCRAM measures one SCRAM-SHA-256 exchange per iteration on the
// RFC 7677 transcript (nonces fixed, so the same client-final-message is
// valid every time), beside xdg-go/scram v1.4.0 doing the same steps and
// the raw primitives no implementation can go below.
//
//   - side=server: a new Server, client-first → server-first,
//     client-final → verify proof and sign (2 HMAC + 1 SHA-256), final
//     empty response. Credentials come from memory.
//   - side=client-cached: a new Client, client-first, server-first →
//     client-final (2 HMAC), verify v=, with the PBKDF2 result cached.
func BenchmarkSCRAM(b *testing.B) {
	v := scramLoadExchanges(b)[1]
	if v.Mech != SCRAMSHA256 {
		b.Fatal("vector 1 is not SCRAM-SHA-256")
	}
	creds := scramVectorCreds(b, v)
	cfg := &ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: scramBenchStore{creds}}
	clientFirst, clientFinal := []byte(v.ClientFirst), []byte(v.ClientFinal)
	serverFirst, serverFinal := []byte(v.ServerFirst), []byte(v.ServerFinal)
	ctx := context.Background()

	b.Run("side=server/impl=mailauth", bench(func() {
		s, err := NewSCRAMServer(ctx, cfg, SCRAMSHA256, nil)
		if err != nil {
			b.Fatal(err)
		}
		inner(s).(*scramServer).nonce = v.ServerNonce
		if _, _, err := s.Next(clientFirst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Next(clientFinal); err != nil {
			b.Fatal(err)
		}
		if _, done, err := s.Next([]byte{}); err != nil || !done {
			b.Fatal(err)
		}
	}))

	xcreds := scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(creds.Salt), Iters: creds.Iterations},
		StoredKey: creds.StoredKey, ServerKey: creds.ServerKey}
	xs, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return xcreds, nil })
	if err != nil {
		b.Fatal(err)
	}
	xs = xs.WithNonceGenerator(func() string { return v.ServerNonce })
	cf, cfin := v.ClientFirst, v.ClientFinal
	b.Run("side=server/competitor=xdg-go", bench(func() {
		conv := xs.NewConversation()
		if _, err := conv.Step(cf); err != nil {
			b.Fatal(err)
		}
		if _, err := conv.Step(cfin); err != nil || !conv.Valid() {
			b.Fatal(err)
		}
	}))

	authMessage := []byte(v.ClientFirst[3:] + "," + v.ServerFirst + "," + v.ClientFinal[:len(v.ClientFinal)-len(",p=")-44])
	b.Run("side=server/raw=2hmac-sha256+sha256", bench(func() {
		m := hmac.New(sha256.New, creds.StoredKey)
		m.Write(authMessage)
		sig := m.Sum(nil)
		sha256.Sum256(sig)
		m = hmac.New(sha256.New, creds.ServerKey)
		m.Write(authMessage)
		m.Sum(nil)
	}))

	cache := &SCRAMCache{}
	ccfg := &ClientConfig{Username: v.User, Password: v.Password, SCRAMCache: cache}
	clientRun := func() {
		c, err := NewSCRAMClient(SCRAMSHA256, ccfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		innerClient(c).(*scramClient).nonce = v.ClientNonce
		if _, _, err := c.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Next(serverFirst); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Next(serverFinal); err != nil {
			b.Fatal(err)
		}
	}
	clientRun() // fills the cache
	b.Run("side=client-cached/impl=mailauth", bench(clientRun))

	xc, err := scram.SHA256.NewClient(v.User, v.Password, "")
	if err != nil {
		b.Fatal(err)
	}
	xc = xc.WithNonceGenerator(func() string { return v.ClientNonce })
	xdgClientRun := func() {
		conv := xc.NewConversation()
		if _, err := conv.Step(""); err != nil {
			b.Fatal(err)
		}
		if _, err := conv.Step(v.ServerFirst); err != nil {
			b.Fatal(err)
		}
		if _, err := conv.Step(v.ServerFinal); err != nil || !conv.Valid() {
			b.Fatal(err)
		}
	}
	xdgClientRun() // fills xdg-go's cache
	b.Run("side=client-cached/competitor=xdg-go", bench(xdgClientRun))

	b.Run("side=client-cached/raw=2hmac-sha256", bench(func() {
		m := hmac.New(sha256.New, creds.StoredKey)
		m.Write(authMessage)
		m.Sum(nil)
		m = hmac.New(sha256.New, creds.ServerKey)
		m.Write(authMessage)
		m.Sum(nil)
	}))
}

// BenchmarkSCRAMVerifyPassword times a PLAIN/LOGIN password checked against
// stored SCRAM-SHA-256 keys (scramVerifyPassword) beside the PBKDF2 it
// cannot skip, at the same 4096 iterations.
func BenchmarkSCRAMVerifyPassword(b *testing.B) {
	creds, err := NewSCRAMCredentials(SCRAMSHA256, "pencil", nil, 4096)
	require.NoError(b, err)
	st := &scramTestStore{}
	st.add(SCRAMSHA256, "user", creds)
	ctx := context.Background()
	require.NoError(b, scramVerifyPassword(ctx, st, "user", "pencil"))
	b.Run("side=server", bench(func() { _ = scramVerifyPassword(ctx, st, "user", "pencil") }))
	b.Run("side=server/unknown-user", bench(func() { _ = scramVerifyPassword(ctx, st, "nobody", "pencil") }))
	b.Run("raw=pbkdf2-sha256", bench(func() {
		_, _ = pbkdf2.Key(sha256.New, "pencil", creds.Salt, creds.Iterations, sha256.Size)
	}))
	// A store holding SHA-512 keys (issue 8, defect 6): a known user costs
	// PBKDF2-SHA-512, and so must an unknown one.
	c512, err := NewSCRAMCredentials(SCRAMSHA512, "pencil", nil, 4096)
	require.NoError(b, err)
	st512 := &scramHoldingStore{holds: map[string]bool{SCRAMSHA512: true}}
	st512.add(SCRAMSHA512, "user", c512)
	cfg := &ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: st512, SCRAMIterations: 4096}
	b.Run("keys=sha512/side=server", bench(func() { _, _ = scramVerifyPasswordFake(ctx, cfg, "user", "wrong") }))
	b.Run("keys=sha512/side=server/unknown-user", bench(func() { _, _ = scramVerifyPasswordFake(ctx, cfg, "nobody", "wrong") }))
	b.Run("keys=sha512/raw=pbkdf2-sha512", bench(func() {
		_, _ = pbkdf2.Key(sha512.New, "pencil", c512.Salt, c512.Iterations, sha512.Size)
	}))
}
