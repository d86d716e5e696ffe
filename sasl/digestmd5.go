package sasl

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// DigestMD5 is the DIGEST-MD5 mechanism name (RFC 2831).
//
// DIGEST-MD5 is legacy: RFC 6331 moved it to Historic in 2011. It is kept
// for servers and clients that offer nothing better (older Cyrus and
// Dovecot setups, gsasl). Prefer SCRAM.
const DigestMD5 = "DIGEST-MD5"

// maxDigestChallenge bounds a digest-challenge: "The size of a
// digest-challenge MUST be less than 2048 bytes" (RFC 2831, Section 2.1.1).
const maxDigestChallenge = 2048

// maxDigestResponse bounds a digest-response: "The size of a
// digest-response MUST be less than 4096 bytes" (RFC 2831, Section 2.1.2).
const maxDigestResponse = 4096

// maxDigestDirectives bounds the directives of one message. RFC 2831
// defines 11 for a challenge and 14 for a response; unknown ones are
// skipped (Section 2.1), so without a bound a peer could make us collect
// hundreds of them within the size limit.
const maxDigestDirectives = 32

// digestNonceBytes is the randomness in our nonce and cnonce: 144 bits,
// above RFC 2831's advice of at least 64 bits (Section 2.1.1), encoded as
// 24 base64 characters.
const digestNonceBytes = 18

// NewDigestMD5Client returns a Client for DIGEST-MD5 (RFC 2831) with
// qop=auth (authentication only, no security layer). username and password
// are the user's credentials; authzid, if not "", is the identity to act
// as. service and host make the digest-uri "service/host": service is the
// protocol ("imap", "pop", "smtp"; "" means "imap"), host the server's
// name ("" means the realm the server offers, or "localhost").
//
// The client proves it knows the password without sending it and checks
// the server's rspauth in constant time, so the server proves it knows
// the password too (mutual authentication), provided the protocol layer
// passes rspauth to Next: a server that reports success without sending
// it has proven nothing, and go-imap and go-smtp do not tell the Client.
// Non-ASCII names and passwords are hashed in ISO 8859-1 where they fit,
// as RFC 2831, Section 2.1.2.1 requires and GNU SASL and Cyrus do; Dovecot
// hashes their UTF-8 bytes, so against Dovecot a non-ASCII password fails
// with DIGEST-MD5 (use SCRAM or PLAIN there). It accepts quoted and unquoted
// directive values, and refuses a challenge whose qop list lacks "auth",
// whose algorithm is not md5-sess, or that is malformed or above 2048 bytes
// (ErrMalformed, ErrTooLarge); a wrong rspauth is ErrAuthFailed.
//
// DIGEST-MD5 is legacy (RFC 6331 made it Historic): a passive eavesdropper
// can test password guesses offline against the exchange, and MD5(user:
// realm:password) stored on servers is a password equivalent. Use it only
// over TLS and only when the server offers nothing better.
//
// The Client is single-use and not safe for concurrent use.
func newDigestMD5Client(username, password, authzid, service, host string) Client {
	if service == "" {
		service = "imap"
	}
	return &digestMD5Client{username: username, password: password, authzid: authzid, service: service, host: host}
}

func newDigestMD5ClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return newDigestMD5Client(cfg.Username, cfg.Password, cfg.Authzid, cfg.Service, cfg.Host), nil
}

type digestMD5Client struct {
	username, password, authzid string
	service, host               string
	cnonce                      string // set only by tests; else random
	state                       int    // 0 new, 1 started, 2 sent digest-response, 3 done
	rspauth                     [16]byte
	verified                    bool // rspauth checked out
}

var _ FinishedClient = (*digestMD5Client)(nil)

// Finished returns nil once rspauth was verified, and an error wrapping
// ErrServerNotVerified before.
func (c *digestMD5Client) Finished() error {
	if !c.verified {
		return fmt.Errorf("%w: DIGEST-MD5: no valid rspauth was received", ErrServerNotVerified)
	}
	return nil
}

