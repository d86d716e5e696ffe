package sasl

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// SCRAM mechanism names (RFC 5802, RFC 7677; SCRAM-SHA-512 is specified by
// draft-melnikov-scram-sha-512 and spoken by Cyrus SASL and xdg-go/scram). The -PLUS variants bind the
// exchange to the TLS channel (RFC 5802, Section 6).
const (
	SCRAMSHA1       = "SCRAM-SHA-1"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	SCRAMSHA512     = "SCRAM-SHA-512"
	SCRAMSHA512Plus = "SCRAM-SHA-512-PLUS"
)

// scramMaxMessage bounds every SCRAM message either side reads. RFC 5802
// sets no limit; real messages are 60 to 250 bytes (a long user name and
// authzid, a 64-byte channel binding, a SHA-512 proof), so 4 KiB leaves
// ample room while keeping a hostile peer from making us buffer, parse or
// base64-decode more.
const scramMaxMessage = 4096

// scramMinIterations is the least iteration count a client accepts: RFC
// 7677, Section 4 and RFC 5802, Section 5.1 ask servers for at least 4096.
// Fewer would let an eavesdropper or a fake server test passwords cheaply.
const scramMinIterations = 4096

// scramMaxIterations caps the PBKDF2 work a hostile server can demand of a
// client (RFC 5802, Section 9): about 0.2 s per million iterations, and
// crypto/pbkdf2 cannot be interrupted. ClientConfig.MaxIterations
// overrides it.
const scramMaxIterations = 1_000_000

// scramDefaultIterations is the iteration count of NewSCRAMCredentials and
// of the fake credentials of unknown users when the configuration names
// none: the RFC 7677 minimum, which is also Dovecot's and gsasl's default.
const scramDefaultIterations = 4096

// scramNonceBytes is the number of random bytes in each side's nonce (24
// base64 characters): 144 bits make a repeated nonce, and with it a
// replayable exchange, negligible.
const scramNonceBytes = 18

// scramSaltBytes is the length of the salts NewSCRAMCredentials makes and of
// the fake salt of unknown users: 128 bits, the least that FIPS 140 PBKDF2
// accepts, and what Dovecot uses.
const scramSaltBytes = 16

// scramPadRoom is the free space kept in front of the AuthMessage in a
// server exchange's buffer, where the HMAC key pad (at most the 128-byte SHA-512
// block) is written so that K^ipad || AuthMessage is hashed in one call,
// without a copy or a heap-allocated hash.
const scramPadRoom = 128

// Server error values (RFC 5802, Section 7, server-error-value).
const (
	scramErrInvalidEncoding          = "invalid-encoding"
	scramErrExtensionsNotSupported   = "extensions-not-supported"
	scramErrInvalidProof             = "invalid-proof"
	scramErrChannelBindingsDontMatch = "channel-bindings-dont-match"
	scramErrServerDoesSupportCB      = "server-does-support-channel-binding"
	scramErrCBNotSupported           = "channel-binding-not-supported"
	scramErrUnsupportedCBType        = "unsupported-channel-binding-type"
	scramErrInvalidUsernameEncoding  = "invalid-username-encoding"
	scramErrOther                    = "other-error"
)

// SCRAMError is a SCRAM failure named by its server-error-value (RFC 5802,
// Section 7), such as "invalid-proof" or "channel-bindings-dont-match".
//
// A SCRAM Client returns it when the server's final message is e=...; a
// SCRAM Server of this package returns it for every failure the exchange
// itself detects. The server does not send e= on the wire: go-imap and
// go-smtp cannot carry data with a failure, so the protocol layer sends its
// own failure reply, and an application that wants to tell the client may
// use Value. A server never uses the value "unknown-user": an unknown user
// fails with "invalid-proof" after the same exchange as a wrong password.
//
// errors.Is reports ErrAuthFailed for invalid-proof, unknown-user,
// other-error and unknown values; ErrChannelBinding for the four
// channel-binding values; ErrMalformed for invalid-encoding,
// extensions-not-supported and invalid-username-encoding.
type SCRAMError struct {
	// Value is the server-error-value, e.g. "invalid-proof".
	Value string
	err   error // what went wrong on our side; nil for a peer's e=
}

// Error returns a message naming Value. A Value sent by a peer is quoted
// and truncated.
func (e *SCRAMError) Error() string {
	if e.err != nil {
		return e.err.Error() + " (e=" + e.Value + ")"
	}
	return "sasl: SCRAM server error e=" + strconv.Quote(truncate(e.Value, 64))
}

// Unwrap returns the detailed cause, if any.
func (e *SCRAMError) Unwrap() error { return e.err }

// Is maps Value to the package's sentinel errors.
func (e *SCRAMError) Is(target error) bool {
	switch e.Value {
	case scramErrChannelBindingsDontMatch, scramErrServerDoesSupportCB,
		scramErrCBNotSupported, scramErrUnsupportedCBType:
		return target == ErrChannelBinding
	case scramErrInvalidEncoding, scramErrExtensionsNotSupported, scramErrInvalidUsernameEncoding:
		return target == ErrMalformed
	case "no-resources":
		return false
	}
	return target == ErrAuthFailed
}

func scramFail(value string, err error) *SCRAMError { return &SCRAMError{Value: value, err: err} }

