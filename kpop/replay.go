package kpop

import (
	"crypto/sha256"
	"github.com/go-mailauth/mailauth/sasl"
	"sync"
	"time"
)

// replayCache remembers the authenticators an Acceptor accepted, so that a
// recorded AP-REQ cannot be played again while its authenticator is
// within the clock skew (RFC 4120, Section 3.2.3). gokrb5 has one
// process-wide cache whose cleanup period the first caller fixes; this
// one belongs to its Acceptor and is bounded.
//
// An entry is the SHA-256 of the authenticator's ciphertext, as MIT 1.18+
// keys its cache: it is unique per AP-REQ (the encryption has a random
// confounder), and nobody without the session key can make another
// ciphertext of the same authenticator. It lives until the authenticator's
// time plus the skew, after which the skew check refuses the AP-REQ anyway.
type replayCache struct {
	mu    sync.Mutex
	max   int
	seen  map[[16]byte]time.Time // entry → expiry
	order [][16]byte             // insertion order, for expiry sweeps
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[[16]byte]time.Time)}
}

// check records cipher, the authenticator's ciphertext with time ct, and
// fails with ErrReplay if it was recorded before, or ErrReplayCacheFull
// if max live entries are held. Entries are added only after an AP-REQ
// verified, so filling the cache takes valid tickets.
func (c *replayCache) check(cipher []byte, ct time.Time, skew time.Duration, now time.Time) error {
	sum := sha256.Sum256(cipher)
	var k [16]byte
	copy(k[:], sum[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now, false)
	if exp, ok := c.seen[k]; ok && now.Before(exp) {
		return &krbError{code: codeRepeat, kind: ErrReplay, msg: "authenticator replayed"}
	}
	if len(c.seen) >= c.max {
		c.expire(now, true)
		if len(c.seen) >= c.max {
			// Accepting without recording would allow a replay:
			// fail closed.
			return &krbError{code: codeGeneric, kind: ErrReplayCacheFull, base: sasl.ErrTemporaryFailure, msg: "replay cache full"}
		}
	}
	c.seen[k] = ct.Add(skew)
	c.order = append(c.order, k)
	return nil
}

// expire drops expired entries from the front of the insertion order; with
// all, it sweeps the whole cache. Expiry times are nearly in insertion
// order (they follow the clients' clocks), so the front sweep finds most.
func (c *replayCache) expire(now time.Time, all bool) {
	i := 0
	for ; i < len(c.order); i++ {
		k := c.order[i]
		exp, ok := c.seen[k]
		if ok && now.Before(exp) {
			break
		}
		delete(c.seen, k)
	}
	if i > 0 {
		c.order = append(c.order[:0], c.order[i:]...)
	}
	if !all {
		return
	}
	kept := c.order[:0]
	for _, k := range c.order {
		if exp, ok := c.seen[k]; ok && now.Before(exp) {
			kept = append(kept, k)
		} else {
			delete(c.seen, k)
		}
	}
	c.order = kept
}
