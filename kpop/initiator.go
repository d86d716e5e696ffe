package kpop

import (
	"errors"
	"fmt"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"os"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Credentials are a client's Kerberos credentials: a TGT from a password,
// a keytab or a credential cache, and the service tickets got with it,
// which gokrb5 caches. They are safe for concurrent use; share one value
// among connections so that each service ticket is fetched once.
type Credentials struct {
	cl *client.Client
	dk *dkCache // derived keys of the session keys, shared by connections
	// src, if not nil, replaces cl as the ticket source (tests only).
	src ticketSource
	// authHook, if not nil, edits each authenticator before it is
	// encrypted (tests only).
	authHook func(*types.Authenticator)
}

// ticketSource gets service tickets: gokrb5's client, or a test's minter.
type ticketSource interface {
	serviceTicket(spn string) (messages.Ticket, types.EncryptionKey, error)
	principal() Principal
}

type gokrb5Source struct{ cl *client.Client }

func (s gokrb5Source) serviceTicket(spn string) (messages.Ticket, types.EncryptionKey, error) {
	return s.cl.GetServiceTicket(spn)
}

func (s gokrb5Source) principal() Principal {
	cn := s.cl.Credentials.CName()
	return Principal{Components: append([]string(nil), cn.NameString...), Realm: s.cl.Credentials.Domain()}
}

func (c *Credentials) source() ticketSource {
	if c.src != nil {
		return c.src
	}
	return gokrb5Source{c.cl}
}

// Principal returns the client principal the credentials are for.
func (c *Credentials) Principal() Principal { return c.source().principal() }

// Close destroys the credentials' tickets and keys in memory.
func (c *Credentials) Close() {
	if c.cl != nil {
		c.cl.Destroy()
	}
}

// LoadConfig reads a krb5.conf: path, or if "" the file named by
// KRB5_CONFIG, or /etc/krb5.conf. gokrb5 reads neither include nor
// includedir lines (gokrb5#504).
func LoadConfig(path string) (*config.Config, error) {
	if path == "" {
		path = os.Getenv("KRB5_CONFIG")
	}
	if path == "" {
		path = "/etc/krb5.conf"
	}
	return config.Load(path)
}

// splitPrincipal parses "name@REALM" (or "name" in defRealm).
func splitPrincipal(p, defRealm string) (string, string, error) {
	name, realm := p, defRealm
	if i := strings.LastIndexByte(p, '@'); i >= 0 {
		name, realm = p[:i], p[i+1:]
	}
	if name == "" || realm == "" {
		return "", "", errors.New("kpop: principal needs a name and a realm (or a default_realm in krb5.conf)")
	}
	return name, realm, nil
}

// clientSettings are gokrb5 client settings for every login here: no
// PA-FX-FAST armouring request, which Active Directory refuses (gokrb5
// USAGE.md) and MIT does not need.
func clientSettings() []func(*client.Settings) {
	return []func(*client.Settings){client.DisablePAFXFAST(true)}
}

// NewPasswordCredentials logs principal ("alice@EXAMPLE.ORG", or "alice" in
// krb5conf's default realm) in with password and returns its credentials.
// A wrong password or unknown principal is an error wrapping
// sasl.ErrAuthFailed; a KDC that cannot be reached, another error.
func NewPasswordCredentials(krb5conf *config.Config, principal, password string) (*Credentials, error) {
	name, realm, err := splitPrincipal(principal, krb5conf.LibDefaults.DefaultRealm)
	if err != nil {
		return nil, err
	}
	cl := client.NewWithPassword(name, realm, password, krb5conf, clientSettings()...)
	if err := cl.Login(); err != nil {
		return nil, loginError(err)
	}
	return newCredentials(cl), nil
}

// NewKeytabCredentials logs principal in with its key from kt.
func NewKeytabCredentials(krb5conf *config.Config, principal string, kt *keytab.Keytab) (*Credentials, error) {
	name, realm, err := splitPrincipal(principal, krb5conf.LibDefaults.DefaultRealm)
	if err != nil {
		return nil, err
	}
	cl := client.NewWithKeytab(name, realm, kt, krb5conf, clientSettings()...)
	if err := cl.Login(); err != nil {
		return nil, loginError(err)
	}
	return newCredentials(cl), nil
}

// NewCCacheCredentials loads the credential cache ccname, as kinit left
// it: a file path, with or without MIT's "FILE:" prefix. If ccname is "",
// KRB5CCNAME is used, and if that is unset, /tmp/krb5cc_<uid>. Only file
// caches can be read (not KEYRING:, KCM: or MEMORY:). Tickets from a
// cache cannot be renewed: run kinit again when they expire.
func NewCCacheCredentials(krb5conf *config.Config, ccname string) (*Credentials, error) {
	if ccname == "" {
		ccname = os.Getenv("KRB5CCNAME")
	}
	if ccname == "" {
		ccname = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	path := strings.TrimPrefix(ccname, "FILE:")
	if i := strings.IndexByte(path, ':'); i > 0 && !strings.Contains(path[:i], "/") {
		return nil, fmt.Errorf("kpop: credential cache type %q is not supported, only FILE", path[:i])
	}
	cc, err := credentials.LoadCCache(path)
	if err != nil {
		return nil, fmt.Errorf("kpop: loading credential cache: %w", err)
	}
	cl, err := client.NewFromCCache(cc, krb5conf, clientSettings()...)
	if err != nil {
		return nil, fmt.Errorf("kpop: credential cache: %w", err)
	}
	return newCredentials(cl), nil
}

// NewClientCredentials returns credentials on a gokrb5 client the caller
// made and logged in.
func NewClientCredentials(cl *client.Client) *Credentials { return newCredentials(cl) }

func newCredentials(cl *client.Client) *Credentials { return &Credentials{cl: cl, dk: newDKCache()} }

func loginError(err error) error {
	// gokrb5 reports a wrong password as a KRB-ERROR from the KDC
	// (KDC_ERR_PREAUTH_FAILED) or a failed decryption of the AS-REP.
	var ke messages.KRBError
	if errors.As(err, &ke) {
		// The code's name only: a KDC's e-text may name the principal.
		return fmt.Errorf("kpop: login: KDC refused: %s: %w", errorcode.Lookup(ke.ErrorCode), sasl.ErrAuthFailed)
	}
	s := err.Error()
	if strings.Contains(s, "KDC_ERR_PREAUTH_FAILED") || strings.Contains(s, "KDC_ERR_C_PRINCIPAL_UNKNOWN") ||
		strings.Contains(s, "integrity verification failed") || strings.Contains(s, "Decrypting_Error") {
		return fmt.Errorf("kpop: login refused by the KDC: %w", sasl.ErrAuthFailed)
	}
	return fmt.Errorf("kpop: login: %w", err)
}

// initiator is the client side of one AP exchange.
type initiator struct {
	tkt     messages.Ticket
	auth    types.Authenticator
	keys    wrapKeys
	seqSend uint64 // the authenticator's seq-number
	seqRecv uint64 // the AP-REP's
}

// newInitiator gets a ticket for service/host and makes an AP-REQ asking
// for mutual authentication. With gss, the authenticator carries the
// 0x8003 checksum with gssFlags (RFC 4121, Section 4.1.1) and a subkey and
// sequence number, as MIT's GSS initiator sends; without (KPOP), it
// carries none of them, as krb5_sendauth's does.
func newInitiator(creds *Credentials, service, host string, gss bool, gssFlags uint32) (*initiator, []byte, error) {
	if creds == nil {
		return nil, nil, errors.New("kpop: no credentials")
	}
	src := creds.source()
	tkt, key, err := src.serviceTicket(service + "/" + host)
	if err != nil {
		return nil, nil, fmt.Errorf("kpop: getting a ticket for %s/%s: %w", service, host, err)
	}
	if err := checkKey(key, "session key"); err != nil {
		return nil, nil, err
	}
	p := src.principal()
	au, err := types.NewAuthenticator(p.Realm, types.PrincipalName{NameType: 1, NameString: p.Components})
	if err != nil {
		return nil, nil, err
	}
	if gss {
		au.Cksum = gssChecksum(gssFlags)
		if err := au.GenerateSeqNumberAndSubKey(key.KeyType, keySize(key.KeyType)); err != nil {
			return nil, nil, err
		}
	} else {
		au.SeqNumber = 0
	}
	if creds.authHook != nil {
		creds.authHook(&au)
	}
	if creds.dk == nil {
		creds.dk = newDKCache() // unreachable: the constructors set it
	}
	ab, err := marshalAuthenticator(&au)
	if err != nil {
		return nil, nil, fmt.Errorf("kpop: encoding authenticator: %w", err)
	}
	ea, err := encrypt(creds.dk, ab, key, keyusage.AP_REQ_AUTHENTICATOR, tkt.EncPart.KVNO)
	if err != nil {
		return nil, nil, fmt.Errorf("kpop: encrypting authenticator: %w", err)
	}
	ap := messages.APReq{PVNO: 5, MsgType: msgtype.KRB_AP_REQ, APOptions: types.NewKrbFlags(), Ticket: tkt, EncryptedAuthenticator: ea}
	types.SetFlag(&ap.APOptions, flags.APOptionMutualRequired)
	b, err := ap.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("kpop: encoding AP-REQ: %w", err)
	}
	in := &initiator{tkt: tkt, auth: au, keys: wrapKeys{dk: creds.dk, session: key, initiatorSK: au.SubKey}, seqSend: uint64(uint32(au.SeqNumber))}
	return in, b, nil
}

// verifyAPRep checks the server's AP-REP as krb5_rd_rep does: it decrypts
// with the session key (key usage 12) and must echo our authenticator's
// ctime and cusec. Only the holder of the service key could have read
// them from our authenticator, so this proves the server. It keeps the
// acceptor subkey and sequence number.
func (in *initiator) verifyAPRep(b []byte) (err error) {
	if len(b) > maxTokenLen {
		return fmt.Errorf("AP-REP longer than %d octets: %w", maxTokenLen, sasl.ErrTooLarge)
	}
	defer func() {
		if r := recover(); r != nil { // gokrb5's ASN.1 decoder on hostile input
			err = fmt.Errorf("AP-REP does not decode: %w", sasl.ErrMalformed)
		}
	}()
	var rep messages.APRep
	if !derShape(b, 0) {
		return fmt.Errorf("AP-REP is not DER: %w", sasl.ErrMalformed)
	}
	if err := rep.Unmarshal(b); err != nil {
		return fmt.Errorf("AP-REP does not decode: %w", sasl.ErrMalformed)
	}
	pt, err := decrypt(in.keys.dk, rep.EncPart, in.keys.session, keyusage.AP_REP_ENCPART, "AP-REP")
	if err != nil {
		return err
	}
	var enc messages.EncAPRepPart
	if err := enc.Unmarshal(pt); err != nil {
		return fmt.Errorf("AP-REP part does not decode: %w", sasl.ErrMalformed)
	}
	if !enc.CTime.Equal(in.auth.CTime.UTC().Truncate(time.Second)) || enc.Cusec != in.auth.Cusec {
		return &krbError{code: codeMutFail, kind: ErrIntegrity, msg: "AP-REP does not echo our authenticator's time"}
	}
	if enc.Subkey.KeyType != 0 {
		if err := checkKey(enc.Subkey, "acceptor subkey"); err != nil {
			return err
		}
		in.keys.acceptorSK = enc.Subkey
	}
	in.seqRecv = uint64(uint32(enc.SequenceNumber))
	return nil
}

// krbErrorText returns a peer's KRB-ERROR as an error wrapping ErrKRBError
// and sasl.ErrAuthFailed, with its code and e-text (printable ASCII only).
func krbErrorText(b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("KRB-ERROR does not decode: %w", sasl.ErrMalformed)
		}
	}()
	var ke messages.KRBError
	if err := ke.Unmarshal(b); err != nil {
		return fmt.Errorf("KRB-ERROR does not decode: %w", sasl.ErrMalformed)
	}
	return fmt.Errorf("%w: code %d: %q: %w", ErrKRBError, ke.ErrorCode, printable(ke.EText, 200), sasl.ErrAuthFailed)
}

