package sasl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var xchgProtocols = []Protocol{IMAP, POP3, SMTP}

// xchgPipe returns the two ends of an in-memory connection, each wrapped
// in textproto, with a deadline so a broken script fails instead of hanging.
func xchgPipe(t testing.TB) (a, b *textproto.Conn) {
	t.Helper()
	ca, cb := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	ca.SetDeadline(deadline)
	cb.SetDeadline(deadline)
	t.Cleanup(func() { ca.Close(); cb.Close() })
	a, b = textproto.NewConn(ca), textproto.NewConn(cb)
	xchgRaws.Store(a, ca)
	xchgRaws.Store(b, cb)
	t.Cleanup(func() { xchgRaws.Delete(a); xchgRaws.Delete(b) })
	return a, b
}

// xchgRaws maps the textproto.Conns made by xchgPipe to their net.Conns.
var xchgRaws sync.Map

// xchgRaw returns the net.Conn under tp, or a connection whose deadlines
// do nothing for one xchgPipe did not make.
func xchgRaw(tp *textproto.Conn) net.Conn {
	if c, ok := xchgRaws.Load(tp); ok {
		return c.(net.Conn)
	}
	return xchgNopConn{}
}

// xchgServe is x.Serve on tp without a deadline.
func xchgServe(x *Exchange, tp *textproto.Conn, s Server, ir []byte) error {
	return x.Serve(context.Background(), tp, xchgRaw(tp), s, ir)
}

// xchgAuth is x.Authenticate on tp without a deadline.
func xchgAuth(x *Exchange, tp *textproto.Conn, c Client) error {
	return x.Authenticate(context.Background(), tp, xchgRaw(tp), c)
}

// xchgNopConn is a net.Conn that does nothing, for exchanges over an
// in-memory textproto.Conn.
type xchgNopConn struct{ net.Conn }

func (xchgNopConn) SetDeadline(time.Time) error      { return nil }
func (xchgNopConn) SetReadDeadline(time.Time) error  { return nil }
func (xchgNopConn) SetWriteDeadline(time.Time) error { return nil }

