package sasl

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cliTestHost is the name the test clients expect in the certificate.
const cliTestHost = "mail.example.org"

// cliTestPKI holds a test CA and the server certificates of the EAST
// certificate tests (T_1 self-signed, T_2 unknown root, T_3 wrong host,
// T_4 expired) beside a good one.
type cliTestPKI struct {
	roots                                             *x509.CertPool
	good, selfSigned, unknownRoot, wrongHost, expired tls.Certificate
}

// cliNewTestPKI makes fresh ECDSA P-256 certificates.
func cliNewTestPKI(t testing.TB) *cliTestPKI {
	t.Helper()
	now := time.Now()
	ca, caKey := cliTestCert(t, "Test CA", nil, nil, nil, now.Add(-time.Hour), now.Add(time.Hour), true)
	other, otherKey := cliTestCert(t, "Other CA", nil, nil, nil, now.Add(-time.Hour), now.Add(time.Hour), true)
	p := &cliTestPKI{roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	leaf := func(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, host string, nb, na time.Time) tls.Certificate {
		c, k := cliTestCert(t, host, []string{host}, parent, parentKey, nb, na, false)
		return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}
	}
	p.good = leaf(ca, caKey, cliTestHost, now.Add(-time.Hour), now.Add(time.Hour))
	p.selfSigned = leaf(nil, nil, cliTestHost, now.Add(-time.Hour), now.Add(time.Hour))
	p.unknownRoot = leaf(other, otherKey, cliTestHost, now.Add(-time.Hour), now.Add(time.Hour))
	p.wrongHost = leaf(ca, caKey, "other.example.org", now.Add(-time.Hour), now.Add(time.Hour))
	p.expired = leaf(ca, caKey, cliTestHost, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	return p
}

// cliTestCert issues one certificate, self-signed when parent is nil.
func cliTestCert(t testing.TB, cn string, dns []string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notBefore, notAfter time.Time, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              dns,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key
}

// clientTLS returns a client config that trusts the test CA.
func (p *cliTestPKI) clientTLS() *tls.Config {
	return &tls.Config{ServerName: cliTestHost, RootCAs: p.roots}
}

// cliPumpConn is the fake server's end of a net.Pipe. A goroutine drains the
// pipe into a buffer, so the client's writes (a ClientHello) never block on a
// server that is busy writing: net.Pipe has no buffer of its own. It records
// every byte the client sent.
type cliPumpConn struct {
	net.Conn
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte // received, not yet read
	all  []byte // everything received
	err  error  // set when the pipe's read side fails
}

func cliNewPumpConn(c net.Conn) *cliPumpConn {
	p := &cliPumpConn{Conn: c}
	p.cond = sync.NewCond(&p.mu)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			p.mu.Lock()
			p.buf = append(p.buf, b[:n]...)
			p.all = append(p.all, b[:n]...)
			if err != nil {
				p.err = err
			}
			p.cond.Broadcast()
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *cliPumpConn) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && p.err == nil {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, p.err
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

// received returns a copy of every byte the client sent so far.
func (p *cliPumpConn) received() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.all...)
}

// cliReaderConn reads through r (which wraps Conn) so a TLS server started
// after line reads loses no bytes the line reader had buffered.
type cliReaderConn struct {
	net.Conn
	r io.Reader
}