// Start begins the exchange. DIGEST-MD5 has no initial response (RFC 2831,
// Section 2.1: this package does not do "subsequent authentication").
func (c *digestMD5Client) Start() (string, []byte, error) {
	if c.state != 0 {
		return "", nil, fmt.Errorf("%w: DIGEST-MD5 client already started", ErrUnexpectedServerChallenge)
	}
	if c.username == "" {
		return "", nil, fmt.Errorf("%w: DIGEST-MD5 needs a username", ErrMalformed)
	}
	c.state = 1
	return DigestMD5, nil, nil
}

// Next answers the digest-challenge, then checks rspauth (RFC 2831, Section 2.1).
func (c *digestMD5Client) Next(challenge []byte) ([]byte, error) {
	switch c.state {
	case 1:
		c.state = 3 // any error ends the exchange
		resp, err := c.digestResponse(challenge)
		if err != nil {
			return nil, err
		}
		c.state = 2
		return resp, nil
	case 2:
		c.state = 3
		if err := c.checkRspauth(challenge); err != nil {
			return nil, err
		}
		c.verified = true
		// RFC 2831, Section 2.1.3: the client answers rspauth with an
		// empty response.
		return []byte{}, nil
	default:
		return nil, fmt.Errorf("%w: DIGEST-MD5 exchange is over", ErrUnexpectedServerChallenge)
	}
}

// digestChallenge holds the directives of a digest-challenge (RFC 2831,
// Section 2.1.1) that the client uses.
type digestChallenge struct {
	realms  []string
	nonce   string
	utf8    bool
	qopAuth bool
}

// digestParseChallenge parses and checks a digest-challenge.
func digestParseChallenge(b []byte) (*digestChallenge, error) {
	if len(b) >= maxDigestChallenge {
		return nil, fmt.Errorf("%w: DIGEST-MD5 challenge is %d bytes or more", ErrTooLarge, maxDigestChallenge)
	}
	ds, err := digestParse(b)
	if err != nil {
		return nil, err
	}
	// realm is the one directive of a challenge that may repeat.
	if err := digestCheckOnce(ds, "realm"); err != nil {
		return nil, err
	}
	ch := &digestChallenge{}
	var haveQop, haveAlg bool
	for _, d := range ds {
		switch d.key {
		case "realm":
			ch.realms = append(ch.realms, d.value)
		case "nonce":
			ch.nonce = d.value
		case "qop":
			haveQop = true
			for _, q := range strings.Split(d.value, ",") {
				if strings.EqualFold(strings.Trim(q, " \t"), "auth") {
					ch.qopAuth = true
				}
			}
		case "charset":
			if !strings.EqualFold(d.value, "utf-8") {
				return nil, fmt.Errorf("%w: DIGEST-MD5 charset is not utf-8", ErrMalformed)
			}
			ch.utf8 = true
		case "algorithm":
			haveAlg = true
			if !strings.EqualFold(d.value, "md5-sess") {
				return nil, fmt.Errorf("%w: DIGEST-MD5 algorithm is not md5-sess", ErrMalformed)
			}
		}
		// stale, maxbuf and cipher concern security layers and
		// re-authentication, which this package does not do; unknown
		// directives are ignored (RFC 2831, Section 2.1.1).
	}
	if ch.nonce == "" {
		return nil, fmt.Errorf("%w: DIGEST-MD5 challenge has no nonce", ErrMalformed)
	}
	if !haveAlg {
		return nil, fmt.Errorf("%w: DIGEST-MD5 challenge has no algorithm", ErrMalformed)
	}
	if !haveQop {
		ch.qopAuth = true // "If this directive is absent, the default is auth"
	}
	if !ch.qopAuth {
		return nil, fmt.Errorf("%w: DIGEST-MD5 server does not offer qop=auth", ErrMalformed)
	}
	return ch, nil
}