// xchgGo runs f in a goroutine and returns a channel with its error.
func xchgGo(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// xchgFuncServer is a scripted Server.
type xchgFuncServer func(resp []byte) ([]byte, bool, error)

func (f xchgFuncServer) Next(resp []byte) ([]byte, bool, error) { return f(resp) }

// xchgFuncClient is a scripted Client.
type xchgFuncClient struct {
	mech string
	ir   []byte
	err  error
	next func(chal []byte) ([]byte, error)
}

func (c *xchgFuncClient) Start() (string, []byte, error) { return c.mech, c.ir, c.err }
func (c *xchgFuncClient) Next(chal []byte) ([]byte, error) {
	if c.next == nil {
		return nil, ErrUnexpectedServerChallenge
	}
	return c.next(chal)
}

func xchgPlainServer() Server {
	return gosasl.NewPlainServer(func(identity, username, password string) error {
		if username != "alice" || password != "secret" {
			return ErrAuthFailed
		}
		if identity != "" && identity != username {
			return ErrAuthzFailed
		}
		return nil
	})
}

// xchgServeOne plays a server for one AUTH/AUTHENTICATE command: it reads
// the command, parses it, runs newServer's Server and writes the reply.
func xchgServeOne(x *Exchange, conn *textproto.Conn, newServer func(mech string) Server) error {
	line, err := xchgReadLine(conn.R, x.maxLine())
	if err != nil {
		return err
	}
	verb := "AUTH "
	if x.Protocol == IMAP {
		tag, rest, _ := strings.Cut(line, " ")
		x.Tag = tag
		line = rest
		verb = "AUTHENTICATE "
	}
	args, ok := strings.CutPrefix(line, verb)
	if !ok {
		return errors.New("test: not an auth command")
	}
	mech, ir, err := ParseAuthCommand(args)
	if err == nil {
		err = xchgServe(x, conn, newServer(mech), ir)
	}
	if werr := x.WriteResult(conn, err); werr != nil {
		return werr
	}
	return err
}

func TestExchangePLAINRoundTrip(t *testing.T) {
	for _, p := range xchgProtocols {
		for _, saslIR := range []bool{true, false} {
			for _, tc := range []struct {
				name, authz, user, pass string
				want                    error
			}{
				{"ok", "", "alice", "secret", nil},
				{"wrong password", "", "alice", "wrong", ErrAuthFailed},
				{"unknown user", "", "bob", "secret", ErrAuthFailed},
				{"authz", "root", "alice", "secret", ErrAuthzFailed},
			} {
				t.Run(p.String()+"/saslir="+map[bool]string{true: "yes", false: "no"}[saslIR]+"/"+tc.name, func(t *testing.T) {
					sc, cc := xchgPipe(t)
					srvErr := xchgGo(func() error {
						return xchgServeOne(&Exchange{Protocol: p}, sc, func(string) Server { return xchgPlainServer() })
					})
					x := &Exchange{Protocol: p, Tag: "a7", SASLIR: saslIR}
					err := xchgAuth(x, cc, gosasl.NewPlainClient(tc.authz, tc.user, tc.pass))
					serr := <-srvErr
					if tc.want == nil {
						require.NoError(t, err)
						require.NoError(t, serr)
						return
					}
					require.ErrorIs(t, serr, tc.want)
					cwant := tc.want
					if p != IMAP && cwant == ErrAuthzFailed {
						cwant = ErrAuthFailed // one reply code for both
					}
					require.ErrorIs(t, err, cwant)
					var re *ReplyError
					require.ErrorAs(t, err, &re)
					assert.Equal(t, p, re.Protocol)
					assert.NotContains(t, err.Error(), tc.pass)
					assert.NotContains(t, err.Error(), tc.user)
				})
			}
		}
	}
}

// TestExchangeServerWire checks the exact lines the server side writes.
func TestExchangeServerWire(t *testing.T) {
	plain := "AGFsaWNlAHNlY3JldA==" // "\x00alice\x00secret"
	tests := []struct {
		name   string
		proto  Protocol
		ir     []byte
		script []string // alternating: want line from server ("S:..."), line to send ("C:...")
		want   error
	}{
		{"imap ir", IMAP, []byte("\x00alice\x00secret"), []string{"S:t1 OK Authenticated"}, nil},
		{"imap no ir", IMAP, nil, []string{"S:+ ", "C:" + plain, "S:t1 OK Authenticated"}, nil},
		{"pop3 no ir", POP3, nil, []string{"S:+ ", "C:" + plain, "S:+OK Authenticated"}, nil},
		{"smtp no ir", SMTP, nil, []string{"S:334 ", "C:" + plain, "S:235 2.7.0 Authentication successful"}, nil},
		{"imap cancel", IMAP, nil, []string{"S:+ ", "C:*", "S:t1 BAD Authentication cancelled"}, ErrCanceled},
		{"pop3 cancel", POP3, nil, []string{"S:+ ", "C:*", "S:-ERR Authentication cancelled"}, ErrCanceled},
		{"smtp cancel", SMTP, nil, []string{"S:334 ", "C:*", "S:501 5.0.0 Authentication cancelled"}, ErrCanceled},
		{"imap bad base64", IMAP, nil, []string{"S:+ ", "C:AGFsaWNlAHNlY3JldA", "S:t1 BAD Malformed authentication exchange"}, ErrMalformed},
		{"smtp bad base64 space", SMTP, nil, []string{"S:334 ", "C:AGFsaWNl AHNlY3JldA==", "S:501 5.5.2 Cannot decode authentication exchange"}, ErrMalformed},
		{"pop3 bad base64 trailing space", POP3, nil, []string{"S:+ ", "C:" + plain + " ", "S:-ERR Malformed authentication exchange"}, ErrMalformed},
		{"smtp wrong password", SMTP, []byte("\x00alice\x00nope"), []string{"S:535 5.7.8 Authentication credentials invalid"}, ErrAuthFailed},
		{"imap wrong password", IMAP, []byte("\x00alice\x00nope"), []string{"S:t1 NO [AUTHENTICATIONFAILED] Authentication failed"}, ErrAuthFailed},
		{"pop3 wrong password", POP3, []byte("\x00alice\x00nope"), []string{"S:-ERR [AUTH] Authentication failed"}, ErrAuthFailed},
		{"imap authz", IMAP, []byte("root\x00alice\x00secret"), []string{"S:t1 NO [AUTHORIZATIONFAILED] Authorization failed"}, ErrAuthzFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, peer := xchgPipe(t)
			x := &Exchange{Protocol: tc.proto, Tag: "t1"}
			done := xchgGo(func() error {
				err := xchgServe(x, sc, xchgPlainServer(), tc.ir)
				if werr := x.WriteResult(sc, err); werr != nil {
					return werr
				}
				return err
			})
			for _, step := range tc.script {
				if line, ok := strings.CutPrefix(step, "S:"); ok {
					got, err := peer.ReadLine()
					require.NoError(t, err)
					require.Equal(t, line, got)
				} else {
					require.NoError(t, peer.PrintfLine("%s", strings.TrimPrefix(step, "C:")))
				}
			}
			err := <-done
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// TestExchangeServeEmptyResponses: an empty continuation response may be
// an empty line or "="; both reach the Server as []byte{}, never nil.
func TestExchangeServeEmptyResponses(t *testing.T) {
	for _, empty := range []string{"", "="} {
		for _, p := range xchgProtocols {
			t.Run(p.String()+"/"+map[string]string{"": "emptyline", "=": "equals"}[empty], func(t *testing.T) {
				sc, peer := xchgPipe(t)
				var got [][]byte
				srv := xchgFuncServer(func(resp []byte) ([]byte, bool, error) {
					got = append(got, resp)
					if len(got) == 1 {
						return []byte("hi"), false, nil
					}
					return nil, true, nil
				})
				x := &Exchange{Protocol: p}
				done := xchgGo(func() error { return xchgServe(x, sc, srv, nil) })
				line, err := peer.ReadLine()
				require.NoError(t, err)
				assert.Equal(t, x.challengeLine([]byte("hi")), line)
				require.NoError(t, peer.PrintfLine("%s", empty))
				require.NoError(t, <-done)
				require.Len(t, got, 2)
				assert.Nil(t, got[0], "no initial response is nil")
				assert.NotNil(t, got[1])
				assert.Empty(t, got[1])
			})
		}
	}
}

// TestExchangeServeEmptyChallenge: an empty challenge, nil or []byte{}, is
// "+ " or "334 " with nothing after.
func TestExchangeServeEmptyChallenge(t *testing.T) {
	for _, p := range xchgProtocols {
		for _, chal := range [][]byte{nil, {}} {
			sc, peer := xchgPipe(t)
			calls := 0
			srv := xchgFuncServer(func(resp []byte) ([]byte, bool, error) {
				calls++
				if calls == 1 {
					return chal, false, nil
				}
				return nil, true, nil
			})
			x := &Exchange{Protocol: p}
			done := xchgGo(func() error { return xchgServe(x, sc, srv, nil) })
			line, err := peer.ReadLine()
			require.NoError(t, err)
			want := map[Protocol]string{IMAP: "+ ", POP3: "+ ", SMTP: "334 "}[p]
			assert.Equal(t, want, line)
			require.NoError(t, peer.PrintfLine(""))
			require.NoError(t, <-done)
		}
	}
}

// TestExchangeServeSuccessData: data returned with done=true goes out as a
// last challenge, and only an empty response completes the exchange.
func TestExchangeServeSuccessData(t *testing.T) {
	for _, tc := range []struct {
		answer string
		want   error
	}{{"", nil}, {"=", nil}, {"Zm9v", ErrMalformed}, {"*", ErrCanceled}} {
		sc, peer := xchgPipe(t)
		srv := xchgFuncServer(func(resp []byte) ([]byte, bool, error) {
			return []byte("v=final"), true, nil
		})
		x := &Exchange{Protocol: SMTP}
		done := xchgGo(func() error { return xchgServe(x, sc, srv, []byte("ir")) })
		line, err := peer.ReadLine()
		require.NoError(t, err)
		assert.Equal(t, "334 dj1maW5hbA==", line)
		require.NoError(t, peer.PrintfLine("%s", tc.answer))
		err = <-done
		if tc.want == nil {
			assert.NoError(t, err, tc.answer)
		} else {
			assert.ErrorIs(t, err, tc.want, tc.answer)
		}
	}
}

// xchgAuthError is a caller's error type, like go-smtp's *SMTPError.
type xchgAuthError struct{ code int }

func (e *xchgAuthError) Error() string { return "custom" }

func TestExchangeServeErrorPassThrough(t *testing.T) {
	custom := &xchgAuthError{code: 535}
	for _, p := range xchgProtocols {
		sc, peer := xchgPipe(t)
		srv := xchgFuncServer(func(resp []byte) ([]byte, bool, error) {
			if resp == nil {
				return []byte{}, false, nil
			}
			return nil, false, custom
		})
		x := &Exchange{Protocol: p}
		done := xchgGo(func() error { return xchgServe(x, sc, srv, nil) })
		_, err := peer.ReadLine()
		require.NoError(t, err)
		require.NoError(t, peer.PrintfLine("Zm9v"))
		err = <-done
		// Unwrapped: a type assertion, as go-smtp does, still works.
		e, ok := err.(*xchgAuthError)
		require.True(t, ok, "error was wrapped: %T", err)
		assert.Same(t, custom, e)
		// Unknown errors are a temporary failure on the wire.
		assert.Contains(t, x.Reply(err), map[Protocol]string{IMAP: "NO [UNAVAILABLE]", POP3: "-ERR [SYS/TEMP]", SMTP: "454 4.7.0"}[p])
	}
}

func TestExchangeServeTooLongLine(t *testing.T) {
	for _, p := range xchgProtocols {
		sc, peer := xchgPipe(t)
		x := &Exchange{Protocol: p, MaxLineLength: 100}
		done := xchgGo(func() error { return xchgServe(x, sc, xchgPlainServer(), nil) })
		_, err := peer.ReadLine()
		require.NoError(t, err)
		// The peer's write blocks once the server stops reading; do it
		// in the background.
		go func() {
			peer.W.WriteString(strings.Repeat("A", 10_000) + "\r\n")
			peer.W.Flush()
		}()
		err = <-done
		require.ErrorIs(t, err, ErrTooLarge)
		assert.Contains(t, x.Reply(err), map[Protocol]string{IMAP: "BAD", POP3: "-ERR", SMTP: "500 5.5.6"}[p])
	}
}

// A line exactly at the bound is accepted (CRLF included).
func TestExchangeReadLineBound(t *testing.T) {
	line := strings.Repeat("A", 98)
	r := bufio.NewReaderSize(strings.NewReader(line+"\r\n"), 16)
	got, err := xchgReadLine(r, 100)
	require.NoError(t, err)
	assert.Equal(t, line, got)

	r = bufio.NewReaderSize(strings.NewReader(line+"A\r\n"), 16)
	_, err = xchgReadLine(r, 100)
	require.ErrorIs(t, err, ErrTooLarge)

	r = bufio.NewReader(strings.NewReader("a\nb\r\nc"))
	got, err = xchgReadLine(r, 100)
	require.NoError(t, err)
	assert.Equal(t, "a", got)
	got, err = xchgReadLine(r, 100)
	require.NoError(t, err)
	assert.Equal(t, "b", got)
	_, err = xchgReadLine(r, 100)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "an unterminated line is not a line")
}

func TestExchangeServeTooManyRounds(t *testing.T) {
	for _, p := range xchgProtocols {
		sc, peer := xchgPipe(t)
		srv := xchgFuncServer(func(resp []byte) ([]byte, bool, error) { return []byte("more"), false, nil })
		x := &Exchange{Protocol: p, MaxRounds: 3}
		done := xchgGo(func() error { return xchgServe(x, sc, srv, nil) })
		for range 3 {
			_, err := peer.ReadLine()
			require.NoError(t, err)
			require.NoError(t, peer.PrintfLine(""))
		}
		require.ErrorIs(t, <-done, ErrTooLarge)
	}
}

func TestExchangeReplyTable(t *testing.T) {
	cases := []struct {
		err              error
		imap, smtp, pop3 string
	}{
		{nil, "x OK ", "235 2.7.0 ", "+OK"},
		{ErrAuthFailed, "x NO [AUTHENTICATIONFAILED]", "535 5.7.8 ", "-ERR [AUTH]"},
		{ErrChannelBinding, "x NO [AUTHENTICATIONFAILED]", "535 5.7.8 ", "-ERR [AUTH]"},
		{ErrAuthzFailed, "x NO [AUTHORIZATIONFAILED]", "535 5.7.8 ", "-ERR [AUTH]"},
		{ErrCanceled, "x BAD ", "501 5.0.0 ", "-ERR "},
		{ErrMalformed, "x BAD ", "501 5.5.2 ", "-ERR "},
		{ErrUnexpectedClientResponse, "x BAD ", "501 5.5.2 ", "-ERR "},
		{ErrTooLarge, "x BAD ", "500 5.5.6 ", "-ERR "},
		{ErrUnsupportedMechanism, "x NO [CANNOT]", "504 5.5.4 ", "-ERR "},
		{ErrNeedsTLS, "x NO [PRIVACYREQUIRED]", "538 5.7.11 ", "-ERR [AUTH]"},
		{io.ErrUnexpectedEOF, "x NO [UNAVAILABLE]", "454 4.7.0 ", "-ERR [SYS/TEMP]"},
		{ErrTemporaryFailure, "x NO [UNAVAILABLE]", "454 4.7.0 ", "-ERR [SYS/TEMP]"},
		{context.DeadlineExceeded, "x NO [UNAVAILABLE]", "454 4.7.0 ", "-ERR [SYS/TEMP]"},
		{ErrUnknownUser, "x NO [AUTHENTICATIONFAILED]", "535 5.7.8 ", "-ERR [AUTH]"},
	}
	for _, c := range cases {
		err := c.err
		if err != nil {
			err = errors.Join(errors.New("detail with password hunter2"), err)
		}
		for p, want := range map[Protocol]string{IMAP: c.imap, SMTP: c.smtp, POP3: c.pop3} {
			got := (&Exchange{Protocol: p, Tag: "x"}).Reply(err)
			assert.True(t, strings.HasPrefix(got, want), "%v %v: %q", p, c.err, got)
			assert.NotContains(t, got, "hunter2")
			// A client of ours reads the reply back to the same sentinel.
			if c.err != nil && p != POP3 {
				text := strings.TrimPrefix(got, "x ")
				var back error
				if p == IMAP {
					back = xchgIMAPCode(text)
				} else {
					back = xchgSMTPCode(atoiTest(text[:3]), text)
				}
				want := c.err
				switch want {
				case ErrChannelBinding:
					want = ErrAuthFailed
				case ErrUnexpectedClientResponse, ErrCanceled:
					want = ErrMalformed
				case io.ErrUnexpectedEOF, context.DeadlineExceeded:
					want = ErrTemporaryFailure
				case ErrUnknownUser:
					want = ErrAuthFailed
				}
				if p == SMTP && c.err == ErrAuthzFailed {
					want = ErrAuthFailed // SMTP has one code for both
				}
				if p == IMAP && c.err == ErrTooLarge {
					want = ErrMalformed // IMAP BAD has no code for it
				}
				assert.ErrorIs(t, back, want, "%v %v", p, c.err)
			}
		}
	}
}

func atoiTest(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestParseAuthCommand(t *testing.T) {
	good := []struct {
		args string
		mech string
		ir   []byte
	}{
		{"PLAIN", "PLAIN", nil},
		{"plain", "PLAIN", nil},
		{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS", nil},
		{"X_Y", "X_Y", nil},
		{"PLAIN =", "PLAIN", []byte{}},
		{"PLAIN AGFsaWNlAHNlY3JldA==", "PLAIN", []byte("\x00alice\x00secret")},
		{"ABCDEFGHIJKLMNOPQRST Zm9v", "ABCDEFGHIJKLMNOPQRST", []byte("foo")},
		// mutt with GNU SASL: "AUTHENTICATE CRAM-MD5 " means no initial
		// response, as Dovecot takes it.
		{"CRAM-MD5 ", "CRAM-MD5", nil},
		{"PLAIN ", "PLAIN", nil},
	}
	for _, g := range good {
		mech, ir, err := ParseAuthCommand(g.args)
		require.NoError(t, err, g.args)
		assert.Equal(t, g.mech, mech, g.args)
		assert.Equal(t, g.ir, ir, g.args)
		if g.ir != nil {
			assert.NotNil(t, ir)
		}
	}
	bad := []string{
		"", " PLAIN", "PLAIN  ", "PLAIN  Zm9v", "PLAIN Zm9v extra", "PLA IN",
		"ABCDEFGHIJKLMNOPQRSTU", "PL@IN", "PLAIN Zm9", "PLAIN Zm9v=", "PLAIN Zm9v\r",
		"PLAIN Zg", "PLAIN Zh==", "PLAIN\tZm9v", "PLAIN ==",
	}
	for _, b := range bad {
		_, _, err := ParseAuthCommand(b)
		require.ErrorIs(t, err, ErrMalformed, "%q", b)
		assert.NotContains(t, err.Error(), "Zm9v", "the IR must not be echoed")
	}
}

// xchgScript runs a scripted server against the client side: each step is
// "S:" (a line the script sends) or "C:" (a line the client must send).
func xchgScript(t *testing.T, x *Exchange, c Client, script []string) error {
	t.Helper()
	cc, peer := xchgPipe(t)
	done := xchgGo(func() error { return xchgAuth(x, cc, c) })
	for _, step := range script {
		if line, ok := strings.CutPrefix(step, "C:"); ok {
			got, err := peer.ReadLine()
			require.NoError(t, err)
			require.Equal(t, line, got)
		} else {
			require.NoError(t, peer.PrintfLine("%s", strings.TrimPrefix(step, "S:")))
		}
	}
	return <-done
}

func TestExchangeClientWire(t *testing.T) {
	plain := func() Client { return gosasl.NewPlainClient("", "alice", "secret") }
	ir := "AGFsaWNlAHNlY3JldA=="
	t.Run("imap sasl-ir", func(t *testing.T) {
		err := xchgScript(t, &Exchange{Protocol: IMAP, Tag: "a1", SASLIR: true}, plain(), []string{
			"C:a1 AUTHENTICATE PLAIN " + ir, "S:* CAPABILITY IMAP4rev1", "S:a1 OK done"})
		require.NoError(t, err)
	})
	t.Run("imap no sasl-ir", func(t *testing.T) {
		err := xchgScript(t, &Exchange{Protocol: IMAP, Tag: "a1"}, plain(), []string{
			"C:a1 AUTHENTICATE PLAIN", "S:+ ", "C:" + ir, "S:a1 OK done"})
		require.NoError(t, err)
	})
	t.Run("imap bare plus", func(t *testing.T) {
		err := xchgScript(t, &Exchange{Protocol: IMAP, Tag: "a1"}, plain(), []string{
			"C:a1 AUTHENTICATE PLAIN", "S:+", "C:" + ir, "S:a1 OK done"})
		require.NoError(t, err)
	})
	t.Run("smtp", func(t *testing.T) {
		err := xchgScript(t, &Exchange{Protocol: SMTP}, plain(), []string{
			"C:AUTH PLAIN " + ir, "S:235 2.7.0 ok"})
		require.NoError(t, err)
	})
	t.Run("pop3", func(t *testing.T) {
		err := xchgScript(t, &Exchange{Protocol: POP3}, plain(), []string{
			"C:AUTH PLAIN " + ir, "S:+OK welcome"})
		require.NoError(t, err)
	})
	t.Run("empty ir is =", func(t *testing.T) {
		for _, p := range xchgProtocols {
			c := &xchgFuncClient{mech: "ANONYMOUS", ir: []byte{}}
			final := map[Protocol]string{IMAP: "S:a1 OK", POP3: "S:+OK", SMTP: "S:235 2.7.0 ok"}[p]
			cmd := map[Protocol]string{IMAP: "C:a1 AUTHENTICATE ANONYMOUS =", POP3: "C:AUTH ANONYMOUS =", SMTP: "C:AUTH ANONYMOUS ="}[p]
			require.NoError(t, xchgScript(t, &Exchange{Protocol: p, Tag: "a1", SASLIR: true}, c, []string{cmd, final}))
		}
	})
	t.Run("empty ir without sasl-ir is an empty line", func(t *testing.T) {
		c := &xchgFuncClient{mech: "ANONYMOUS", ir: []byte{}}
		require.NoError(t, xchgScript(t, &Exchange{Protocol: IMAP, Tag: "a1"}, c, []string{
			"C:a1 AUTHENTICATE ANONYMOUS", "S:+ ", "C:", "S:a1 OK"}))
	})
	t.Run("empty continuation response is an empty line", func(t *testing.T) {
		for _, p := range xchgProtocols {
			var chals [][]byte
			c := &xchgFuncClient{mech: "X", next: func(chal []byte) ([]byte, error) {
				chals = append(chals, chal)
				if len(chals) == 1 {
					return []byte{}, nil
				}
				return nil, nil // nil is empty too
			}}
			cont := map[Protocol]string{IMAP: "S:+ ", POP3: "S:+ ", SMTP: "S:334 "}[p]
			cmd := map[Protocol]string{IMAP: "C:a1 AUTHENTICATE X", POP3: "C:AUTH X", SMTP: "C:AUTH X"}[p]
			final := map[Protocol]string{IMAP: "S:a1 OK", POP3: "S:+OK", SMTP: "S:235 2.7.0 ok"}[p]
			require.NoError(t, xchgScript(t, &Exchange{Protocol: p, Tag: "a1"}, c, []string{
				cmd, cont + "Zm9v", "C:", cont, "C:", final}))
			require.Len(t, chals, 2)
			assert.Equal(t, []byte("foo"), chals[0])
			assert.NotNil(t, chals[1])
			assert.Empty(t, chals[1])
		}
	})
	t.Run("long ir waits for a challenge", func(t *testing.T) {
		long := gosasl.NewPlainClient("", "alice", strings.Repeat("p", 300))
		enc := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + strings.Repeat("p", 300)))
		for _, p := range []Protocol{POP3, SMTP} {
			cont := map[Protocol]string{POP3: "S:+ ", SMTP: "S:334 "}[p]
			final := map[Protocol]string{POP3: "S:+OK", SMTP: "S:235 2.7.0 ok"}[p]
			script := []string{"C:AUTH PLAIN", cont, "C:" + enc, final}
			if p == SMTP {
				// 300 bytes of password fit SMTP's 512 octets.
				script = []string{"C:AUTH PLAIN " + enc, final}
			}
			require.NoError(t, xchgScript(t, &Exchange{Protocol: p}, long, script), p)
		}
	})
	t.Run("smtp multi-line failure", func(t *testing.T) {
		err := xchgScript(t, &Exchange{Protocol: SMTP}, plain(), []string{
			"C:AUTH PLAIN " + ir, "S:535-5.7.8 Username and Password not accepted.", "S:535 5.7.8 Learn more"})
		require.ErrorIs(t, err, ErrAuthFailed)
		var re *ReplyError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 535, re.Code)
		assert.Equal(t, "535-5.7.8 Username and Password not accepted.", re.Text)
	})
	t.Run("replies map to sentinels", func(t *testing.T) {
		for _, tc := range []struct {
			p     Protocol
			reply string
			want  error
		}{
			{IMAP, "a1 NO [AUTHENTICATIONFAILED] no", ErrAuthFailed},
			{IMAP, "a1 NO nope", ErrAuthFailed},
			{IMAP, "a1 NO [AUTHORIZATIONFAILED] no", ErrAuthzFailed},
			{IMAP, "a1 NO [PRIVACYREQUIRED] tls", ErrNeedsTLS},
			{IMAP, "a1 NO [UNAVAILABLE] later", ErrTemporaryFailure},
			{IMAP, "a1 BAD what", ErrMalformed},
			{SMTP, "535 5.7.8 no", ErrAuthFailed},
			{SMTP, "538 5.7.11 tls", ErrNeedsTLS},
			{SMTP, "504 5.5.4 unknown", ErrUnsupportedMechanism},
			{SMTP, "454 4.7.0 later", ErrTemporaryFailure},
			{SMTP, "501 5.5.2 bad", ErrMalformed},
			{POP3, "-ERR [AUTH] no", ErrAuthFailed},
			{POP3, "-ERR no", ErrAuthFailed},
			{POP3, "-ERR [SYS/TEMP] later", ErrTemporaryFailure},
		} {
			cmd := map[Protocol]string{IMAP: "C:a1 AUTHENTICATE PLAIN " + ir, POP3: "C:AUTH PLAIN " + ir, SMTP: "C:AUTH PLAIN " + ir}[tc.p]
			err := xchgScript(t, &Exchange{Protocol: tc.p, Tag: "a1", SASLIR: true}, plain(), []string{cmd, "S:" + tc.reply})
			require.ErrorIs(t, err, tc.want, tc.reply)
		}
	})
	t.Run("start error sends nothing", func(t *testing.T) {
		boom := errors.New("boom")
		cc, peer := xchgPipe(t)
		err := xchgAuth(&Exchange{Protocol: SMTP}, cc, &xchgFuncClient{err: boom})
		require.Same(t, boom, err)
		peer.R.Reset(strings.NewReader("")) // nothing was written: no blocked writer
	})
}

func TestExchangeClientCancel(t *testing.T) {
	custom := &xchgAuthError{}
	for _, p := range xchgProtocols {
		cont := map[Protocol]string{IMAP: "S:+ ", POP3: "S:+ ", SMTP: "S:334 "}[p]
		cmd := map[Protocol]string{IMAP: "C:a1 AUTHENTICATE X", POP3: "C:AUTH X", SMTP: "C:AUTH X"}[p]
		cancelled := map[Protocol]string{IMAP: "S:a1 BAD cancelled", POP3: "S:-ERR cancelled", SMTP: "S:501 5.0.0 cancelled"}[p]
		t.Run(p.String()+"/next error", func(t *testing.T) {
			c := &xchgFuncClient{mech: "X", next: func([]byte) ([]byte, error) { return nil, custom }}
			err := xchgScript(t, &Exchange{Protocol: p, Tag: "a1"}, c, []string{cmd, cont + "Zm9v", "C:*", cancelled})
			require.Same(t, custom, err, "the mechanism's error comes back unwrapped")
		})
		t.Run(p.String()+"/bad base64", func(t *testing.T) {
			c := &xchgFuncClient{mech: "X", next: func([]byte) ([]byte, error) { return []byte{}, nil }}
			err := xchgScript(t, &Exchange{Protocol: p, Tag: "a1"}, c, []string{cmd, cont + "Zm9", "C:*", cancelled})
			require.ErrorIs(t, err, ErrMalformed)
		})
		t.Run(p.String()+"/too many rounds", func(t *testing.T) {
			c := &xchgFuncClient{mech: "X", next: func([]byte) ([]byte, error) { return []byte("a"), nil }}
			script := []string{cmd}
			for range 2 {
				script = append(script, cont+"Zm9v", "C:YQ==")
			}
			script = append(script, cont+"Zm9v", "C:*", cancelled)
			err := xchgScript(t, &Exchange{Protocol: p, Tag: "a1", MaxRounds: 2}, c, script)
			require.ErrorIs(t, err, ErrTooLarge)
		})
		t.Run(p.String()+"/unexpected first challenge", func(t *testing.T) {
			// The IR was not sent inline, and the server sends data
			// instead of the empty challenge that asks for it.
			c := &xchgFuncClient{mech: "X", ir: bytes.Repeat([]byte("x"), 600)}
			err := xchgScript(t, &Exchange{Protocol: p, Tag: "a1"}, c, []string{cmd, cont + "Zm9v", "C:*", cancelled})
			require.ErrorIs(t, err, ErrUnexpectedServerChallenge)
		})
	}
}

func TestExchangeClientTooLongLine(t *testing.T) {
	cc, peer := xchgPipe(t)
	x := &Exchange{Protocol: SMTP, MaxLineLength: 64}
	done := xchgGo(func() error { return xchgAuth(x, cc, gosasl.NewPlainClient("", "a", "b")) })
	_, err := peer.ReadLine()
	require.NoError(t, err)
	go func() {
		peer.W.WriteString("334 " + strings.Repeat("A", 1000) + "\r\n")
		peer.W.Flush()
	}()
	require.ErrorIs(t, <-done, ErrTooLarge)
}

// TestExchangeGoSASLLogin runs go-sasl's LOGIN client, whose second step
// needs the "Password:" challenge, against a scripted LOGIN server.
func TestExchangeGoSASLLogin(t *testing.T) {
	for _, p := range xchgProtocols {
		sc, cc := xchgPipe(t)
		step := 0
		newSrv := func(string) Server {
			return xchgFuncServer(func(resp []byte) ([]byte, bool, error) {
				step++
				switch step {
				case 1:
					if string(resp) != "alice" {
						return nil, false, ErrAuthFailed
					}
					return []byte("Password:"), false, nil
				default:
					if string(resp) != "secret" {
						return nil, false, ErrAuthFailed
					}
					return nil, true, nil
				}
			})
		}
		srvErr := xchgGo(func() error { return xchgServeOne(&Exchange{Protocol: p}, sc, newSrv) })
		err := xchgAuth(&Exchange{Protocol: p, SASLIR: true}, cc, gosasl.NewLoginClient("alice", "secret"))
		require.NoError(t, err)
		require.NoError(t, <-srvErr)
	}
}

func TestProtocolString(t *testing.T) {
	assert.Equal(t, "IMAP", IMAP.String())
	assert.Equal(t, "POP3", POP3.String())
	assert.Equal(t, "SMTP", SMTP.String())
	assert.Equal(t, "Protocol(9)", Protocol(9).String())
}

// xchgRWC is an in-memory ReadWriteCloser for the fuzzer.
type xchgRWC struct {
	io.Reader
	io.Writer
}

func (xchgRWC) Close() error { return nil }

func FuzzParseAuthCommand(f *testing.F) {
	for _, s := range []string{"PLAIN", "PLAIN =", "PLAIN AGFsaWNlAHNlY3JldA==", "plain Zm9v", "SCRAM-SHA-256-PLUS biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM", "X Zm9", "X  Y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		mech, ir, err := ParseAuthCommand(args)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if mech != strings.ToUpper(mech) || len(mech) == 0 || len(mech) > xchgMaxMechName {
			t.Fatalf("bad mech %q", mech)
		}
		// Round trip: the command we would send is the one we parsed,
		// up to the case of the name.
		want := mech
		if ir != nil {
			want += " " + xchgEncode(ir)
			if len(ir) == 0 {
				want = mech + " ="
			}
		}
		if !strings.EqualFold(want, args) {
			t.Fatalf("round trip %q -> %q", args, want)
		}
	})
}

