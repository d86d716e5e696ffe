package sasl

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countLimiter counts what a ServerSet tells its Limiter.
type countLimiter struct {
	mu                    sync.Mutex
	waits, fails, success int
}

func (l *countLimiter) Wait(context.Context, net.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	return nil
}

func (l *countLimiter) Failed(net.Addr) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails++
	return 0
}

func (l *countLimiter) Succeeded(net.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.success++
}

type cancelTokens struct{}

func (cancelTokens) VerifyToken(_ context.Context, user, token string) (string, error) {
	if token == "good" {
		return "alice", nil
	}
	return "", ErrAuthFailed
}

// TestCancelAfterCredentialsCounts: a client that answers a rejected
// token's error challenge with "*" has made a failed attempt, for the
// Limiter as for a wrong password; a cancel before any credentials was
// sent is not one.
func TestCancelAfterCredentialsCounts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		client   *xchgFuncClient
		wantFail int
	}{
		{"rejected token, then *", &xchgFuncClient{mech: OAuthBearer, ir: []byte("n,,\x01auth=Bearer bad\x01\x01"),
			next: func([]byte) ([]byte, error) { return nil, ErrAuthFailed }}, 1},
		{"* before credentials", &xchgFuncClient{mech: OAuthBearer,
			next: func([]byte) ([]byte, error) { return nil, ErrCanceled }}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := &countLimiter{}
			set := NewServerSet(&ServerConfig{Tokens: cancelTokens{}, Limiter: lim}, plainTLSConn())
			sc, cc := xchgPipe(t)
			srvErr := xchgGo(func() error {
				return xchgServeOne(&Exchange{Protocol: SMTP}, sc, func(mech string) Server {
					s, err := set.NewServer(context.Background(), mech)
					require.NoError(t, err)
					return s
				})
			})
			require.Error(t, xchgAuth(&Exchange{Protocol: SMTP}, cc, tc.client))
			require.ErrorIs(t, <-srvErr, ErrCanceled)
			assert.Equal(t, tc.wantFail, lim.fails)
			assert.Equal(t, 0, lim.success)
			assert.Equal(t, 1, lim.waits)
		})
	}
}