// digestResponse answers the digest-challenge with a digest-response
// (RFC 2831, Section 2.1.2).
func (c *digestMD5Client) digestResponse(challenge []byte) ([]byte, error) {
	ch, err := digestParseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	// The first realm offered, as Cyrus and gsasl pick without a user
	// choice; none means the empty realm (Section 2.1.2, "realm").
	realm := ""
	if len(ch.realms) > 0 {
		realm = ch.realms[0]
	}
	host := c.host
	if host == "" {
		host = realm
	}
	if host == "" {
		host = "localhost"
	}
	uri := c.service + "/" + host
	cnonce := c.cnonce
	if cnonce == "" {
		cnonce = base64.StdEncoding.EncodeToString(randomBytes(digestNonceBytes))
	}
	username, password := c.username, c.password
	if !ch.utf8 {
		// A server that does not offer charset=utf-8 reads ISO 8859-1
		// (Section 2.1.1, "charset").
		var ok1, ok2 bool
		username, ok1 = digestToLatin1(username)
		password, ok2 = digestToLatin1(password)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: DIGEST-MD5 server does not offer charset=utf-8, and the username or password is not ISO 8859-1", ErrMalformed)
		}
	}
	urp := digestURP(username, realm, password, ch.utf8)
	ha1 := digestHA1(urp, ch.nonce, cnonce, c.authzid)
	resp := digestKD(&ha1, ch.nonce, cnonce, "AUTHENTICATE:", uri)
	c.rspauth = digestKD(&ha1, ch.nonce, cnonce, ":", uri)

	b := make([]byte, 0, 256)
	if ch.utf8 {
		b = append(b, "charset=utf-8,"...)
	}
	b = append(b, "username="...)
	b = digestAppendQuoted(b, username)
	if realm != "" {
		b = append(b, ",realm="...)
		b = digestAppendQuoted(b, realm)
	}
	b = append(b, ",nonce="...)
	b = digestAppendQuoted(b, ch.nonce)
	b = append(b, ",nc=00000001,cnonce="...)
	b = digestAppendQuoted(b, cnonce)
	b = append(b, ",digest-uri="...)
	b = digestAppendQuoted(b, uri)
	b = append(b, ",response="...)
	b = hex.AppendEncode(b, resp[:])
	b = append(b, ",qop=auth"...)
	if c.authzid != "" {
		b = append(b, ",authzid="...)
		b = digestAppendQuoted(b, c.authzid)
	}
	if len(b) >= maxDigestResponse {
		return nil, fmt.Errorf("%w: DIGEST-MD5 response would be %d bytes or more", ErrTooLarge, maxDigestResponse)
	}
	return b, nil
}

// checkRspauth verifies the server's response-auth (RFC 2831, Section
// 2.1.3): proof that the server knows the password too.
func (c *digestMD5Client) checkRspauth(challenge []byte) error {
	if len(challenge) >= maxDigestChallenge {
		return fmt.Errorf("%w: DIGEST-MD5 challenge is %d bytes or more", ErrTooLarge, maxDigestChallenge)
	}
	ds, err := digestParse(challenge)
	if err != nil {
		return err
	}
	if len(ds) != 1 || ds[0].key != "rspauth" {
		return fmt.Errorf("%w: DIGEST-MD5 server sent no lone rspauth", ErrMalformed)
	}
	got, ok := digestDecodeHex(ds[0].value)
	if !ok {
		return fmt.Errorf("%w: DIGEST-MD5 rspauth is not 32 hex digits", ErrMalformed)
	}
	// Constant time: rspauth is chosen by a server that may not know the
	// password; an early exit would tell it how much of ours it matched.
	if !hmac.Equal(got[:], c.rspauth[:]) {
		return fmt.Errorf("%w: DIGEST-MD5 server's rspauth is wrong", ErrAuthFailed)
	}
	return nil
}

func newDigestMD5Server(env *serverEnv, mech string) IdentityServer {
	return &digestMD5Server{serverEnv: env, mech: mech}
}