// scramHash is one of the three SCRAM hash functions.
type scramHash uint8

const (
	scramSHA1 scramHash = iota + 1
	scramSHA256
	scramSHA512
)

func (h scramHash) size() int {
	switch h {
	case scramSHA1:
		return sha1.Size
	case scramSHA256:
		return sha256.Size
	}
	return sha512.Size
}

func (h scramHash) blockSize() int {
	if h == scramSHA512 {
		return sha512.BlockSize
	}
	return sha256.BlockSize // = sha1.BlockSize
}

func (h scramHash) newHash() hash.Hash {
	switch h {
	case scramSHA1:
		return sha1.New()
	case scramSHA256:
		return sha256.New()
	}
	return sha512.New()
}

// sum hashes data into out with the one-shot functions, which allocate
// nothing, and returns out[:size].
func (h scramHash) sum(out *[64]byte, data []byte) []byte {
	switch h {
	case scramSHA1:
		s := sha1.Sum(data)
		return out[:copy(out[:], s[:])]
	case scramSHA256:
		s := sha256.Sum256(data)
		return out[:copy(out[:], s[:])]
	}
	s := sha512.Sum512(data)
	return out[:copy(out[:], s[:])]
}

// hmacPadded computes HMAC(key, msg) (RFC 2104) for msg = buf[scramPadRoom:]
// into out. It writes key XOR ipad into the block in front of msg, so the
// inner hash is one call over contiguous memory. len(key) <= blockSize.
func (h scramHash) hmacPadded(out *[64]byte, key, buf []byte) []byte {
	bs := h.blockSize()
	pad := buf[scramPadRoom-bs : scramPadRoom]
	var ob [sha512.BlockSize + sha512.Size]byte
	copy(ob[:], key)
	// XOR a word at a time: key XOR ipad into the room, key XOR opad in
	// place. 0x36 and 0x5c repeated are RFC 2104's ipad and opad.
	for i := 0; i < bs; i += 8 {
		w := binary.LittleEndian.Uint64(ob[i:])
		binary.LittleEndian.PutUint64(pad[i:], w^0x3636363636363636)
		binary.LittleEndian.PutUint64(ob[i:], w^0x5c5c5c5c5c5c5c5c)
	}
	inner := h.sum(out, buf[scramPadRoom-bs:])
	m := copy(ob[bs:], inner)
	return h.sum(out, ob[:bs+m])
}

// hmac computes HMAC(key, msg) with crypto/hmac, for the paths that are
// not per-exchange (key derivation, fake salts).
func (h scramHash) hmac(key, msg []byte) []byte {
	m := hmac.New(h.newHash, key)
	m.Write(msg)
	return m.Sum(nil)
}

// scramMechanism resolves a SCRAM mechanism name (case-insensitive).
func scramMechanism(mech string) (name string, h scramHash, base string, plus bool, ok bool) {
	names := [...]string{SCRAMSHA1, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA256Plus, SCRAMSHA512, SCRAMSHA512Plus}
	for _, n := range names {
		if n == mech { // the usual case: the canonical name
			name = n
			break
		}
	}
	for _, n := range names {
		if name == "" && strings.EqualFold(n, mech) {
			name = n
		}
	}
	if name == "" {
		return "", 0, "", false, false
	}
	base, plus = strings.CutSuffix(name, "-PLUS")
	switch base {
	case SCRAMSHA1:
		h = scramSHA1
	case SCRAMSHA256:
		h = scramSHA256
	default:
		h = scramSHA512
	}
	return name, h, base, plus, true
}

// scramAppendNonce appends a fresh nonce: scramNonceBytes from crypto/rand
// in standard base64, which is printable and has no comma (RFC 5802,
// Section 5.1). It draws into a stack array, so it allocates nothing.
func scramAppendNonce(dst []byte) []byte {
	var b [scramNonceBytes]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	return base64.StdEncoding.AppendEncode(dst, b[:])
}

// scramKeys are the keys a client derives from a password, salt and count,
// with the HMAC midstates of StoredKey and ServerKey: the marshaled hash
// states after absorbing key XOR ipad and key XOR opad (RFC 2104). An
// exchange resumes from them and hashes only the AuthMessage, two blocks
// fewer per HMAC. They are read-only once made.
type scramKeys struct {
	clientKey, storedKey, serverKey [64]byte
	storedIn, storedOut             []byte
	serverIn, serverOut             []byte
}

// scramDeriveKeys runs PBKDF2 (Hi, RFC 5802, Section 2.2) and derives
// ClientKey, StoredKey and ServerKey (Section 3). password is already
// SASLprep'd.
func scramDeriveKeys(h scramHash, password string, salt []byte, iter int) (scramKeys, error) {
	var k scramKeys
	sp, err := scramPBKDF2(h, password, salt, iter)
	if err != nil {
		return k, err
	}
	ck := h.hmac(sp, []byte("Client Key"))
	copy(k.clientKey[:], ck)
	h.sum(&k.storedKey, ck)
	copy(k.serverKey[:], h.hmac(sp, []byte("Server Key")))
	clear(sp)
	size := h.size()
	k.storedIn, k.storedOut = h.midstate(k.storedKey[:size], 0x36), h.midstate(k.storedKey[:size], 0x5c)
	k.serverIn, k.serverOut = h.midstate(k.serverKey[:size], 0x36), h.midstate(k.serverKey[:size], 0x5c)
	return k, nil
}

