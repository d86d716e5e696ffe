package tlsutil

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// ErrNotTLS means the first bytes a client sent where a TLS handshake was
// due are not a TLS handshake record: typically a plaintext command such as
// "A1 CAPABILITY" or "EHLO" sent to an implicit-TLS port, or plaintext sent
// after a STARTTLS go-ahead line. The connection is closed without a reply.
var ErrNotTLS = errors.New("tlsutil: client did not start a TLS handshake")

// TLS record layer constants (RFC 8446, Section 5.1; RFC 5246, Section 6.2).
const (
	// srvRecordHeaderLen is the size of a TLS record header: type,
	// legacy_record_version, length.
	srvRecordHeaderLen = 5
	// srvRecordTypeHandshake is the content type of a ClientHello record.
	srvRecordTypeHandshake = 0x16
	// srvMaxHandshakeRecord is the largest plaintext record (2^14 bytes,
	// RFC 8446, Section 5.1). A ClientHello, even with a post-quantum key
	// share, is far smaller.
	srvMaxHandshakeRecord = 1 << 14
)

// srvCheckRecordHeader reports whether hdr, the first srvRecordHeaderLen
// bytes a client sent, can start a TLS ClientHello: a handshake record with
// record version 3.x (x ≤ 4; SSL 3.0 to TLS 1.3, which sends 3.1 or 3.3)
// and a non-empty length within the record limit. Plaintext mail commands
// start with a letter or digit, never with 0x16.
func srvCheckRecordHeader(hdr []byte) error {
	if len(hdr) < srvRecordHeaderLen {
		return fmt.Errorf("%w: %d bytes where a record header is due", ErrNotTLS, len(hdr))
	}
	if hdr[0] != srvRecordTypeHandshake || hdr[1] != 3 || hdr[2] > 4 {
		return ErrNotTLS
	}
	if n := int(hdr[3])<<8 | int(hdr[4]); n == 0 || n > srvMaxHandshakeRecord {
		return fmt.Errorf("%w: handshake record length %d", ErrNotTLS, n)
	}
	return nil
}

// srvConn is the net.Conn that [Server] hands to crypto/tls. It checks that
// the first bytes read are a TLS handshake record before crypto/tls sees
// them (so plaintext gets no reply at all, not even an alert), and it
// records the leaf certificate served on this connection, which crypto/tls
// keeps to itself.
type srvConn struct {
	net.Conn
	checked bool   // the record header has been read and checked
	prefix  []byte // checked header bytes not yet returned by Read
	hdr     [srvRecordHeaderLen]byte
	served  atomic.Pointer[srvServed]
}

// srvServed is the leaf served on a connection: its DER, and the parsed
// certificate, made on first use (a resumed session brings only the DER,
// and most connections never ask: tls-exporter needs no certificate).
type srvServed struct {
	der  []byte
	once sync.Once
	leaf *x509.Certificate
}

// certificate returns the parsed leaf, or nil if it does not parse.
func (s *srvServed) certificate() *x509.Certificate {
	s.once.Do(func() {
		if s.leaf == nil {
			s.leaf, _ = x509.ParseCertificate(s.der)
		}
	})
	return s.leaf
}

// Read returns the connection's bytes; the first call reads and checks the
// TLS record header. crypto/tls reads from a single goroutine (under its
// input lock), so checked and prefix need no lock.
func (c *srvConn) Read(p []byte) (int, error) {
	if !c.checked {
		if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("%w: connection closed inside the first record header", ErrNotTLS)
			}
			return 0, err
		}
		if err := srvCheckRecordHeader(c.hdr[:]); err != nil {
			return 0, err
		}
		c.checked = true
		c.prefix = c.hdr[:]
	}
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// setServed records the leaf of cert as the one served on c.
func (c *srvConn) setServed(cert *tls.Certificate) {
	if cert == nil || len(cert.Certificate) == 0 {
		return
	}
	c.served.Store(&srvServed{der: cert.Certificate[0], leaf: cert.Leaf})
}

// Server returns a server-side TLS connection over conn, like tls.Server,
// and in addition:
//
//   - the first bytes from the client must be a TLS handshake record;
//     anything else (a plaintext command) fails the handshake with
//     [ErrNotTLS] before crypto/tls answers anything;
//   - the leaf certificate served on the connection is recorded, for
//     [ServedCertificate] and tls-server-end-point channel binding, also
//     for resumed sessions (it travels inside the session ticket).
//
// To record the leaf, Server uses a copy of config (config.Clone) whose
// GetCertificate, WrapSession and UnwrapSession wrap config's; session
// tickets are still sealed with config's keys, so resumption works across
// connections. If config sets GetConfigForClient, the Config it returns is
// instrumented for the certificate only: a session resumed through it has
// no recorded leaf. If config uses the deprecated NameToCertificate, no leaf
// is recorded.
//
// The handshake runs on the first Read or Write or on Handshake; give it a
// deadline (HandshakeContext or SetDeadline; [DefaultHandshakeTimeout]).
// config must not be modified after the call.
func Server(conn net.Conn, config *tls.Config) *tls.Conn {
	sc := &srvConn{Conn: conn}
	return tls.Server(sc, srvInstrument(config, sc, true))
}

