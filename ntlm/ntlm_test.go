package ntlm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// epoch1601 is FILETIME 0, the Time of the MS-NLMP 4.2.4 example.
var epoch1601 = fromFiletime(0)

func TestHashVectors(t *testing.T) {
	v := loadVectors(t)
	got := Hash(v.Common.Password)
	assert.Equal(t, v.V1.NTOWFv1, hex.EncodeToString(got[:]), "MS-NLMP 4.2.2.1.2 NTOWFv1")
	got = Hash(v.Extra.NonBMP.Password)
	assert.Equal(t, v.Extra.NonBMP.NTOWFv1, hex.EncodeToString(got[:]), "non-BMP password (gss-ntlmssp)")
	got = Hash(v.Win7.Password)
	assert.Equal(t, v.Win7.NTHash, hex.EncodeToString(got[:]), "Windows 7 capture")
}

// TestNTLMv2Vectors recomputes MS-NLMP 4.2.4 with this package's helpers.
func TestNTLMv2Vectors(t *testing.T) {
	v := loadVectors(t)
	nt := Hash(v.Common.Password)
	id := appendUTF16(appendUpperIdentity(nil, v.Common.User), v.Common.UserDomain)
	key := hmacMD5(nt[:], id)
	assert.Equal(t, v.V2.NTOWFv2, hex.EncodeToString(key[:]), "NTOWFv2")
	sc := unhex(t, v.Common.ServerChallenge)
	proof := hmacMD5Parts(key[:], sc, unhex(t, v.V2.Temp))
	assert.Equal(t, v.V2.NTProofStr, hex.EncodeToString(proof[:]), "NTProofStr")
	sbk := hmacMD5(key[:], proof[:])
	assert.Equal(t, v.V2.SessionBaseKey, hex.EncodeToString(sbk[:]), "SessionBaseKey")
	lm := hmacMD5Parts(key[:], sc, unhex(t, v.Common.ClientChallenge))
	assert.Equal(t, v.V2.LMv2, hex.EncodeToString(lm[:])+v.Common.ClientChallenge, "LMv2")
}

func TestParseVectorMessages(t *testing.T) {
	v := loadVectors(t)
	ch, err := parseChallenge(unhex(t, v.V2.ChallengeMessage))
	require.NoError(t, err)
	assert.Equal(t, v.V2.TargetInfo, hex.EncodeToString(ch.targetInfo))
	assert.Equal(t, v.Common.ServerChallenge, hex.EncodeToString(ch.serverChallenge[:]))
	assert.Equal(t, uint32(0xe28a8233), ch.flags)
	assert.Equal(t, utf16le("Server"), ch.targetName)

	am, err := parseAuthenticate(unhex(t, v.V2.AuthMessage))
	require.NoError(t, err)
	assert.Equal(t, utf16le("User"), am.user)
	assert.Equal(t, utf16le("Domain"), am.domain)
	assert.Equal(t, utf16le("COMPUTER"), am.workstation)
	assert.Equal(t, v.V2.NTProofStr, hex.EncodeToString(am.nt[:16]))
	assert.EqualValues(t, 0x48, am.payloadStart)
	assert.False(t, am.hasMICField())

	w, err := parseAuthenticate(unhex(t, v.Win7.AuthMessage))
	require.NoError(t, err)
	assert.True(t, w.hasMICField())
	assert.Equal(t, uint32(0xa2888205), w.flags)
	assert.Equal(t, v.Win7.NTProofStr, hex.EncodeToString(w.nt[:16]))
	av, err := parseAVPairs(w.nt[ntProofLen+blobHeaderLen:], "test")
	require.NoError(t, err)
	assert.Equal(t, uint32(avFlagMIC), av.flags)
	assert.Equal(t, v.Win7.ChannelBindings, hex.EncodeToString(av.channelBindings))
	assert.Equal(t, utf16le("HTTP/dc-ws2008r2.ws2008r2.local"), av.targetName)
	assert.Equal(t, 8, len(w.nt)-ntProofLen-blobHeaderLen-av.end, "Windows pads 8 zero bytes after MsvAvEOL")
	raw := unhex(t, v.Win7.AuthMessage)
	assert.Equal(t, v.Win7.MIC, hex.EncodeToString(raw[v.Win7.MICOffset:v.Win7.MICOffset+16]))
}