// midstate returns the marshaled state of h after one block of key XOR pad.
func (h scramHash) midstate(key []byte, pad byte) []byte {
	var blk [sha512.BlockSize]byte
	copy(blk[:], key)
	bs := h.blockSize()
	for i := range bs {
		blk[i] ^= pad
	}
	d := h.newHash()
	d.Write(blk[:bs])
	st, err := d.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("sasl: SHA state does not marshal: " + err.Error()) // unreachable: stdlib hashes do
	}
	return st
}

// hmacResume computes HMAC(key, msg) from key's midstates (see scramKeys)
// with d, into out[:0].
func hmacResume(d hash.Hash, out, scratch *[64]byte, in, outer, msg []byte) []byte {
	u := d.(encoding.BinaryUnmarshaler)
	if u.UnmarshalBinary(in) != nil {
		panic("sasl: SHA state does not unmarshal") // unreachable: made by midstate
	}
	d.Write(msg)
	inner := d.Sum(scratch[:0])
	if u.UnmarshalBinary(outer) != nil {
		panic("sasl: SHA state does not unmarshal") // unreachable
	}
	d.Write(inner)
	return d.Sum(out[:0])
}

// SCRAMCache remembers the keys SCRAM clients derived from a password, so a
// client that reconnects to a server that sends the same salt and
// iteration count skips PBKDF2 (RFC 5802, Section 5.1 allows a client to
// cache ClientKey and ServerKey). Set ClientConfig.SCRAMCache to share one
// between the connections of a program. The zero value is ready to use.
//
// A SCRAMCache holds password-equivalent keys, and the passwords of the
// clients that use it, as their ClientConfigs do; it holds at most 128
// entries and forgets an arbitrary one when full. It is safe for concurrent
// use: it is the one value of this package with a lock, because it is the
// one piece of state that outlives a connection.
type SCRAMCache struct {
	mu      sync.Mutex
	entries map[string]scramKeys
}

// scramMaxCacheEntries bounds a SCRAMCache, so that a client talking to a
// server that changes salts, or to many servers, does not grow without end.
const scramMaxCacheEntries = 128

// scramCacheKey writes the key of (hash, iterations, salt, password) into
// dst, length-prefixed so that no two tuples share a key.
func scramCacheKey(dst []byte, h scramHash, password string, salt []byte, iter int) []byte {
	dst = append(dst, byte(h), byte(iter>>24), byte(iter>>16), byte(iter>>8), byte(iter),
		byte(len(salt)>>8), byte(len(salt)))
	dst = append(dst, salt...)
	return append(dst, password...)
}

func (c *SCRAMCache) get(key []byte) (scramKeys, bool) {
	c.mu.Lock()
	k, ok := c.entries[string(key)] // no allocation: map index by string(bytes)
	c.mu.Unlock()
	return k, ok
}

func (c *SCRAMCache) put(key []byte, k scramKeys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]scramKeys)
	}
	if len(c.entries) >= scramMaxCacheEntries {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[string(key)] = k
}

// NewSCRAMClient returns a Client for the SCRAM mechanism mech (one of the
// six SCRAM names, case-insensitive) with cfg's Username, Password and
// Authzid, which are prepared with SASLprep (RFC 5802, Section 5.1; see
// [SASLprep]). offered is the server's mechanism list, as advertised; conn
// describes the connection. Most clients get theirs from
// [ClientConfig.NewClient].
//
// Channel binding (RFC 5802, Section 6): a -PLUS mech binds to the TLS
// channel with cfg.ChannelBindingType, or by default tls-exporter on TLS 1.3
// and tls-unique on TLS 1.2 (tls-exporter if tls-unique is missing), and
// fails if conn cannot provide it. A non-PLUS mech on a TLS connection that
// could bind sends the gs2 flag "y" when offered does not contain its -PLUS
// variant, so that a server that does support -PLUS detects a
// man-in-the-middle that stripped it from the list; it sends "n" when the
// server offered -PLUS (the caller then chose not to bind), without TLS,
// and when offered is nil (unknown).
//
// The client refuses, before computing anything, an iteration count below
// 4096 or above cfg.MaxIterations (default 1,000,000), a server nonce that
// does not extend its own, and a mandatory extension (m=). It always checks
// the server's signature (v=) in constant time, so success means the
// server knows the password's keys; a server's e= becomes a *SCRAMError.
// With cfg.SCRAMCache set, the keys derived for a salt and count are reused.
//
// The Client is single-use and not safe for concurrent use.
func newSCRAMClient(mech string, cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return newSCRAMClientFor(mech, cfg, conn, offered)
}

