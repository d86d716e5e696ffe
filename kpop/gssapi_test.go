package kpop

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGSSAPIRoundTrip(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	for _, svc := range []string{ServiceIMAP, ServicePOP, ServiceSMTP} {
		for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA384_192} {
			t.Run(fmt.Sprintf("service=%s/etype=%d", svc, et), func(t *testing.T) {
				creds, m := testCreds(kt)
				m.etype = et
				c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, svc)
				s := a.NewGSSAPIServer(context.Background(), svc, nil)
				cerr, serr := exchange(c, s)
				require.NoError(t, cerr)
				require.NoError(t, serr)
				require.NoError(t, c.(*gssapiClient).Finished())
				id, ok := s.Identity()
				require.True(t, ok)
				assert.Equal(t, sasl.Identity{Mechanism: GSSAPI, Username: "alice"}, id)
				assert.Equal(t, "alice@"+testRealm, s.(*gssapiServer).Principal().String())
			})
		}
	}
}

func TestGSSAPIAuthzid(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	for _, tc := range []struct{ authzid, want string }{
		{"", ""},
		{"bob", "bob"},
		{"alice@" + testRealm, ""}, // its own principal: no other identity
		{"alice", "alice"},
	} {
		creds, _ := testCreds(kt)
		c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost, Authzid: tc.authzid}, ServiceIMAP)
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		cerr, serr := exchange(c, s)
		require.NoError(t, cerr)
		require.NoError(t, serr)
		id, _ := s.Identity()
		assert.Equal(t, tc.want, id.Authzid, "authzid %q", tc.authzid)
		assert.Equal(t, "alice", id.Username)
	}
}

// TestGSSAPIRefusals runs one exchange per way the server must refuse.
func TestGSSAPIRefusals(t *testing.T) {
	kt := testKeytab(t)
	type row struct {
		name   string
		creds  func(c *Credentials, m *minter)
		server func(cfg *ServerConfig)
		svc    string
		want   error
	}
	rows := []row{
		{name: "wrong service principal", creds: func(_ *Credentials, m *minter) { m.spn = "smtp/" + testHost }, want: ErrWrongService},
		{name: "wrong service host", creds: func(_ *Credentials, m *minter) { m.spn = "imap/other.unit.invalid" }, want: ErrWrongService},
		{name: "wrong service realm", creds: func(_ *Credentials, m *minter) { m.realm = "OTHER.INVALID" }, want: ErrWrongService},
		{name: "server clock ahead", server: func(cfg *ServerConfig) {
			cfg.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
		}, want: ErrClockSkew},
		{name: "client clock ahead", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { a.CTime = a.CTime.Add(10 * time.Minute) }
		}, want: ErrClockSkew},
		{name: "expired ticket", creds: func(_ *Credentials, m *minter) { m.start, m.life = -3*time.Hour, time.Hour }, want: ErrTicketTime},
		{name: "future ticket", creds: func(_ *Credentials, m *minter) { m.start = time.Hour }, want: ErrTicketTime},
		{name: "rc4 ticket", creds: func(_ *Credentials, m *minter) { m.tktEtype = etypeID.RC4_HMAC }, want: ErrEnctype},
		{name: "no gss checksum", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { a.Cksum = types.Checksum{} }
		}, want: ErrBadChecksum},
		{name: "checksum type", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { a.Cksum.CksumType = 16 }
		}, want: ErrBadChecksum},
		{name: "checksum Lgth", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { binary.LittleEndian.PutUint32(a.Cksum.Checksum, 17) }
		}, want: ErrBadChecksum},
		{name: "checksum truncated", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { a.Cksum.Checksum = a.Cksum.Checksum[:20] }
		}, want: ErrBadChecksum},
		{name: "channel bindings", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { a.Cksum.Checksum[4] = 1 }
		}, want: ErrBadChecksum},
		{name: "delegation truncated", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { a.Cksum.Checksum[20] |= flagDeleg }
		}, want: ErrBadChecksum},
		{name: "authenticator of another client", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) { a.CName.NameString = []string{"mallory"} }
		}, want: ErrBadMatch},
		{name: "rc4 subkey", creds: func(c *Credentials, _ *minter) {
			c.authHook = func(a *types.Authenticator) {
				a.SubKey = types.EncryptionKey{KeyType: etypeID.RC4_HMAC, KeyValue: make([]byte, 16)}
			}
		}, want: ErrEnctype},
		{name: "foreign realm user", creds: func(_ *Credentials, m *minter) { m.client.Realm = "OTHER.INVALID" }, want: ErrNoLocalUser},
		{name: "two-component user", creds: func(_ *Credentials, m *minter) { m.client.Components = []string{"alice", "admin"} }, want: ErrNoLocalUser},
		{name: "service key unknown", server: func(cfg *ServerConfig) { cfg.Keytab = popOnlyKeytab(t) }, want: ErrNoKey},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			a := testAcceptor(t, kt, r.server)
			creds, m := testCreds(kt)
			if r.creds != nil {
				r.creds(creds, m)
			}
			c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP)
			s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
			cerr, serr := exchange(c, s)
			require.NoError(t, cerr)
			require.ErrorIs(t, serr, r.want)
			assert.ErrorIs(t, serr, sasl.ErrAuthFailed)
			assert.NotContains(t, serr.Error(), "alice")
			_, ok := s.Identity()
			assert.False(t, ok)
			assert.Error(t, c.(*gssapiClient).Finished())
			_, _, err := s.Next([]byte{})
			assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)
		})
	}
}

