package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/examples/mailserver"
	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/tlsutil"
)

const (
	testUser     = "alice"
	testPassword = "wonder land"
)

// runCLI runs the command in process and returns its exit status, stdout
// and stderr. env is the whole environment; there is no terminal.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string { return env[k] },
		tty:    func(string) ([]byte, error) { return nil, errors.New("no terminal in tests") },
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := c.main(ctx, args)
	return code, out.String(), errOut.String()
}

// pwEnv is the environment that carries the test password.
func pwEnv() map[string]string { return map[string]string{envPassword: testPassword} }

// testPKI is a CA, a certificate it issued for localhost and 127.0.0.1,
// and the CA in a PEM file for -ca.
type testPKI struct {
	ca     *tlsutil.CA
	leaf   *tlsutil.KeyPair
	caFile string
}

func newTestPKI(t testing.TB, opts *tlsutil.CertOptions) *testPKI {
	t.Helper()
	ca, err := tlsutil.NewCA(nil)
	require.NoError(t, err)
	if opts == nil {
		opts = &tlsutil.CertOptions{}
	}
	if opts.Hosts == nil {
		opts.Hosts = []string{"localhost", "127.0.0.1"}
	}
	leaf, err := ca.Issue(opts)
	require.NoError(t, err)
	f := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(f, ca.CertPEM, 0o600))
	return &testPKI{ca: ca, leaf: leaf, caFile: f}
}

func (p *testPKI) serverTLS() *tls.Config {
	return tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &p.leaf.Certificate, nil })
}

// testServer is one examples/mailserver protocol on a STARTTLS and an
// implicit-TLS listener.
type testServer struct {
	pki                *testPKI
	starttls, implicit string // host:port
	scheme             string // "imap", "pop3", "smtp"
}

// url returns the URL of the STARTTLS (or implicit) listener for user.
func (s *testServer) url(implicit bool) string {
	if implicit {
		return s.scheme + "s://" + testUser + "@" + s.implicit
	}
	return s.scheme + "://" + testUser + "@" + s.starttls
}

type serverOpt func(*mailserver.Config)

// insecureAuth offers password mechanisms before TLS: a weak fixture.
func insecureAuth(c *mailserver.Config) { c.InsecureAuth = true }

// startServer runs examples/mailserver for proto with the test user in a
// passdb store (so every mechanism has its credentials).
func startServer(t testing.TB, proto sasl.Protocol, pki *testPKI, opts ...serverOpt) *testServer {
	t.Helper()
	if pki == nil {
		pki = newTestPKI(t, nil)
	}
	db, err := passdb.Config{SCRAMSecret: []byte("test scram secret")}.Parse(strings.NewReader(testUser + ":{PLAIN}" + testPassword + "\n"))
	require.NoError(t, err)
	cfg := &mailserver.Config{
		SASL: &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"),
			Passwords: db, Plaintext: db, CRAMMD5: db, DigestMD5: db, SCRAM: db,
			SCRAMIterations: passdb.HashSCRAMIterations, Legacy: true,
			Anonymous: func(context.Context, string) error { return nil },
		},
		TLS:      pki.serverTLS(),
		Hostname: "localhost",
	}
	// NTLM from package ntlm, with the NT hash passdb derives.
	cfg.SASL.Extra = []sasl.ServerMechanism{ntlm.NewServerMechanism(&ntlm.ServerConfig{Hashes: db})}
	for _, o := range opts {
		o(cfg)
	}
	srv := mailserver.New(proto, cfg)
	s := &testServer{pki: pki, scheme: strings.ToLower(proto.String())}
	for _, implicit := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		if implicit {
			s.implicit = ln.Addr().String()
			go srv.ServeTLS(ln)
		} else {
			s.starttls = ln.Addr().String()
			go srv.Serve(ln)
		}
	}
	t.Cleanup(func() { srv.Close() })
	return s
}

// injectableIMAP is a deliberately weak IMAP server: it reads whatever
// the socket holds into a queue of lines and, after STARTTLS, goes on
// answering the queued lines inside TLS: the CVE-2011-0411 pattern. It
// also accepts TLS 1.0 with every suite crypto/tls has, and offers AUTH=PLAIN
// and LOGIN before TLS.
type injectableIMAP struct {
	addr string
	wg   sync.WaitGroup
}

func startInjectableIMAP(t *testing.T, pki *testPKI) *injectableIMAP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := &tls.Config{Certificates: []tls.Certificate{pki.leaf.Certificate}, MinVersion: tls.VersionTLS10}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		cfg.CipherSuites = append(cfg.CipherSuites, s.ID)
	}
	s := &injectableIMAP{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				serveInjectable(c, cfg)
			}()
		}
	}()
	return s
}

func serveInjectable(raw net.Conn, cfg *tls.Config) {
	var conn net.Conn = raw
	var queue []string
	r := bufio.NewReader(raw)
	write := func(s string) { conn.Write([]byte(s + "\r\n")) }
	write("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] weak fixture ready")
	buf := make([]byte, 4096)
	var partial string
	for {
		if len(queue) == 0 {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			partial += string(buf[:n])
			for {
				i := strings.Index(partial, "\r\n")
				if i < 0 {
					break
				}
				queue = append(queue, partial[:i])
				partial = partial[i+2:]
			}
			continue
		}
		line := queue[0]
		queue = queue[1:]
		tag, cmd, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			write("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN")
			write(tag + " OK done")
		case "STARTTLS":
			write(tag + " OK go ahead")
			tc := tls.Server(raw, cfg)
			if tc.Handshake() != nil {
				return
			}
			// The bug: queue (read before TLS) survives.
			conn = tc
			r = bufio.NewReader(tc)
		case "LOGOUT":
			write("* BYE")
			write(tag + " OK bye")
			return
		default:
			write(tag + " OK " + strings.ToLower(cmd) + " done")
		}
	}
}

// unverifiedSCRAMServer is an IMAPS server that runs SCRAM-SHA-256 up to
// the client's proof and then says OK without sending v=: an impostor that
// does not know the password. A client must not report success.
func startUnverifiedSCRAM(t *testing.T, pki *testPKI) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, pki.serverTLS())
				r := bufio.NewReader(tc)
				w := func(s string) { tc.Write([]byte(s + "\r\n")) }
				w("* OK impostor ready")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					if len(f) < 2 {
						return
					}
					switch strings.ToUpper(f[1]) {
					case "CAPABILITY":
						w("* CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256")
						w(f[0] + " OK done")
					case "AUTHENTICATE":
						first, _ := base64.StdEncoding.DecodeString(f[3])
						_, nonce, _ := strings.Cut(string(first), ",r=")
						sf := "r=" + nonce + "impostor,s=" + base64.StdEncoding.EncodeToString([]byte("saltsaltsaltsalt")) + ",i=4096"
						w("+ " + base64.StdEncoding.EncodeToString([]byte(sf)))
						r.ReadString('\n') // client-final, proof and all
						w(f[0] + " OK [CAPABILITY IMAP4rev1] welcome, whoever you are")
					default:
						w(f[0] + " OK")
						if strings.EqualFold(f[1], "LOGOUT") {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
