package tlsutil

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsSrvProto is one protocol's STARTTLS exchange and the command-injection
// bytes of the NO STARTTLS command-injection tester (tls-security.md §1.2).
type tlsSrvProto struct {
	name    string
	before  string // plaintext commands before STARTTLS (SMTP: EHLO)
	cmd     string // the STARTTLS/STLS command line, CRLF included
	goAhead string // the server's go-ahead line, without CRLF
	inject  string // the injected command line(s), CRLF included
	marker  string // appears in any reply to the injected command
}

var tlsSrvProtos = []tlsSrvProto{
	{name: "imap", cmd: "A STARTTLS\r\n", goAhead: "A OK Begin TLS negotiation now",
		inject: "QWXYZ NOOP\r\n", marker: "QWXYZ"},
	{name: "pop3", cmd: "STLS\r\n", goAhead: "+OK Begin TLS negotiation",
		inject: "CAPA\r\n", marker: "CAPA"},
	{name: "smtp", before: "EHLO commandinjectiontester\r\n", cmd: "STARTTLS\r\n",
		goAhead: "220 2.0.0 Ready to start TLS", inject: "EHLO commandinjectiontester\r\n", marker: "EHLO"},
}

// tlsSrvStack builds the reader stack over the server's connection: the
// textproto.Conn, the extra layers to hand to StartTLSServer, and the layer
// the test expects to hold injected bytes (nil: tc.R).
type tlsSrvStack struct {
	name  string
	build func(conn net.Conn) (tc *textproto.Conn, layers []Buffered, holder Buffered)
}

// tlsSrvRW joins a reader stack and the connection into the
// io.ReadWriteCloser that textproto.NewConn takes.
type tlsSrvRW struct {
	io.Reader
	net.Conn
}

func (rw tlsSrvRW) Read(p []byte) (int, error) { return rw.Reader.Read(p) }

// tlsSrvLineLayer is a line-limit layer with its own buffer: it reads
// chunks from below and hands up at most one line per Read, so the layer
// above never sees what follows the line.
type tlsSrvLineLayer struct {
	r       io.Reader
	pending []byte
}

func (l *tlsSrvLineLayer) Read(p []byte) (int, error) {
	if len(l.pending) == 0 {
		buf := make([]byte, 512)
		n, err := l.r.Read(buf)
		if n == 0 {
			return 0, err
		}
		l.pending = buf[:n]
	}
	end := len(l.pending)
	if i := bytes.IndexByte(l.pending, '\n'); i >= 0 {
		end = i + 1
	}
	n := copy(p, l.pending[:end])
	l.pending = l.pending[n:]
	return n, nil
}

func (l *tlsSrvLineLayer) Buffered() int { return len(l.pending) }

// tlsSrvTee is a trace tee: it copies what it reads to a log and buffers
// nothing itself.
type tlsSrvTee struct {
	r   io.Reader
	log bytes.Buffer
}

func (t *tlsSrvTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.log.Write(p[:n])
	return n, err
}

var tlsSrvStacks = []tlsSrvStack{
	{"textproto", func(conn net.Conn) (*textproto.Conn, []Buffered, Buffered) {
		return textproto.NewConn(conn), nil, nil
	}},
	{"textproto/line-limit", func(conn net.Conn) (*textproto.Conn, []Buffered, Buffered) {
		ll := &tlsSrvLineLayer{r: conn}
		return textproto.NewConn(tlsSrvRW{ll, conn}), []Buffered{ll}, ll
	}},
	{"textproto/line-limit/bufio", func(conn net.Conn) (*textproto.Conn, []Buffered, Buffered) {
		br := bufio.NewReader(conn)
		ll := &tlsSrvLineLayer{r: br}
		return textproto.NewConn(tlsSrvRW{ll, conn}), []Buffered{ll, br}, nil
	}},
	{"textproto/tee/line-limit/tee/bufio", func(conn net.Conn) (*textproto.Conn, []Buffered, Buffered) {
		br := bufio.NewReaderSize(conn, 16) // the injection may straddle layers
		ll := &tlsSrvLineLayer{r: &tlsSrvTee{r: br}}
		return textproto.NewConn(tlsSrvRW{&tlsSrvTee{r: ll}, conn}), []Buffered{br, ll}, nil
	}},
}

