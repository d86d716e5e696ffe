package sasl

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func throttleAddr(s string) net.Addr {
	return &net.TCPAddr{IP: net.ParseIP(s), Port: 40000}
}

// throttleMustWait reports whether an attempt from addr would wait now:
// Wait with a cancelled context returns at once, with nil when there is
// no penalty and with the context's error when there is.
func throttleMustWait(t *Throttle, addr net.Addr) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return t.Wait(ctx, addr) != nil
}

func TestThrottlePenalty(t *testing.T) {
	th := &Throttle{FailureDelay: time.Millisecond, PenaltyInit: 30 * time.Millisecond, PenaltyMax: 100 * time.Millisecond}
	a := throttleAddr("192.0.2.1")
	assert.False(t, throttleMustWait(th, a), "no failures, no wait")
	assert.Equal(t, time.Millisecond, th.Failed(a))
	assert.True(t, throttleMustWait(th, a))
	// The penalty doubles per failure up to the cap.
	for n, want := range []time.Duration{0, 30, 60, 100, 100} {
		assert.Equal(t, want*time.Millisecond, th.penalty(n), "n=%d", n)
	}
	// Wait takes at least the penalty (a lower bound: no flaky upper one).
	th2 := &Throttle{PenaltyInit: 40 * time.Millisecond}
	th2.Failed(a)
	start := time.Now()
	require.NoError(t, th2.Wait(context.Background(), a))
	assert.GreaterOrEqual(t, time.Since(start), 35*time.Millisecond)
	// A success clears the address.
	th.Succeeded(a)
	assert.False(t, throttleMustWait(th, a))
	assert.Equal(t, 0, th.Len())
}

// TestThrottleOtherAddresses: a failure at one address never delays
// another; IPv6 addresses count per /64, IPv4-mapped ones as IPv4.
func TestThrottleOtherAddresses(t *testing.T) {
	th := &Throttle{}
	for range 50 {
		th.Failed(throttleAddr("192.0.2.1"))
		th.Failed(throttleAddr("2001:db8:1:2::1"))
	}
	assert.True(t, throttleMustWait(th, throttleAddr("192.0.2.1")))
	assert.True(t, throttleMustWait(th, throttleAddr("::ffff:192.0.2.1")), "IPv4-mapped is the IPv4 address")
	assert.True(t, throttleMustWait(th, throttleAddr("2001:db8:1:2:ffff::9")), "same /64")
	assert.False(t, throttleMustWait(th, throttleAddr("192.0.2.2")))
	assert.False(t, throttleMustWait(th, throttleAddr("2001:db8:1:3::1")), "another /64")
	// Unknown and non-IP addresses are not remembered.
	th.Failed(nil)
	th.Failed(&net.UnixAddr{Name: "/run/sock", Net: "unix"})
	assert.Equal(t, 2, th.Len())
	assert.False(t, throttleMustWait(th, nil))
	// An address given only as a string works too.
	th.Failed(throttleStringAddr("198.51.100.7:25"))
	assert.True(t, throttleMustWait(th, throttleAddr("198.51.100.7")))
}

type throttleStringAddr string

func (a throttleStringAddr) Network() string { return "tcp" }
func (a throttleStringAddr) String() string  { return string(a) }

// TestThrottleBoundedMemory: an attack from many addresses keeps at most
// MaxAddresses entries, dropping those that failed least recently, and
// entries are forgotten Forget after their last failure.
func TestThrottleBoundedMemory(t *testing.T) {
	th := &Throttle{MaxAddresses: 100}
	for i := range 10_000 {
		th.Failed(throttleAddr(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)))
	}
	assert.Equal(t, 100, th.Len())
	assert.True(t, throttleMustWait(th, throttleAddr("10.0.39.15")), "the most recent stays") // 9999
	assert.False(t, throttleMustWait(th, throttleAddr("10.0.0.0")), "the oldest went")

	th = &Throttle{Forget: 20 * time.Millisecond}
	th.Failed(throttleAddr("192.0.2.9"))
	assert.True(t, throttleMustWait(th, throttleAddr("192.0.2.9")))
	time.Sleep(40 * time.Millisecond)
	assert.False(t, throttleMustWait(th, throttleAddr("192.0.2.9")))
	assert.Equal(t, 0, th.Len())
}

// TestThrottleParallelAttempts: attempts from one address over many
// connections at once are spaced by the penalty, not run together.
func TestThrottleParallelAttempts(t *testing.T) {
	th := &Throttle{PenaltyInit: 25 * time.Millisecond, PenaltyMax: 25 * time.Millisecond}
	a := throttleAddr("192.0.2.1")
	th.Failed(a)
	const n = 6
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() { assert.NoError(t, th.Wait(context.Background(), a)) })
	}
	wg.Wait()
	assert.GreaterOrEqual(t, time.Since(start), n*25*time.Millisecond-5*time.Millisecond)
	// A cancelled wait gives back the context's error.
	long := &Throttle{PenaltyInit: time.Hour}
	long.Failed(a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, long.Wait(ctx, a), context.DeadlineExceeded)
}

// TestThrottleServerSet: through ServerConfig.Limiter, wrong passwords from
// one address slow that address down, while a good user from another
// address logs in at once.
func TestThrottleServerSet(t *testing.T) {
	th := &Throttle{FailureDelay: time.Millisecond, PenaltyInit: time.Hour}
	cfg := &ServerConfig{Plaintext: &plainTestStore{users: map[string]string{"alice": "right"}}, InsecureAuth: true, Limiter: th}
	attacker, user := throttleAddr("192.0.2.66"), throttleAddr("198.51.100.1")
	login := func(ctx context.Context, addr net.Addr, pw string) error {
		set := NewServerSet(cfg, ServerConnState(nil, nil, addr))
		s, err := set.NewServer(ctx, Plain)
		if err != nil {
			return err
		}
		_, _, err = s.Next([]byte("\x00alice\x00" + pw))
		return err
	}
	require.ErrorIs(t, login(context.Background(), attacker, "guess"), ErrAuthFailed)
	// The attacker's next attempt waits an hour (here: until its context ends).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, login(ctx, attacker, "guess2"), context.DeadlineExceeded)
	// Alice, elsewhere, is not slowed.
	start := time.Now()
	require.NoError(t, login(context.Background(), user, "right"))
	assert.Less(t, time.Since(start), time.Second)
}

func BenchmarkThrottle(b *testing.B) {
	th := &Throttle{}
	a := throttleAddr("192.0.2.1")
	ctx := context.Background()
	b.Run("op=wait-clean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			th.Wait(ctx, a)
		}
	})
	b.Run("op=failed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			th.Failed(a)
		}
	})
}
