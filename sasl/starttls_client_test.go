package sasl

import (
	"github.com/go-mailauth/mailauth/tlsutil"

	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/textproto"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cliInjection is one EAST response-injection test: the plaintext exchange
// up to STARTTLS, the go-ahead line(s) and the bytes an attacker appends.
type cliInjection struct {
	name    string
	proto   Protocol
	prefix  func(s *cliServer) // greeting and capabilities, up to reading STARTTLS
	goAhead string
	inject  string
}

func cliInjections() []cliInjection {
	imap := func(s *cliServer) {
		s.send("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=SCRAM-SHA-256] ready\r\n")
		s.expect("a1 STARTTLS")
	}
	smtp := func(s *cliServer) {
		s.send("220 mail.example.org ESMTP\r\n")
		s.expect("EHLO localhost")
		s.send(cliEhloReply([]string{"STARTTLS", "AUTH SCRAM-SHA-256"}))
		s.expect("STARTTLS")
	}
	pop3 := func(s *cliServer) {
		s.send("+OK ready\r\n")
		s.expect("CAPA")
		s.send("+OK\r\nSTLS\r\nSASL SCRAM-SHA-256\r\n.\r\n")
		s.expect("STLS")
	}
	return []cliInjection{
		{"IMAP/B_1", IMAP, imap, "a1 OK begin STARTTLS now.\r\n",
			"* CAPABILITY IMAP4REV1 AUTH=PLAIN AUTH=LOGIN\r\na2 OK capability done.\r\n"},
		{"IMAP/B_2 alert after OK", IMAP, imap, "* OK [ALERT] before\r\na1 OK begin\r\n",
			"* OK [ALERT] Attacker-controlled text\r\n"},
		{"IMAP/B_3 BYE after OK", IMAP, imap, "a1 OK begin\r\n", "* BYE\r\n"},
		{"SMTP/B_1", SMTP, smtp, "220 Ready to start TLS\r\n", "250-example.org\r\n250 AUTH LOGIN\r\n"},
		{"SMTP/B_1 multi-line go-ahead", SMTP, smtp, "220-Ready\r\n220 to start TLS\r\n", "250-example.org\r\n250 AUTH LOGIN\r\n"},
		{"POP3/B_1", POP3, pop3, "+OK Begin fake TLS negotiation now.\r\n", "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n"},
		{"POP3/B_2 binary", POP3, pop3, "+OK\r\n", "\x00\xff\xfe\x80garbage\x16\x03\x01\x00\x05hello\r\n"},
	}
}

// TestC5ResponseInjection runs every injection three ways (tls-security.md
// §1.4): in one write, split at every byte offset, and delayed until the
// client has read the go-ahead. tlsutil.Buffered bytes give tlsutil.ErrResponseInjection;
// bytes that arrive later reach the handshake and make it fail. Never does
// the client return a connection.
func TestC5ResponseInjection(t *testing.T) {
	pki := cliNewTestPKI(t)
	for _, inj := range cliInjections() {
		msg := inj.goAhead + inj.inject
		t.Run(inj.name+"/one write", func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: inj.proto}, func(s *cliServer) {
				inj.prefix(s)
				s.send(msg)
			})
			require.ErrorIs(t, res.err, tlsutil.ErrResponseInjection)
			marker := "STARTTLS"
			if inj.proto == POP3 {
				marker = "STLS"
			}
			assert.Empty(t, cliTLSFrom(res.received, marker), "no ClientHello after injection")
		})
		t.Run(inj.name+"/split", func(t *testing.T) {
			for at := 1; at < len(msg); at++ {
				res := cliRun(t, pki, ClientOptions{Protocol: inj.proto}, func(s *cliServer) {
					inj.prefix(s)
					s.sendSplit(msg, at)
				})
				if at == len(inj.goAhead) {
					// The injection is a separate write after the go-ahead:
					// the delayed case.
					require.ErrorIs(t, res.err, tlsutil.ErrHandshakeFailed, "split at %d", at)
				} else {
					require.ErrorIs(t, res.err, tlsutil.ErrResponseInjection, "split at %d", at)
				}
			}
		})
		t.Run(inj.name+"/delayed", func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: inj.proto}, func(s *cliServer) {
				inj.prefix(s)
				s.send(inj.goAhead)
				time.Sleep(time.Millisecond)
				s.send(inj.inject)
			})
			require.ErrorIs(t, res.err, tlsutil.ErrHandshakeFailed)
			assert.NotErrorIs(t, res.err, tlsutil.ErrResponseInjection)
		})
	}
}

// TestC5TCP repeats the one-write case over loopback TCP, where the kernel
// decides the segmentation: the client must fail either way.
func TestC5TCP(t *testing.T) {
	pki := cliNewTestPKI(t)
	for _, inj := range cliInjections() {
		t.Run(inj.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- err
					return
				}
				defer c.Close()
				s := &cliServer{conn: c, r: bufio.NewReader(c), pki: pki}
				inj.prefix(s)
				s.send(inj.goAhead + inj.inject)
				c.Read(make([]byte, 1024)) // wait for the client to act
				done <- s.err
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cc, err := NegotiateClient(ctx, c, ClientOptions{Protocol: inj.proto, TLSConfig: pki.clientTLS()})
			require.Nil(t, cc)
			require.Error(t, err)
			assert.True(t, cliIsAny(err, tlsutil.ErrResponseInjection, tlsutil.ErrHandshakeFailed), "%v", err)
			assert.NoError(t, <-done)
		})
	}
}

