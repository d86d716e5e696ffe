//go:build interop

package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/tlsutil"
)

// tlsTestServer is a minimal IMAP, POP3 or SMTP front end built on
// tlsutil's server side only (NewServerConfig, Listener for implicit TLS,
// StartTLSServer for STARTTLS/STLS), so openssl s_client and curl test
// that code and nothing else. It answers capability, NOOP and logout
// commands; it has no authentication.
type tlsTestServer struct {
	proto    string // "imap", "pop3", "smtp"
	implicit bool
	cfg      *tls.Config
	ln       net.Listener
	wg       sync.WaitGroup

	mu       sync.Mutex
	injected int // STARTTLS commands refused for pipelined plaintext
	lastTLS  *tls.ConnectionState
}

// tlsTestTimeout bounds one connection to the test server.
const tlsTestTimeout = 20 * time.Second

func startTLSTestServer(t *testing.T, pki *testPKI, proto string, implicit bool) *tlsTestServer {
	t.Helper()
	cert := pki.Server
	cfg := tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	s := &tlsTestServer{proto: proto, implicit: implicit, cfg: cfg}
	var err error
	if implicit {
		s.ln, err = tlsutil.Listen("tcp", "127.0.0.1:0", cfg, nil)
	} else {
		s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(tlsTestTimeout))
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *tlsTestServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *tlsTestServer) serve(raw net.Conn) {
	// closes the TLS connection after STARTTLS too: close_notify first
	defer func() { raw.Close() }()
	tc := textproto.NewConn(raw)
	isTLS := s.implicit
	if tconn, ok := raw.(*tls.Conn); ok {
		cs := tconn.ConnectionState()
		s.record(&cs)
	}
	greet := map[string]string{"imap": "* OK IMAP4rev1 ready", "pop3": "+OK POP3 ready", "smtp": "220 localhost ESMTP ready"}
	if tc.PrintfLine("%s", greet[s.proto]) != nil {
		return
	}
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		tag, cmd := "", line
		if s.proto == "imap" {
			tag, cmd, _ = strings.Cut(line, " ")
		}
		verb, _, _ := strings.Cut(strings.ToUpper(cmd), " ")
		reply := func(lines ...string) bool {
			for _, l := range lines {
				if tc.PrintfLine("%s", l) != nil {
					return false
				}
			}
			return true
		}
		ok := true
		switch {
		case verb == "STARTTLS" || verb == "STLS":
			if isTLS {
				ok = reply(s.bad(tag, "TLS already active"))
				continue
			}
			goAhead := map[string]string{"imap": tag + " OK Begin TLS negotiation now",
				"pop3": "+OK Begin TLS negotiation", "smtp": "220 2.0.0 Ready to start TLS"}[s.proto]
			ctx, cancel := context.WithTimeout(context.Background(), tlsTestTimeout)
			tconn, ntc, err := tlsutil.StartTLSServer(ctx, tc, raw, s.cfg, goAhead)
			cancel()
			if errors.Is(err, tlsutil.ErrPlaintextAfterStartTLS) {
				s.mu.Lock()
				s.injected++
				s.mu.Unlock()
				reply(s.bad(tag, "plaintext after STARTTLS"))
				return
			}
			if err != nil {
				return
			}
			cs := tconn.ConnectionState()
			s.record(&cs)
			raw, tc, isTLS = tconn, ntc, true
		case verb == "CAPABILITY" && s.proto == "imap":
			caps := "* CAPABILITY IMAP4rev1"
			if !isTLS {
				caps += " STARTTLS"
			}
			ok = reply(caps, tag+" OK CAPABILITY completed")
		case verb == "CAPA" && s.proto == "pop3":
			l := []string{"+OK", "USER"}
			if !isTLS {
				l = append(l, "STLS")
			}
			ok = reply(append(l, ".")...)
		case (verb == "EHLO" || verb == "HELO") && s.proto == "smtp":
			if isTLS {
				ok = reply("250-localhost", "250 8BITMIME")
			} else {
				ok = reply("250-localhost", "250 STARTTLS")
			}
		case verb == "NOOP":
			ok = reply(s.okLine(tag, "NOOP"))
		case verb == "LOGOUT" || verb == "QUIT":
			if s.proto == "imap" {
				reply("* BYE logging out")
			}
			reply(s.okLine(tag, "bye"))
			return
		default:
			ok = reply(s.bad(tag, "command not supported"))
		}
		if !ok {
			return
		}
	}
}

func (s *tlsTestServer) okLine(tag, text string) string {
	return map[string]string{"imap": tag + " OK " + text, "pop3": "+OK " + text, "smtp": "250 2.0.0 " + text}[s.proto]
}

func (s *tlsTestServer) bad(tag, text string) string {
	return map[string]string{"imap": tag + " BAD " + text, "pop3": "-ERR " + text, "smtp": "502 5.5.1 " + text}[s.proto]
}

func (s *tlsTestServer) record(cs *tls.ConnectionState) {
	s.mu.Lock()
	s.lastTLS = cs
	s.mu.Unlock()
}

const peerOpenSSL = "openssl s_client 3.0"