func newSCRAMClientFor(mech string, cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	name, h, base, plus, ok := scramMechanism(mech)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a SCRAM mechanism", ErrUnsupportedMechanism, truncate(mech, 32))
	}
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	if conn == nil {
		conn = &ConnState{}
	}
	c := &scramClient{mech: name, hash: h, cache: cfg.SCRAMCache, maxIter: cfg.MaxIterations}
	if c.maxIter <= 0 {
		c.maxIter = scramMaxIterations
	}
	var err error
	if c.user, err = saslprepQuery(cfg.Username); err != nil || c.user == "" {
		return nil, fmt.Errorf("%w: SCRAM needs a user name that SASLprep accepts", ErrMalformed)
	}
	if c.pass, err = SASLprep(cfg.Password); err != nil || c.pass == "" {
		return nil, fmt.Errorf("%w: SCRAM needs a password that SASLprep accepts", ErrMalformed)
	}
	if cfg.Authzid != "" {
		if c.authzid, err = saslprepQuery(cfg.Authzid); err != nil || c.authzid == "" {
			return nil, fmt.Errorf("%w: SCRAM authzid refused by SASLprep", ErrMalformed)
		}
	}

	// gs2-header = gs2-cbind-flag "," [ authzid ] ","  (RFC 5802, Section 7)
	var gs2Buf [64]byte
	gs2 := gs2Buf[:0]
	var cbData []byte
	switch typ := scramClientCBType(cfg, conn); {
	case plus:
		if !conn.isTLS() {
			return nil, fmt.Errorf("%w: %s needs TLS", ErrNeedsTLS, name)
		}
		if cbData, err = conn.ChannelBinding(typ); err != nil {
			return nil, fmt.Errorf("sasl: %s: %w", name, err)
		}
		gs2 = append(append(gs2, "p="...), typ...)
	case conn.isTLS() && offered != nil && !containsFold(offered, base+"-PLUS") && scramCanBind(conn, typ):
		// The client could bind but the server did not offer -PLUS: say
		// so, and a server that does support it fails the exchange
		// (downgrade by a man in the middle, RFC 5802, Section 6).
		gs2 = append(gs2, 'y')
	default:
		gs2 = append(gs2, 'n')
	}
	gs2 = append(gs2, ',')
	if c.authzid != "" {
		gs2 = scramAppendName(append(gs2, "a="...), c.authzid)
	}
	gs2 = append(gs2, ',')
	// c= carries base64(gs2-header || cbind-data), cbind-data only for
	// p=. One allocation holds the gs2-header and the c= value.
	g := len(gs2)
	hdr := make([]byte, g, g+base64.StdEncoding.EncodedLen(g+len(cbData)))
	copy(hdr, gs2)
	c.gs2 = hdr[:g:g]
	c.cbind = base64.StdEncoding.AppendEncode(hdr, append(gs2, cbData...))[g:]
	return c, nil
}

// scramClientCBType is the channel-binding type a client uses on conn.
func scramClientCBType(cfg *ClientConfig, conn *ConnState) string {
	if cfg.ChannelBindingType != "" {
		return cfg.ChannelBindingType
	}
	// tls-exporter is the binding of TLS 1.3 (RFC 9266). On TLS 1.2
	// tls-unique is RFC 5802's mandatory default and what servers that
	// predate RFC 9266 (Cyrus, older gsasl) understand.
	if conn.isTLS() && conn.tls.Version <= tls.VersionTLS12 && conn.tls.TLSUnique != nil {
		return tlsutil.TLSUnique
	}
	return tlsutil.TLSExporter
}

func scramCanBind(conn *ConnState, typ string) bool {
	_, err := conn.ChannelBinding(typ)
	return err == nil
}

type scramClientState uint8

const (
	scramClientNew scramClientState = iota
	scramClientSentFirst
	scramClientSentFinal
	scramClientDone
)

// scramClient is one client exchange.
type scramClient struct {
	mech              string
	hash              scramHash
	user, pass        string // SASLprep'd
	authzid           string
	gs2               []byte // gs2-header
	cbind             []byte // the c= value
	maxIter           int
	cache             *SCRAMCache
	nonce             string // the client nonce; tests set it, else random
	state             scramClientState
	buf               []byte // client-first-message [pad room] AuthMessage [",p=" proof]
	amOff             int    // where the AuthMessage starts in buf
	digest            hash.Hash
	sig, scratch      [64]byte // HMAC outputs; fields, so Sum does not allocate
	saltBuf           [96]byte // the decoded salt, if it fits
	serverSig         [64]byte
	nonceOff, nonceLn int  // the client nonce in buf
	verified          bool // the server's signature checked out
}

var _ FinishedClient = (*scramClient)(nil)

// Finished returns nil once the server-final-message's signature was
// verified, and an error wrapping ErrServerNotVerified before.
func (c *scramClient) Finished() error {
	if !c.verified {
		return fmt.Errorf("%w: %s: no valid server signature (v=) was received", ErrServerNotVerified, c.mech)
	}
	return nil
}

// Start returns the client-first-message (RFC 5802, Section 7).
func (c *scramClient) Start() (string, []byte, error) {
	if c.state != scramClientNew {
		return "", nil, fmt.Errorf("%w: SCRAM client already started", ErrUnexpectedServerChallenge)
	}
	c.state = scramClientSentFirst
	// One buffer holds the client-first-message that is returned, then
	// the AuthMessage, which starts with a copy of
	// client-first-message-bare = username "," nonce. The returned
	// message is never written again.
	c.buf = make([]byte, 0, 2*(len(c.gs2)+3*len(c.user))+len(c.cbind)+384)
	c.buf = append(c.buf, c.gs2...)
	bareOff := len(c.buf)
	c.buf = append(c.buf, "n="...)
	c.buf = scramAppendName(c.buf, c.user)
	c.buf = append(c.buf, ",r="...)
	nonceOff := len(c.buf)
	if c.nonce != "" {
		c.buf = append(c.buf, c.nonce...)
	} else {
		c.buf = scramAppendNonce(c.buf)
	}
	irLen := len(c.buf)
	c.amOff = irLen
	c.buf = append(c.buf, c.buf[bareOff:irLen]...)
	c.nonceOff = c.amOff + nonceOff - bareOff
	c.nonceLn = irLen - nonceOff
	return c.mech, c.buf[:irLen:irLen], nil
}