// printable keeps printable ASCII of s, at most n octets, for quoting a
// peer's text in an error.
func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e {
			b = append(b, c)
		} else if c != 0 {
			b = append(b, '?')
		}
	}
	return string(b)
}

// marshalAuthenticator encodes an Authenticator (RFC 4120, Section 5.5.1)
// with x/crypto's cryptobyte: the same octets as gokrb5's reflective
// Authenticator.Marshal (a test checks), which took half of a client's
// login. Authorization data is not sent.
func marshalAuthenticator(a *types.Authenticator) ([]byte, error) {
	if len(a.AuthorizationData) != 0 {
		return a.Marshal()
	}
	generalString := func(b *cryptobyte.Builder, s string) {
		b.AddASN1(cbasn1.Tag(27), func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) }) // GeneralString
	}
	var b cryptobyte.Builder
	b.AddASN1(appTag(2), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(a.AVNO)) })
			b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { generalString(b, a.CRealm) })
			b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(a.CName.NameType)) })
					b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							for _, n := range a.CName.NameString {
								generalString(b, n)
							}
						})
					})
				})
			})
			if a.Cksum.CksumType != 0 || len(a.Cksum.Checksum) != 0 {
				b.AddASN1(ctxTag(3), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(a.Cksum.CksumType)) })
						b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(a.Cksum.Checksum) })
					})
				})
			}
			b.AddASN1(ctxTag(4), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(a.Cusec)) })
			b.AddASN1(ctxTag(5), func(b *cryptobyte.Builder) { b.AddASN1GeneralizedTime(a.CTime.UTC().Truncate(time.Second)) })
			if a.SubKey.KeyType != 0 || len(a.SubKey.KeyValue) != 0 {
				b.AddASN1(ctxTag(6), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(a.SubKey.KeyType)) })
						b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(a.SubKey.KeyValue) })
					})
				})
			}
			if a.SeqNumber != 0 {
				b.AddASN1(ctxTag(7), func(b *cryptobyte.Builder) { b.AddASN1Int64(a.SeqNumber) })
			}
		})
	})
	return b.Bytes()
}