type digestMD5Server struct {
	*serverEnv
	mech    string
	nonce   string // set only by tests before the first Next; else random
	realm   string
	state   digestServerState
	pending Identity // verified, awaiting the client's final empty response
}

type digestServerState uint8

const (
	digestStart    digestServerState = iota // nothing sent
	digestSentChal                          // sent the digest-challenge
	digestSentAuth                          // sent rspauth
	digestDone                              // succeeded or failed
)

var _ IdentityServer = (*digestMD5Server)(nil)

// Next sends the digest-challenge, verifies the digest-response, and ends on the empty reply to rspauth (RFC 2831, Section 2.1).
func (s *digestMD5Server) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case digestStart:
		s.state = digestDone
		if len(response) != 0 {
			return nil, false, fmt.Errorf("%w: DIGEST-MD5 takes no initial response", ErrMalformed)
		}
		chal, err := s.digestChallenge()
		if err != nil {
			return nil, false, err
		}
		s.state = digestSentChal
		return chal, false, nil
	case digestSentChal:
		s.state = digestDone
		rspauth, err := s.verify(response)
		if err != nil {
			return nil, false, err
		}
		s.state = digestSentAuth
		return rspauth, false, nil
	case digestSentAuth:
		s.state = digestDone
		if len(response) != 0 {
			return nil, false, fmt.Errorf("%w: DIGEST-MD5 client answered rspauth with data", ErrMalformed)
		}
		if err := s.succeed(s.pending); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	default:
		return nil, false, ErrUnexpectedClientResponse
	}
}

// digestChallenge builds the digest-challenge (RFC 2831, Section 2.1.1),
// in the directive order of the RFC's example.
func (s *digestMD5Server) digestChallenge() ([]byte, error) {
	s.realm = s.cfg.hostname()
	if s.nonce == "" {
		s.nonce = base64.StdEncoding.EncodeToString(randomBytes(digestNonceBytes))
	}
	b := make([]byte, 0, 128+len(s.realm))
	b = append(b, "realm="...)
	b = digestAppendQuoted(b, s.realm)
	b = append(b, ",nonce="...)
	b = digestAppendQuoted(b, s.nonce)
	b = append(b, `,qop="auth",algorithm=md5-sess,charset=utf-8`...)
	if len(b) >= maxDigestChallenge {
		return nil, fmt.Errorf("%w: DIGEST-MD5 realm makes the challenge %d bytes or more", ErrTooLarge, maxDigestChallenge)
	}
	return b, nil
}

// digestClientResponse holds the directives of a digest-response (RFC
// 2831, Section 2.1.2).
type digestClientResponse struct {
	username, realm, nonce, cnonce, nc, qop string
	digestURI, authzid                      string
	response                                [16]byte
	utf8                                    bool
}