// tlsSrvServe is a minimal mail-like server on conn: before TLS it answers
// each line with "PLAIN <line>"; on the protocol's STARTTLS command it
// calls StartTLSServer; inside TLS it answers each line with
// "TLS <line>". It returns StartTLSServer's error, or the first error
// inside TLS, and always closes conn.
func tlsSrvServe(ctx context.Context, conn net.Conn, cfg *tls.Config, p tlsSrvProto, stack tlsSrvStack, checkHolder func(tc *textproto.Conn, holder Buffered)) error {
	defer conn.Close()
	tc, layers, holder := stack.build(conn)
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return fmt.Errorf("plaintext read: %w", err)
		}
		if line+"\r\n" != p.cmd {
			if err := tc.PrintfLine("PLAIN %s", line); err != nil {
				return err
			}
			continue
		}
		if checkHolder != nil {
			checkHolder(tc, holder)
		}
		_, ttc, err := StartTLSServer(ctx, tc, conn, cfg, p.goAhead, layers...)
		if err != nil {
			return err
		}
		for {
			line, err := ttc.ReadLine()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if err := ttc.PrintfLine("INTLS-REPLY %s", line); err != nil {
				return err
			}
		}
	}
}

// tlsSrvReadAll reads from conn until EOF or error and returns the bytes.
func tlsSrvReadAll(conn net.Conn) []byte {
	var out bytes.Buffer
	_, _ = io.Copy(&out, conn)
	return out.Bytes()
}

// TestStartTLSServerRoundTrip is the positive control for the harness:
// a well-behaved client upgrades and talks inside TLS, for each protocol.
func TestStartTLSServerRoundTrip(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	for _, p := range tlsSrvProtos {
		for _, st := range tlsSrvStacks {
			t.Run(p.name+"/"+st.name, func(t *testing.T) {
				srv, cli := tlsSrvPipe()
				errc := make(chan error, 1)
				go func() { errc <- tlsSrvServe(t.Context(), srv, pki.server, p, st, nil) }()
				_ = cli.SetDeadline(time.Now().Add(tlsSrvWait))
				br := bufio.NewReader(cli)
				if p.before != "" {
					_, err := io.WriteString(cli, p.before)
					require.NoError(t, err)
					line, err := br.ReadString('\n')
					require.NoError(t, err)
					assert.True(t, strings.HasPrefix(line, "PLAIN "), line)
				}
				_, err := io.WriteString(cli, p.cmd)
				require.NoError(t, err)
				line, err := br.ReadString('\n')
				require.NoError(t, err)
				require.Equal(t, p.goAhead+"\r\n", line)
				require.Zero(t, br.Buffered())
				tc := tls.Client(cli, pki.client)
				require.NoError(t, tc.Handshake())
				_, err = io.WriteString(tc, "B NOOP\r\n")
				require.NoError(t, err)
				line, err = bufio.NewReader(tc).ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, "INTLS-REPLY B NOOP\r\n", line)
				require.NoError(t, tc.Close())
				assert.NoError(t, <-errc)
			})
		}
	}
}