// cliIsAny reports whether err matches any of targets.
func cliIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// cliLineConn is a reader layer below textproto that buffers on its own and
// hands out one line per Read, the way a trace tee or a line-limit reader
// might. It exposes tlsutil.Buffered, so StartTLSClient can see it.
type cliLineConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *cliLineConn) Read(b []byte) (int, error) {
	line, err := c.br.ReadSlice('\n')
	n := copy(b, line)
	if n < len(line) {
		return n, bufio.ErrBufferFull
	}
	return n, err
}

func (c *cliLineConn) Buffered() int { return c.br.Buffered() }

// TestC5AllLayers checks that bytes held by a buffering layer between the
// connection and textproto are caught too.
func TestC5AllLayers(t *testing.T) {
	pki := cliNewTestPKI(t)
	for _, explicit := range []bool{false, true} {
		for _, inj := range cliInjections() {
			t.Run(inj.name+"/explicit="+strconv.FormatBool(explicit), func(t *testing.T) {
				res := cliRunWith(t, pki, func(s *cliServer) {
					inj.prefix(s)
					s.send(inj.goAhead + inj.inject)
				}, func(ctx context.Context, c net.Conn) (*ClientSession, error) {
					lc := &cliLineConn{Conn: c, br: bufio.NewReader(c)}
					tp := textproto.NewConn(lc)
					// Drive the plaintext part by hand, as a low-level
					// caller would.
					switch inj.proto {
					case IMAP:
						if _, err := cliReadLine(tp.R); err != nil {
							return nil, err
						}
					case SMTP:
						if _, _, err := cliReadSMTPReply(tp.R); err != nil {
							return nil, err
						}
						if _, err := SMTPEhlo(tp, "localhost"); err != nil {
							return nil, err
						}
					case POP3:
						if _, err := cliReadLine(tp.R); err != nil {
							return nil, err
						}
						if _, err := POP3Capabilities(tp); err != nil {
							return nil, err
						}
					}
					var err error
					if explicit {
						// raw is the bare pipe; the layer is named.
						_, _, err = StartTLSClient(ctx, tp, c, inj.proto, "a1", pki.clientTLS(), lc)
					} else {
						// raw is the layer itself, found by its method.
						_, _, err = StartTLSClient(ctx, tp, lc, inj.proto, "a1", pki.clientTLS())
					}
					return nil, err
				})
				require.ErrorIs(t, res.err, tlsutil.ErrResponseInjection)
			})
		}
	}
}

// TestStartTLSClient covers the low-level function on its own.
func TestStartTLSClient(t *testing.T) {
	pki := cliNewTestPKI(t)
	// run calls StartTLSClient against script; a nil cfg means the test CA.
	run := func(t *testing.T, proto Protocol, tag string, cfg *tls.Config, peek bool, script func(s *cliServer)) (string, error) {
		var firstLine string
		res := cliRunWith(t, pki, script, func(ctx context.Context, c net.Conn) (*ClientSession, error) {
			tp := textproto.NewConn(c)
			if peek {
				// Pull the unsolicited data into tp's buffer without
				// consuming it.
				tp.R.Peek(1)
			}
			if cfg == nil {
				cfg = pki.clientTLS()
			}
			tc, tp2, err := StartTLSClient(ctx, tp, c, proto, tag, cfg)
			if err != nil {
				return nil, err
			}
			if proto == IMAP {
				// The script sends one line inside TLS.
				if firstLine, err = tp2.ReadLine(); err != nil {
					return nil, err
				}
			}
			return &ClientSession{Conn: tc, TLS: tc, Text: tp2}, nil
		})
		return firstLine, res.err
	}
	t.Run("IMAP success", func(t *testing.T) {
		line, err := run(t, IMAP, "x.7", nil, false, func(s *cliServer) {
			s.expect("x.7 STARTTLS")
			s.send("* OK [ALERT] dropped\r\nx.7 OK go\r\n")
			s.startTLS(s.pki.good)
			s.send("* OK inside TLS\r\n")
		})
		require.NoError(t, err)
		assert.Equal(t, "* OK inside TLS", line)
	})
	for _, tag := range []string{"", "a b", "a+", "a*", "{1}", "a\r\nb", "a\x00"} {
		t.Run("bad tag "+strconv.Quote(tag), func(t *testing.T) {
			_, err := run(t, IMAP, tag, nil, false, func(s *cliServer) {})
			require.ErrorIs(t, err, ErrInvalidClientOption)
		})
	}
	t.Run("empty ServerName", func(t *testing.T) {
		_, err := run(t, SMTP, "", &tls.Config{}, false, func(s *cliServer) {})
		require.ErrorIs(t, err, ErrInvalidClientOption)
	})
	t.Run("bad protocol", func(t *testing.T) {
		_, err := run(t, Protocol(0), "", nil, false, func(s *cliServer) {})
		require.ErrorIs(t, err, ErrInvalidClientOption)
	})
	for _, proto := range []Protocol{SMTP, POP3} {
		t.Run(proto.String()+" unsolicited data before STARTTLS", func(t *testing.T) {
			_, err := run(t, proto, "", nil, true, func(s *cliServer) {
				s.send("+OK\r\n220 go\r\n")
			})
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}
