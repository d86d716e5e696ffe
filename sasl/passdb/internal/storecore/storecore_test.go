package storecore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
)

const bcrypt4 = "{BLF-CRYPT}$2y$04$524hLWsCh04eU9k5mGNbLeK7rfcZcfxAlLzKnJheXZy3eSC8Fhcy." // "secret"

// fakeDB is a Fetcher over a map, counting fetches, failing on demand.
type fakeDB struct {
	users   map[string][]string
	fetches atomic.Int32
	fail    error
	hang    bool
}

func (f *fakeDB) fetch(ctx context.Context, user string) (*Record, error) {
	f.fetches.Add(1)
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.fail != nil {
		return nil, f.fail
	}
	fields, ok := f.users[user]
	if !ok {
		return nil, nil
	}
	return &Record{Fields: fields}, nil
}

func newCore(t *testing.T, f *fakeDB, opts Options) *Core {
	t.Helper()
	opts.Name = "test"
	if opts.DummyPassword == "" {
		opts.DummyPassword = bcrypt4
	}
	if opts.SCRAMSecret == nil {
		opts.SCRAMSecret = []byte("test scram secret")
	}
	c, err := New(opts, f.fetch)
	require.NoError(t, err)
	return c
}

func TestCoreLookups(t *testing.T) {
	scram, err := passdb.Hash(passdb.SchemeSCRAMSHA256, "secret")
	require.NoError(t, err)
	digest, err := passdb.HashUser(passdb.SchemeDigestMD5, "dig@realm", "secret")
	require.NoError(t, err)
	f := &fakeDB{users: map[string][]string{
		"plain":  {"{PLAIN}secret"},
		"multi":  {"{SHA512-CRYPT}$6$x$y", "{BLF-CRYPT}$2y$04$524hLWsCh04eU9k5mGNbLeK7rfcZcfxAlLzKnJheXZy3eSC8Fhcy.", scram},
		"scram":  {scram},
		"dig":    {digest},
		"locked": nil,
		"badone": {"{NOPE}x", "{PLAIN}secret"},
		"broken": {"{NOPE}x"},
		"crypt6": {"{SHA512-CRYPT}$6$mailauthsalt$3YYRHuDzP/3zohl8zck1K/fk2UHAaTvSXATqwEtkDNfmT31eysKAw6YwdXw0Hyczr51ZvzzTUlfMZLhwl0KSF1"},
	}}
	c := newCore(t, f, Options{DigestRealm: "realm"})
	ctx := context.Background()

	require.NoError(t, c.VerifyPassword(ctx, "plain", "secret"))
	require.ErrorIs(t, c.VerifyPassword(ctx, "plain", "wrong"), sasl.ErrAuthFailed)
	require.NoError(t, c.VerifyPassword(ctx, "multi", "secret"), "the first verifiable field")
	require.NoError(t, c.VerifyPassword(ctx, "dig", "secret"))
	require.ErrorIs(t, c.VerifyPassword(ctx, "dig", "wrong"), sasl.ErrAuthFailed)
	require.ErrorIs(t, c.VerifyPassword(ctx, "locked", "secret"), sasl.ErrAuthFailed)
	require.ErrorIs(t, c.VerifyPassword(ctx, "nobody", "secret"), sasl.ErrUnknownUser)
	require.NoError(t, c.VerifyPassword(ctx, "badone", "secret"), "a bad field beside a good one")
	require.ErrorIs(t, c.VerifyPassword(ctx, "broken", "secret"), sasl.ErrTemporaryFailure)
	// A scheme passdb cannot verify fails like a wrong password, never
	// as a temporary failure (issue 8, defect 4).
	p, _ := passdb.ParsePassword(f.users["crypt6"][0], "")
	if err := c.VerifyPassword(ctx, "crypt6", "secret"); p.Supported() {
		require.NoError(t, err)
	} else {
		require.ErrorIs(t, err, sasl.ErrNoCredentials)
		require.ErrorIs(t, err, passdb.ErrUnsupportedScheme)
	}
	require.NotErrorIs(t, c.VerifyPassword(ctx, "nobody", "secret"), sasl.ErrNoCredentials)

	pw, err := c.LookupPassword(ctx, "plain")
	require.NoError(t, err)
	assert.Equal(t, "secret", pw)
	_, err = c.LookupPassword(ctx, "scram")
	require.ErrorIs(t, err, sasl.ErrNoCredentials, "a user without the form")
	_, err = c.LookupPassword(ctx, "nobody")
	require.ErrorIs(t, err, sasl.ErrUnknownUser)
	require.NotErrorIs(t, err, sasl.ErrNoCredentials, "no such user")

	cram, err := c.LookupCRAMMD5(ctx, "plain")
	require.NoError(t, err)
	assert.Equal(t, sasl.NewCRAMMD5Secret("secret"), cram)

	h, err := c.LookupDigestMD5(ctx, "dig", "realm")
	require.NoError(t, err)
	h2, err := c.LookupDigestMD5(ctx, "plain", "other")
	require.NoError(t, err)
	assert.NotEqual(t, h, h2)
	_, err = c.LookupDigestMD5(ctx, "dig", "other")
	require.ErrorIs(t, err, sasl.ErrUnknownUser, "a stored hash serves only its realm")

	cr, err := c.LookupSCRAM(ctx, "SCRAM-SHA-256-PLUS", "scram")
	require.NoError(t, err)
	assert.Len(t, cr.StoredKey, 32)
	_, err = c.LookupSCRAM(ctx, "SCRAM-SHA-1", "scram")
	require.ErrorIs(t, err, sasl.ErrUnknownUser)
	d1, err := c.LookupSCRAM(ctx, "SCRAM-SHA-1", "plain")
	require.NoError(t, err)
	d2, err := c.LookupSCRAM(ctx, "SCRAM-SHA-1", "plain")
	require.NoError(t, err)
	assert.Equal(t, d1, d2, "derived salts are stable")
	_, err = c.LookupSCRAM(ctx, "CRAM-MD5", "plain")
	require.ErrorIs(t, err, sasl.ErrUnsupportedMechanism)

	nt, err := c.LookupNTHash(ctx, "plain")
	require.NoError(t, err)
	assert.Equal(t, passdb.NTHash("secret"), nt)
}