// tlsSrvInjectRun sends parts (each one Write, from another goroutine, as
// net.Pipe delivers them) to a server running p over stack, reads
// everything the server sends until it closes, and returns that and the
// server's error. If thenTLS is set, after the go-ahead line the client
// also runs a TLS handshake, as the victim's client behind the injecting
// man in the middle would.
func tlsSrvInjectRun(t *testing.T, pki *tlsSrvPKI, p tlsSrvProto, st tlsSrvStack, parts []string, thenTLS bool) (got []byte, tlsGot []byte, serr error) {
	t.Helper()
	srv, cli := tlsSrvPipe()
	_ = cli.SetDeadline(time.Now().Add(tlsSrvWait))
	errc := make(chan error, 1)
	go func() { errc <- tlsSrvServe(t.Context(), srv, pki.server, p, st, nil) }()
	go func() {
		for _, part := range parts {
			if _, err := io.WriteString(cli, part); err != nil {
				return // the server refused and closed
			}
		}
	}()
	if !thenTLS {
		got = tlsSrvReadAll(cli)
		return got, nil, <-errc
	}
	// Read the plaintext replies up to and including the go-ahead line.
	br := bufio.NewReader(cli)
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		out.WriteString(line)
		if err != nil || line == p.goAhead+"\r\n" {
			break
		}
	}
	tc := tls.Client(tlsSrvRW{br, cli}, pki.client)
	if err := tc.Handshake(); err == nil {
		// Only a broken server gets here: record what it says inside TLS.
		_, _ = io.WriteString(tc, "B NOOP\r\n")
		var in bytes.Buffer
		_, _ = io.Copy(&in, tc)
		tlsGot = in.Bytes()
	}
	_ = cli.Close()
	return out.Bytes(), tlsGot, <-errc
}

// TestS1CommandInjection: plaintext pipelined after STARTTLS (CVE-2011-0411,
// CVE-2021-33515) is never answered inside TLS. (a) one write: refused
// before the go-ahead line. (b) split at every byte offset: refused when any
// injected byte is buffered, otherwise the injected bytes meet the TLS
// handshake and fail it. (c) delayed past the go-ahead line: the handshake
// fails with ErrNotTLS, the victim's handshake fails, and nothing is
// answered.
func TestS1CommandInjection(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	for _, p := range tlsSrvProtos {
		st := tlsSrvStacks[0]
		t.Run(p.name+"/one-write", func(t *testing.T) {
			got, _, serr := tlsSrvInjectRun(t, pki, p, st, []string{p.before + p.cmd + p.inject}, false)
			require.ErrorIs(t, serr, ErrPlaintextAfterStartTLS)
			assert.NotContains(t, string(got), p.goAhead, "go-ahead written before the check (S3)")
			assert.NotContains(t, string(got), "INTLS-REPLY ")
		})
		t.Run(p.name+"/split", func(t *testing.T) {
			msg := p.before + p.cmd + p.inject
			cmdEnd := len(p.before + p.cmd)
			for i := 1; i < len(msg); i++ {
				got, _, serr := tlsSrvInjectRun(t, pki, p, st, []string{msg[:i], msg[i:]}, false)
				require.Error(t, serr, "split at %d", i)
				if i == cmdEnd {
					// The injected bytes arrive after the check: they are
					// the first bytes of the "handshake".
					assert.ErrorIs(t, serr, ErrNotTLS, "split at %d", i)
					assert.Contains(t, string(got), p.goAhead)
				} else {
					assert.ErrorIs(t, serr, ErrPlaintextAfterStartTLS, "split at %d", i)
					assert.NotContains(t, string(got), p.goAhead, "split at %d", i)
				}
				assert.NotContains(t, string(got), "INTLS-REPLY ", "split at %d", i)
			}
		})
		t.Run(p.name+"/delayed", func(t *testing.T) {
			// The injection goes out after the go-ahead line, then the
			// victim's ClientHello.
			srv, cli := tlsSrvPipe()
			_ = cli.SetDeadline(time.Now().Add(tlsSrvWait))
			errc := make(chan error, 1)
			go func() { errc <- tlsSrvServe(t.Context(), srv, pki.server, p, st, nil) }()
			br := bufio.NewReader(cli)
			_, err := io.WriteString(cli, p.before+p.cmd)
			require.NoError(t, err)
			var plain bytes.Buffer
			for {
				line, err := br.ReadString('\n')
				require.NoError(t, err)
				plain.WriteString(line)
				if line == p.goAhead+"\r\n" {
					break
				}
			}
			// Written in full before the ClientHello; the server reads the
			// first five bytes, sees no TLS record and closes, which may
			// cut this write short.
			_, _ = io.WriteString(cli, p.inject)
			tc := tls.Client(tlsSrvRW{br, cli}, pki.client)
			herr := tc.Handshake()
			serr := <-errc
			require.Error(t, herr, "the victim's handshake must fail")
			require.ErrorIs(t, serr, ErrNotTLS)
			rest := tlsSrvReadAll(cli)
			assert.NotContains(t, plain.String()+string(rest), p.marker+"\r\n")
			assert.NotContains(t, string(rest), "INTLS-REPLY ")
		})
		t.Run(p.name+"/delayed-racing-tls", func(t *testing.T) {
			// The injected bytes race with the victim's ClientHello: either
			// the first record is not TLS, or a record mid-handshake is
			// garbage. Both end the handshake.
			got, tlsGot, serr := tlsSrvInjectRun(t, pki, p, st, []string{p.before + p.cmd, p.inject}, true)
			require.Error(t, serr)
			assert.Empty(t, tlsGot, "server answered inside TLS")
			assert.NotContains(t, string(got), "INTLS-REPLY ")
		})
	}
}

