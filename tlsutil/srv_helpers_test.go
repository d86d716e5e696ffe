package tlsutil

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tlsSrvTestHost is the name test servers are certified for.
const tlsSrvTestHost = "mail.example.test"

// tlsSrvWait bounds every wait in the tests so a bug fails instead of
// hanging the package.
const tlsSrvWait = 5 * time.Second

// tlsSrvPKI is a CA, a leaf it issued for tlsSrvTestHost and 127.0.0.1, and
// matching server and client configs.
type tlsSrvPKI struct {
	ca     *CA
	leaf   *KeyPair
	server *tls.Config
	client *tls.Config
}

// tlsSrvNewPKI makes a fresh CA and leaf (ECDSA P-256 unless opts has a
// key) and configs from NewServerConfig and NewClientConfig.
func tlsSrvNewPKI(t testing.TB, opts *CertOptions) *tlsSrvPKI {
	t.Helper()
	ca, err := NewCA(nil)
	require.NoError(t, err)
	o := CertOptions{Hosts: []string{tlsSrvTestHost, "127.0.0.1"}}
	if opts != nil {
		o = *opts
		if len(o.Hosts) == 0 {
			o.Hosts = []string{tlsSrvTestHost, "127.0.0.1"}
		}
	}
	leaf, err := ca.Issue(&o)
	require.NoError(t, err)
	cert := leaf.Certificate
	return &tlsSrvPKI{
		ca:   ca,
		leaf: leaf,
		server: NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &cert, nil
		}),
		client: NewClientConfig(tlsSrvTestHost, ca.Pool()),
	}
}

// tlsSrvClientVersion returns a clone of cfg limited to TLS version v.
func tlsSrvClientVersion(cfg *tls.Config, v uint16) *tls.Config {
	c := cfg.Clone()
	c.MinVersion, c.MaxVersion = v, v
	return c
}

// tlsSrvHandshakePair runs a client and a server handshake over an
// in-memory pipe and returns both ends; the client has read the server's
// first byte, so a TLS 1.3 session ticket is stored. It fails t on any
// handshake error.
func tlsSrvHandshakePair(t testing.TB, server, client *tls.Config) (sc, cc *tls.Conn) {
	t.Helper()
	sc, cc, serr, cerr := tlsSrvTryHandshake(server, client)
	require.NoError(t, cerr, "client handshake")
	require.NoError(t, serr, "server handshake")
	return sc, cc
}

// tlsSrvTryHandshake is tlsSrvHandshakePair returning the errors.
func tlsSrvTryHandshake(server, client *tls.Config) (sc, cc *tls.Conn, serr, cerr error) {
	c1, c2 := tlsSrvPipe()
	_ = c1.SetDeadline(time.Now().Add(tlsSrvWait))
	_ = c2.SetDeadline(time.Now().Add(tlsSrvWait))
	sc = Server(c1, server)
	errc := make(chan error, 1)
	go func() {
		err := sc.Handshake()
		if err == nil {
			// One byte of application data: the client reads the
			// NewSessionTicket message before it.
			_, err = sc.Write([]byte{'!'})
		}
		if err != nil {
			_ = sc.Close()
		}
		errc <- err
	}()
	cc = tls.Client(c2, client)
	cerr = cc.Handshake()
	if cerr == nil {
		var b [1]byte
		_, cerr = io.ReadFull(cc, b[:])
	}
	if cerr != nil {
		_ = cc.Close()
	}
	serr = <-errc
	return sc, cc, serr, cerr
}

// tlsSrvLeafOf returns the parsed leaf of kp.
func tlsSrvLeafOf(t testing.TB, kp *KeyPair) *x509.Certificate {
	t.Helper()
	require.NotNil(t, kp.Leaf())
	return kp.Leaf()
}

// tlsSrvPumpConn is the client end of tlsSrvPipe: a goroutine reads
// everything the server writes into a buffer, so server writes never block
// (as with a socket's kernel buffer), while each client Write still
// reaches the server as one Read (net.Pipe keeps write boundaries), which
// the byte-offset tests need. Plain net.Pipe deadlocks TLS 1.3, where the
// server's session ticket and the client's Finished cross.
type tlsSrvPumpConn struct {
	net.Conn
	mu   sync.Mutex
	cond *sync.Cond
	buf  bytes.Buffer
	err  error
}

// tlsSrvPipe returns the two ends of an in-memory connection.
func tlsSrvPipe() (srv net.Conn, cli *tlsSrvPumpConn) {
	a, b := net.Pipe()
	c := &tlsSrvPumpConn{Conn: b}
	c.cond = sync.NewCond(&c.mu)
	go func() {
		p := make([]byte, 4096)
		for {
			n, err := b.Read(p)
			c.mu.Lock()
			c.buf.Write(p[:n])
			if err != nil {
				c.err = err
			}
			c.cond.Broadcast()
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return a, c
}

func (c *tlsSrvPumpConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.buf.Len() == 0 && c.err == nil {
		c.cond.Wait()
	}
	if c.buf.Len() > 0 {
		return c.buf.Read(p)
	}
	return 0, c.err
}

// tlsSrvClientStartTLS is the client half of an IMAP STARTTLS on cli: it
// sends "A STARTTLS" and reads the go-ahead line.
func tlsSrvClientStartTLS(t *testing.T, cli net.Conn) {
	t.Helper()
	_, _ = io.WriteString(cli, "A STARTTLS\r\n")
	_, err := bufio.NewReader(cli).ReadString('\n')
	require.NoError(t, err)
}

// tlsSrvDialAccept dials l with a TLS client and returns both ends once
// Accept (through acc, from tlsSrvAccept) has handed over the server's;
// waits are bounded by tlsSrvWait and both ends are closed at cleanup.
func tlsSrvDialAccept(t *testing.T, l *Listener, acc <-chan net.Conn, client *tls.Config) (cc *tls.Conn, conn net.Conn) {
	t.Helper()
	cc, err := tls.Dial("tcp", l.Addr().String(), client)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	select {
	case conn = <-acc:
	case <-time.After(tlsSrvWait):
		t.Fatal("Accept did not return the handshaken connection")
	}
	require.NotNil(t, conn)
	t.Cleanup(func() { _ = conn.Close() })
	return cc, conn
}