// TestCoreNames: names no database holds are unknown users without a
// fetch.
func TestCoreNames(t *testing.T) {
	f := &fakeDB{}
	c := newCore(t, f, Options{})
	for _, name := range []string{"", "a\x00b", "\xff", "a\nb", strings.Repeat("a", passdb.MaxUsername+1)} {
		require.ErrorIs(t, c.VerifyPassword(context.Background(), name, "x"), sasl.ErrUnknownUser)
	}
	assert.Zero(t, f.fetches.Load())
}

// TestCoreFailures: a failing or hanging database is a temporary failure
// that keeps its cause, names no user, and never looks like a wrong
// password; the timeout bounds it.
func TestCoreFailures(t *testing.T) {
	cause := errors.New("connection refused for alice")
	f := &fakeDB{fail: cause}
	c := newCore(t, f, Options{Timeout: 50 * time.Millisecond, Describe: func(error) string { return "refused" }})
	ctx := context.Background()
	err := c.VerifyPassword(ctx, "alice", "secret")
	require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
	require.ErrorIs(t, err, cause)
	require.NotErrorIs(t, err, sasl.ErrAuthFailed)
	require.NotErrorIs(t, err, sasl.ErrUnknownUser)
	assert.Equal(t, "test: lookup: temporary failure: refused", err.Error())
	_, err = c.LookupSCRAM(ctx, "SCRAM-SHA-256", "alice")
	require.ErrorIs(t, err, sasl.ErrTemporaryFailure)

	f.fail, f.hang = nil, true
	start := time.Now()
	err = c.VerifyPassword(ctx, "alice", "secret")
	require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.NotContains(t, err.Error(), "alice")
}

// TestCoreDummyWork: an unknown user costs the dummy's verification.
func TestCoreDummyWork(t *testing.T) {
	bcrypt10, err := passdb.Hash(passdb.SchemeBLFCrypt, "x")
	require.NoError(t, err)
	f := &fakeDB{users: map[string][]string{"u": {bcrypt10}}}
	c := newCore(t, f, Options{DummyPassword: bcrypt10})
	ctx := context.Background()
	t0 := time.Now()
	require.ErrorIs(t, c.VerifyPassword(ctx, "u", "wrong"), sasl.ErrAuthFailed)
	known := time.Since(t0)
	t0 = time.Now()
	require.ErrorIs(t, c.VerifyPassword(ctx, "nobody", "wrong"), sasl.ErrUnknownUser)
	unknown := time.Since(t0)
	// bcrypt at cost 10 is tens of milliseconds; a fetch of nothing is
	// microseconds. Only a lower bound: the machine may be loaded.
	assert.Greater(t, unknown, known/4, "known %v, unknown %v", known, unknown)
	assert.Greater(t, unknown, 5*time.Millisecond)
}