// Next answers the server-first-message with the client-final-message, and
// checks the server-final-message.
func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	switch c.state {
	case scramClientSentFirst:
		c.state = scramClientDone // unless it succeeds
		resp, err := c.clientFinal(challenge)
		if err != nil {
			return nil, err
		}
		c.state = scramClientSentFinal
		return resp, nil
	case scramClientSentFinal:
		c.state = scramClientDone
		return c.verifyServerFinal(challenge)
	}
	return nil, fmt.Errorf("%w: SCRAM exchange is not waiting for a challenge", ErrUnexpectedServerChallenge)
}

func (c *scramClient) clientFinal(serverFirst []byte) ([]byte, error) {
	if len(serverFirst) > scramMaxMessage {
		return nil, fmt.Errorf("%w: SCRAM server-first-message longer than %d bytes", ErrTooLarge, scramMaxMessage)
	}
	if v, ok := bytes.CutPrefix(serverFirst, []byte("e=")); ok && len(v) > 0 {
		// Not in RFC 5802's grammar, but servers (xdg-go/scram, for an
		// unknown user or channel-binding type) fail this way.
		v, _, _ = bytes.Cut(v, []byte(","))
		return nil, &SCRAMError{Value: string(v)}
	}
	m, err := scramParseServerFirst(serverFirst)
	if err != nil {
		return nil, err
	}
	if m.mext {
		return nil, fmt.Errorf("%w: SCRAM server demands an unsupported extension", ErrMalformed)
	}
	// Not secret: both nonces travel in the clear. The server's must
	// extend ours, or the exchange could be a replay (RFC 5802, Section 5.1).
	cnonce := c.buf[c.nonceOff : c.nonceOff+c.nonceLn]
	if len(m.nonce) <= len(cnonce) || !bytes.Equal(m.nonce[:len(cnonce)], cnonce) {
		return nil, fmt.Errorf("%w: SCRAM server nonce does not extend the client nonce", ErrAuthFailed)
	}
	// The count is checked before any PBKDF2 work (RFC 5802, Section 9).
	iter, err := scramParseIter(m.iter, scramMinIterations, c.maxIter)
	if err != nil {
		return nil, err
	}
	dst := c.saltBuf[:]
	if n := base64.StdEncoding.DecodedLen(len(m.salt)); n > len(dst) {
		dst = make([]byte, n)
	}
	salt, err := scramDecodeBase64(dst, m.salt, -1)
	if err != nil || len(salt) == 0 {
		return nil, scramMalformed("bad salt")
	}
	keys, err := c.keys(salt, iter)
	if err != nil {
		return nil, err
	}

	// AuthMessage = client-first-message-bare "," server-first-message ","
	//               client-final-message-without-proof
	size := c.hash.size()
	c.buf = slices.Grow(c.buf, 2+len(serverFirst)+3+len(c.cbind)+3+len(m.nonce)+3+base64.StdEncoding.EncodedLen(size))
	c.buf = append(c.buf, ',')
	c.buf = append(c.buf, serverFirst...)
	c.buf = append(c.buf, ',')
	start := len(c.buf)
	c.buf = append(c.buf, "c="...)
	c.buf = append(c.buf, c.cbind...)
	c.buf = append(c.buf, ",r="...)
	c.buf = append(c.buf, m.nonce...)
	// ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)
	c.digest = c.hash.newHash()
	proof := hmacResume(c.digest, &c.sig, &c.scratch, keys.storedIn, keys.storedOut, c.buf[c.amOff:])
	for i := range proof {
		proof[i] ^= keys.clientKey[i]
	}
	c.buf = append(c.buf, ",p="...)
	c.buf = base64.StdEncoding.AppendEncode(c.buf, proof)
	// ServerSignature = HMAC(ServerKey, AuthMessage), over the AuthMessage
	// only: the proof appended after it is outside the slice hashed.
	end := len(c.buf)
	amEnd := end - 3 - base64.StdEncoding.EncodedLen(size)
	hmacResume(c.digest, &c.serverSig, &c.scratch, keys.serverIn, keys.serverOut, c.buf[c.amOff:amEnd])
	return c.buf[start:end:end], nil
}

// keys returns the keys for salt and iter, from the cache if possible.
func (c *scramClient) keys(salt []byte, iter int) (scramKeys, error) {
	var kb [160]byte
	var key []byte
	if c.cache != nil {
		key = scramCacheKey(kb[:0], c.hash, c.pass, salt, iter)
		if k, ok := c.cache.get(key); ok {
			return k, nil
		}
	}
	k, err := scramDeriveKeys(c.hash, c.pass, salt, iter)
	if err != nil {
		return k, err
	}
	if c.cache != nil {
		c.cache.put(key, k)
	}
	return k, nil
}