// TestServerVector runs the MS-NLMP 4.2.4.3 AUTHENTICATE through the
// server, with the example's server challenge and its clock (Time is 0).
func TestServerVector(t *testing.T) {
	v := loadVectors(t)
	store := hashStore{"User": Hash("Password")}
	msg := unhex(t, v.V2.AuthMessage)
	run := func(cfg ServerConfig, at time.Time) (*server, error) {
		s := fixedServer(cfg, unhex(t, v.Common.ServerChallenge), at)
		_, _, err := s.next(newClient(&ClientConfig{}, nil).start())
		require.NoError(t, err)
		_, done, err := s.next(msg)
		assert.Equal(t, err == nil, done)
		return s, err
	}
	s, err := run(ServerConfig{Hashes: store}, epoch1601)
	require.NoError(t, err)
	assert.Equal(t, "User", s.user)

	_, err = run(ServerConfig{Hashes: hashStore{"User": Hash("password")}}, epoch1601)
	assert.Same(t, errAuthFailed, err, "wrong password")
	_, err = run(ServerConfig{Hashes: store}, time.Now())
	assert.ErrorIs(t, err, ErrStaleTimestamp, "a response from 1601")
	_, err = run(ServerConfig{Hashes: store, MaxClockSkew: -1}, time.Now())
	assert.NoError(t, err, "window turned off")
	_, err = run(ServerConfig{Hashes: store, ChannelBinding: ChannelBindingRequired}, epoch1601)
	assert.ErrorIs(t, err, sasl.ErrChannelBinding, "no bindings in the example")
}

// TestServerWindows7 runs a real Windows 7 AUTHENTICATE with a MIC: its
// NEGOTIATE was not recorded, so the MIC cannot match, but the server must
// get that far (the NTProofStr over the padded blob verifies) and then
// refuse it as a bad MIC, not as a bad password.
func TestServerWindows7(t *testing.T) {
	v := loadVectors(t)
	var ft int64
	_, err := fmtSscan(v.Win7.ServerTime, &ft)
	require.NoError(t, err)
	run := func(pw string) error {
		s := fixedServer(ServerConfig{Hashes: hashStore{v.Win7.User: Hash(pw)}}, unhex(t, v.Win7.ServerChallenge), fromFiletime(ft))
		_, _, err := s.next(newClient(&ClientConfig{}, nil).start())
		require.NoError(t, err)
		_, _, err = s.next(unhex(t, v.Win7.AuthMessage))
		return err
	}
	assert.ErrorIs(t, run(v.Win7.Password), ErrMIC)
	assert.Same(t, errAuthFailed, run("wrong"))
}

func fmtSscan(s string, v *int64) (int, error) {
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return 0, err
	}
	*v = int64(binary.BigEndian.Uint64(b))
	return 1, nil
}

// TestServerRefusesNTLMv1 feeds the MS-NLMP 4.2.2 (NTLMv1) and 4.2.3
// (NTLMv1 with client challenge, "NTLM2 session response") messages.
func TestServerRefusesNTLMv1(t *testing.T) {
	v := loadVectors(t)
	store := hashStore{"User": Hash("Password")}
	for name, msg := range map[string]string{"4.2.2": v.V1.AuthMessage, "4.2.3": v.V1CC.AuthMessage} {
		s := fixedServer(ServerConfig{Hashes: store}, unhex(t, v.Common.ServerChallenge), epoch1601)
		_, _, err := s.next(newClient(&ClientConfig{}, nil).start())
		require.NoError(t, err)
		_, _, err = s.next(unhex(t, msg))
		assert.ErrorIs(t, err, ErrNotNTLMv2, name)
		assert.ErrorIs(t, err, sasl.ErrAuthFailed, name)
	}
}

