package ntlm

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"golang.org/x/crypto/md4"
)

func bench(f func()) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f()
		}
	}
}

// rawHMACMD5 is the stdlib one-shot reference: hmac.New per key.
func rawHMACMD5(key []byte, parts ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func rawMD4(b []byte) []byte {
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

// BenchmarkServerVerify times the server's AUTHENTICATE step (parse,
// lookup, NTOWFv2, NTProofStr, timestamp, MIC, bindings) beside the raw
// HMAC-MD5 chain it cannot go below.
func BenchmarkServerVerify(b *testing.B) {
	ctx := context.Background()
	nt := Hash("pencil")
	store := hashStore{"tim": nt}
	cfg := &ServerConfig{Hashes: store}

	// A go-ntlmssp AUTHENTICATE (no MIC) and one of ours (MIC, bindings).
	prepare := func(auth func(ch []byte) []byte) (*server, []byte) {
		s := newServer(ctx, cfg, nil)
		neg, _ := ntlmssp.NewNegotiateMessage("", "")
		ch, _, err := s.next(neg)
		if err != nil {
			b.Fatal(err)
		}
		return s, auth(ch)
	}
	sg, authG := prepare(func(ch []byte) []byte {
		m, err := ntlmssp.NewAuthenticateMessage(ch, "tim", "pencil", nil)
		if err != nil {
			b.Fatal(err)
		}
		return m
	})
	so, authO := prepare(func(ch []byte) []byte {
		c := newClient(&ClientConfig{Username: "tim", Password: "pencil"}, nil)
		c.start()
		neg, _ := ntlmssp.NewNegotiateMessage("", "")
		c.negotiate = neg // the server saw go-ntlmssp's NEGOTIATE
		m, err := c.next(ch)
		if err != nil {
			b.Fatal(err)
		}
		return m
	})
	verify := func(s *server, msg []byte) func() {
		return func() {
			s.state = srvWantAuthenticate
			if _, done, err := s.next(msg); err != nil || !done {
				b.Fatal(err)
			}
		}
	}
	// The raw chain, checked against the message it verifies.
	amG, _ := parseAuthenticate(authG)
	id := appendUpperIdentity(nil, "tim")
	chal := sg.serverChallenge[:]
	blob := amG.nt[16:]
	if key := rawHMACMD5(nt[:], id); !hmac.Equal(rawHMACMD5(key, chal, blob), amG.nt[:16]) {
		b.Fatal("raw chain does not verify the message")
	}
	amO, _ := parseAuthenticate(authO)
	b.Run("side=server/msg=go-ntlmssp", bench(verify(sg, authG)))
	b.Run("raw=ntowfv2+ntproofstr", bench(func() {
		key := rawHMACMD5(nt[:], id)
		hmac.Equal(rawHMACMD5(key, chal, blob), amG.nt[:16])
	}))
	b.Run("side=server/msg=ours-mic", bench(verify(so, authO)))
	b.Run("raw=ntowfv2+ntproofstr+sessionkey+mic", bench(func() {
		key := rawHMACMD5(nt[:], id)
		proof := rawHMACMD5(key, so.serverChallenge[:], amO.nt[16:])
		hmac.Equal(proof, amO.nt[:16])
		sk := rawHMACMD5(key, proof)
		rawHMACMD5(sk, so.negotiate, so.challenge, authO)
	}))
}

// BenchmarkClient times a whole client exchange (NEGOTIATE, then the
// AUTHENTICATE for a CHALLENGE, from the password) beside go-ntlmssp and
// the raw primitives.
func BenchmarkClient(b *testing.B) {
	s := newServer(context.Background(), &ServerConfig{Hashes: hashStore{}}, nil)
	ch, _, err := s.next(newClient(&ClientConfig{}, nil).start())
	if err != nil {
		b.Fatal(err)
	}
	cfg := &ClientConfig{Username: "tim", Password: "pencil"}
	cred := cfg.derive() // what NewClientMechanism does once
	// One exchange of a mechanism value (NTOWFv2 derived when it was made).
	b.Run("side=client/from=mechanism", bench(func() {
		c := newClientFrom(cred, nil)
		c.start()
		if _, err := c.next(ch); err != nil {
			b.Fatal(err)
		}
	}))
	// The same from the password: MD4 and NTOWFv2 every time, as go-ntlmssp.
	b.Run("side=client/from=password", bench(func() {
		c := newClient(cfg, nil)
		c.start()
		if _, err := c.next(ch); err != nil {
			b.Fatal(err)
		}
	}))
	b.Run("side=client/lib=go-ntlmssp", bench(func() {
		ntlmssp.NewNegotiateMessage("", "")
		if _, err := ntlmssp.NewAuthenticateMessage(ch, "tim", "pencil", nil); err != nil {
			b.Fatal(err)
		}
	}))
	pw := utf16le("pencil")
	id := appendUpperIdentity(nil, "tim")
	blob := make([]byte, 28+len(ch))
	b.Run("raw=md4+ntowfv2+ntproofstr", bench(func() {
		key := rawHMACMD5(rawMD4(pw), id)
		rawHMACMD5(key, s.serverChallenge[:], blob)
	}))
	b.Run("raw=md4+ntowfv2+ntproofstr+sessionkey+mic", bench(func() {
		key := rawHMACMD5(rawMD4(pw), id)
		p := rawHMACMD5(key, s.serverChallenge[:], blob)
		rawHMACMD5(rawHMACMD5(key, p), ch, blob)
	}))
}

// BenchmarkExchange times client and server together, in memory.
func BenchmarkExchange(b *testing.B) {
	ctx := context.Background()
	scfg := &ServerConfig{Hashes: hashStore{"tim": Hash("pencil")}}
	ccfg := &ClientConfig{Username: "tim", Password: "pencil"}
	b.Run("side=both", bench(func() {
		s := newServer(ctx, scfg, nil)
		c := newClient(ccfg, nil)
		ch, _, _ := s.next(c.start())
		auth, _ := c.next(ch)
		if _, done, err := s.next(auth); !done {
			b.Fatal(err)
		}
	}))
}

func BenchmarkHash(b *testing.B) {
	pw := utf16le("correct horse battery staple")
	b.Run("side=both", bench(func() { Hash("correct horse battery staple") }))
	b.Run("raw=md4", bench(func() { rawMD4(pw) }))
}