// digestParseResponse parses and checks the syntax of a digest-response.
func digestParseResponse(b []byte) (*digestClientResponse, error) {
	if len(b) >= maxDigestResponse {
		return nil, fmt.Errorf("%w: DIGEST-MD5 response is %d bytes or more", ErrTooLarge, maxDigestResponse)
	}
	ds, err := digestParse(b)
	if err != nil {
		return nil, err
	}
	if err := digestCheckOnce(ds, ""); err != nil {
		return nil, err
	}
	r := &digestClientResponse{qop: "auth"}
	var haveUser, haveNonce, haveCnonce, haveNC, haveURI, haveResp bool
	for _, d := range ds {
		switch d.key {
		case "username":
			r.username, haveUser = d.value, true
		case "realm":
			r.realm = d.value
		case "nonce":
			r.nonce, haveNonce = d.value, true
		case "cnonce":
			r.cnonce, haveCnonce = d.value, true
		case "nc":
			r.nc, haveNC = d.value, true
		case "qop":
			r.qop = d.value
		case "digest-uri":
			r.digestURI, haveURI = d.value, true
		case "authzid":
			r.authzid = d.value
		case "charset":
			if !strings.EqualFold(d.value, "utf-8") {
				return nil, fmt.Errorf("%w: DIGEST-MD5 charset is not utf-8", ErrMalformed)
			}
			r.utf8 = true
		case "response":
			var ok bool
			r.response, ok = digestDecodeHex(d.value)
			if !ok {
				return nil, fmt.Errorf("%w: DIGEST-MD5 response is not 32 hex digits", ErrMalformed)
			}
			haveResp = true
		case "cipher":
			return nil, fmt.Errorf("%w: DIGEST-MD5 cipher without qop=auth-conf", ErrMalformed)
		}
		// maxbuf is meaningless with qop=auth; unknown directives are
		// ignored (RFC 2831, Section 2.1.2).
	}
	if !r.utf8 && !utf8.ValidString(r.username) {
		// Without charset=utf-8 the username is ISO 8859-1 (Section
		// 2.1.2); the lookups and the Identity get it as UTF-8. Valid
		// UTF-8 is taken as such: curl sends UTF-8 without charset, and
		// ISO 8859-1 text is almost never valid UTF-8.
		r.username = digestLatin1ToUTF8(r.username)
	}
	switch {
	case !haveUser || r.username == "":
		return nil, fmt.Errorf("%w: DIGEST-MD5 response has no username", ErrMalformed)
	case !haveNonce || !haveCnonce || r.cnonce == "" || !haveNC:
		return nil, fmt.Errorf("%w: DIGEST-MD5 response lacks nonce, cnonce or nc", ErrMalformed)
	case !haveURI:
		return nil, fmt.Errorf("%w: DIGEST-MD5 response has no digest-uri", ErrMalformed)
	case !haveResp:
		return nil, fmt.Errorf("%w: DIGEST-MD5 response has no response", ErrMalformed)
	case r.qop != "auth":
		return nil, fmt.Errorf("%w: DIGEST-MD5 qop other than auth was not offered", ErrMalformed)
	case !digestIsHex8(r.nc):
		return nil, fmt.Errorf("%w: DIGEST-MD5 nc is not 8 hex digits", ErrMalformed)
	}
	// digest-uri = serv-type "/" host [ "/" serv-name ] (Section 2.1.2).
	serv, rest, ok := strings.Cut(r.digestURI, "/")
	host, _, _ := strings.Cut(rest, "/")
	if !ok || serv == "" || host == "" {
		return nil, fmt.Errorf("%w: DIGEST-MD5 digest-uri is not service/host", ErrMalformed)
	}
	return r, nil
}

// verify checks a digest-response and returns the rspauth challenge.
func (s *digestMD5Server) verify(b []byte) ([]byte, error) {
	r, err := digestParseResponse(b)
	if err != nil {
		return nil, err
	}
	// Not secret: our own nonce and realm. A foreign nonce is a replay of
	// another exchange, nc > 1 a reuse of this one (Section 2.1.2).
	if r.nonce != s.nonce {
		return nil, fmt.Errorf("%w: DIGEST-MD5 nonce is not the one issued", ErrAuthFailed)
	}
	if r.nc != "00000001" {
		return nil, fmt.Errorf("%w: DIGEST-MD5 nonce reused (nc is not 1)", ErrAuthFailed)
	}
	if r.realm != "" && r.realm != s.realm {
		return nil, fmt.Errorf("%w: DIGEST-MD5 realm was not offered", ErrAuthFailed)
	}
	urps, n, known, err := s.lookup(r)
	if err != nil {
		return nil, err
	}
	var ha1 [16]byte
	match := false
	for i := range n {
		h := digestHA1(urps[i], r.nonce, r.cnonce, r.authzid)
		want := digestKD(&h, r.nonce, r.cnonce, "AUTHENTICATE:", r.digestURI)
		// Constant time: response is attacker-chosen, and an early exit
		// would tell them how many leading bytes of the expected digest
		// they got. Every candidate is computed and compared.
		if hmac.Equal(r.response[:], want[:]) {
			match, ha1 = true, h
		}
	}
	if !match || !known {
		return nil, fmt.Errorf("%w: DIGEST-MD5 response is wrong", ErrAuthFailed)
	}
	s.pending = Identity{Mechanism: s.mech, Username: r.username, Authzid: r.authzid}
	rspauth := digestKD(&ha1, r.nonce, r.cnonce, ":", r.digestURI)
	out := make([]byte, 0, len("rspauth=")+32)
	out = append(out, "rspauth="...)
	return hex.AppendEncode(out, rspauth[:]), nil
}