func TestRoundTrip(t *testing.T) {
	cb := []byte(tlsServerEndPointPrefix + "0123456789abcdef0123456789abcdef")
	store := hashStore{
		"tim":              Hash("pencil"),
		"tim@example.com":  Hash("pencil"),
		"Jürgen":           Hash("Kennwort€"),
		"mailbox-with-emo": Hash("\U0001F600 secret"),
	}
	tests := []struct {
		name     string
		cfg      ClientConfig
		wantUser string
		cbClient []byte
		cbServer []byte
	}{
		{"plain", ClientConfig{Username: "tim", Password: "pencil"}, "tim", nil, nil},
		{"domain", ClientConfig{Username: `EXAMPLE\tim`, Password: "pencil", Workstation: "WS1"}, "tim", nil, nil},
		{"upn", ClientConfig{Username: "tim@example.com", Password: "pencil"}, "tim@example.com", nil, nil},
		{"hash", ClientConfig{Username: "tim", NTHash: func() []byte { h := Hash("pencil"); return h[:] }()}, "tim", nil, nil},
		{"unicode", ClientConfig{Username: "Jürgen", Password: "Kennwort€"}, "Jürgen", nil, nil},
		{"non-bmp", ClientConfig{Username: "mailbox-with-emo", Password: "\U0001F600 secret"}, "mailbox-with-emo", nil, nil},
		{"bindings", ClientConfig{Username: "tim", Password: "pencil", TargetName: "imap/mail.example.com"}, "tim", cb, cb},
		{"server-only-bindings", ClientConfig{Username: "tim", Password: "pencil"}, "tim", nil, cb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(context.Background(), &ServerConfig{Hashes: store}, tt.cbServer)
			c := newClient(&tt.cfg, tt.cbClient)
			tr, err := runExchange(t, c, s)
			require.NoError(t, err)
			assert.Equal(t, tt.wantUser, s.user)
			am, err := parseAuthenticate(tr.authenticate)
			require.NoError(t, err)
			assert.True(t, am.hasMICField(), "our client always sends a MIC")
			av, err := parseAVPairs(am.nt[ntProofLen+blobHeaderLen:], "test")
			require.NoError(t, err)
			assert.Equal(t, uint32(avFlagMIC), av.flags)
			assert.Equal(t, tt.cfg.TargetName != "", av.targetName != nil)
			assert.Equal(t, make([]byte, 24), am.lm, "Z(24) LM response with target info")
		})
	}
}

