package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"
)

// scramMaxStoredIterations bounds the iteration count of a parsed or minted
// credential: Dovecot's limit (INT_MAX, password-scheme-scram.c), and the
// range of the 32-bit integers other stores use.
const scramMaxStoredIterations = math.MaxInt32

// scramMaxStored bounds the length of a credential string
// ParseSCRAMCredentials reads: four base64 fields of at most 64 bytes
// decoded, a count, a scheme name, with room for long salts.
const scramMaxStored = 1024

// scramPBKDF2 is Hi(password, salt, i) of RFC 5802, Section 2.2: PBKDF2
// with HMAC-H and one output block.
func scramPBKDF2(h scramHash, password string, salt []byte, iter int) ([]byte, error) {
	sp, err := pbkdf2.Key(func() hash.Hash { return h.newHash() }, password, salt, iter, h.size())
	if err != nil {
		return nil, fmt.Errorf("sasl: SCRAM key derivation: %w", err)
	}
	return sp, nil
}

// NewSCRAMCredentials returns what a SCRAM server stores for a user with
// password, for mechanism mech (any of the six SCRAM names; -PLUS variants
// use the keys of their hash): salt, iteration count, StoredKey and
// ServerKey (RFC 5802, Section 3). The password is prepared with
// [SASLprep] first, as SCRAM clients do; a password SASLprep refuses is an
// error wrapping ErrMalformed.
//
// If salt is nil, 16 random bytes are used; an empty non-nil salt is an
// error. If iterations is 0, 4096 is used (RFC 7677, Section 4); fewer than
// 4096 is an error, since clients refuse them. Use the same salt length and
// count for all users and set ServerConfig.SCRAMIterations to that count,
// so unknown users cannot be told apart.
//
// The result can be stored with [SCRAMCredentials.Format] (Dovecot's
// scheme) or [SCRAMCredentials.AuthPassword] (RFC 5803).
func NewSCRAMCredentials(mech, password string, salt []byte, iterations int) (SCRAMCredentials, error) {
	_, h, _, _, ok := scramMechanism(mech)
	if !ok {
		return SCRAMCredentials{}, fmt.Errorf("%w: %q is not a SCRAM mechanism", ErrUnsupportedMechanism, truncate(mech, 32))
	}
	if iterations == 0 {
		iterations = scramDefaultIterations
	}
	if iterations < scramMinIterations || iterations > scramMaxStoredIterations {
		return SCRAMCredentials{}, fmt.Errorf("sasl: SCRAM iteration count %d outside [%d, %d]", iterations, scramMinIterations, scramMaxStoredIterations)
	}
	if salt == nil {
		salt = randomBytes(scramSaltBytes)
	} else if len(salt) == 0 {
		return SCRAMCredentials{}, errors.New("sasl: SCRAM salt is empty")
	} else {
		salt = append([]byte(nil), salt...)
	}
	prepped, err := SASLprep(password)
	if err != nil {
		return SCRAMCredentials{}, err
	}
	k, err := scramDeriveKeys(h, prepped, salt, iterations)
	if err != nil {
		return SCRAMCredentials{}, err
	}
	size := h.size()
	return SCRAMCredentials{
		Salt:       salt,
		Iterations: iterations,
		StoredKey:  append([]byte(nil), k.storedKey[:size]...),
		ServerKey:  append([]byte(nil), k.serverKey[:size]...),
	}, nil
}

// Format returns c in Dovecot's SCRAM password scheme for mech
// (password-scheme-scram.c): "{SCRAM-SHA-256}" followed by
// iterations "," base64(salt) "," base64(StoredKey) "," base64(ServerKey).
// Dovecot 2.3 knows {SCRAM-SHA-1} and {SCRAM-SHA-256}; gsasl --mkpasswd
// writes the same fields. A -PLUS mech is written as its base name.
func (c SCRAMCredentials) Format(mech string) string {
	_, _, base, _, ok := scramMechanism(mech)
	if !ok {
		base = mech
	}
	var b strings.Builder
	b.WriteString("{" + base + "}")
	b.WriteString(strconv.Itoa(c.Iterations))
	for _, f := range [][]byte{c.Salt, c.StoredKey, c.ServerKey} {
		b.WriteByte(',')
		b.WriteString(base64.StdEncoding.EncodeToString(f))
	}
	return b.String()
}