func FuzzServerExchange(f *testing.F) {
	for _, s := range []string{
		"AGFsaWNlAHNlY3JldA==\n", "*\n", "\n", "=\n", "Zm9\n", "AGFsaWNlAHNlY3JldA\r\n", "a\nb\nc\nd\n",
		strings.Repeat("QUFB", 100) + "\n",
	} {
		f.Add(s, uint8(0), false)
	}
	f.Fuzz(func(t *testing.T, input string, proto uint8, echo bool) {
		p := xchgProtocols[int(proto)%len(xchgProtocols)]
		var out bytes.Buffer
		conn := textproto.NewConn(xchgRWC{strings.NewReader(input), &out})
		// Two kinds of server: go-sasl PLAIN, and one that keeps
		// echoing responses back as challenges until an empty one.
		var srv Server = xchgPlainServer()
		if echo {
			srv = xchgFuncServer(func(resp []byte) ([]byte, bool, error) {
				if resp != nil && len(resp) == 0 {
					return nil, true, nil
				}
				return resp, false, nil
			})
		}
		x := &Exchange{Protocol: p, MaxLineLength: 256, MaxRounds: 4}
		err := xchgServe(x, conn, srv, nil)
		if werr := x.WriteResult(conn, err); werr != nil {
			t.Fatal(werr)
		}
		if out.Len() > 5*(256*2+16)+64 {
			t.Fatalf("wrote %d bytes", out.Len())
		}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\r\n"), "\r\n") {
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("bad line %q", line)
			}
		}
	})
}