// popOnlyKeytab holds keys for pop/testHost only.
func popOnlyKeytab(t testing.TB) *keytab.Keytab {
	kt := keytab.New()
	require.NoError(t, kt.AddEntry("pop/"+testHost, testRealm, "key-of-pop/"+testHost, time.Now(), 3, etypeID.AES256_CTS_HMAC_SHA1_96))
	return kt
}

// TestGSSAPIReplay plays the same initial token twice to one Acceptor.
func TestGSSAPIReplay(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	creds, _ := testCreds(kt)
	c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP)
	_, tok, err := c.Start()
	require.NoError(t, err)
	_, _, err = a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil).Next(tok)
	require.NoError(t, err)
	_, _, err = a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil).Next(tok)
	require.ErrorIs(t, err, ErrReplay)
	assert.ErrorIs(t, err, sasl.ErrAuthFailed)
	assert.Equal(t, int32(codeRepeat), errorCode(err))

	// Another Acceptor has its own cache: gokrb5's process-wide one is
	// not used.
	_, _, err = testAcceptor(t, kt, nil).NewGSSAPIServer(context.Background(), ServiceIMAP, nil).Next(tok)
	require.NoError(t, err)
}

func TestReplayCacheBound(t *testing.T) {
	c := newReplayCache(3)
	now := time.Now()
	for i := 0; i < 3; i++ {
		require.NoError(t, c.check([]byte{byte(i)}, now, time.Minute, now))
	}
	require.ErrorIs(t, c.check([]byte{9}, now, time.Minute, now), ErrReplayCacheFull)
	require.ErrorIs(t, c.check([]byte{1}, now, time.Minute, now), ErrReplay)
	later := now.Add(2 * time.Minute)
	require.NoError(t, c.check([]byte{9}, later, time.Minute, later), "expired entries make room")
	require.NoError(t, c.check([]byte{1}, later, time.Minute, later), "an expired entry is forgotten")
	assert.Len(t, c.seen, 2)
}