// TestS2AllLayers: the check covers tc.R and every extra layer: line-limit
// readers, trace tees and bufio readers stacked under textproto, whichever
// of them holds the injected bytes (Mutt c547433 cleared only the top one).
func TestS2AllLayers(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	for _, p := range tlsSrvProtos {
		for _, st := range tlsSrvStacks {
			t.Run(p.name+"/"+st.name, func(t *testing.T) {
				msg := p.before + p.cmd + p.inject
				for i := 1; i < len(msg); i++ {
					if i == len(p.before+p.cmd) {
						continue // nothing buffered: TestS1CommandInjection
					}
					got, _, serr := tlsSrvInjectRun(t, pki, p, st, []string{msg[:i], msg[i:]}, false)
					require.ErrorIs(t, serr, ErrPlaintextAfterStartTLS, "split at %d", i)
					assert.NotContains(t, string(got), p.goAhead, "split at %d", i)
				}
				got, _, serr := tlsSrvInjectRun(t, pki, p, st, []string{msg}, false)
				require.ErrorIs(t, serr, ErrPlaintextAfterStartTLS)
				assert.NotContains(t, string(got), p.goAhead)
			})
		}
	}
	// The stacks really put the bytes below tc.R: without the layer list
	// the check would not see them.
	t.Run("holder", func(t *testing.T) {
		p := tlsSrvProtos[0]
		st := tlsSrvStacks[1]
		srv, cli := tlsSrvPipe()
		errc := make(chan error, 1)
		checked := make(chan [2]int, 1)
		go func() {
			errc <- tlsSrvServe(t.Context(), srv, pki.server, p, st, func(tc *textproto.Conn, holder Buffered) {
				checked <- [2]int{tc.R.Buffered(), holder.Buffered()}
			})
		}()
		go func() { _, _ = io.WriteString(cli, p.cmd+p.inject) }()
		_ = tlsSrvReadAll(cli)
		require.ErrorIs(t, <-errc, ErrPlaintextAfterStartTLS)
		n := <-checked
		assert.Zero(t, n[0], "tc.R holds nothing")
		assert.Equal(t, len(p.inject), n[1], "the line-limit layer holds the injection")
	})
}

// TestS3CheckOrder: the buffered-bytes check runs before the go-ahead line
// is written, and a refusal writes nothing at all.
func TestS3CheckOrder(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	tc := textproto.NewConn(srv)
	go func() { _, _ = io.WriteString(cli, "A STARTTLS\r\nB NOOP\r\n") }()
	line, err := tc.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "A STARTTLS", line)
	// net.Pipe is synchronous: a write to srv would block here with nobody
	// reading cli, so a go-ahead written before the check fails the test
	// with a deadline error instead of ErrPlaintextAfterStartTLS.
	_ = srv.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	conn, ttc, err := StartTLSServer(t.Context(), tc, srv, &tls.Config{}, "A OK go")
	require.ErrorIs(t, err, ErrPlaintextAfterStartTLS)
	assert.Nil(t, conn)
	assert.Nil(t, ttc)
}