// lookup returns the candidates for MD5(username:realm:password) of the
// response's user (n of them), or dummies and known=false for a user the
// stores do not hold, after the same work.
//
// From a plaintext password there are two: the form of RFC 2831, Section
// 2.1.2.1, with strings hashed in ISO 8859-1 where they fit (GNU SASL,
// Cyrus, this package's client), and the UTF-8 bytes as they are (Dovecot,
// curl). They differ only for non-ASCII input, but both are always
// computed, so the time taken does not tell what the password contains.
func (s *digestMD5Server) lookup(r *digestClientResponse) (urps [2][16]byte, n int, known bool, err error) {
	if s.cfg.DigestMD5 != nil {
		urps[0], err = s.cfg.DigestMD5.LookupDigestMD5(s.ctx, r.username, r.realm)
		if err == nil {
			return urps, 1, true, nil
		}
		if !errors.Is(err, ErrUnknownUser) {
			return urps, 0, false, err // the store's own failure, unchanged
		}
	}
	if s.cfg.Plaintext == nil {
		return urps, 1, false, nil
	}
	pass, err := s.cfg.Plaintext.LookupPassword(s.ctx, r.username)
	known = err == nil
	if err != nil {
		if !errors.Is(err, ErrUnknownUser) {
			return urps, 0, false, err
		}
		pass = "" // hashed all the same, so both paths cost the same
	}
	urps[0] = digestURP(r.username, r.realm, pass, true)
	urps[1] = digestURP(r.username, r.realm, pass, false)
	return urps, 2, known, nil
}

// digestURP returns H({username-value, ":", realm-value, ":", passwd})
// (RFC 2831, Section 2.1.2.1). With charset=utf-8, each string whose
// characters all fit ISO 8859-1 is hashed in ISO 8859-1, as the RFC
// requires and Cyrus does; ASCII is unchanged.
func digestURP(username, realm, password string, utf8Charset bool) [16]byte {
	var buf [256]byte
	b := digestAppendLatin1(buf[:0], username, utf8Charset)
	b = append(b, ':')
	b = digestAppendLatin1(b, realm, utf8Charset)
	b = append(b, ':')
	b = digestAppendLatin1(b, password, utf8Charset)
	return md5.Sum(b)
}

// digestAppendLatin1 appends s, converted from UTF-8 to ISO 8859-1 when
// convert is set and every character of s is in ISO 8859-1.
func digestAppendLatin1(b []byte, s string, convert bool) []byte {
	if !convert || !utf8.ValidString(s) {
		return append(b, s...)
	}
	for _, r := range s {
		if r > 0xff {
			return append(b, s...)
		}
	}
	for _, r := range s {
		b = append(b, byte(r))
	}
	return b
}

// digestToLatin1 returns UTF-8 s encoded in ISO 8859-1, or false if s has
// a character outside it.
func digestToLatin1(s string) (string, bool) {
	ascii := true
	for _, r := range s {
		if r > 0xff { // also utf8.RuneError, for invalid UTF-8
			return "", false
		}
		ascii = ascii && r < 0x80
	}
	if ascii {
		return s, true
	}
	return string(digestAppendLatin1(nil, s, true)), true
}

