package mailserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// msCounts returns how many sessions have not logged in, and how
// many run.
func (s *Server) msCounts() (unauth, sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unauth.Len(), len(s.conns)
}

// TestIdleUnauthenticatedGiveWay (issue 8, under load (a)): idle
// connections that never log in, on both listeners of one Server, cannot
// lock out logins. They have their own bound (MaxUnauthenticated); when
// it, or MaxConnections, is reached, the oldest of them gives way to a new
// client; logged-in sessions are never closed for newcomers; and the
// counts hold over both listeners. Before the fix a full server accepted
// nothing until an idle session timed out (5 minutes).
func TestIdleUnauthenticatedGiveWay(t *testing.T) {
	const maxConns, maxUnauth = 24, 8
	e := msStart(t, sasl.IMAP, func(c *Config) {
		c.MaxConnections = maxConns
		c.MaxUnauthenticated = maxUnauth
		c.InsecureAuth = true
	})
	// Logged-in sessions first: they must survive everything below.
	var authed []*msClient
	for range maxConns - maxUnauth {
		c := e.dial(t)
		c.read()
		c.send("a LOGIN alice secret")
		require.Contains(t, msLast(c.until("a ")), "a OK", "a login within the bounds")
		authed = append(authed, c)
	}
	// Then many idle connections on both listeners (plaintext and
	// implicit TLS), far beyond both bounds, never sending a command.
	var idle []net.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	for i := range 3 * maxConns {
		if i%2 == 0 {
			c, err := net.Dial("tcp", e.addr)
			require.NoError(t, err)
			idle = append(idle, c)
			continue
		}
		c, err := tls.Dial("tcp", e.tlsAddr, e.clientTLS)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	// Wait until the server has taken every idle connection in (each
	// gets a greeting, or is closed when it gives way), so that none of
	// them arrives after the real clients below and makes one of those
	// give way instead.
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			u, n := e.srv.msCounts()
			t.Fatalf("idle connection %d (TLS %v) was never served; unauth %d, sessions %d", i, i%2 == 1, u, n)
		}
	}
	// A real login on each listener still goes through, promptly.
	for _, implicit := range []bool{false, true} {
		start := time.Now()
		var conn net.Conn
		var err error
		if implicit {
			conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.tlsAddr, e.clientTLS)
		} else {
			conn, err = net.DialTimeout("tcp", e.addr, 5*time.Second)
		}
		require.NoError(t, err)
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		c := &msClient{t: t, conn: conn, tp: textproto.NewConn(conn), clientTLS: e.clientTLS}
		t.Cleanup(func() { conn.Close() })
		assert.Contains(t, c.read(), "* OK")
		c.send("a LOGIN alice secret")
		assert.Contains(t, msLast(c.until("a ")), "a OK")
		t.Logf("login (implicit TLS %v) behind %d idle connections: %v", implicit, len(idle), time.Since(start))
		authed = append(authed, c)
	}
	// The bounds held, over both listeners.
	unauth, sessions := e.srv.msCounts()
	assert.LessOrEqual(t, unauth, maxUnauth)
	assert.LessOrEqual(t, sessions, maxConns)
	// Every logged-in session is still served.
	for i, c := range authed[:maxConns-maxUnauth] {
		c.send("b NOOP")
		assert.Contains(t, msLast(c.until("b ")), "b OK", "authenticated session %d was closed", i)
	}
}

// TestLoginIdleTimeout: a session that has not logged in gets the
// shorter LoginIdleTimeout, one that has the IdleTimeout.
func TestLoginIdleTimeout(t *testing.T) {
	e := msStart(t, sasl.POP3, func(c *Config) {
		c.LoginIdleTimeout = 200 * time.Millisecond
		c.IdleTimeout = 10 * time.Second
		c.InsecureAuth = true
	})
	idle := e.dial(t)
	idle.read()
	start := time.Now()
	idle.expectClosed()
	assert.Less(t, time.Since(start), 5*time.Second)

	authed := e.dial(t)
	authed.read()
	authed.send("USER alice")
	authed.read()
	authed.send("PASS secret")
	require.Equal(t, "+OK Logged in", authed.read())
	time.Sleep(400 * time.Millisecond) // beyond LoginIdleTimeout
	authed.send("NOOP")
	assert.Equal(t, "+OK ", authed.read())
}