// TestChallengeFlags checks what the CHALLENGE offers for the NEGOTIATEs
// of our client, go-ntlmssp, curl and fetchmail (research/ntlm.md 4.4).
func TestChallengeFlags(t *testing.T) {
	gontlm, err := ntlmssp.NewNegotiateMessage("", "")
	require.NoError(t, err)
	curl, _ := b64(t, "TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=")
	fetchmail := append([]byte(signature+"\x01\x00\x00\x00"), 0x07, 0xb2, 0, 0)
	fetchmail = append(fetchmail, make([]byte, 16)...)
	for name, neg := range map[string][]byte{
		"ours": newClient(&ClientConfig{}, nil).start(), "go-ntlmssp": gontlm, "curl": curl, "fetchmail": fetchmail,
		"all flags": append([]byte(signature+"\x01\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff),
	} {
		s := newServer(context.Background(), &ServerConfig{Hashes: hashStore{}}, nil)
		ch, _, err := s.next(neg)
		require.NoError(t, err, name)
		m, err := parseChallenge(ch)
		require.NoError(t, err, name)
		nf, _ := parseNegotiate(neg)
		assert.Zero(t, m.flags&flagsNeverOffered, name)
		assert.Equal(t, nf.flags&flagExtendedSessionSecurity, m.flags&flagExtendedSessionSecurity, "%s: ESS echoed (curl needs it for NTLMv2)", name)
		assert.NotZero(t, m.flags&flagTargetInfo, name)
		assert.True(t, m.av.hasTimestamp, name)
		assert.False(t, m.av.hasFlags, name)
		if nf.flags&flagUnicode != 0 {
			assert.Equal(t, uint32(flagUnicode), m.flags&(flagUnicode|flagOEM), name)
			assert.Equal(t, utf16le(DefaultDomain), m.targetName, name)
		} else {
			assert.Equal(t, uint32(flagOEM), m.flags&(flagUnicode|flagOEM), name)
			assert.Equal(t, []byte(DefaultDomain), m.targetName, name)
		}
	}
}

// TestGoNTLMSSPClient logs in with Azure/go-ntlmssp, an independent
// client, against our server.
func TestGoNTLMSSPClient(t *testing.T) {
	store := hashStore{"tim": Hash("pencil"), "tim@example.com": Hash("pencil")}
	for _, tt := range []struct {
		user, pw string
		hashed   bool
		err      error
	}{
		{"tim", "pencil", false, nil},
		{`EXAMPLE\tim`, "pencil", false, nil},
		{"tim@example.com", "pencil", false, nil},
		{"tim", hashHex("pencil"), true, nil},
		{"tim", "Pencil", false, errAuthFailed},
		{"nobody", "pencil", false, errAuthFailed},
	} {
		s := newServer(context.Background(), &ServerConfig{Hashes: store}, nil)
		neg, err := ntlmssp.NewNegotiateMessage("", "")
		require.NoError(t, err)
		ch, _, err := s.next(neg)
		require.NoError(t, err)
		am, err := ntlmssp.NewAuthenticateMessage(ch, tt.user, tt.pw, &ntlmssp.AuthenticateMessageOptions{WorkstationName: "WS", PasswordHashed: tt.hashed})
		require.NoError(t, err, "go-ntlmssp accepts our CHALLENGE")
		_, done, err := s.next(am)
		if tt.err == nil {
			require.NoError(t, err, tt.user)
			assert.True(t, done)
		} else {
			assert.Same(t, tt.err, err, tt.user)
		}
	}
}

// TestRefusals is the table of every refusal path of the server.
func TestRefusals(t *testing.T) {
	cb := []byte(tlsServerEndPointPrefix + "server-cert-hash")
	store := hashStore{"tim": Hash("pencil")}
	good := ClientConfig{Username: "tim", Password: "pencil"}
	type setup struct {
		scfg     ServerConfig
		ccfg     ClientConfig
		cbServer []byte
		cbClient []byte
		// tamper changes the AUTHENTICATE (after the client built it).
		tamper func(t *testing.T, tr *transcript) []byte
		// clock, if set, is the server's clock: at CHALLENGE, then at
		// AUTHENTICATE.
		clock []time.Time
	}
	t0 := time.Now()
	tests := []struct {
		name string
		setup
		want error
	}{
		{"wrong password", setup{ccfg: ClientConfig{Username: "tim", Password: "Pencil"}}, errAuthFailed},
		{"unknown user", setup{ccfg: ClientConfig{Username: "nobody", Password: "pencil"}}, errAuthFailed},
		{"wrong domain and wrong password", setup{ccfg: ClientConfig{Username: `X\tim`, Password: "x"}}, errAuthFailed},
		{"NTLMv1", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return authFields(flagUnicode|flagNTLM, 64, make([]byte, 24), bytes.Repeat([]byte{7}, 24), nil, utf16le("tim"))
		}}, ErrNotNTLMv2},
		{"NTLM2 session response", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			lm := append(bytes.Repeat([]byte{0xaa}, 8), make([]byte, 16)...)
			return authFields(flagUnicode|flagNTLM|flagExtendedSessionSecurity, 64, lm, bytes.Repeat([]byte{7}, 24), nil, utf16le("tim"))
		}}, ErrNotNTLMv2},
		{"LM only", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return authFields(flagUnicode|flagNTLM, 64, bytes.Repeat([]byte{7}, 24), nil, nil, utf16le("tim"))
		}}, ErrNotNTLMv2},
		{"anonymous", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return authFields(flagUnicode|flagNTLM|flagAnonymous, 64, []byte{0})
		}}, ErrAnonymous},
		{"anonymous flag with a user", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			m := append([]byte(nil), tr.authenticate...)
			binary.LittleEndian.PutUint32(m[60:], binary.LittleEndian.Uint32(m[60:])|flagAnonymous)
			return m
		}}, ErrAnonymous},
		{"challenge expired", setup{ccfg: good, clock: []time.Time{t0, t0.Add(DefaultChallengeLifetime + time.Second)}}, ErrChallengeExpired},
		{"stale timestamp", setup{scfg: ServerConfig{ChallengeLifetime: 100 * time.Hour}, ccfg: good,
			clock: []time.Time{t0, t0.Add(DefaultMaxClockSkew + time.Minute)}}, ErrStaleTimestamp},
		{"bad MIC", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			m := append([]byte(nil), tr.authenticate...)
			m[micOffset] ^= 1
			return m
		}}, ErrMIC},
		{"flags changed in the AUTHENTICATE", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			m := append([]byte(nil), tr.authenticate...)
			m[60] ^= flagOEM // outside every HMAC but the MIC's
			return m
		}}, ErrMIC},
		{"wrong binding", setup{ccfg: good, cbServer: cb, cbClient: []byte(tlsServerEndPointPrefix + "relay-cert-hash")}, sasl.ErrChannelBinding},
		{"binding without TLS", setup{ccfg: good, cbClient: cb}, sasl.ErrChannelBinding},
		{"binding required, none sent", setup{scfg: ServerConfig{ChannelBinding: ChannelBindingRequired}, ccfg: good, cbServer: cb}, sasl.ErrChannelBinding},
		{"MIC announced, no room", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			am, err := parseAuthenticate(tr.authenticate)
			require.NoError(t, err)
			return authFields(am.flags, 64, am.lm, am.nt, am.domain, am.user)
		}}, sasl.ErrMalformed},
		{"truncated", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return tr.authenticate[:len(tr.authenticate)-1]
		}}, sasl.ErrMalformed},
		{"truncated header", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return tr.authenticate[:63]
		}}, sasl.ErrMalformed},
		{"overlapping fields", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			m := append([]byte(nil), tr.authenticate...)
			copy(m[36+4:36+8], m[20+4:20+8]) // user offset := NT offset
			return m
		}}, sasl.ErrMalformed},
		{"field in the header", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			m := append([]byte(nil), tr.authenticate...)
			binary.LittleEndian.PutUint32(m[36+4:], 8)
			return m
		}}, sasl.ErrMalformed},
		{"offset wraps in 32 bits", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			m := append([]byte(nil), tr.authenticate...)
			binary.LittleEndian.PutUint32(m[36+4:], 0xffffffff)
			return m
		}}, sasl.ErrMalformed},
		{"short NT response", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return authFields(flagUnicode, 88, nil, make([]byte, 40), nil, utf16le("tim"))
		}}, sasl.ErrMalformed},
		{"blob version", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			am, _ := parseAuthenticate(tr.authenticate)
			nt := append([]byte(nil), am.nt...)
			nt[16] = 2
			return authFields(am.flags, 88, am.lm, nt, am.domain, am.user)
		}}, sasl.ErrMalformed},
		{"repeated AV pair", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			am, _ := parseAuthenticate(tr.authenticate)
			nt := append([]byte(nil), am.nt[:ntProofLen+blobHeaderLen]...)
			nt = appendAV(nt, avChannelBindings, make([]byte, 16))
			nt = appendAV(nt, avChannelBindings, make([]byte, 16))
			nt = appendAV(nt, avEOL, nil)
			return authFields(am.flags, 88, am.lm, nt, am.domain, am.user)
		}}, sasl.ErrMalformed},
		{"no MsvAvEOL", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			am, _ := parseAuthenticate(tr.authenticate)
			nt := append([]byte(nil), am.nt[:ntProofLen+blobHeaderLen]...)
			nt = appendAV(nt, avNbComputerName, utf16le("X"))
			return authFields(am.flags, 88, am.lm, nt, am.domain, am.user)
		}}, sasl.ErrMalformed},
		{"odd UTF-16 user", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			am, _ := parseAuthenticate(tr.authenticate)
			return authFields(am.flags, 88, am.lm, am.nt, am.domain, []byte("tim"))
		}}, sasl.ErrMalformed},
		{"NUL in the user name", setup{ccfg: ClientConfig{Username: "tim\x00x", Password: "pencil"}}, sasl.ErrMalformed},
		{"wrong message type", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return tr.negotiate
		}}, sasl.ErrMalformed},
		{"too large", setup{ccfg: good, tamper: func(t *testing.T, tr *transcript) []byte {
			return append(append([]byte(nil), tr.authenticate...), make([]byte, maxMessageLen)...)
		}}, sasl.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scfg := tt.scfg
			scfg.Hashes = store
			if tt.clock != nil {
				i := 0
				scfg.now = func() time.Time { c := tt.clock[min(i, len(tt.clock)-1)]; i++; return c }
			}
			s := newServer(context.Background(), &scfg, tt.cbServer)
			c := newClient(&tt.ccfg, tt.cbClient)
			var tr transcript
			tr.negotiate = c.start()
			ch, _, err := s.next(tr.negotiate)
			require.NoError(t, err)
			tr.challenge = ch
			tr.authenticate, err = c.next(ch)
			require.NoError(t, err)
			msg := tr.authenticate
			if tt.tamper != nil {
				msg = tt.tamper(t, &tr)
			}
			_, done, err := s.next(msg)
			assert.False(t, done)
			require.ErrorIs(t, err, tt.want)
			if errors.Is(tt.want, sasl.ErrAuthFailed) {
				assert.ErrorIs(t, err, sasl.ErrAuthFailed)
			}
			// Spent: the same challenge never takes a second AUTHENTICATE.
			_, _, err = s.next(tr.authenticate)
			assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)
		})
	}
}