func (c *scramClient) verifyServerFinal(msg []byte) ([]byte, error) {
	if len(msg) > scramMaxMessage {
		return nil, fmt.Errorf("%w: SCRAM server-final-message longer than %d bytes", ErrTooLarge, scramMaxMessage)
	}
	v, e, err := scramParseServerFinal(msg)
	if err != nil {
		return nil, err
	}
	if e != nil {
		return nil, &SCRAMError{Value: string(e)}
	}
	var got [sha512.Size + 2]byte // DecodedLen of a padded SHA-512 value
	size := c.hash.size()
	sig, err := scramDecodeBase64(got[:], v, size)
	// Constant time: an early exit would let a fake server learn, byte by
	// byte, the signature only the holder of ServerKey can compute.
	if err != nil || !hmac.Equal(sig, c.serverSig[:size]) {
		return nil, fmt.Errorf("%w: SCRAM server signature is wrong: the server does not know the password", ErrAuthFailed)
	}
	c.verified = true
	return []byte{}, nil
}

func newSCRAMServer(env *serverEnv, mech string) IdentityServer {
	name, h, base, plus, _ := scramMechanism(mech)
	return &scramServer{serverEnv: env, mech: name, base: base, hash: h, plus: plus}
}

func scramServerCanBind(conn *ConnState) bool {
	// Cheapest first: tls-unique is a field, tls-exporter a key derivation.
	return scramCanBind(conn, tlsutil.TLSUnique) || scramCanBind(conn, tlsutil.TLSServerEndPoint) ||
		scramCanBind(conn, tlsutil.TLSExporter)
}

type scramServerState uint8

const (
	scramServerNew scramServerState = iota
	scramServerWaitFirst
	scramServerSentFirst
	scramServerSentFinal
	scramServerDone
)

// scramServer is one server exchange.
type scramServer struct {
	*serverEnv
	mech           string // as negotiated, e.g. "SCRAM-SHA-256-PLUS"
	base           string // without -PLUS: the name SCRAMLookup gets
	hash           scramHash
	plus           bool
	state          scramServerState
	nonce          string // the server's nonce part; tests set it, else random
	user, authzid  string
	cbind          []byte // the c= value the client must send
	cbindBuf       [64]byte
	cbindAlt       []byte // on TLS 1.2 tls-exporter: the value with no exporter context, also accepted
	creds          SCRAMCredentials
	fake           bool   // unknown user: fail at the proof whatever it is
	noCreds        bool   // the user exists without keys for this hash
	buf            []byte // [pad room] AuthMessage ["v=" signature]
	nonceOff, nLen int    // the combined nonce in buf
}

var _ IdentityServer = (*scramServer)(nil)

// Next runs the server side (RFC 5802, Section 5): client-first-message →
// server-first-message, client-final-message → server-final-message (v=),
// empty response → done.
func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case scramServerNew, scramServerWaitFirst:
		if response == nil {
			if s.state == scramServerWaitFirst {
				s.state = scramServerDone // an error ends the exchange
				break
			}
			// No initial response: ask for the client-first-message.
			s.state = scramServerWaitFirst
			return []byte{}, false, nil
		}
		s.state = scramServerDone // unless it succeeds
		chal, err := s.serverFirst(response)
		if err != nil {
			return nil, true, err
		}
		s.state = scramServerSentFirst
		return chal, false, nil
	case scramServerSentFirst:
		s.state = scramServerDone
		chal, err := s.serverFinal(response)
		if err != nil {
			return nil, true, err
		}
		s.state = scramServerSentFinal
		return chal, false, nil
	case scramServerSentFinal:
		s.state = scramServerDone
		if len(response) != 0 {
			return nil, true, fmt.Errorf("%w: SCRAM client sent data after the server-final-message", ErrMalformed)
		}
		return nil, true, s.succeed(Identity{Mechanism: s.mech, Username: s.user, Authzid: s.authzid})
	}
	return nil, true, fmt.Errorf("%w: SCRAM exchange is over", ErrUnexpectedClientResponse)
}

