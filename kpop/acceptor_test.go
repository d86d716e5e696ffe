package kpop

import (
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAPRepEncoding: our DER encoding of EncAPRepPart and AP-REP is the
// one gokrb5's asn1.Marshal makes of its own structs, and gokrb5 reads it
// back.
func TestAPRepEncoding(t *testing.T) {
	ct := time.Date(2026, 12, 2, 14, 0, 1, 0, time.UTC)
	for _, tc := range []struct {
		seq   uint32
		cusec int
		kvno  int
	}{{0x2345678, 999999, 0}, {0, 0, 3}, {1, 127, 200}, {0x3fffffff, 128, 0}} {
		sk := newKey(etypeID.AES256_CTS_HMAC_SHA1_96)
		got, err := marshalEncAPRepPart(ct.Add(500*time.Millisecond), tc.cusec, sk, tc.seq)
		require.NoError(t, err)
		want, err := asn1.Marshal(messages.EncAPRepPart{CTime: ct, Cusec: tc.cusec, Subkey: sk, SequenceNumber: int64(tc.seq)})
		require.NoError(t, err)
		assert.Equal(t, asn1tools.AddASNAppTag(want, asnAppTag.EncAPRepPart), got)
		var enc messages.EncAPRepPart
		require.NoError(t, enc.Unmarshal(got))
		assert.True(t, enc.CTime.Equal(ct))
		assert.Equal(t, int64(tc.seq), enc.SequenceNumber)

		ed := types.EncryptedData{EType: 18, KVNO: tc.kvno, Cipher: []byte("0123456789abcdef0123456789abcdef")}
		got, err = marshalAPRep(ed)
		require.NoError(t, err)
		want, err = asn1.Marshal(messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
		require.NoError(t, err)
		assert.Equal(t, asn1tools.AddASNAppTag(want, asnAppTag.APREP), got)
		var rep messages.APRep
		require.NoError(t, rep.Unmarshal(got))
		assert.Equal(t, ed, rep.EncPart)
	}
}

func TestPrincipalString(t *testing.T) {
	assert.Equal(t, "imap/mail.example.org@EXAMPLE.ORG", Principal{[]string{"imap", "mail.example.org"}, "EXAMPLE.ORG"}.String())
	assert.Equal(t, `a\/b\@c@R\@S`, Principal{[]string{"a/b@c"}, "R@S"}.String())
}

func TestNewAcceptorChecks(t *testing.T) {
	kt := testKeytab(t)
	for _, cfg := range []*ServerConfig{nil, {Host: testHost, Realm: testRealm}, {Keytab: kt, Realm: testRealm},
		{Keytab: kt, Host: testHost}, {Keytab: kt, Host: "other.host", Realm: testRealm}} {
		_, err := NewAcceptor(cfg)
		assert.Error(t, err)
	}
}

// TestAuthenticatorEncoding: our DER encoding of the Authenticator is
// gokrb5's, with and without checksum, subkey and sequence number.
func TestAuthenticatorEncoding(t *testing.T) {
	for i, mod := range []func(*types.Authenticator){
		func(a *types.Authenticator) {},
		func(a *types.Authenticator) { a.Cksum = gssChecksum(gssFlagsRequested) },
		func(a *types.Authenticator) {
			a.Cksum = gssChecksum(flagMutual)
			a.GenerateSeqNumberAndSubKey(etypeID.AES256_CTS_HMAC_SHA1_96, 32)
		},
		func(a *types.Authenticator) { a.SeqNumber = 0; a.Cusec = 0; a.CName.NameString = []string{"imap", "h"} },
		func(a *types.Authenticator) { a.SeqNumber = 0x3fffffff; a.CRealm = "R" },
	} {
		a, err := types.NewAuthenticator("EXAMPLE.ORG", types.PrincipalName{NameType: 1, NameString: []string{"alice"}})
		require.NoError(t, err)
		mod(&a)
		got, err := marshalAuthenticator(&a)
		require.NoError(t, err)
		want, err := a.Marshal()
		require.NoError(t, err)
		assert.Equal(t, want, got, "case %d", i)
	}
}