// digestLatin1ToUTF8 decodes ISO 8859-1 s to UTF-8.
func digestLatin1ToUTF8(s string) string {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = utf8.AppendRune(b, rune(s[i]))
	}
	return string(b)
}

// digestHA1 returns H(A1), A1 = { H(user:realm:pass), ":", nonce, ":",
// cnonce [":" authzid] } (RFC 2831, Section 2.1.2.1).
func digestHA1(urp [16]byte, nonce, cnonce, authzid string) [16]byte {
	var buf [256]byte
	b := append(buf[:0], urp[:]...)
	b = append(b, ':')
	b = append(b, nonce...)
	b = append(b, ':')
	b = append(b, cnonce...)
	if authzid != "" {
		b = append(b, ':')
		b = append(b, authzid...)
	}
	return md5.Sum(b)
}

// digestKD returns HEX-decoded KD(HEX(H(A1)), { nonce, ":", nc, ":",
// cnonce, ":", qop, ":", HEX(H(A2)) }) for qop=auth and nc=1, where A2 is
// a2prefix+digest-uri: "AUTHENTICATE:" for the client's response, ":" for
// the server's rspauth (RFC 2831, Sections 2.1.2.1 and 2.1.3).
func digestKD(ha1 *[16]byte, nonce, cnonce, a2prefix, uri string) [16]byte {
	var buf [256]byte
	b := append(buf[:0], a2prefix...)
	b = append(b, uri...)
	ha2 := md5.Sum(b)
	b = hex.AppendEncode(buf[:0], ha1[:])
	b = append(b, ':')
	b = append(b, nonce...)
	b = append(b, ":00000001:"...)
	b = append(b, cnonce...)
	b = append(b, ":auth:"...)
	b = hex.AppendEncode(b, ha2[:])
	return md5.Sum(b)
}

// digestDecodeHex decodes a 32-digit hex digest (LHEX, Section 2.1.2.1;
// upper case is accepted).
func digestDecodeHex(s string) (out [16]byte, ok bool) {
	if len(s) != 32 {
		return out, false
	}
	_, err := hex.Decode(out[:], []byte(s))
	return out, err == nil
}