func (s *scramServer) serverFirst(msg []byte) ([]byte, error) {
	if len(msg) > scramMaxMessage {
		return nil, fmt.Errorf("%w: SCRAM client-first-message longer than %d bytes", ErrTooLarge, scramMaxMessage)
	}
	m, err := scramParseClientFirst(msg)
	if err != nil {
		return nil, scramFail(scramErrInvalidEncoding, err)
	}
	if m.mext {
		return nil, scramFail(scramErrExtensionsNotSupported, scramMalformed("mandatory extension m= is not supported"))
	}
	var cbData []byte
	switch {
	case s.plus && m.cbFlag != 'p':
		return nil, scramFail(scramErrServerDoesSupportCB,
			fmt.Errorf("%w: SCRAM client chose %s but does not bind", ErrChannelBinding, s.mech))
	case !s.plus && m.cbFlag == 'p':
		return nil, scramFail(scramErrCBNotSupported,
			fmt.Errorf("%w: SCRAM client binds on %s, which has no channel binding", ErrChannelBinding, s.mech))
	case m.cbFlag == 'y' && s.offersPlus():
		// The client could bind but did not see -PLUS, which we do offer
		// on this connection: someone removed it from the list.
		return nil, scramFail(scramErrServerDoesSupportCB,
			fmt.Errorf("%w: SCRAM client did not see %s-PLUS: downgrade", ErrChannelBinding, s.base))
	case m.cbFlag == 'p':
		typ := string(m.cbName)
		if typ != tlsutil.TLSExporter && typ != tlsutil.TLSUnique && typ != tlsutil.TLSServerEndPoint {
			return nil, scramFail(scramErrUnsupportedCBType,
				fmt.Errorf("%w: SCRAM channel-binding type %q is unknown", ErrChannelBinding, truncate(typ, 32)))
		}
		if cbData, err = s.conn.ChannelBinding(typ); err != nil {
			return nil, scramFail(scramErrUnsupportedCBType, fmt.Errorf("%w: %w", ErrChannelBinding, err))
		}
		if cs := s.conn.TLS(); typ == tlsutil.TLSExporter && cs.Version == tls.VersionTLS12 {
			// RFC 9266 exports with a zero-length context; xdg-go/scram
			// (and so Go clients built on it) with none, which differs
			// on TLS 1.2 only. Both come from this session's master
			// secret, so accepting either still binds to this channel.
			if alt, err := tlsutil.ExporterWithoutContext(cs); err == nil {
				s.cbindAlt = base64.StdEncoding.AppendEncode(nil, append(m.gs2[:len(m.gs2):len(m.gs2)], alt...))
			}
		}
	}
	if s.user, err = scramDecodeName(m.user); err != nil {
		return nil, scramFail(scramErrInvalidUsernameEncoding, err)
	}
	if m.authzid != nil {
		if s.authzid, err = scramDecodeName(m.authzid); err != nil {
			return nil, scramFail(scramErrInvalidEncoding, err)
		}
	}
	if err := s.lookup(); err != nil {
		return nil, err
	}
	if len(m.gs2) == 3 && cbData == nil {
		// "n,," or "y,,": the usual gs2-header, base64 "biws" or "eSws".
		c := "biws"
		if m.gs2[0] == 'y' {
			c = "eSws"
		}
		s.cbind = append(s.cbindBuf[:0], c...)
	} else {
		s.cbind = base64.StdEncoding.AppendEncode(s.cbindBuf[:0], append(m.gs2[:len(m.gs2):len(m.gs2)], cbData...))
	}

	// server-first-message = nonce "," salt "," iteration-count
	saltLen := base64.StdEncoding.EncodedLen(len(s.creds.Salt))
	n := scramPadRoom + len(m.bare) + 1 + // client-first-message-bare ","
		2 + len(m.nonce) + 24 + 3 + saltLen + 3 + 10 + 1 + // server-first-message ","
		2 + len(s.cbind) + 3 + len(m.nonce) + 24 + 64 + // client-final-message-without-proof, room for extensions
		2 + base64.StdEncoding.EncodedLen(s.hash.size()) // "v=" ServerSignature
	s.buf = make([]byte, scramPadRoom, n) // pointer-free: cheap to allocate and scan
	s.buf = append(s.buf, m.bare...)
	s.buf = append(s.buf, ',')
	start := len(s.buf)
	s.buf = append(s.buf, "r="...)
	s.nonceOff = len(s.buf)
	s.buf = append(s.buf, m.nonce...)
	if s.nonce != "" {
		s.buf = append(s.buf, s.nonce...)
	} else {
		s.buf = scramAppendNonce(s.buf)
	}
	s.nLen = len(s.buf) - s.nonceOff
	s.buf = append(s.buf, ",s="...)
	s.buf = base64.StdEncoding.AppendEncode(s.buf, s.creds.Salt)
	s.buf = append(s.buf, ",i="...)
	s.buf = strconv.AppendInt(s.buf, int64(s.creds.Iterations), 10)
	end := len(s.buf)
	// The full slice expression keeps a caller that appends to the
	// challenge from writing into the AuthMessage.
	return s.buf[start:end:end], nil
}

// lookup fetches the user's credentials, or makes the fake ones of an
// unknown user. The fake credentials are made for every user, known or
// not, and discarded for a known one: the same work on both paths (one
// HMAC-SHA256 for the salt), so the time of the server-first-message does
// not tell who exists (issue 8, defect 6; before, the unknown path cost
// three HMACs more, which a t-test separated at |t| > 700).
func (s *scramServer) lookup() error {
	fake := scramFakeCredentials(s.cfg, s.hash, s.base, s.user)
	var err error
	if s.cfg.SCRAM == nil {
		err = ErrUnknownUser
	} else {
		s.creds, err = s.cfg.SCRAM.LookupSCRAM(s.ctx, s.base, s.user)
	}
	switch {
	case errors.Is(err, ErrUnknownUser):
		s.creds, s.fake = fake, true
		s.noCreds = errors.Is(err, ErrNoCredentials)
		return nil
	case err != nil:
		return err // the store's error, unchanged
	}
	size := s.hash.size()
	if len(s.creds.StoredKey) != size || len(s.creds.ServerKey) != size ||
		len(s.creds.Salt) == 0 || s.creds.Iterations < 1 {
		return fmt.Errorf("sasl: stored %s credentials are invalid", s.base)
	}
	return nil
}