// BenchmarkExchange times a full PLAIN exchange with its initial response
// per protocol, client and server each on one end of a net.Pipe, beside the
// same exchange in memory with no framing.
func BenchmarkExchange(b *testing.B) {
	for _, p := range xchgProtocols {
		b.Run("proto="+strings.ToLower(p.String()), func(b *testing.B) {
			sc, cc := xchgPipe(b)
			sc.R = bufio.NewReader(sc.R) // as a server would
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := xchgServeOne(&Exchange{Protocol: p}, sc, func(string) Server { return xchgPlainServer() }); err != nil {
						return
					}
				}
			}()
			x := &Exchange{Protocol: p, Tag: "a1", SASLIR: true}
			b.ReportAllocs()
			for b.Loop() {
				if err := xchgAuth(x, cc, gosasl.NewPlainClient("", "alice", "secret")); err != nil {
					b.Fatal(err)
				}
			}
			close(stop)
		})
	}
	b.Run("raw=memory", bench(func() {
		runExchange(b, gosasl.NewPlainClient("", "alice", "secret"), xchgPlainServer())
	}))
}

func TestExchangeClientTooManyUntagged(t *testing.T) {
	cc, peer := xchgPipe(t)
	x := &Exchange{Protocol: IMAP, Tag: "a1", SASLIR: true}
	done := xchgGo(func() error { return xchgAuth(x, cc, gosasl.NewPlainClient("", "a", "b")) })
	_, err := peer.ReadLine()
	require.NoError(t, err)
	go func() {
		for range xchgMaxUntagged + 5 {
			if peer.PrintfLine("* OK [ALERT] hello") != nil {
				return
			}
		}
	}()
	require.ErrorIs(t, <-done, ErrTooLarge)
}