// TestStartTLSServerGoAheadCRLF: a go-ahead line with CR or LF would let
// the caller inject a second line; it is refused before anything else.
func TestStartTLSServerGoAheadCRLF(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	for _, g := range []string{"A OK\r\nB OK", "A OK\n", "\r"} {
		_, _, err := StartTLSServer(t.Context(), textproto.NewConn(srv), srv, &tls.Config{}, g)
		assert.ErrorContains(t, err, "CR or LF")
	}
}

// TestS5SessionFixation and TestS6DoubleStartTLS: Session.CheckStartTLS
// refuses STARTTLS once authenticated and inside TLS.
func TestS5SessionFixation(t *testing.T) {
	assert.NoError(t, Session{}.CheckStartTLS())
	assert.ErrorIs(t, Session{Authenticated: true}.CheckStartTLS(), ErrStartTLSAfterAuth)
}

func TestS6DoubleStartTLS(t *testing.T) {
	assert.ErrorIs(t, Session{TLS: true}.CheckStartTLS(), ErrTLSActive)
	assert.ErrorIs(t, Session{TLS: true, Authenticated: true}.CheckStartTLS(), ErrTLSActive)

	// A server that keeps Session up to date refuses the second STARTTLS
	// inside TLS, after a real upgrade.
	pki := tlsSrvNewPKI(t, nil)
	srv, cli := tlsSrvPipe()
	errc := make(chan error, 1)
	go func() {
		defer srv.Close()
		var s Session
		tc := textproto.NewConn(srv)
		if _, err := tc.ReadLine(); err != nil {
			errc <- err
			return
		}
		if err := s.CheckStartTLS(); err != nil {
			errc <- err
			return
		}
		_, ttc, err := StartTLSServer(t.Context(), tc, srv, pki.server, "A OK go")
		if err != nil {
			errc <- err
			return
		}
		s.TLS = true
		if _, err := ttc.ReadLine(); err != nil {
			errc <- err
			return
		}
		err = s.CheckStartTLS()
		_ = ttc.PrintfLine("B BAD %v", err)
		errc <- err
	}()
	_ = cli.SetDeadline(time.Now().Add(tlsSrvWait))
	br := bufio.NewReader(cli)
	_, _ = io.WriteString(cli, "A STARTTLS\r\n")
	_, err := br.ReadString('\n')
	require.NoError(t, err)
	tc := tls.Client(cli, pki.client)
	require.NoError(t, tc.Handshake())
	_, _ = io.WriteString(tc, "B STARTTLS\r\n")
	line, err := bufio.NewReader(tc).ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(line, "B BAD "), line)
	assert.ErrorIs(t, <-errc, ErrTLSActive)
}

// TestS8FailedHandshakeCloses: when the handshake fails (here the client
// rejects the certificate), StartTLSServer returns the error and the
// connection is closed: no plaintext continuation.
func TestS8FailedHandshakeCloses(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	other := tlsSrvNewPKI(t, nil) // a client trusting another CA
	srv, cli := tlsSrvPipe()
	_ = cli.SetDeadline(time.Now().Add(tlsSrvWait))
	errc := make(chan error, 1)
	go func() { errc <- tlsSrvServe(t.Context(), srv, pki.server, tlsSrvProtos[0], tlsSrvStacks[0], nil) }()
	br := bufio.NewReader(cli)
	_, _ = io.WriteString(cli, "A STARTTLS\r\n")
	_, err := br.ReadString('\n')
	require.NoError(t, err)
	tc := tls.Client(cli, other.client)
	require.Error(t, tc.Handshake())
	serr := <-errc
	require.Error(t, serr)
	assert.Contains(t, serr.Error(), "STARTTLS handshake")
	// The server closed: plaintext gets nowhere.
	_, werr := io.WriteString(cli, "B NOOP\r\n")
	assert.Error(t, werr)
	_, rerr := cli.Read(make([]byte, 1))
	assert.Error(t, rerr)
}