// TestGSSAPIWrapRefusals tampers with the client's security-layer reply.
func TestGSSAPIWrapRefusals(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	// upTo runs a fresh exchange to the client's last message and returns
	// the client (to re-wrap) and the server waiting for it.
	upTo := func(t *testing.T) (*gssapiClient, sasl.IdentityServer, []byte) {
		creds, _ := testCreds(kt)
		c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP).(*gssapiClient)
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		_, tok, err := c.Start()
		require.NoError(t, err)
		rep, _, err := s.Next(tok)
		require.NoError(t, err)
		empty, err := c.Next(rep)
		require.NoError(t, err)
		offer, _, err := s.Next(empty)
		require.NoError(t, err)
		return c, s, offer
	}
	t.Run("wrong sequence number", func(t *testing.T) {
		c, s, offer := upTo(t)
		c.in.seqSend++
		reply, err := c.Next(offer)
		require.NoError(t, err)
		_, _, err = s.Next(reply)
		require.ErrorIs(t, err, ErrSequence)
		assert.ErrorIs(t, err, sasl.ErrAuthFailed)
	})
	t.Run("flipped payload bit", func(t *testing.T) {
		c, s, offer := upTo(t)
		reply, err := c.Next(offer)
		require.NoError(t, err)
		reply[wrapHeaderLen] ^= 0x80
		_, _, err = s.Next(reply)
		require.ErrorIs(t, err, ErrIntegrity)
	})
	t.Run("acceptor direction", func(t *testing.T) {
		c, s, offer := upTo(t)
		reply, err := c.Next(offer)
		require.NoError(t, err)
		reply[2] |= wrapSentByAcceptor
		_, _, err = s.Next(reply)
		require.ErrorIs(t, err, ErrIntegrity)
	})
	t.Run("session key instead of acceptor subkey", func(t *testing.T) {
		c, s, offer := upTo(t)
		_, err := c.Next(offer)
		require.NoError(t, err)
		c.in.keys.acceptorSK = types.EncryptionKey{}
		c.in.keys.initiatorSK = types.EncryptionKey{}
		reply, err := c.in.keys.makeWrap(false, c.in.seqSend, []byte{layerNone, 0, 0, 0})
		require.NoError(t, err)
		_, _, err = s.Next(reply)
		require.ErrorIs(t, err, ErrIntegrity)
	})
	t.Run("layer integrity", func(t *testing.T) {
		c, s, offer := upTo(t)
		_, err := c.Next(offer)
		require.NoError(t, err)
		reply, err := c.in.keys.makeWrap(false, c.in.seqSend, []byte{layerIntegrity, 0, 0x10, 0})
		require.NoError(t, err)
		_, _, err = s.Next(reply)
		require.ErrorIs(t, err, sasl.ErrMalformed)
	})
	t.Run("short reply", func(t *testing.T) {
		c, s, offer := upTo(t)
		_, err := c.Next(offer)
		require.NoError(t, err)
		reply, err := c.in.keys.makeWrap(false, c.in.seqSend, []byte{layerNone, 0})
		require.NoError(t, err)
		_, _, err = s.Next(reply)
		require.ErrorIs(t, err, sasl.ErrMalformed)
	})
	t.Run("rotated token accepted", func(t *testing.T) {
		// Windows rotates the data right by RRC = EC (RFC 4121, Section
		// 4.2.5); the server must undo it.
		c, s, offer := upTo(t)
		reply, err := c.Next(offer)
		require.NoError(t, err)
		ec := int(binary.BigEndian.Uint16(reply[4:6]))
		data := reply[wrapHeaderLen:]
		rot := append(append([]byte{}, data[len(data)-ec:]...), data[:len(data)-ec]...)
		copy(data, rot)
		binary.BigEndian.PutUint16(reply[6:8], uint16(ec))
		_, done, err := s.Next(reply)
		require.NoError(t, err)
		assert.True(t, done)
	})
}

