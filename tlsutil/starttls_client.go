package tlsutil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
)

// Errors of the client side of TLS. Error texts never quote what the server
// sent: before TLS it is attacker-chosen.
var (
	// ErrResponseInjection means bytes arrived after the STARTTLS go-ahead
	// line and before the TLS handshake (CVE-2011-0411 client side, NO
	// STARTTLS "response injection"): a man in the middle is trying to
	// have plaintext parsed as if it came inside TLS. The connection is
	// closed without a handshake.
	ErrResponseInjection = errors.New("tlsutil: plaintext injected after STARTTLS go-ahead")
	// ErrHandshakeFailed wraps the crypto/tls error of a failed handshake,
	// certificate verification included (RFC 8314, Section 3; RFC 7817).
	ErrHandshakeFailed = errors.New("tlsutil: TLS handshake failed")
	// ErrInvalidConfig means a client's tls.Config cannot give a secure
	// session: it is nil, or its ServerName is empty without
	// InsecureSkipVerify.
	ErrInvalidConfig = errors.New("tlsutil: invalid client TLS config")
)

// ClientHandshake runs the client side of a TLS handshake on conn and
// returns the TLS connection. conn is a fresh connection (implicit TLS: 993,
// 995, 465) or one whose STARTTLS go-ahead has been read; if it is already a
// *tls.Conn, its own config is used, but config must still be valid.
//
// config must name the server: a nil config, or an empty ServerName without
// InsecureSkipVerify, is an error wrapping [ErrInvalidConfig] (RFC 7817,
// Section 3: without the configured host name the certificate proves nothing
// about the peer). A MinVersion below TLS 1.2 is raised to TLS 1.2 (RFC
// 8997); config itself is not modified. A failed handshake or certificate
// check is an error wrapping [ErrHandshakeFailed]. ctx bounds the handshake.
func ClientHandshake(ctx context.Context, conn net.Conn, config *tls.Config) (*tls.Conn, error) {
	if err := CheckClientConfig(config); err != nil {
		return nil, err
	}
	tc, ok := conn.(*tls.Conn)
	if !ok {
		tc = tls.Client(conn, clientConfig(config))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshakeFailed, err)
	}
	return tc, nil
}

// CheckClientConfig returns an error wrapping [ErrInvalidConfig] unless
// config can verify the server: it must not be nil, and its ServerName must
// be set unless InsecureSkipVerify is.
func CheckClientConfig(config *tls.Config) error {
	if config == nil {
		return fmt.Errorf("%w: no tls.Config", ErrInvalidConfig)
	}
	if config.ServerName == "" && !config.InsecureSkipVerify {
		// RFC 7817, Section 3: the reference identity is the configured
		// host; without it the certificate proves nothing about the peer.
		return fmt.Errorf("%w: tls.Config.ServerName is empty", ErrInvalidConfig)
	}
	return nil
}

// clientConfig returns cfg, or a copy with MinVersion raised to TLS 1.2
// (RFC 8997) when it allows older versions.
func clientConfig(cfg *tls.Config) *tls.Config {
	if cfg.MinVersion != 0 && cfg.MinVersion < tls.VersionTLS12 {
		cfg = cfg.Clone()
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// StartTLSClient is the TLS step of the client side of STARTTLS, the
// counterpart of [StartTLSServer]: call it once the caller has sent the
// protocol's command (IMAP "tag STARTTLS", POP3 "STLS", SMTP "STARTTLS") on
// tp and read its go-ahead reply from tp. sasl.NegotiateClient and
// sasl.StartTLSClient do all of that for IMAP, POP3 and SMTP.
//
// tp must read from raw. Bytes buffered after the go-ahead line, in tp's
// reader, in raw itself when it has a Buffered() int method, or in any of
// layers (each read layer stacked between raw and tp), give
// [ErrResponseInjection] (CVE-2011-0411, client side): they were sent in
// plaintext but would be parsed as if they came inside TLS. Bytes that
// arrive later reach the handshake, which fails. Then it runs
// [ClientHandshake] on raw with config, and returns the TLS connection and
// a new textproto.Conn on it (with no line-length bound: bound your reads).
//
// The caller must discard everything it learned before TLS, capabilities
// first, and read them again on the returned connection (RFC 2595, Section
// 3.1; RFC 3207, Section 4.2). On error, raw is closed: do not authenticate
// or fall back to plaintext.
func StartTLSClient(ctx context.Context, tp *textproto.Conn, raw net.Conn, config *tls.Config, layers ...Buffered) (*tls.Conn, *textproto.Conn, error) {
	// The go-ahead is the last plaintext byte we accept. Anything already
	// buffered behind it was sent in plaintext by whoever is on the path;
	// refuse it rather than feed it to the handshake or, worse, read it
	// later as a TLS-protected response.
	if n := bufferedOctets(tp, raw, layers); n > 0 {
		raw.Close()
		return nil, nil, fmt.Errorf("%w: %d octets", ErrResponseInjection, n)
	}
	// tls.Client reads from raw, below tp's buffer: bytes arriving from now
	// on are handshake input, and plaintext there fails the handshake.
	tc, err := ClientHandshake(ctx, raw, config)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	return tc, textproto.NewConn(tc), nil
}