// xchgStore holds alice / secret in every form the mechanisms need.
type xchgStore struct{ scram map[string]SCRAMCredentials }

func newXchgStore(t testing.TB) *xchgStore {
	s := &xchgStore{scram: map[string]SCRAMCredentials{}}
	for _, m := range []string{SCRAMSHA1, SCRAMSHA256, SCRAMSHA512} {
		c, err := NewSCRAMCredentials(m, "secret", nil, 4096)
		require.NoError(t, err)
		s.scram[m] = c
	}
	return s
}

func (s *xchgStore) VerifyPassword(ctx context.Context, user, pass string) error {
	if user == "alice" && pass == "secret" {
		return nil
	}
	return ErrAuthFailed
}

func (s *xchgStore) LookupPassword(ctx context.Context, user string) (string, error) {
	if user != "alice" {
		return "", ErrUnknownUser
	}
	return "secret", nil
}

func (s *xchgStore) LookupSCRAM(ctx context.Context, mech, user string) (SCRAMCredentials, error) {
	if user != "alice" {
		return SCRAMCredentials{}, ErrUnknownUser
	}
	return s.scram[mech], nil
}

// TestExchangeOurMechanisms runs this package's multi-round mechanisms
// through both sides of the framing, for every protocol: SCRAM (whose
// final step is an empty response), CRAM-MD5 and DIGEST-MD5 (server
// first), LOGIN (two rounds), PLAIN.
func TestExchangeOurMechanisms(t *testing.T) {
	store := newXchgStore(t)
	scfg := &ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: store, Plaintext: store, SCRAM: store, InsecureAuth: true, Hostname: "localhost",
		Mechanisms: []string{SCRAMSHA512, SCRAMSHA256, SCRAMSHA1, Plain, Login, CRAMMD5, DigestMD5}}
	mechs := []string{SCRAMSHA512, SCRAMSHA256, SCRAMSHA1, DigestMD5, CRAMMD5, Login, Plain}
	for _, p := range xchgProtocols {
		for _, mech := range mechs {
			for _, pass := range []string{"secret", "wrong"} {
				t.Run(p.String()+"/"+mech+"/"+pass, func(t *testing.T) {
					set := NewServerSet(scfg, nil)
					ccfg := &ClientConfig{Username: "alice", Password: pass, InsecureAuth: true,
						Mechanisms: []string{mech}, Host: "localhost", Service: strings.ToLower(p.String())}
					c, err := ccfg.NewClient(set.Mechanisms(), nil)
					require.NoError(t, err)
					sc, cc := xchgPipe(t)
					srvErr := xchgGo(func() error {
						return xchgServeOne(&Exchange{Protocol: p}, sc, func(m string) Server {
							s, err := set.NewServer(context.Background(), m)
							if err != nil {
								return xchgFuncServer(func([]byte) ([]byte, bool, error) { return nil, false, err })
							}
							return s
						})
					})
					err = xchgAuth(&Exchange{Protocol: p, Tag: "x", SASLIR: true}, cc, c)
					serr := <-srvErr
					if pass == "secret" {
						require.NoError(t, err)
						require.NoError(t, serr)
						id, ok := set.Identity()
						require.True(t, ok)
						assert.Equal(t, "alice", id.Username)
						assert.Equal(t, mech, id.Mechanism)
						return
					}
					require.ErrorIs(t, serr, ErrAuthFailed)
					require.ErrorIs(t, err, ErrAuthFailed)
				})
			}
		}
	}
}

