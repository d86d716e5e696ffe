package kpop

import (
	"sync"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/stretchr/testify/require"
)

// Fixed-token tests run without a KDC: tickets are minted with gokrb5's
// messages.NewTicket under service keys the test derives itself, in a
// realm and on a host of the tests' own.
const (
	testRealm = "UNIT.INVALID"
	testHost  = "mail.unit.invalid"
)

// testKeytab holds keys for imap, pop and smtp on testHost (and on
// other.unit.invalid), in aes256-sha1, aes128-sha1, aes256-sha2 and RC4.
func testKeytab(t testing.TB) *keytab.Keytab {
	t.Helper()
	kt, err := sharedKeytab()
	require.NoError(t, err)
	return kt
}

// sharedKeytab is made once: string-to-key runs PBKDF2 (32768 rounds for
// aes256-sha2) for each of its 32 keys. An Acceptor only reads it.
var sharedKeytab = sync.OnceValues(func() (*keytab.Keytab, error) {
	kt := keytab.New()
	ts := time.Now()
	for _, realm := range []string{testRealm, "OTHER.INVALID"} {
		for _, svc := range []string{"imap/" + testHost, "pop/" + testHost, "smtp/" + testHost, "imap/other.unit.invalid"} {
			for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96,
				etypeID.AES256_CTS_HMAC_SHA384_192, etypeID.RC4_HMAC} {
				if err := kt.AddEntry(svc, realm, "key-of-"+svc, ts, 3, et); err != nil {
					return nil, err
				}
			}
		}
	}
	return kt, nil
})

// minter is a ticket source that plays the KDC.
type minter struct {
	kt       *keytab.Keytab
	client   Principal
	etype    int32         // ticket and session key enctype; 0: aes256-sha1
	tktEtype int32         // if set, the ticket's enctype
	spn      string        // if set, the ticket is for this principal whatever is asked
	realm    string        // service realm; "" testRealm
	start    time.Duration // ticket start relative to now
	life     time.Duration // 0: 1h
}

func (m *minter) serviceTicket(spn string) (messages.Ticket, types.EncryptionKey, error) {
	if m.spn != "" {
		spn = m.spn
	}
	et := m.etype
	if et == 0 {
		et = etypeID.AES256_CTS_HMAC_SHA1_96
	}
	realm := m.realm
	if realm == "" {
		realm = testRealm
	}
	life := m.life
	if life == 0 {
		life = time.Hour
	}
	tet := m.tktEtype
	if tet == 0 {
		tet = et
	}
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_HST, spn)
	now := time.Now().UTC().Truncate(time.Second)
	// messages.NewTicket would do, but its session keys for
	// aes256-cts-hmac-sha384-192 are 24 octets, not 32.
	session := types.EncryptionKey{KeyType: et, KeyValue: make([]byte, 32)}
	if et != etypeID.RC4_HMAC {
		session = newKey(et)
	} else {
		session.KeyValue = session.KeyValue[:16]
	}
	etp := messages.EncTicketPart{
		Flags: types.NewKrbFlags(), Key: session, CRealm: m.client.Realm,
		CName:    types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: m.client.Components},
		AuthTime: now, StartTime: now.Add(m.start), EndTime: now.Add(m.start + life), RenewTill: now.Add(m.start + life),
	}
	b, err := asn1.Marshal(etp)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart)
	skey, _, err := m.kt.GetEncryptionKey(sname, realm, 3, tet)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	ed, err := crypto.GetEncryptedData(b, skey, keyusage.KDC_REP_TICKET, 3)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	return messages.Ticket{TktVNO: 5, Realm: realm, SName: sname, EncPart: ed}, session, nil
}

func (m *minter) principal() Principal { return m.client }

// testCreds are credentials of alice@UNIT.INVALID from a minter.
func testCreds(kt *keytab.Keytab) (*Credentials, *minter) {
	m := &minter{kt: kt, client: Principal{Components: []string{"alice"}, Realm: testRealm}}
	return &Credentials{src: m, dk: newDKCache()}, m
}

func testAcceptor(t testing.TB, kt *keytab.Keytab, mod func(*ServerConfig)) *Acceptor {
	t.Helper()
	cfg := &ServerConfig{Keytab: kt, Host: testHost, Realm: testRealm}
	if mod != nil {
		mod(cfg)
	}
	a, err := NewAcceptor(cfg)
	require.NoError(t, err)
	return a
}

// exchange runs c against s in memory, as sasl.Exchange would, and returns
// both sides' errors. It gives up after maxSteps rounds.
func exchange(c sasl.Client, s sasl.Server) (cerr, serr error) {
	_, resp, err := c.Start()
	if err != nil {
		return err, nil
	}
	for i := 0; i < 10; i++ {
		chal, done, err := s.Next(resp)
		if err != nil {
			return nil, err
		}
		if done {
			return nil, nil
		}
		resp, err = c.Next(chal)
		if err != nil {
			return err, nil
		}
	}
	panic("exchange did not end")
}
