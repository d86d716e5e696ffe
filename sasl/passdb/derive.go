package passdb

import (
	"bytes"
	"strings"

	"github.com/go-mailauth/mailauth/sasl"
)

// The methods below give what each mechanism needs from one decoded
// password field, for credential stores that fetch fields from somewhere
// other than a passwd-file (sasl/passdb/pgsql, sasl/passdb/ldap). Each
// returns false when the scheme cannot serve the request; the store then
// reports the user as unknown to the mechanism, as [DB] does. They do the
// same work as DB's lookups: a PLAIN password derives the credential, a
// stored one is returned. Work for a user that does not exist is the
// store's to arrange (call the same method on a typical user's Password).

// Plaintext returns the password of a PLAIN (CLEAR, CLEARTEXT) field.
func (p *Password) Plaintext() (string, bool) {
	if p.scheme != SchemePlain {
		return "", false
	}
	return p.plain, true
}

// CRAMMD5 returns the CRAM-MD5 secret of a {CRAM-MD5} field, or derives
// it from a PLAIN one.
func (p *Password) CRAMMD5() (sasl.CRAMMD5Secret, bool) {
	switch p.scheme {
	case SchemeCRAMMD5:
		return p.cram, true
	case SchemePlain:
		return sasl.NewCRAMMD5Secret(p.plain), true
	}
	return sasl.CRAMMD5Secret{}, false
}

// DigestMD5 derives MD5(username ":" realm ":" password) from a PLAIN
// field, with each string in ISO 8859-1 where it fits (RFC 2831, Section
// 2.1.2.1), as [DB.LookupDigestMD5] does.
func (p *Password) DigestMD5(username, realm string) ([16]byte, bool) {
	if p.scheme != SchemePlain {
		return [16]byte{}, false
	}
	return passdbDigestURP(username, realm, p.plain), true
}

// StoredDigestMD5 returns the hash of a {DIGEST-MD5} field. It serves
// only the user name and realm it was made with, which the field does not
// record: the store must know them.
func (p *Password) StoredDigestMD5() ([16]byte, bool) {
	if p.scheme != SchemeDigestMD5 {
		return [16]byte{}, false
	}
	return [16]byte(p.digest), true
}

// SCRAM returns the SCRAM credentials for mech ("SCRAM-SHA-1",
// "SCRAM-SHA-256" or "SCRAM-SHA-512"; a -PLUS suffix is ignored) of a
// field stored in that scheme (copies; salt and iterations are then not
// used), or derives them from a PLAIN field with salt and iterations (one
// PBKDF2). iterations outside [4096, 10,000,000] serve nothing.
func (p *Password) SCRAM(mech string, salt []byte, iterations int) (sasl.SCRAMCredentials, bool) {
	mech = strings.TrimSuffix(mech, "-PLUS")
	switch mech {
	case SchemeSCRAMSHA1, SchemeSCRAMSHA256, SchemeSCRAMSHA512:
	default:
		return sasl.SCRAMCredentials{}, false
	}
	switch p.scheme {
	case mech:
		c := p.scram
		c.Salt = bytes.Clone(c.Salt)
		c.StoredKey = bytes.Clone(c.StoredKey)
		c.ServerKey = bytes.Clone(c.ServerKey)
		return c, true
	case SchemePlain:
		if iterations < HashSCRAMIterations || iterations > maxPBKDF2Rounds {
			return sasl.SCRAMCredentials{}, false
		}
		c, err := passdbNewSCRAM(mech, p.plain, salt, iterations)
		return c, err == nil
	}
	return sasl.SCRAMCredentials{}, false
}

// NTHash returns the NT hash of an {NTLM} field, or derives it from a
// PLAIN one.
func (p *Password) NTHash() ([16]byte, bool) {
	switch p.scheme {
	case SchemeNTLM:
		return [16]byte(p.digest), true
	case SchemePlain:
		return NTHash(p.plain), true
	}
	return [16]byte{}, false
}