// AuthPassword returns c as an RFC 5803 authPassword value for mech, as
// LDAP directories and Cyrus SASL store it:
// "SCRAM-SHA-256$" iterations ":" base64(salt) "$" base64(StoredKey) ":"
// base64(ServerKey).
func (c SCRAMCredentials) AuthPassword(mech string) string {
	_, _, base, _, ok := scramMechanism(mech)
	if !ok {
		base = mech
	}
	e := base64.StdEncoding
	return base + "$" + strconv.Itoa(c.Iterations) + ":" + e.EncodeToString(c.Salt) +
		"$" + e.EncodeToString(c.StoredKey) + ":" + e.EncodeToString(c.ServerKey)
}

// ParseSCRAMCredentials parses stored SCRAM credentials in either form
// this package writes: Dovecot's "{SCRAM-SHA-256}4096,salt,stored,server"
// ([SCRAMCredentials.Format]) or RFC 5803's
// "SCRAM-SHA-256$4096:salt$stored:server" ([SCRAMCredentials.AuthPassword]).
// It returns the mechanism (SCRAM-SHA-1, -256 or -512) and the
// credentials. The keys must have the hash's length, the salt must not be
// empty, and the count must lie in [1, 2^31-1]; anything else is an error
// wrapping ErrMalformed. Counts below 4096 parse (old stores have them),
// but this package's clients refuse them.
func ParseSCRAMCredentials(s string) (mech string, c SCRAMCredentials, err error) {
	if len(s) > scramMaxStored {
		return "", c, fmt.Errorf("%w: stored SCRAM credentials longer than %d bytes", ErrTooLarge, scramMaxStored)
	}
	var name, iter, salt, stored, server string
	var ok bool
	if rest, found := strings.CutPrefix(s, "{"); found {
		var fields string
		name, fields, ok = strings.Cut(rest, "}")
		if ok {
			iter, fields, _ = strings.Cut(fields, ",")
			salt, fields, _ = strings.Cut(fields, ",")
			stored, server, ok = strings.Cut(fields, ",")
		}
	} else {
		var info, value string
		name, info, ok = strings.Cut(s, "$")
		if ok {
			info, value, ok = strings.Cut(info, "$")
		}
		if ok {
			iter, salt, ok = strings.Cut(info, ":")
		}
		if ok {
			stored, server, ok = strings.Cut(value, ":")
		}
	}
	if !ok {
		return "", c, scramMalformed("stored credentials are neither {SCHEME}i,salt,stored,server nor SCHEME$i:salt$stored:server")
	}
	m, h, base, plus, known := scramMechanism(name)
	if !known || plus || m != name {
		return "", c, scramMalformed("stored credentials name no SCRAM scheme")
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 || n > scramMaxStoredIterations || iter[0] == '+' {
		return "", c, scramMalformed("stored iteration count is bad")
	}
	c.Iterations = n
	e := base64.StdEncoding
	if c.Salt, err = e.DecodeString(salt); err != nil || len(c.Salt) == 0 {
		return "", c, scramMalformed("stored salt is bad")
	}
	if c.StoredKey, err = e.DecodeString(stored); err != nil || len(c.StoredKey) != h.size() {
		return "", c, scramMalformed("stored StoredKey is bad")
	}
	if c.ServerKey, err = e.DecodeString(server); err != nil || len(c.ServerKey) != h.size() {
		return "", c, scramMalformed("stored ServerKey is bad")
	}
	return base, c, nil
}

// scramVerifyPassword checks a plaintext password, as PLAIN and LOGIN
// receive it, against the user's stored SCRAM keys, with the default cost
// for a user without keys; see scramVerifyPasswordWith.
func scramVerifyPassword(ctx context.Context, lookup SCRAMLookup, username, password string) error {
	_, err := scramVerifyPasswordWith(ctx, lookup, username, password, scramDummyHash(lookup, nil), scramDefaultIterations, scramDeriveKeys)
	return err
}

// scramVerifyPasswordFake is scramVerifyPassword for a server
// configuration: the PBKDF2 done for a user with no keys uses the
// strongest hash real users have (scramDummyHash) and
// ServerConfig.SCRAMIterations, the count real users have, so that an
// unknown user costs what a wrong password costs (issue 8, defect 6). It
// returns the prepared name, whose keys were checked.
func scramVerifyPasswordFake(ctx context.Context, cfg *ServerConfig, username, password string) (string, error) {
	return scramVerifyPasswordWith(ctx, cfg.SCRAM, username, password, scramDummyHash(cfg.SCRAM, cfg.Mechanisms),
		cfg.scramFakeIterations(), scramDeriveKeys)
}

// scramVerifyPasswordWith checks a plaintext password, as PLAIN and LOGIN
// receive it, against the user's stored SCRAM keys, with the dummy's hash
// and count and the key derivation (tests count its calls). It returns the
// prepared name whose keys were looked up.
//
// The user name is prepared as SCRAM clients prepare n= (RFC 5802, Section
// 5.1), so PLAIN finds the keys SCRAM finds. It asks the store for the
// user's keys of SHA-512, then SHA-256, then SHA-1, and uses the first it
// finds: PBKDF2 over the SASLprep'd password (the raw one if SASLprep
// refuses it, as stores that skip SASLprep, like Dovecot's, hashed that),
// and StoredKey compared in constant time. A store that reports the hashes
// it holds ([CredentialReporter]) is asked only for those, so a store of
// SCRAM-SHA-256 keys, the common case, costs one lookup per login instead
// of two; one that does not is asked for each hash in turn until one
// answers (three round trips for a user with only SHA-1 keys).
//
// A wrong password, an unknown user and a user without SCRAM keys
// (ErrNoCredentials) all return an error wrapping ErrAuthFailed, the last
// two after a PBKDF2 of dummyHash and dummyIter. Any other lookup error is
// returned unchanged.
func scramVerifyPasswordWith(ctx context.Context, lookup SCRAMLookup, username, password string,
	dummyHash scramHash, dummyIter int, derive func(scramHash, string, []byte, int) (scramKeys, error)) (string, error) {
	if prepped, err := saslprepQuery(username); err == nil && prepped != "" {
		username = prepped
	}
	prepped, err := SASLprep(password)
	if err != nil {
		prepped = password
	}
	holds, _ := lookup.(CredentialReporter)
	noKeys := false // the store holds the user, without SCRAM keys
	// Strongest hash first, so that a user whose keys were re-minted with
	// a stronger hash is checked against those.
	for _, mech := range [...]string{SCRAMSHA512, SCRAMSHA256, SCRAMSHA1} {
		if lookup == nil {
			break
		}
		if holds != nil && !holds.HoldsCredentials(mech) {
			continue
		}
		c, err := lookup.LookupSCRAM(ctx, mech, username)
		if errors.Is(err, ErrNoCredentials) {
			noKeys = true
			continue
		}
		if errors.Is(err, ErrUnknownUser) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, h, _, _, _ := scramMechanism(mech)
		if len(c.StoredKey) != h.size() || len(c.Salt) == 0 || c.Iterations < 1 || c.Iterations > scramMaxStoredIterations {
			return "", fmt.Errorf("sasl: stored %s credentials are invalid", mech)
		}
		k, err := derive(h, prepped, c.Salt, c.Iterations)
		// Constant time: StoredKey is secret, and an early exit would
		// tell an attacker how close H(ClientKey) of a guess came.
		if err == nil && hmac.Equal(k.storedKey[:h.size()], c.StoredKey) {
			return username, nil
		}
		return "", fmt.Errorf("%w: password does not match", ErrAuthFailed)
	}
	// No keys at all: do the work a typical user costs (the same
	// derivation, hash and count), so the answer takes as long as for a
	// wrong password.
	var salt [scramSaltBytes]byte
	derive(dummyHash, prepped, salt[:], dummyIter)
	if noKeys {
		// For the operator's log; the peer gets the same reply.
		return "", fmt.Errorf("%w: no SCRAM keys for this user", ErrAuthFailed)
	}
	return "", fmt.Errorf("%w: password does not match", ErrAuthFailed)
}

// scramDummyHash is the hash of the PBKDF2 done for a user without keys:
// the strongest one real users have. A store that reports what it holds
// ([CredentialReporter], as sasl/passdb does) says it; otherwise SHA-512 if the
// configuration offers SCRAM-SHA-512 (which it does only when told, for
// stores that hold such keys), else SHA-256.
func scramDummyHash(lookup SCRAMLookup, mechs []string) scramHash {
	if r, ok := lookup.(CredentialReporter); ok {
		for _, m := range [...]struct {
			name string
			h    scramHash
		}{{SCRAMSHA512, scramSHA512}, {SCRAMSHA256, scramSHA256}, {SCRAMSHA1, scramSHA1}} {
			if r.HoldsCredentials(m.name) {
				return m.h
			}
		}
	}
	if containsFold(mechs, SCRAMSHA512) || containsFold(mechs, SCRAMSHA512Plus) {
		return scramSHA512
	}
	return scramSHA256
}
