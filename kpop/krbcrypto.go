package kpop

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3962"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc8009"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Encryption and checksums go through gokrb5's RFC 3961/3962/8009 code,
// with one change: derived keys are remembered. Every encryption, and
// every checksum, first derives a key from the protocol key and the key
// usage (RFC 3961, Section 5.1; RFC 8009, Section 5), and in gokrb5 that
// derivation (n-fold and AES rounds, or an HMAC-SHA2 KDF) costs more than
// the encryption of a small message. MIT keeps derived keys with each key
// (krb5_key's derived-key list); so does this cache. The service keys are
// derived once, and a client that reuses its service ticket, as every
// client does while the ticket lives, has its session key's derivations
// made once.

// maxDerivedKeys bounds a derived-key cache. When it is full it is
// emptied: an entry is cheap to recompute, so no eviction order is kept.
const maxDerivedKeys = 4096

// dkCache remembers derived keys. It is safe for concurrent use.
type dkCache struct {
	mu sync.Mutex
	m  map[[32]byte][]byte
}

func newDKCache() *dkCache { return &dkCache{m: make(map[[32]byte][]byte)} }

// derive returns e's derived key of protocolKey for the usage constant.
// The cache key is a SHA-256 of enctype, key and usage, so the map holds
// no protocol key.
func (c *dkCache) derive(e etype.EType, protocolKey, usage []byte) ([]byte, error) {
	h := sha256.New()
	var id [5]byte
	id[0], id[1], id[2], id[3], id[4] = byte(e.GetETypeID()>>24), byte(e.GetETypeID()>>16), byte(e.GetETypeID()>>8), byte(e.GetETypeID()), byte(len(usage))
	h.Write(id[:])
	h.Write(usage)
	h.Write(protocolKey)
	var k [32]byte
	h.Sum(k[:0])
	c.mu.Lock()
	d, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := e.DeriveKey(protocolKey, usage)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxDerivedKeys {
		clear(c.m)
	}
	c.m[k] = d
	c.mu.Unlock()
	return d, nil
}

// kdEtype is an AES enctype of gokrb5 whose key derivations go through a
// dkCache. The RFC 3962 and RFC 8009 message functions take the enctype
// as a parameter and derive through it, so passing a kdEtype changes only
// where derived keys come from.
type kdEtype struct {
	etype.EType
	c *dkCache
}

// cryptoFor returns key's enctype with derivations through c. The key
// must be AES (checkKey).
func cryptoFor(c *dkCache, keyType int32) (kdEtype, error) {
	if !aesEnctype(keyType) {
		return kdEtype{}, &krbError{code: codeEtype, kind: ErrEnctype, msg: fmt.Sprintf("enctype %d", keyType)}
	}
	e, err := crypto.GetEtype(keyType)
	if err != nil {
		return kdEtype{}, err
	}
	return kdEtype{EType: e, c: c}, nil
}

func (e kdEtype) sha2() bool {
	id := e.GetETypeID()
	return id == etypeID.AES128_CTS_HMAC_SHA256_128 || id == etypeID.AES256_CTS_HMAC_SHA384_192
}

// DeriveKey returns the derived key, from the cache when it holds it.
func (e kdEtype) DeriveKey(protocolKey, usage []byte) ([]byte, error) {
	return e.c.derive(e.EType, protocolKey, usage)
}

// EncryptMessage encrypts with a random confounder and appends the
// integrity checksum (RFC 3961, Section 5.3; RFC 8009, Section 5).
func (e kdEtype) EncryptMessage(key, message []byte, usage uint32) ([]byte, []byte, error) {
	if e.sha2() {
		return rfc8009.EncryptMessage(key, message, usage, e)
	}
	return rfc3962.EncryptMessage(key, message, usage, e)
}

// DecryptMessage decrypts and verifies. The caller has checked that the
// ciphertext holds at least a confounder and a checksum.
func (e kdEtype) DecryptMessage(key, ciphertext []byte, usage uint32) ([]byte, error) {
	if e.sha2() {
		return rfc8009.DecryptMessage(key, ciphertext, usage, e)
	}
	return rfc3962.DecryptMessage(key, ciphertext, usage, e)
}

// VerifyIntegrity checks a message's integrity checksum.
func (e kdEtype) VerifyIntegrity(protocolKey, ct, pt []byte, usage uint32) bool {
	if e.sha2() {
		return rfc8009.VerifyIntegrity(protocolKey, ct, usage, e)
	}
	return rfc3961.VerifyIntegrity(protocolKey, ct, pt, usage, e)
}

// GetChecksumHash returns the keyed checksum of data (RFC 3961, Section
// 5.4), as RFC 4121 per-message tokens use it.
func (e kdEtype) GetChecksumHash(protocolKey, data []byte, usage uint32) ([]byte, error) {
	return common.GetHash(data, protocolKey, common.GetUsageKc(usage), e)
}

// encrypt returns plain encrypted under key for usage as EncryptedData.
func encrypt(c *dkCache, plain []byte, key types.EncryptionKey, usage uint32, kvno int) (types.EncryptedData, error) {
	e, err := cryptoFor(c, key.KeyType)
	if err != nil {
		return types.EncryptedData{}, err
	}
	_, b, err := e.EncryptMessage(key.KeyValue, plain, usage)
	if err != nil {
		return types.EncryptedData{}, err
	}
	return types.EncryptedData{EType: key.KeyType, Cipher: b, KVNO: kvno}, nil
}
