package sasl

import (
	"context"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExchangeContextDeadline: a peer that stops answering is cut off at
// ctx's deadline, on both sides; the error wraps context.DeadlineExceeded
// and ErrOutOfStep, and the connection's deadline is cleared again.
func TestExchangeContextDeadline(t *testing.T) {
	for _, p := range xchgProtocols {
		t.Run(p.String()+"/server", func(t *testing.T) {
			sraw, peer := net.Pipe()
			defer sraw.Close()
			defer peer.Close()
			go func() { _, _ = peer.Read(make([]byte, 1024)) }() // reads the challenge, never answers
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			x := &Exchange{Protocol: p}
			start := time.Now()
			err := x.Serve(ctx, textproto.NewConn(sraw), sraw, xchgPlainServer(), nil)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorIs(t, err, ErrOutOfStep)
			assert.Less(t, time.Since(start), 5*time.Second)
			xchgCheckNoDeadline(t, sraw, peer)
		})
		t.Run(p.String()+"/client", func(t *testing.T) {
			craw, peer := net.Pipe()
			defer craw.Close()
			defer peer.Close()
			go func() { _, _ = peer.Read(make([]byte, 1024)) }() // reads the command, never answers
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			x := &Exchange{Protocol: p}
			err := x.Authenticate(ctx, textproto.NewConn(craw), craw, gosasl.NewPlainClient("", "alice", "secret"))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorIs(t, err, ErrOutOfStep)
			xchgCheckNoDeadline(t, craw, peer)
		})
	}
	t.Run("cancel", func(t *testing.T) {
		craw, peer := net.Pipe()
		defer craw.Close()
		defer peer.Close()
		go func() { _, _ = peer.Read(make([]byte, 1024)) }()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		err := (&Exchange{Protocol: SMTP}).Authenticate(ctx, textproto.NewConn(craw), craw, gosasl.NewPlainClient("", "alice", "secret"))
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, ErrOutOfStep)
	})
}

// xchgCheckNoDeadline checks that c has no deadline left: a read waits
// for the peer's write.
func xchgCheckNoDeadline(t *testing.T, c, peer net.Conn) {
	t.Helper()
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = peer.Write([]byte("x"))
	}()
	n, err := c.Read(make([]byte, 1))
	require.NoError(t, err, "the exchange left a deadline on the connection")
	assert.Equal(t, 1, n)
}

// xchgDeadlineConn records the deadlines set on it.
type xchgDeadlineConn struct {
	net.Conn
	set int
}

func (c *xchgDeadlineConn) SetDeadline(t time.Time) error {
	c.set++
	return c.Conn.SetDeadline(t)
}

// TestExchangeContextLeavesDeadlines: a ctx that can never be done does
// not touch the connection, so a server's own idle deadline stays; one
// that ends without interrupting leaves it alone too.
func TestExchangeContextLeavesDeadlines(t *testing.T) {
	for _, ctx := range []context.Context{context.Background(), xchgLongCtx(t)} {
		sc, cc := xchgPipe(t)
		raw := &xchgDeadlineConn{Conn: xchgRaw(sc)}
		x := &Exchange{Protocol: SMTP}
		done := xchgGo(func() error {
			return x.Serve(ctx, sc, raw, xchgPlainServer(), []byte("\x00alice\x00secret"))
		})
		require.NoError(t, <-done)
		assert.Zero(t, raw.set)
		_ = cc
	}
}

func xchgLongCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	t.Cleanup(cancel)
	return ctx
}