func (c cliReaderConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// cliServer is a scripted fake mail server. Its methods stop at the first
// error and keep it in err, so a script is a plain sequence of calls.
type cliServer struct {
	pump *cliPumpConn
	conn net.Conn
	r    *bufio.Reader
	pki  *cliTestPKI
	err  error
}

// send writes s as one write.
func (s *cliServer) send(str string) {
	if s.err == nil {
		_, s.err = io.WriteString(s.conn, str)
	}
}

// sendSplit writes str as two writes, split at offset at.
func (s *cliServer) sendSplit(str string, at int) {
	s.send(str[:at])
	s.send(str[at:])
}

// expect reads one line and checks it is want.
func (s *cliServer) expect(want string) {
	if s.err != nil {
		return
	}
	line, err := s.r.ReadString('\n')
	if err != nil {
		s.err = fmt.Errorf("fake server: waiting for %q: %w", want, err)
		return
	}
	if got := strings.TrimSuffix(line, "\r\n"); got != want {
		s.err = fmt.Errorf("fake server: got %q, want %q", got, want)
	}
}

// startTLS runs the server side of the handshake with cert.
func (s *cliServer) startTLS(cert tls.Certificate) {
	if s.err != nil {
		return
	}
	tc := tls.Server(cliReaderConn{s.pump, s.r}, &tls.Config{Certificates: []tls.Certificate{cert}})
	if s.err = tc.Handshake(); s.err == nil {
		s.conn, s.r = tc, bufio.NewReader(tc)
	}
}

// cliResult is what one scripted run produced.
type cliResult struct {
	cc       *ClientSession
	err      error  // NegotiateClient's
	srvErr   error  // the script's
	received []byte // every byte the client wrote, TLS records included
}

// cliRun runs NegotiateClient against script over net.Pipe.
func cliRun(t *testing.T, pki *cliTestPKI, opts ClientOptions, script func(s *cliServer)) cliResult {
	t.Helper()
	if opts.TLSConfig == nil && opts.Mode != InsecurePlaintext {
		opts.TLSConfig = pki.clientTLS()
	}
	return cliRunWith(t, pki, script, func(ctx context.Context, c net.Conn) (*ClientSession, error) {
		return NegotiateClient(ctx, c, opts)
	})
}

// cliRunWith runs client against script over net.Pipe.
func cliRunWith(t *testing.T, pki *cliTestPKI, script func(s *cliServer), client func(context.Context, net.Conn) (*ClientSession, error)) cliResult {
	t.Helper()
	cconn, sconn := net.Pipe()
	pump := cliNewPumpConn(sconn)
	s := &cliServer{pump: pump, conn: pump, r: bufio.NewReader(pump), pki: pki}
	done := make(chan error, 1)
	go func() {
		script(s)
		done <- s.err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res cliResult
	res.cc, res.err = client(ctx, cconn)
	if res.err != nil {
		require.Nil(t, res.cc, "a failed negotiation must not return a connection")
	}
	select {
	case res.srvErr = <-done:
	case <-time.After(10 * time.Second):
		t.Error("fake server script did not finish")
	}
	cconn.Close()
	sconn.Close()
	res.received = pump.received()
	return res
}

// cliTLSFrom returns the bytes the client sent after the line ending in
// marker, or nil.
func cliTLSFrom(received []byte, marker string) []byte {
	i := strings.Index(string(received), marker+"\r\n")
	if i < 0 {
		return nil
	}
	return received[i+len(marker)+2:]
}

// cliPlaintext returns the bytes the client sent before its first TLS
// record (all of them if it never started TLS).
func cliPlaintext(received []byte) string {
	for i := 0; i+1 < len(received); i++ {
		if received[i] == 0x16 && received[i+1] == 0x03 && (i == 0 || received[i-1] == '\n') {
			return string(received[:i])
		}
	}
	return string(received)
}

// Scripts of well-behaved servers that upgrade and answer with pre and post
// capability lists. The client's IMAP tags: a1 CAPABILITY, a2 STARTTLS,
// a3 CAPABILITY.

func cliGoodIMAP(pre, post string) func(s *cliServer) {
	return func(s *cliServer) {
		s.send("* OK IMAP4rev1 ready\r\n")
		s.expect("a1 CAPABILITY")
		s.send("* CAPABILITY " + pre + "\r\na1 OK done\r\n")
		s.expect("a2 STARTTLS")
		s.send("a2 OK begin TLS\r\n")
		s.startTLS(s.pki.good)
		s.expect("a3 CAPABILITY")
		s.send("* CAPABILITY " + post + "\r\na3 OK done\r\n")
	}
}

func cliGoodSMTP(pre, post []string) func(s *cliServer) {
	return func(s *cliServer) {
		s.send("220 mail.example.org ESMTP\r\n")
		s.expect("EHLO localhost")
		s.send(cliEhloReply(pre))
		s.expect("STARTTLS")
		s.send("220 2.0.0 Ready to start TLS\r\n")
		s.startTLS(s.pki.good)
		s.expect("EHLO localhost")
		s.send(cliEhloReply(post))
	}
}

func cliEhloReply(ext []string) string {
	lines := append([]string{"mail.example.org"}, ext...)
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + l + "\r\n")
	}
	return b.String()
}

func cliGoodPOP3(pre, post []string) func(s *cliServer) {
	return func(s *cliServer) {
		s.send("+OK POP3 ready\r\n")
		s.expect("CAPA")
		s.send("+OK\r\n" + strings.Join(append(pre, "."), "\r\n") + "\r\n")
		s.expect("STLS")
		s.send("+OK Begin TLS\r\n")
		s.startTLS(s.pki.good)
		s.expect("CAPA")
		s.send("+OK\r\n" + strings.Join(append(post, "."), "\r\n") + "\r\n")
	}
}