// TestReplay: a captured AUTHENTICATE is refused by the exchange that
// issued its challenge (single use) and by any other (a new challenge).
func TestReplay(t *testing.T) {
	store := hashStore{"tim": Hash("pencil")}
	s := newServer(context.Background(), &ServerConfig{Hashes: store}, nil)
	tr, err := runExchange(t, newClient(&ClientConfig{Username: "tim", Password: "pencil"}, nil), s)
	require.NoError(t, err)
	_, _, err = s.next(tr.authenticate)
	assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)

	s2 := newServer(context.Background(), &ServerConfig{Hashes: store}, nil)
	_, _, err = s2.next(tr.negotiate)
	require.NoError(t, err)
	_, _, err = s2.next(tr.authenticate)
	assert.Same(t, errAuthFailed, err, "replayed into a new exchange")
}

// TestUnknownUserSameWork: an unknown user and a wrong password give the
// same error value after the same allocations (the same HMAC path).
func TestUnknownUserSameWork(t *testing.T) {
	store := hashStore{"tim": Hash("pencil"), "tom": Hash("other")}
	msgs := func(user, pw string) (neg, auth []byte) {
		s := newServer(context.Background(), &ServerConfig{Hashes: store}, nil)
		c := newClient(&ClientConfig{Username: `DOM\` + user, Password: pw}, nil)
		neg = c.start()
		ch, _, err := s.next(neg)
		require.NoError(t, err)
		auth, err = c.next(ch)
		require.NoError(t, err)
		return neg, auth
	}
	allocs := func(user string) float64 {
		neg, auth := msgs(user, "wrong")
		return testing.AllocsPerRun(50, func() {
			s := newServer(context.Background(), &ServerConfig{Hashes: store}, nil)
			s.next(neg)
			_, _, err := s.next(auth)
			if err != errAuthFailed {
				panic(err)
			}
		})
	}
	assert.Equal(t, allocs("tim"), allocs("tum"))
}

type failingStore struct{ err error }

func (f failingStore) LookupNTHash(context.Context, string) ([16]byte, error) {
	return [16]byte{}, f.err
}

func TestStoreErrorPassesThrough(t *testing.T) {
	boom := errors.New("store down")
	s := newServer(context.Background(), &ServerConfig{Hashes: failingStore{boom}}, nil)
	_, err := runExchange(t, newClient(&ClientConfig{Username: "tim", Password: "x"}, nil), s)
	assert.Same(t, boom, err)
}

// TestOEM: curl's NEGOTIATE asks for OEM strings; names then travel as
// bytes and the server widens them for NTOWFv2.
func TestOEM(t *testing.T) {
	curl, _ := b64(t, "TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=")
	s := newServer(context.Background(), &ServerConfig{Hashes: hashStore{"tim": Hash("pencil")}}, nil)
	ch, _, err := s.next(curl)
	require.NoError(t, err)
	c := newClient(&ClientConfig{Username: `LAB\tim`, Password: "pencil", Workstation: "WORKSTATION"}, nil)
	c.start()
	c.negotiate = curl // as if curl had sent it: the MIC covers it
	auth, err := c.next(ch)
	require.NoError(t, err)
	am, err := parseAuthenticate(auth)
	require.NoError(t, err)
	assert.Equal(t, []byte("tim"), am.user)
	assert.Equal(t, []byte("LAB"), am.domain)
	assert.Zero(t, am.flags&flagUnicode)
	_, done, err := s.next(auth)
	require.NoError(t, err)
	assert.True(t, done)
}

func TestServerEmptyFirstChallenge(t *testing.T) {
	s := newServer(context.Background(), &ServerConfig{Hashes: hashStore{"tim": Hash("pencil")}}, nil)
	ch, done, err := s.next(nil)
	require.NoError(t, err)
	assert.False(t, done)
	assert.NotNil(t, ch)
	assert.Empty(t, ch, "no initial response: an empty challenge first")
	c := newClient(&ClientConfig{Username: "tim", Password: "pencil"}, nil)
	_, err = runExchange(t, c, s)
	assert.NoError(t, err)
}

func TestClientSteps(t *testing.T) {
	c := newClient(&ClientConfig{Username: "tim", Password: "pencil"}, nil)
	neg := c.start()
	again, err := c.next([]byte{})
	require.NoError(t, err)
	assert.Equal(t, neg, again, "an empty challenge asks for the NEGOTIATE")
	_, err = c.next([]byte{})
	assert.ErrorIs(t, err, sasl.ErrMalformed)
	_, err = c.next([]byte{})
	assert.ErrorIs(t, err, sasl.ErrUnexpectedServerChallenge)

	for name, cfg := range map[string]ClientConfig{
		"empty user": {Password: "x"}, "short hash": {Username: "tim", NTHash: []byte{1}},
	} {
		c := newClient(&cfg, nil)
		s := newServer(context.Background(), &ServerConfig{Hashes: hashStore{}}, nil)
		ch, _, err := s.next(c.start())
		require.NoError(t, err)
		_, err = c.next(ch)
		assert.ErrorIs(t, err, sasl.ErrMalformed, name)
	}
}

// TestClientKeyExchange: a server that offers KEY_EXCH gets an encrypted
// random session key, and the MIC is keyed by that key.
func TestClientKeyExchange(t *testing.T) {
	v := loadVectors(t)
	c := newClient(&ClientConfig{Username: `Domain\User`, Password: "Password"}, nil)
	c.start()
	c.rand = bytes.NewReader(append(unhex(t, v.Common.ClientChallenge), bytes.Repeat([]byte{0x55}, 16)...))
	auth, err := c.next(unhex(t, v.V2.ChallengeMessage)) // flags include KEY_EXCH
	require.NoError(t, err)
	am, err := parseAuthenticate(auth)
	require.NoError(t, err)
	assert.NotZero(t, am.flags&flagKeyExch)
	assert.Len(t, am.sessionKey, 16)
	// The challenge has no timestamp: the blob has the client's clock,
	// so recompute the expected key from the proof we sent.
	nt := Hash("Password")
	key := hmacMD5(nt[:], appendUTF16(appendUpperIdentity(nil, "User"), "Domain"))
	want := hmacMD5Parts(key[:], unhex(t, v.Common.ServerChallenge), am.nt[16:])
	assert.Equal(t, want[:], am.nt[:16], "NTProofStr")
	m := append([]byte(nil), auth...)
	copy(m[micOffset:], make([]byte, 16))
	mic := hmacMD5Parts(bytes.Repeat([]byte{0x55}, 16), c.negotiate, unhex(t, v.V2.ChallengeMessage), m)
	assert.Equal(t, mic[:], auth[micOffset:micOffset+16], "MIC keyed by the exported session key")
}

func TestParseChallengeBounds(t *testing.T) {
	v := loadVectors(t)
	ch := unhex(t, v.V2.ChallengeMessage)
	for n := range len(ch) {
		_, err := parseChallenge(ch[:n])
		assert.ErrorIs(t, err, sasl.ErrMalformed, n)
	}
	_, err := parseChallenge(unhex(t, v.V1.ChallengeMessage))
	assert.NoError(t, err, "4.2.2: no target info")
}

// TestSharedCredentials: one mechanism's derived credentials (and their
// pre-keyed HMAC) serve concurrent exchanges; run with -race.
func TestSharedCredentials(t *testing.T) {
	cred := (&ClientConfig{Username: "tim", Password: "pencil"}).derive()
	scfg := &ServerConfig{Hashes: hashStore{"tim": Hash("pencil")}}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 20 {
				s := newServer(context.Background(), scfg, nil)
				c := newClientFrom(cred, nil)
				ch, _, _ := s.next(c.start())
				auth, cerr := c.next(ch)
				if cerr != nil {
					err = cerr
					break
				}
				if _, _, err = s.next(auth); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		assert.NoError(t, <-errs)
	}
}