// TestGSSAPIClientRefusals checks the client never reports success
// without the server's proof.
func TestGSSAPIClientRefusals(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	start := func(t *testing.T) (*gssapiClient, *gssapiServer, []byte) {
		creds, _ := testCreds(kt)
		c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP).(*gssapiClient)
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil).(*gssapiServer)
		_, tok, err := c.Start()
		require.NoError(t, err)
		rep, _, err := s.Next(tok)
		require.NoError(t, err)
		return c, s, rep
	}
	t.Run("rc4 session key", func(t *testing.T) {
		creds, m := testCreds(kt)
		m.etype = etypeID.RC4_HMAC
		c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP)
		_, _, err := c.Start()
		require.ErrorIs(t, err, ErrEnctype)
	})
	t.Run("server skips the AP-REP", func(t *testing.T) {
		c, s, _ := start(t)
		offer, _, err := s.offer()
		require.NoError(t, err)
		_, err = c.Next(offer)
		require.ErrorIs(t, err, sasl.ErrServerNotVerified)
		assert.ErrorIs(t, c.Finished(), sasl.ErrServerNotVerified)
	})
	t.Run("AP-REP of another exchange", func(t *testing.T) {
		c, _, _ := start(t)
		_, _, rep2 := start(t)
		_, err := c.Next(rep2)
		require.Error(t, err)
		assert.ErrorIs(t, c.Finished(), sasl.ErrServerNotVerified)
	})
	t.Run("tampered AP-REP", func(t *testing.T) {
		c, _, rep := start(t)
		rep[len(rep)-3] ^= 1
		_, err := c.Next(rep)
		require.ErrorIs(t, err, ErrIntegrity)
	})
	t.Run("KRB-ERROR", func(t *testing.T) {
		c, _, _ := start(t)
		ke, err := a.krbErrorReply(ServiceIMAP, &krbError{code: codeSkew, kind: ErrClockSkew, msg: "skew"})
		require.NoError(t, err)
		_, err = c.Next(gssFrame(tokKRBError, ke))
		require.ErrorIs(t, err, ErrKRBError)
		assert.Contains(t, err.Error(), "code 37")
	})
	t.Run("offer with wrong sequence number", func(t *testing.T) {
		c, s, rep := start(t)
		_, err := c.Next(rep)
		require.NoError(t, err)
		s.acc.seqSend++
		offer, _, err := s.Next([]byte{})
		require.NoError(t, err)
		_, err = c.Next(offer)
		require.ErrorIs(t, err, ErrSequence)
		assert.ErrorIs(t, c.Finished(), sasl.ErrServerNotVerified)
	})
	t.Run("offer without none", func(t *testing.T) {
		c, s, rep := start(t)
		_, err := c.Next(rep)
		require.NoError(t, err)
		offer, err := s.acc.keys.makeWrap(true, s.acc.seqSend, []byte{layerConf, 0, 1, 0})
		require.NoError(t, err)
		_, err = c.Next(offer)
		require.ErrorIs(t, err, sasl.ErrAuthFailed)
	})
}

// TestGSSAPINoMutual is the exchange of clients such as curl, which do not
// ask for mutual authentication: no AP-REP, the offer comes at once, under
// the initiator's subkey.
func TestGSSAPINoMutual(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	creds, _ := testCreds(kt)
	creds.authHook = func(au *types.Authenticator) {
		binary.LittleEndian.PutUint32(au.Cksum.Checksum[20:], flagInteg|flagSequence)
	}
	in, apreq, err := newInitiator(creds, ServiceIMAP, testHost, true, 0)
	require.NoError(t, err)
	// newInitiator always sets the mutual-required AP option; clear it.
	ap, err := parseAPReq(apreq)
	require.NoError(t, err)
	ap.APOptions = types.NewKrbFlags()
	apreq, err = ap.Marshal()
	require.NoError(t, err)
	s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
	offer, done, err := s.Next(gssFrame(tokAPReq, apreq))
	require.NoError(t, err)
	require.False(t, done)
	in.seqRecv = in.seqSend // no AP-REP: the acceptor continues the initiator's numbers
	msg, err := in.keys.unwrap(offer, true, in.seqRecv)
	require.NoError(t, err)
	require.Equal(t, []byte{layerNone, 0, 0, 0}, msg)
	reply, err := in.keys.makeWrap(false, in.seqSend, []byte{layerNone, 0, 0, 0})
	require.NoError(t, err)
	_, done, err = s.Next(reply)
	require.NoError(t, err)
	require.True(t, done)
}

