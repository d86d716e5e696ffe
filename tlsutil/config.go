package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"time"
)

// DefaultHandshakeTimeout bounds a TLS handshake when the caller gives no
// deadline of its own: a client that connects (or sends STARTTLS) and then
// stalls must not hold a goroutine and a socket for ever (NO STARTTLS
// checklist S9; go-smtp 62f6b38). Ten seconds is far above a real handshake
// (a few milliseconds, or one or two round trips) and well below the
// minutes a mail server allows for a command.
const DefaultHandshakeTimeout = 10 * time.Second

// srvClientSessionCacheSize is the number of sessions a client config from
// NewClientConfig keeps for resumption: one per server name, and a mail
// client talks to a handful of servers.
const srvClientSessionCacheSize = 64

// srvCipherSuitesTLS12 returns the TLS 1.2 suites of Mozilla's "intermediate"
// profile (Server Side TLS guidelines 5.8/6.0): ECDHE for forward secrecy and
// AEAD only. Go's default list adds four ECDHE AES-CBC-SHA suites (CBC with
// HMAC-SHA1, the Lucky13 class); those are left out. TLS 1.3 suites are not
// configurable in Go and are all AEAD. A new slice each call: a package
// var would be mutable global state every Config shares.
func srvCipherSuitesTLS12() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// srvCurvePreferences returns the groups: the hybrid post-quantum X25519MLKEM768 first (TLS 1.3
// only; protects today's sessions against later quantum decryption), then
// X25519 and P-256 for every TLS 1.2 peer. Go ignores the order of an
// explicit list and picks the best itself; the list only says which groups
// are allowed. A new slice each call, as for srvCipherSuitesTLS12.
func srvCurvePreferences() []tls.CurveID {
	return []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}
}

// NewServerConfig returns a tls.Config for a mail server (IMAP, POP3, SMTP
// submission; implicit TLS or STARTTLS) with every security setting
// explicit, because crypto/tls defaults follow the go line of the main
// module's go.mod (GODEBUG), which a library cannot control:
//
//   - MinVersion TLS 1.2: RFC 8997 sets the floor for mail at TLS 1.2;
//     MaxVersion TLS 1.3.
//   - CipherSuites (TLS 1.2 only): the six ECDHE AEAD suites of Mozilla's
//     intermediate profile; no CBC, no RSA key exchange, no 3DES.
//   - CurvePreferences: X25519MLKEM768, X25519, P-256.
//   - Session tickets on (SessionTicketsDisabled false): a mail client
//     reconnects often, and a resumed handshake skips the certificate and
//     the signature. Go rotates the ticket keys every 24 hours. Servers
//     behind a load balancer should call SetSessionTicketKeys.
//   - Renegotiation does not exist on a Go server.
//   - GetCertificate is getCertificate (for example
//     [CertReloader.GetCertificate] or an ACME manager's), and Certificates
//     is empty so GetCertificate is asked on every handshake, with or
//     without SNI. If getCertificate is nil, the caller must fill
//     Certificates before use.
//
// Set NextProtos only to a registered ALPN ID ("imap", "pop3", "smtp"):
// with NextProtos set, a client offering only other protocols fails the
// handshake (ALPACA; checklist S11).
//
// Use [Server], [Listener] or [StartTLSServer] rather than tls.Server so that
// [ServedCertificate] knows the leaf each connection was served. The
// returned Config is new; after first use it must not be modified.
func NewServerConfig(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		GetCertificate:         getCertificate,
		MinVersion:             tls.VersionTLS12,
		MaxVersion:             tls.VersionTLS13,
		CipherSuites:           srvCipherSuitesTLS12(),
		CurvePreferences:       srvCurvePreferences(),
		SessionTicketsDisabled: false,
		ClientAuth:             tls.NoClientCert,
	}
}

// NewClientConfig returns a tls.Config for a mail client connecting to
// serverName, with every security setting explicit (see [NewServerConfig]
// for why):
//
//   - ServerName is serverName, the host name the user configured: the
//     certificate is verified against it (RFC 7817; RFC 8314, Section 5.3).
//     Never pass a name learned from DNS (an MX or an SRV target without
//     DNSSEC): an attacker who forges the DNS answer chooses it.
//     InsecureSkipVerify stays false. An empty serverName makes every
//     handshake fail.
//   - RootCAs is roots; nil means the system roots.
//   - MinVersion TLS 1.2 (RFC 8997), MaxVersion TLS 1.3, the Mozilla
//     intermediate TLS 1.2 cipher suites, and the curves X25519MLKEM768,
//     X25519, P-256.
//   - ClientSessionCache is a new LRU cache, so a reconnect resumes the
//     session (RFC 8446, Section 2.2). Clones of the Config share it.
//   - Renegotiation is never accepted (RenegotiateNever): renegotiation
//     would change the channel-binding data under an authenticated session.
//
// Add policy (certificate pinning, RFC 8314 Section 5.4) with
// VerifyConnection. The returned Config is new; after first use it must not
// be modified.
func NewClientConfig(serverName string, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		ServerName:         serverName,
		RootCAs:            roots,
		InsecureSkipVerify: false,
		MinVersion:         tls.VersionTLS12,
		MaxVersion:         tls.VersionTLS13,
		CipherSuites:       srvCipherSuitesTLS12(),
		CurvePreferences:   srvCurvePreferences(),
		ClientSessionCache: tls.NewLRUClientSessionCache(srvClientSessionCacheSize),
		Renegotiation:      tls.RenegotiateNever,
	}
}