// TestTLSServerOpenSSL connects openssl s_client to tlsutil's implicit-TLS
// listener and STARTTLS upgrade, for IMAP, POP3 and SMTP, with TLS 1.3
// and 1.2, verifying the certificate chain and host name.
func TestTLSServerOpenSSL(t *testing.T) {
	pki := sharedPKI(t)
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		for _, implicit := range []bool{true, false} {
			for _, ver := range []string{"-tls1_3", "-tls1_2"} {
				via := strings.ToUpper(proto) + " implicit TLS"
				if !implicit {
					via = strings.ToUpper(proto) + " STARTTLS"
				}
				via += ", " + map[string]string{"-tls1_3": "TLS 1.3", "-tls1_2": "TLS 1.2"}[ver]
				t.Run(strings.ReplaceAll(via, " ", "_"), func(t *testing.T) {
					t.Parallel()
					mech := "implicit TLS"
					if !implicit {
						mech = "STARTTLS"
					}
					c := newCase(t, mech, peerOpenSSL, dirServer, via)
					needBinary(c, "openssl")
					s := startTLSTestServer(t, pki, proto, implicit)
					args := []string{"s_client", "-connect", "127.0.0.1:" + strconv.Itoa(s.port()),
						"-CAfile", pki.CAFile, "-verify_return_error", "-verify_hostname", "localhost",
						"-servername", "localhost", ver, "-quiet"}
					if !implicit {
						args = append(args, "-starttls", proto)
					}
					// -quiet: no session dump; stdin QUIT ends the session
					quit := map[string]string{"imap": "a9 LOGOUT", "pop3": "QUIT", "smtp": "QUIT"}[proto]
					out, err := runCmdInput(t, quit+"\r\n", "openssl", args...)
					if err != nil {
						err = fmt.Errorf("openssl: %v: %s", err, shorten(out, 300))
					}
					if err == nil && !strings.Contains(out, map[string]string{"imap": "a9 OK", "pop3": "+OK bye", "smtp": "250 2.0.0 bye"}[proto]) {
						err = fmt.Errorf("no reply to %s inside TLS: %s", quit, shorten(out, 200))
					}
					if err == nil {
						s.mu.Lock()
						cs := s.lastTLS
						s.mu.Unlock()
						want := map[string]uint16{"-tls1_3": tls.VersionTLS13, "-tls1_2": tls.VersionTLS12}[ver]
						if cs == nil || cs.Version != want {
							err = fmt.Errorf("server saw TLS version %v, want %x", cs, want)
						}
					}
					c.check(err, "")
				})
			}
		}
	}
}

const peerCurlTLS = "curl 7.88 (TLS only)"

// TestTLSServerCurl runs curl's IMAP/POP3/SMTP TLS and STARTTLS code
// against the tlsutil test server (a NOOP inside TLS, no login).
func TestTLSServerCurl(t *testing.T) {
	pki := sharedPKI(t)
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		for _, implicit := range []bool{true, false} {
			via := strings.ToUpper(proto) + " implicit TLS"
			mech := "implicit TLS"
			if !implicit {
				via, mech = strings.ToUpper(proto)+" STARTTLS", "STARTTLS"
			}
			t.Run(strings.ReplaceAll(via, " ", "_"), func(t *testing.T) {
				t.Parallel()
				c := newCase(t, mech, peerCurlTLS, dirServer, via)
				needBinary(c, "curl")
				s := startTLSTestServer(t, pki, proto, implicit)
				scheme := proto
				if implicit {
					scheme += "s"
				}
				args := []string{"-sS", "--max-time", "20", "--cacert", pki.CAFile, "-X", "NOOP",
					fmt.Sprintf("%s://127.0.0.1:%d/", scheme, s.port())}
				if proto == "pop3" {
					args = append(args, "-I") // a single-line reply to the custom command
				}
				if !implicit {
					args = append(args, "--ssl-reqd")
				}
				out, err := runCmd(t, "", nil, "curl", args...)
				if err != nil {
					err = fmt.Errorf("curl: %v: %s", err, shorten(out, 200))
				}
				c.check(err, "")
			})
		}
	}
}

// TestTLSServerInjection sends a command pipelined after STARTTLS in the
// same packet (CVE-2011-0411): tlsutil must refuse it before the
// handshake. The peer is a raw TCP client of the test.
func TestTLSServerInjection(t *testing.T) {
	pki := sharedPKI(t)
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			c := newCase(t, "STARTTLS", "raw TCP (pipelined plaintext)", dirServer, strings.ToUpper(proto)+" STARTTLS")
			s := startTLSTestServer(t, pki, proto, false)
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port()), 5*time.Second)
			if err != nil {
				c.check(err, "")
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(conn)
			r.ReadString('\n') // greeting
			cmd := map[string]string{"imap": "a1 STARTTLS\r\na2 NOOP\r\n", "pop3": "STLS\r\nNOOP\r\n", "smtp": "STARTTLS\r\nNOOP\r\n"}[proto]
			conn.Write([]byte(cmd))
			reply, _ := r.ReadString('\n')
			s.mu.Lock()
			refused := s.injected
			s.mu.Unlock()
			if refused != 1 || strings.Contains(reply, "Begin TLS") || strings.HasPrefix(reply, "220") {
				err = fmt.Errorf("pipelined STARTTLS not refused: reply %q", reply)
			}
			c.check(err, "refused: "+strings.TrimSpace(reply))
		})
	}
}