// TestGSSAPITruncated feeds every prefix of a valid initial token, and of
// the client's wrap reply, to fresh servers: each must fail cleanly.
func TestGSSAPITruncated(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	creds, _ := testCreds(kt)
	c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP).(*gssapiClient)
	_, tok, err := c.Start()
	require.NoError(t, err)
	for n := 1; n < len(tok); n++ {
		_, _, err := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil).Next(tok[:n])
		require.Error(t, err, "prefix %d", n)
		require.True(t, errors.Is(err, sasl.ErrMalformed) || errors.Is(err, sasl.ErrAuthFailed), "prefix %d: %v", n, err)
	}
	s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
	rep, _, err := s.Next(tok)
	require.NoError(t, err)
	for n := 0; n < len(rep); n++ {
		cc := *c
		in := *c.in
		cc.in = &in
		_, err := cc.Next(rep[:n])
		require.Error(t, err, "AP-REP prefix %d", n)
	}
	empty, err := c.Next(rep)
	require.NoError(t, err)
	offer, _, err := s.Next(empty)
	require.NoError(t, err)
	reply, err := c.Next(offer)
	require.NoError(t, err)
	for n := 0; n < len(reply); n++ {
		ss := *s.(*gssapiServer)
		_, _, err := ss.Next(reply[:n])
		require.Error(t, err, "reply prefix %d", n)
	}
}

func TestGSSAPIServerSteps(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	t.Run("no initial response", func(t *testing.T) {
		creds, _ := testCreds(kt)
		c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP)
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		chal, done, err := s.Next(nil)
		require.NoError(t, err)
		require.False(t, done)
		require.Equal(t, []byte{}, chal)
		cerr, serr := exchange(c, s)
		require.NoError(t, cerr)
		require.NoError(t, serr)
	})
	t.Run("two empty responses", func(t *testing.T) {
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		_, _, err := s.Next(nil)
		require.NoError(t, err)
		_, _, err = s.Next([]byte{})
		require.ErrorIs(t, err, sasl.ErrMalformed)
	})
	t.Run("data instead of empty response", func(t *testing.T) {
		creds, _ := testCreds(kt)
		c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP)
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		_, tok, err := c.Start()
		require.NoError(t, err)
		_, _, err = s.Next(tok)
		require.NoError(t, err)
		_, _, err = s.Next([]byte{0})
		require.ErrorIs(t, err, sasl.ErrMalformed)
	})
	t.Run("not an AP-REQ", func(t *testing.T) {
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		_, _, err := s.Next(gssFrame(tokAPRep, []byte{1, 2, 3}))
		require.ErrorIs(t, err, sasl.ErrMalformed)
	})
}

// TestGSSAPILocalUser: a caller's rule maps principals to local users; its
// errors come back unchanged.
func TestGSSAPILocalUser(t *testing.T) {
	kt := testKeytab(t)
	dbErr := errors.New("directory unavailable")
	a := testAcceptor(t, kt, func(cfg *ServerConfig) {
		cfg.LocalUser = func(_ context.Context, p Principal) (string, error) {
			switch p.String() {
			case "alice/admin@OTHER.INVALID":
				return "alice-admin", nil
			case "bob@" + testRealm:
				return "", dbErr
			}
			return "", fmt.Errorf("no mapping: %w", ErrNoLocalUser)
		}
	})
	for _, tc := range []struct {
		client Principal
		user   string
		err    error
	}{
		{Principal{[]string{"alice", "admin"}, "OTHER.INVALID"}, "alice-admin", nil},
		{Principal{[]string{"bob"}, testRealm}, "", dbErr},
		{Principal{[]string{"alice"}, testRealm}, "", ErrNoLocalUser},
	} {
		creds, m := testCreds(kt)
		m.client = tc.client
		s := a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		cerr, serr := exchange(NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP), s)
		require.NoError(t, cerr)
		if tc.err != nil {
			require.ErrorIs(t, serr, tc.err, tc.client.String())
			continue
		}
		require.NoError(t, serr)
		id, _ := s.Identity()
		assert.Equal(t, tc.user, id.Username)
		assert.Equal(t, tc.client, s.Principal())
	}
}