// TestS9StalledHandshake: a client that sends STARTTLS and then nothing,
// or part of a record header, is cut off at the context's deadline.
func TestS9StalledHandshake(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	for _, sent := range []string{"", "\x16\x03", "\x16\x03\x01\x00\x10partial"} {
		t.Run(fmt.Sprintf("sent=%d", len(sent)), func(t *testing.T) {
			srv, cli := tlsSrvPipe()
			defer cli.Close()
			_ = cli.SetDeadline(time.Now().Add(tlsSrvWait))
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			errc := make(chan error, 1)
			start := time.Now()
			go func() { errc <- tlsSrvServe(ctx, srv, pki.server, tlsSrvProtos[0], tlsSrvStacks[0], nil) }()
			br := bufio.NewReader(cli)
			_, _ = io.WriteString(cli, "A STARTTLS\r\n")
			_, err := br.ReadString('\n')
			require.NoError(t, err)
			if sent != "" {
				// On a loaded machine the deadline may already have closed
				// the pipe; the check below is what matters.
				_, _ = io.WriteString(cli, sent)
			}
			select {
			case err := <-errc:
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Less(t, time.Since(start), tlsSrvWait)
			case <-time.After(tlsSrvWait):
				t.Fatal("stalled handshake did not time out")
			}
		})
	}
}

// TestStartTLSServedCertificate: the connection StartTLSServer returns knows
// its served leaf, and the tls-server-end-point values agree on both ends.
func TestStartTLSServedCertificate(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	srv, cli := tlsSrvPipe()
	_ = cli.SetDeadline(time.Now().Add(tlsSrvWait))
	type result struct {
		cb  []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		tc := textproto.NewConn(srv)
		_, _ = tc.ReadLine()
		conn, _, err := StartTLSServer(t.Context(), tc, srv, pki.server, "A OK go")
		if err != nil {
			res <- result{err: err}
			return
		}
		cb, err := ServerChannelBinding(conn, TLSServerEndPoint)
		res <- result{cb, err}
	}()
	br := bufio.NewReader(cli)
	_, _ = io.WriteString(cli, "A STARTTLS\r\n")
	_, err := br.ReadString('\n')
	require.NoError(t, err)
	tc := tls.Client(cli, pki.client)
	require.NoError(t, tc.Handshake())
	r := <-res
	require.NoError(t, r.err)
	cs := tc.ConnectionState()
	want, err := ChannelBinding(&cs, TLSServerEndPoint, nil)
	require.NoError(t, err)
	assert.Equal(t, want, r.cb)
}

// tlsSrvBufferedConn is a connection that reads ahead itself.
type tlsSrvBufferedConn struct {
	net.Conn
	n int
}

func (c tlsSrvBufferedConn) Buffered() int { return c.n }

// TestS2RawConnBuffered: a raw connection that reports buffered bytes is
// refused like any other layer.
func TestS2RawConnBuffered(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	raw := tlsSrvBufferedConn{Conn: srv, n: 3}
	_, _, err := StartTLSServer(t.Context(), textproto.NewConn(raw), raw, &tls.Config{}, "A OK go")
	assert.ErrorIs(t, err, ErrPlaintextAfterStartTLS)
}

// TestS1CommandInjectionTCP repeats the one-write injection over loopback
// TCP, as the NO STARTTLS tester sends it: the server refuses before the
// go-ahead line (or, if the kernel split the segment, fails the
// handshake), and nothing is ever answered inside TLS.
func TestS1CommandInjectionTCP(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	for _, p := range tlsSrvProtos {
		t.Run(p.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			errc := make(chan error, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					errc <- err
					return
				}
				errc <- tlsSrvServe(t.Context(), conn, pki.server, p, tlsSrvStacks[0], nil)
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(tlsSrvWait))
			_, err = io.WriteString(c, p.before+p.cmd+p.inject)
			require.NoError(t, err)
			got, _ := io.ReadAll(c)
			serr := <-errc
			require.Error(t, serr)
			assert.True(t, errors.Is(serr, ErrPlaintextAfterStartTLS) || errors.Is(serr, ErrNotTLS), "%v", serr)
			if errors.Is(serr, ErrPlaintextAfterStartTLS) {
				assert.NotContains(t, string(got), p.goAhead)
			}
			assert.NotContains(t, string(got), "INTLS-REPLY ")
		})
	}
}