func TestCoreOptions(t *testing.T) {
	for _, o := range []Options{
		{Timeout: -1}, {SCRAMIterations: 100}, {DummyPassword: "{NOPE}x"}, {DummyPassword: "{SHA512-CRYPT}$6$x$y"},
	} {
		_, err := New(o, (&fakeDB{}).fetch)
		if o.DummyPassword == "{SHA512-CRYPT}$6$x$y" {
			p, _ := passdb.ParsePassword(o.DummyPassword, "")
			if p != nil && p.Supported() {
				continue
			}
		}
		assert.Error(t, err, fmt.Sprintf("%+v", o))
	}
	c, err := New(Options{Name: "t"}, (&fakeDB{}).fetch)
	require.NoError(t, err)
	assert.Equal(t, "{BLF-CRYPT}", c.Dummy().String(), "default dummy")
	assert.Equal(t, DefaultTimeout, c.Timeout())
}

func TestCache(t *testing.T) {
	f := &fakeDB{users: map[string][]string{"a": {"{PLAIN}1"}, "b": {"{PLAIN}2"}, "c": {"{PLAIN}3"}}}
	c := newCore(t, f, Options{Cache: CacheOptions{MaxEntries: 2, TTL: time.Hour, NegativeTTL: time.Hour}})
	now := time.Now()
	c.cache.now = func() time.Time { return now }
	ctx := context.Background()
	verify := func(u, pw string) error { return c.VerifyPassword(ctx, u, pw) }
	require.NoError(t, verify("a", "1"))
	require.NoError(t, verify("a", "1"))
	assert.EqualValues(t, 1, f.fetches.Load(), "a hit")
	require.ErrorIs(t, verify("a", "2"), sasl.ErrAuthFailed, "the cache holds fields, not results")
	require.ErrorIs(t, verify("x", "1"), sasl.ErrUnknownUser)
	require.ErrorIs(t, verify("x", "1"), sasl.ErrUnknownUser)
	assert.EqualValues(t, 2, f.fetches.Load(), "a negative hit")
	require.NoError(t, verify("b", "2"))
	assert.Equal(t, 2, c.cache.len(), "bounded")
	require.NoError(t, verify("a", "1"))
	assert.EqualValues(t, 4, f.fetches.Load(), "a was evicted as least recently used")

	now = now.Add(2 * time.Hour)
	require.NoError(t, verify("a", "1"))
	assert.EqualValues(t, 5, f.fetches.Load(), "expired")

	// Failures are not cached.
	f.fail = errors.New("down")
	require.ErrorIs(t, verify("c", "3"), sasl.ErrTemporaryFailure)
	f.fail = nil
	require.NoError(t, verify("c", "3"))

	// A negative TTL below zero keeps no negative entries.
	f2 := &fakeDB{}
	c2 := newCore(t, f2, Options{Cache: CacheOptions{MaxEntries: 10, NegativeTTL: -1}})
	c2.VerifyPassword(ctx, "x", "1")
	c2.VerifyPassword(ctx, "x", "1")
	assert.EqualValues(t, 2, f2.fetches.Load())
	c.Forget("a")
	require.NoError(t, verify("a", "1"))
}

// TestCoreHashTurns: password hashes take turns; a login whose context
// ends while it waits is a temporary failure, not a wrong password.
func TestCoreHashTurns(t *testing.T) {
	f := &fakeDB{users: map[string][]string{"u": {"{PLAIN}secret"}}}
	c := newCore(t, f, Options{})
	for range cap(c.hashing) {
		c.hashing <- struct{}{} // every turn taken
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.VerifyPassword(ctx, "u", "secret")
	require.ErrorIs(t, err, sasl.ErrTemporaryFailure)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	<-c.hashing
	require.NoError(t, c.VerifyPassword(context.Background(), "u", "secret"))
}