// scramFakeCredentials makes the credentials of a user that does not
// exist: the salt is HMAC-SHA256(secret, mech || 0 || username || "salt"),
// so it is the same at every attempt, as a real user's is, and cannot be
// told from one. The keys are zero: the exchange fails at the proof
// whatever they are, and computing with zero keys costs what computing
// with real ones does.
func scramFakeCredentials(cfg *ServerConfig, h scramHash, base, user string) SCRAMCredentials {
	// A ServerSet offers SCRAM only with a SCRAMSecret (scramRow); a nil
	// one reaches here only in the package's own tests.
	secret := cfg.SCRAMSecret
	var buf [128]byte
	msg := append(append(append(append(buf[:0], base...), 0), user...), "salt"...)
	mac := hmac.New(sha256.New, secret)
	mac.Write(msg)
	var sum [sha256.Size]byte
	keys := make([]byte, scramSaltBytes+2*h.size()) // one allocation: salt, StoredKey, ServerKey
	copy(keys, mac.Sum(sum[:0])[:scramSaltBytes])
	return SCRAMCredentials{
		Salt:       keys[:scramSaltBytes:scramSaltBytes],
		Iterations: cfg.scramFakeIterations(),
		StoredKey:  keys[scramSaltBytes : scramSaltBytes+h.size() : scramSaltBytes+h.size()],
		ServerKey:  keys[scramSaltBytes+h.size():],
	}
}

// scramFakeIterations is the iteration count given to users the store
// does not hold: ServerConfig.SCRAMIterations, or 4096 if that is 0.
func (cfg *ServerConfig) scramFakeIterations() int {
	if cfg.SCRAMIterations <= 0 {
		return scramDefaultIterations
	}
	return min(cfg.SCRAMIterations, scramMaxStoredIterations)
}

// offersPlus reports whether this server would offer the -PLUS variant of
// its mechanism on this connection: enabled in the configuration and
// channel-binding data available.
func (s *scramServer) offersPlus() bool {
	plus := s.base + "-PLUS"
	if s.cfg.Mechanisms != nil && !containsFold(s.cfg.Mechanisms, plus) {
		return false
	}
	return scramServerCanBind(s.conn)
}

func (s *scramServer) serverFinal(msg []byte) ([]byte, error) {
	if len(msg) > scramMaxMessage {
		return nil, fmt.Errorf("%w: SCRAM client-final-message longer than %d bytes", ErrTooLarge, scramMaxMessage)
	}
	m, err := scramParseClientFinal(msg)
	if err != nil {
		return nil, scramFail(scramErrInvalidEncoding, err)
	}
	// Constant time: for -PLUS the expected value holds TLS-derived data
	// (tls-unique, tls-exporter) that a timing probe should not reveal.
	// Both forms are always compared, so which one matched takes no time
	// to tell.
	match := hmac.Equal(m.cbind, s.cbind)
	alt := s.cbindAlt != nil && hmac.Equal(m.cbind, s.cbindAlt)
	if !match && !alt {
		return nil, scramFail(scramErrChannelBindingsDontMatch,
			fmt.Errorf("%w: SCRAM channel-binding data differ from this connection's", ErrChannelBinding))
	}
	// Not secret: the combined nonce was sent in the clear. It must be
	// ours, or an old client-final-message could be replayed.
	if !bytes.Equal(m.nonce, s.buf[s.nonceOff:s.nonceOff+s.nLen]) {
		return nil, scramFail(scramErrOther, scramMalformed("client-final-message nonce is not the exchange's"))
	}
	size := s.hash.size()
	var proofBuf [sha512.Size + 2]byte // DecodedLen of a padded SHA-512 value
	proof, err := scramDecodeBase64(proofBuf[:], m.proof, size)
	if err != nil {
		return nil, scramFail(scramErrInvalidEncoding, err)
	}
	s.buf = append(s.buf, ',')
	s.buf = append(s.buf, m.withoutProof...)
	amEnd := len(s.buf)
	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the
	// client knows the password if H(ClientKey) = StoredKey.
	var sig, storedKey, serverSig [64]byte
	clientKey := s.hash.hmacPadded(&sig, s.creds.StoredKey, s.buf)
	for i := range clientKey {
		clientKey[i] ^= proof[i]
	}
	s.hash.sum(&storedKey, clientKey)
	// Computed before the verdict, so success and failure cost the same.
	ss := s.hash.hmacPadded(&serverSig, s.creds.ServerKey, s.buf)
	// Constant time: the proof is attacker-chosen, and an early exit
	// would tell them how many leading bytes of H(ClientKey) they got
	// right. A fake (unknown) user fails even on a match.
	if !hmac.Equal(storedKey[:size], s.creds.StoredKey) || s.fake {
		if s.noCreds {
			// The peer sees invalid-proof like any failure; the log
			// tells the operator the user has no keys for this hash.
			return nil, scramFail(scramErrInvalidProof, fmt.Errorf("%w: no %s keys for this user", ErrAuthFailed, s.base))
		}
		return nil, scramFail(scramErrInvalidProof, fmt.Errorf("%w: SCRAM proof is wrong", ErrAuthFailed))
	}
	s.buf = append(s.buf, "v="...)
	s.buf = base64.StdEncoding.AppendEncode(s.buf, ss)
	end := len(s.buf)
	return s.buf[amEnd:end:end], nil
}
