package sasl

import (
	"container/list"
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of a [Throttle], after Dovecot 2.3: auth_failure_delay (2 s) and
// the anvil penalty of auth-penalty.c (2 s doubling to 15 s).
const (
	// DefaultFailureDelay is how long a failed attempt waits before its
	// failure is answered.
	DefaultFailureDelay = 2 * time.Second
	// DefaultPenaltyInit is the penalty after the first failure from an
	// address; it doubles with each further failure.
	DefaultPenaltyInit = 2 * time.Second
	// DefaultPenaltyMax caps the penalty.
	DefaultPenaltyMax = 15 * time.Second
	// DefaultForget is how long an address's failures are remembered after
	// its last one.
	DefaultForget = 15 * time.Minute
	// DefaultMaxAddresses bounds the addresses a Throttle remembers.
	DefaultMaxAddresses = 1 << 16
)

// Throttle is a brake on password guessing, in the spirit of Dovecot's
// auth_failure_delay and anvil penalty: every failed attempt is answered
// after FailureDelay, and an address that has failed must wait a penalty
// before each further attempt, PenaltyInit after its first failure,
// doubling up to PenaltyMax. Attempts from one address are spaced by the
// penalty even when they come in parallel over many connections: each
// waiting attempt takes the next free slot. A success clears the address's
// failures (as in Dovecot).
//
// Addresses are keyed by network: an IPv4 address by itself (/32), an IPv6
// address by its /64, the smallest block a single host is usually given, so
// that hopping addresses within it does not escape the penalty. A failure
// at one address never delays another, so a user logging in from elsewhere
// is not slowed by an attack on his name. A nil or non-IP address (a Unix
// socket) is not remembered: it gets the failure delay only.
//
// Memory is bounded: at most MaxAddresses entries of a few dozen bytes,
// forgotten Forget after their last failure; when full, the address that
// failed least recently is dropped first.
//
// Throttle implements [Limiter]: set it as [ServerConfig.Limiter] (one
// Throttle shared by every listener of a server, so the brake counts all
// of them). The zero Throttle uses the defaults above. Its fields must not
// change after first use. It is safe for concurrent use.
type Throttle struct {
	// FailureDelay is the wait before a failure is answered (Failed's
	// result); 0 means DefaultFailureDelay, a negative value none.
	FailureDelay time.Duration
	// PenaltyInit is the penalty after an address's first failure;
	// 0 means DefaultPenaltyInit, negative none at all.
	PenaltyInit time.Duration
	// PenaltyMax caps the penalty; 0 means DefaultPenaltyMax.
	PenaltyMax time.Duration
	// Forget is how long failures are remembered after the last one;
	// 0 means DefaultForget.
	Forget time.Duration
	// MaxAddresses bounds the remembered addresses; 0 means
	// DefaultMaxAddresses.
	MaxAddresses int

	mu    sync.Mutex
	addrs map[throttleKey]*list.Element // of *throttleEntry
	lru   list.List                     // least recently failed at the front
}

var _ Limiter = (*Throttle)(nil)

// throttleKey is an IPv4 address or the first 64 bits of an IPv6 one.
type throttleKey struct {
	b  [8]byte
	v6 bool
}

type throttleEntry struct {
	key      throttleKey
	failures int
	last     time.Time // the last failure
	next     time.Time // the earliest start of the next attempt
}

func (t *Throttle) failureDelay() time.Duration {
	switch {
	case t.FailureDelay < 0:
		return 0
	case t.FailureDelay == 0:
		return DefaultFailureDelay
	}
	return t.FailureDelay
}

func (t *Throttle) penaltyInit() time.Duration {
	switch {
	case t.PenaltyInit < 0:
		return 0
	case t.PenaltyInit == 0:
		return DefaultPenaltyInit
	}
	return t.PenaltyInit
}

func (t *Throttle) penaltyMax() time.Duration {
	if t.PenaltyMax <= 0 {
		return DefaultPenaltyMax
	}
	return t.PenaltyMax
}

func (t *Throttle) forget() time.Duration {
	if t.Forget <= 0 {
		return DefaultForget
	}
	return t.Forget
}

func (t *Throttle) maxAddresses() int {
	if t.MaxAddresses <= 0 {
		return DefaultMaxAddresses
	}
	return t.MaxAddresses
}

// throttleKeyOf returns the key of addr, and false if it has none.
func throttleKeyOf(addr net.Addr) (throttleKey, bool) {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.IPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if addr == nil {
			return throttleKey{}, false
		}
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return throttleKey{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap() // ::ffff:192.0.2.1 is 192.0.2.1
	var k throttleKey
	switch {
	case ip.Is4():
		b := ip.As4()
		copy(k.b[:], b[:])
	case ip.Is6():
		b := ip.As16()
		copy(k.b[:], b[:8]) // the /64
		k.v6 = true
	default:
		return throttleKey{}, false
	}
	return k, true
}

// penalty is the wait after n failures: PenaltyInit doubled n-1 times, at
// most PenaltyMax.
func (t *Throttle) penalty(n int) time.Duration {
	p := t.penaltyInit()
	if n <= 0 || p == 0 {
		return 0
	}
	max := t.penaltyMax()
	for i := 1; i < n && p < max; i++ {
		p *= 2
	}
	return min(p, max)
}

// lookup returns addr's live entry, dropping it if it is forgotten. The
// caller holds t.mu.
func (t *Throttle) lookup(k throttleKey, now time.Time) *throttleEntry {
	el, ok := t.addrs[k]
	if !ok {
		return nil
	}
	e := el.Value.(*throttleEntry)
	if now.Sub(e.last) > t.forget() {
		t.lru.Remove(el)
		delete(t.addrs, k)
		return nil
	}
	return e
}

// Wait blocks before an attempt from addr until the address's penalty has
// passed, or ctx is done (it then returns ctx's error). An address without
// failures does not wait. Parallel attempts from one address are spaced by
// the penalty: each takes the next slot.
func (t *Throttle) Wait(ctx context.Context, addr net.Addr) error {
	k, ok := throttleKeyOf(addr)
	if !ok {
		return nil
	}
	now := time.Now()
	t.mu.Lock()
	e := t.lookup(k, now)
	if e == nil || e.failures == 0 {
		t.mu.Unlock()
		return nil
	}
	p := t.penalty(e.failures)
	start := e.last.Add(p)
	if e.next.After(start) {
		start = e.next
	}
	if start.Before(now) {
		start = now
	}
	// Reserve the slot, so that the next parallel attempt waits a
	// penalty more.
	e.next = start.Add(p)
	t.mu.Unlock()
	d := start.Sub(now)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Failed records a failed attempt from addr and returns how long the
// caller should wait before it answers the failure (FailureDelay).
func (t *Throttle) Failed(addr net.Addr) time.Duration {
	delay := t.failureDelay()
	k, ok := throttleKeyOf(addr)
	if !ok {
		return delay
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.lookup(k, now)
	if e == nil {
		if t.addrs == nil {
			t.addrs = make(map[throttleKey]*list.Element)
		}
		for len(t.addrs) >= t.maxAddresses() {
			// Full: the address that failed least recently goes.
			old := t.lru.Front()
			t.lru.Remove(old)
			delete(t.addrs, old.Value.(*throttleEntry).key)
		}
		e = &throttleEntry{key: k}
		t.addrs[k] = t.lru.PushBack(e)
	} else {
		t.lru.MoveToBack(t.addrs[k])
	}
	e.failures++
	e.last = now
	return delay
}

// Succeeded clears addr's failures: the address has shown it knows a
// password. (An attacker who owns an account can thus reset his penalty;
// the failure delay still applies to each of his failures, and the
// penalty builds up again with them.)
func (t *Throttle) Succeeded(addr net.Addr) {
	k, ok := throttleKeyOf(addr)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.addrs[k]; ok {
		t.lru.Remove(el)
		delete(t.addrs, k)
	}
}

// Len returns how many addresses t remembers (for monitoring and tests).
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.addrs)
}