// FuzzClientExchange feeds server lines to the client side: no panic, no
// hang, bounded output, and success only on a success reply.
func FuzzClientExchange(f *testing.F) {
	for _, s := range []string{
		"+ \r\na1 OK done\r\n", "334 \r\n235 2.7.0 ok\r\n", "+OK\r\n", "+ Zm9v\r\n+ \r\na1 NO [AUTHENTICATIONFAILED] x\r\n",
		"535-5.7.8 a\r\n535 5.7.8 b\r\n", "* CAPABILITY X\r\na1 BAD\r\n", "-ERR [SYS/TEMP] later\r\n", "+ Zm9\r\n",
		"334 dj1maW5hbA==\r\n235 ok\r\n",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, input string, proto uint8) {
		p := xchgProtocols[int(proto)%len(xchgProtocols)]
		var out bytes.Buffer
		conn := textproto.NewConn(xchgRWC{strings.NewReader(input), &out})
		c := &xchgFuncClient{mech: "X", ir: []byte("ir"), next: func(chal []byte) ([]byte, error) {
			if len(chal) > 100 {
				return nil, ErrTooLarge
			}
			return chal, nil
		}}
		x := &Exchange{Protocol: p, Tag: "a1", SASLIR: true, MaxLineLength: 256, MaxRounds: 4}
		err := xchgAuth(x, conn, c)
		if out.Len() > 8*(256+16) {
			t.Fatalf("wrote %d bytes", out.Len())
		}
		if err == nil {
			ok := strings.Contains(strings.ToUpper(input), "A1 OK") || strings.Contains(input, "+OK") || strings.Contains(input, "\n2") || strings.HasPrefix(input, "2")
			if !ok {
				t.Fatalf("success without a success reply: %q", input)
			}
		}
	})
}