// TestExchangeOutOfStep: the errors that leave the connection out of step
// wrap ErrOutOfStep, and those after which it can carry the next command
// do not.
func TestExchangeOutOfStep(t *testing.T) {
	serve := func(t *testing.T, x *Exchange, srv Server, peerLines ...string) error {
		sc, peer := xchgPipe(t)
		done := xchgGo(func() error { return xchgServe(x, sc, srv, nil) })
		for _, l := range peerLines {
			_, err := peer.ReadLine()
			require.NoError(t, err)
			go func() { _ = peer.PrintfLine("%s", l) }()
		}
		return <-done
	}
	echo := xchgFuncServer(func(resp []byte) ([]byte, bool, error) { return []byte{}, false, nil })
	t.Run("server line too long", func(t *testing.T) {
		err := serve(t, &Exchange{Protocol: IMAP, MaxLineLength: 64}, echo, strings.Repeat("A", 200))
		require.ErrorIs(t, err, ErrTooLarge)
		require.ErrorIs(t, err, ErrOutOfStep)
	})
	for name, line := range map[string]string{"malformed base64": "Zm9", "cancel": "*"} {
		t.Run("server "+name, func(t *testing.T) {
			err := serve(t, &Exchange{Protocol: POP3}, echo, line)
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrOutOfStep)
		})
	}
	t.Run("server too many rounds", func(t *testing.T) {
		err := serve(t, &Exchange{Protocol: SMTP, MaxRounds: 1}, echo, "")
		require.ErrorIs(t, err, ErrTooLarge)
		require.NotErrorIs(t, err, ErrOutOfStep, "the final reply keeps both in step")
	})
	t.Run("server mechanism error", func(t *testing.T) {
		err := serve(t, &Exchange{Protocol: SMTP}, xchgPlainServer(), "AGFsaWNlAHdyb25n")
		require.ErrorIs(t, err, ErrAuthFailed)
		require.NotErrorIs(t, err, ErrOutOfStep)
	})
	t.Run("server write fails", func(t *testing.T) {
		sc, peer := xchgPipe(t)
		peer.Close()
		err := xchgServe(&Exchange{Protocol: IMAP}, sc, echo, nil)
		require.ErrorIs(t, err, ErrOutOfStep)
	})

	client := func(p Protocol, c Client, script ...string) error {
		return xchgScript(t, &Exchange{Protocol: p, Tag: "a1"}, c, script)
	}
	plain := func() Client { return gosasl.NewPlainClient("", "alice", "secret") }
	t.Run("client refused", func(t *testing.T) {
		err := client(SMTP, plain(), "C:AUTH PLAIN AGFsaWNlAHNlY3JldA==", "S:535 5.7.8 no")
		require.ErrorIs(t, err, ErrAuthFailed)
		require.NotErrorIs(t, err, ErrOutOfStep)
	})
	t.Run("client foreign IMAP line", func(t *testing.T) {
		err := client(IMAP, plain(), "C:a1 AUTHENTICATE PLAIN", "S:b2 OK what")
		require.ErrorIs(t, err, ErrOutOfStep)
	})
	t.Run("client malformed SMTP reply", func(t *testing.T) {
		err := client(SMTP, plain(), "C:AUTH PLAIN AGFsaWNlAHNlY3JldA==", "S:2x5 ok")
		require.ErrorIs(t, err, ErrOutOfStep)
	})
	t.Run("client cancel answered", func(t *testing.T) {
		c := &xchgFuncClient{mech: "X", next: func([]byte) ([]byte, error) { return nil, errors.New("no") }}
		err := client(SMTP, c, "C:AUTH X", "S:334 Zm9v", "C:*", "S:501 5.0.0 cancelled")
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrOutOfStep)
	})
	t.Run("client not finished on success", func(t *testing.T) {
		c := &xchgUnfinishedClient{Client: plain()}
		err := client(SMTP, c, "C:AUTH PLAIN AGFsaWNlAHNlY3JldA==", "S:235 2.7.0 ok")
		require.ErrorIs(t, err, errXchgUnverified)
		require.ErrorIs(t, err, ErrOutOfStep)
	})
}

var errXchgUnverified = errors.New("test: server not verified")

// xchgUnfinishedClient is a mutual client that never saw the server's
// proof.
type xchgUnfinishedClient struct{ Client }

func (xchgUnfinishedClient) Finished() error { return errXchgUnverified }

// TestExchangeNilConn: the connection to apply ctx to is required.
func TestExchangeNilConn(t *testing.T) {
	sc, _ := xchgPipe(t)
	x := &Exchange{Protocol: SMTP}
	require.Error(t, x.Serve(context.Background(), sc, nil, xchgPlainServer(), nil))
	require.Error(t, x.Authenticate(context.Background(), sc, nil, gosasl.NewPlainClient("", "a", "b")))
}