func digestIsHex8(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// digestCheckOnce fails if a directive other than repeatable appears
// twice: "This directive may appear at most once; if multiple instances are
// present, the client/server should abort" (RFC 2831, Sections 2.1.1 and
// 2.1.2). Unknown directives count too. Quadratic, but over at most
// maxDigestDirectives entries and without allocating.
func digestCheckOnce(ds []digestDirective, repeatable string) error {
	for i := range ds {
		if ds[i].key == repeatable {
			continue
		}
		for j := range i {
			if ds[j].key == ds[i].key {
				return fmt.Errorf("%w: DIGEST-MD5 directive %s given twice", ErrMalformed, truncate(ds[i].key, 32))
			}
		}
	}
	return nil
}

// digestDirective is one name=value of a DIGEST-MD5 message, the name in
// lower case and the value unquoted.
type digestDirective struct {
	key, value string
}

// digestParse parses a comma-separated directive list (RFC 2831, Section
// 7.1, the #rule of RFC 2616, Section 2.1):
//
//	directive     = token "=" ( token | quoted-string )
//	quoted-string = <"> *( qdtext | "\" CHAR ) <">
//
// with optional spaces and tabs around "," and "=", empty list elements
// allowed, and names case-insensitive. Unquoted values are accepted for
// every directive and quoted ones too (Dovecot quotes algorithm and
// charset; curl fails on that). Control characters other than tab, and
// more than maxDigestDirectives directives, are refused. The caller bounds
// the input's size.
func digestParse(in []byte) ([]digestDirective, error) {
	// One copy of the input: keys and unescaped values are substrings.
	b := string(in)
	out := make([]digestDirective, 0, min(strings.Count(b, ","), maxDigestDirectives)+1)
	i := 0
	for {
		for i < len(b) && (b[i] == ',' || b[i] == ' ' || b[i] == '\t') {
			i++
		}
		if i == len(b) {
			return out, nil
		}
		if len(out) == maxDigestDirectives {
			return nil, fmt.Errorf("%w: DIGEST-MD5 message has more than %d directives", ErrTooLarge, maxDigestDirectives)
		}
		start := i
		for i < len(b) && digestIsTokenChar(b[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("%w: DIGEST-MD5 directive name expected", ErrMalformed)
		}
		key := digestLower(b[start:i])
		i = digestSkipLWS(b, i)
		if i == len(b) || b[i] != '=' {
			return nil, fmt.Errorf("%w: DIGEST-MD5 directive without =", ErrMalformed)
		}
		i = digestSkipLWS(b, i+1)
		var value string
		if i < len(b) && b[i] == '"' {
			var err error
			value, i, err = digestParseQuoted(b, i+1)
			if err != nil {
				return nil, err
			}
		} else {
			start = i
			for i < len(b) && digestIsValueChar(b[i]) {
				i++
			}
			if i == start {
				return nil, fmt.Errorf("%w: DIGEST-MD5 directive value expected", ErrMalformed)
			}
			value = b[start:i]
		}
		out = append(out, digestDirective{key, value})
		i = digestSkipLWS(b, i)
		if i < len(b) && b[i] != ',' {
			return nil, fmt.Errorf("%w: DIGEST-MD5 directives not separated by a comma", ErrMalformed)
		}
	}
}

// digestLower returns the directive name k in lower case, allocating only
// for a name with upper-case letters.
func digestLower(k string) string {
	for i := 0; i < len(k); i++ {
		if 'A' <= k[i] && k[i] <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}

// digestParseQuoted reads a quoted-string's contents from b[i:], just
// after the opening quote, and returns it unescaped with the index after
// the closing quote.
func digestParseQuoted(b string, i int) (string, int, error) {
	start := i
	for i < len(b) && b[i] != '"' && b[i] != '\\' && !digestIsCtl(b[i]) {
		i++
	}
	if i < len(b) && b[i] == '"' {
		return b[start:i], i + 1, nil // the common case: no escapes
	}
	v := []byte(b[start:i])
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			return string(v), i + 1, nil
		case c == '\\':
			i++
			if i == len(b) {
				break
			}
			if digestIsCtl(b[i]) {
				return "", 0, fmt.Errorf("%w: DIGEST-MD5 quoted value has control characters", ErrMalformed)
			}
			v = append(v, b[i])
		case digestIsCtl(c):
			return "", 0, fmt.Errorf("%w: DIGEST-MD5 quoted value has control characters", ErrMalformed)
		default:
			v = append(v, c)
		}
	}
	return "", 0, fmt.Errorf("%w: DIGEST-MD5 quoted value not terminated", ErrMalformed)
}

// digestAppendQuoted appends s as a quoted-string, escaping " and \.
func digestAppendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// digestAppendDirectives renders ds as a directive list with every value
// quoted; digestParse reads it back as ds.
func digestAppendDirectives(b []byte, ds []digestDirective) []byte {
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d.key...)
		b = append(b, '=')
		b = digestAppendQuoted(b, d.value)
	}
	return b
}

func digestSkipLWS(b string, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// digestIsCtl reports a control character other than tab (RFC 2616 CTL).
func digestIsCtl(c byte) bool { return c < 0x20 && c != '\t' || c == 0x7f }

// digestIsTokenChar reports an RFC 2616 token character: CHAR except CTLs
// and separators.
func digestIsTokenChar(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return false
	}
	return c > 0x20 && c < 0x7f
}

// digestIsValueChar reports a character of an unquoted value: a token
// character, or one of "/", ":", "=", "@" and the other separators peers
// leave unquoted in practice (digest-uri, base64 nonces), or any byte above
// ASCII; never a space, comma, quote, backslash or control.
func digestIsValueChar(c byte) bool {
	return c > 0x20 && c != 0x7f && c != ',' && c != '"' && c != '\\'
}