// ServedCertificate returns the leaf certificate the server presented on
// conn, a connection made by [Server], [Listener] or [StartTLSServer], once
// its handshake has completed. It is the certificate to hash for
// tls-server-end-point channel binding on the server side (RFC 5929,
// Section 4.1; see [ChannelBinding]): crypto/tls's ConnectionState holds the
// peer's certificates only. It returns nil when the leaf is unknown: conn
// came from tls.Server, the handshake has not completed, or the cases listed
// in [Server]. It is safe for concurrent use.
func ServedCertificate(conn *tls.Conn) *x509.Certificate {
	if conn == nil {
		return nil
	}
	sc, ok := conn.NetConn().(*srvConn)
	if !ok {
		return nil
	}
	s := sc.served.Load()
	if s == nil {
		return nil
	}
	return s.certificate()
}

// ServerChannelBinding returns the channel-binding data of type typ (one of
// [TLSUnique], [TLSExporter], [TLSServerEndPoint]) for the server side of
// conn, using [ServedCertificate] for tls-server-end-point. Errors wrap
// [ErrChannelBindingUnavailable] as [ChannelBinding] documents.
func ServerChannelBinding(conn *tls.Conn, typ string) ([]byte, error) {
	cs := conn.ConnectionState()
	leaf := ServedCertificate(conn)
	if typ == TLSServerEndPoint && leaf == nil {
		// Never fall back to PeerCertificates on the server: that is the
		// client's certificate.
		return nil, fmt.Errorf("%w: the served certificate is unknown", ErrChannelBindingUnavailable)
	}
	return ChannelBinding(&cs, typ, leaf)
}

// srvTicketLeafPrefix marks the SessionState.Extra entry holding the DER of
// the leaf served in the original handshake. crypto/tls asks that Extra
// entries carry a unique prefix.
const srvTicketLeafPrefix = "github.com/go-mailauth/mailauth/tlsutil leaf\x00"

// srvInstrument returns a clone of config that records on sc the leaf it
// serves. withTickets also wraps the session-ticket hooks so a resumed
// session learns the leaf of the original handshake.
func srvInstrument(config *tls.Config, sc *srvConn, withTickets bool) *tls.Config {
	if config == nil {
		config = &tls.Config{}
	}
	c := config.Clone()
	if config.NameToCertificate == nil { //nolint:staticcheck // only to detect its use
		getCert, certs := config.GetCertificate, config.Certificates
		c.Certificates = nil // so crypto/tls always asks GetCertificate
		c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := srvSelectCertificate(getCert, certs, hello)
			if err == nil {
				sc.setServed(cert)
			}
			return cert, err
		}
	}
	if getConfig := config.GetConfigForClient; getConfig != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := getConfig(hello)
			if cc == nil || err != nil {
				return cc, err
			}
			return srvInstrument(cc, sc, false), nil
		}
	}
	if !withTickets || config.SessionTicketsDisabled {
		return c
	}
	wrap, unwrap := config.WrapSession, config.UnwrapSession
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		if s := sc.served.Load(); s != nil {
			ss.Extra = append(srvDropLeaf(ss.Extra), append([]byte(srvTicketLeafPrefix), s.der...))
		}
		if wrap != nil {
			return wrap(cs, ss)
		}
		// config's keys, not the clone's: the clone would make its own.
		return config.EncryptTicket(cs, ss)
	}
	c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		var ss *tls.SessionState
		var err error
		if unwrap != nil {
			ss, err = unwrap(identity, cs)
		} else {
			ss, err = config.DecryptTicket(identity, cs)
		}
		if ss == nil || err != nil {
			return ss, err
		}
		for _, e := range ss.Extra {
			if der, ok := bytes.CutPrefix(e, []byte(srvTicketLeafPrefix)); ok && len(der) > 0 {
				// The ticket is sealed and authenticated with the server's
				// ticket key: the DER is what this server served.
				sc.served.Store(&srvServed{der: der})
				return ss, nil
			}
		}
		// A ticket without a leaf (issued by a plain tls.Server): decline
		// it, and the full handshake records the leaf.
		return nil, nil
	}
	return c
}

// srvDropLeaf returns extra without a previous leaf entry.
func srvDropLeaf(extra [][]byte) [][]byte {
	out := extra[:0]
	for _, e := range extra {
		if !bytes.HasPrefix(e, []byte(srvTicketLeafPrefix)) {
			out = append(out, e)
		}
	}
	return out
}

// srvErrNoCertificates is crypto/tls's answer when nothing is configured.
var srvErrNoCertificates = errors.New("tls: no certificates configured")

// srvSelectCertificate picks the certificate as crypto/tls's own
// (*Config).getCertificate does: GetCertificate when there is SNI or no
// static certificate, then the only certificate, then the first one the
// client supports, then the first.
func srvSelectCertificate(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), certs []tls.Certificate, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if getCert != nil && (len(certs) == 0 || hello.ServerName != "") {
		cert, err := getCert(hello)
		if cert != nil || err != nil {
			return cert, err
		}
	}
	switch len(certs) {
	case 0:
		return nil, srvErrNoCertificates
	case 1:
		return &certs[0], nil
	}
	for i := range certs {
		if hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i], nil
		}
	}
	return &certs[0], nil
}