// TestOAuthCancelCounts (issue 8, "also check"): a rejected bearer token
// answered with "*" counts as a failed login; three close the connection.
// A cancel before any data does not count. Before the fix no cancel was
// counted, so a client could try tokens without end.
func TestOAuthCancelCounts(t *testing.T) {
	th := &sasl.Throttle{FailureDelay: -1, PenaltyInit: -1}
	e := msStart(t, sasl.IMAP, func(c *Config) {
		c.SASL = &sasl.ServerConfig{Passwords: msUsers{}, Tokens: msTokens{}, Limiter: th}
		c.InsecureAuth = true
	})
	c := e.dial(t)
	c.read()
	for range 5 { // cancels before any data: not guesses
		c.send("a AUTHENTICATE OAUTHBEARER")
		assert.Equal(t, "+ ", c.read())
		c.send("*")
		assert.Contains(t, c.read(), "a BAD")
	}
	for i := range maxAuthFailures {
		c.send("a AUTHENTICATE OAUTHBEARER " + msB64("n,a=alice,\x01auth=Bearer guess\x01\x01"))
		assert.Contains(t, c.read(), "+ ", "error challenge")
		c.send("*")
		reply := c.read()
		assert.Contains(t, reply, "a BAD", "try %d", i)
	}
	// Closed by the server, not merely silent: a timeout would mean the
	// cancels were not counted.
	c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := c.tp.ReadLine()
	require.Error(t, err)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the connection stayed open after %d rejected tokens", maxAuthFailures)
	assert.Equal(t, 1, th.Len(), "the Limiter saw the rejected tokens")
}

// msTokens rejects every token.
type msTokens struct{}

func (msTokens) VerifyToken(context.Context, string, string) (string, error) {
	return "", sasl.ErrAuthFailed
}

func msB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func msLast(lines []string) string { return lines[len(lines)-1] }

// TestGuessingBrake (issue 8, under load (c)): with a sasl.Throttle as the
// Limiter, one address guessing passwords over many parallel connections
// is held to about one attempt per penalty, while a good user from another
// address logs in at once. On loopback: the attacker dials from
// 127.0.0.2, the user from 127.0.0.1.
func TestGuessingBrake(t *testing.T) {
	const penalty = 100 * time.Millisecond
	th := &sasl.Throttle{FailureDelay: time.Millisecond, PenaltyInit: penalty, PenaltyMax: penalty}
	e := msStart(t, sasl.SMTP, func(c *Config) {
		c.SASL = &sasl.ServerConfig{Passwords: msUsers{}, Limiter: th}
		c.InsecureAuth = true
	})
	attacker := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var attempts atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 { // parallel connections from one address
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := attacker.Dial("tcp", e.addr)
				if err != nil {
					return
				}
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				tp := textproto.NewConn(conn)
				tp.ReadLine()
				tp.PrintfLine("EHLO attacker")
				for {
					l, err := tp.ReadLine()
					if err != nil || strings.HasPrefix(l, "250 ") {
						break
					}
				}
				for range maxAuthFailures {
					if tp.PrintfLine("AUTH PLAIN %s", msPlainIR("alice", "guess")) != nil {
						break
					}
					if _, err := tp.ReadLine(); err != nil {
						break
					}
					select {
					case <-stop: // answered after the window: not counted
					default:
						attempts.Add(1)
					}
				}
				conn.Close()
			}
		})
	}
	const window = time.Second
	time.Sleep(window / 2)
	// The good user, elsewhere, during the attack.
	start := time.Now()
	c := e.dial(t)
	c.read()
	c.send("EHLO user")
	c.until("250 ")
	c.send("AUTH PLAIN " + msPlainIR("alice", "secret"))
	assert.Equal(t, "235 2.7.0 Authentication successful", c.read())
	took := time.Since(start)
	time.Sleep(window / 2)
	close(stop)
	wg.Wait()
	n := attempts.Load()
	t.Logf("attacker: %d attempts in %v over 8 connections (penalty %v); good user logged in in %v", n, window, penalty, took)
	// One attempt per penalty slot, plus the first one of each parallel
	// connection (before any failure was recorded).
	assert.LessOrEqual(t, n, int64(window/penalty)+8+2)
	assert.Less(t, took, 2*penalty, "the good user was slowed by the attack")
}
