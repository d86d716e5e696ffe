package tlsutil

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// Channel-binding types (RFC 5056) usable with TLS.
const (
	// TLSUnique is the first Finished message of the handshake (RFC 5929,
	// Section 3). It exists only on TLS 1.2 and below, and on resumed
	// sessions only with extended master secret (RFC 7627).
	TLSUnique = "tls-unique"
	// TLSExporter is 32 bytes of keying material exported with the label
	// "EXPORTER-Channel-Binding" and an empty context (RFC 9266). It is
	// defined for TLS 1.3, and for TLS 1.2 only with extended master secret.
	TLSExporter = "tls-exporter"
	// TLSServerEndPoint is a hash of the server's certificate (RFC 5929,
	// Section 4). It binds to the server's identity, not to the session.
	TLSServerEndPoint = "tls-server-end-point"
)

// ErrChannelBindingUnavailable means the connection cannot provide the
// requested channel-binding type.
var ErrChannelBindingUnavailable = errors.New("tlsutil: channel binding unavailable")

// exporterLabel is the RFC 9266, Section 2 label.
const exporterLabel = "EXPORTER-Channel-Binding"

// ChannelBinding returns the channel-binding data of type typ for the TLS
// connection cs. serverCert is the certificate the server presented; it is
// needed only for tls-server-end-point. On the client side it may be nil, and
// cs.PeerCertificates[0] is used. On the server side crypto/tls does not
// record which certificate it served, so the caller must pass it.
//
// It returns an error wrapping ErrChannelBindingUnavailable when the type
// does not exist on this connection: tls-unique on TLS 1.3, tls-exporter on
// TLS 1.2 without extended master secret, tls-server-end-point for a
// certificate whose signature algorithm names no usable hash (Ed25519).
func ChannelBinding(cs *tls.ConnectionState, typ string, serverCert *x509.Certificate) ([]byte, error) {
	if cs == nil || !cs.HandshakeComplete {
		return nil, fmt.Errorf("%w: no completed TLS handshake", ErrChannelBindingUnavailable)
	}
	switch typ {
	case TLSUnique:
		// crypto/tls leaves TLSUnique nil on TLS 1.3 and on resumptions
		// without extended master secret, where it would not be unique.
		if cs.TLSUnique == nil {
			return nil, fmt.Errorf("%w: tls-unique is not defined for this connection", ErrChannelBindingUnavailable)
		}
		return append([]byte(nil), cs.TLSUnique...), nil
	case TLSExporter:
		if cs.Version < tls.VersionTLS12 {
			return nil, fmt.Errorf("%w: tls-exporter needs TLS 1.2 or later", ErrChannelBindingUnavailable)
		}
		// RFC 9266, Section 2: zero-length context. The non-nil empty slice
		// matters on TLS 1.2, where "no context" and "empty context" differ
		// (RFC 5705, Section 4). crypto/tls refuses TLS 1.2 without
		// extended master secret (RFC 9266, Section 3: not secure there).
		b, err := exportChannelBinding(cs)
		if err != nil {
			return nil, fmt.Errorf("%w: tls-exporter: %v", ErrChannelBindingUnavailable, err)
		}
		return b, nil
	case TLSServerEndPoint:
		cert := serverCert
		if cert == nil && len(cs.PeerCertificates) > 0 {
			cert = cs.PeerCertificates[0]
		}
		if cert == nil {
			return nil, fmt.Errorf("%w: tls-server-end-point needs the server certificate", ErrChannelBindingUnavailable)
		}
		return ServerEndPoint(cert)
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrChannelBindingUnavailable, typ)
	}
}

// ServerEndPoint returns the tls-server-end-point channel-binding data of
// cert (RFC 5929, Section 4.1): the certificate hashed with the hash of its
// signature algorithm, where MD5 and SHA-1 are replaced by SHA-256. A
// signature algorithm without a hash (Ed25519) or with an unknown one gives an
// error wrapping ErrChannelBindingUnavailable.
func ServerEndPoint(cert *x509.Certificate) ([]byte, error) {
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1,
		x509.SHA256WithRSA, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS, x509.DSAWithSHA256:
		h := sha256.Sum256(cert.Raw)
		return h[:], nil
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h := sha512.Sum384(cert.Raw)
		return h[:], nil
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h := sha512.Sum512(cert.Raw)
		return h[:], nil
	default:
		return nil, fmt.Errorf("%w: tls-server-end-point is undefined for signature algorithm %v", ErrChannelBindingUnavailable, cert.SignatureAlgorithm)
	}
}

// ExporterWithoutContext returns the keying material some peers send as
// tls-exporter on TLS 1.2: the RFC 9266 label with no context at all,
// where RFC 9266 asks for a zero-length one (xdg-go/scram does this). The
// two differ only on TLS 1.2, where RFC 5705, Section 4 hashes a context's
// length into the PRF seed; on TLS 1.3 they are equal. A server may accept
// either on TLS 1.2: both come from the same session's master secret (with
// extended master secret, which crypto/tls requires for any export), so
// either binds the exchange to this channel and no other. It returns an
// error wrapping ErrChannelBindingUnavailable where ChannelBinding has no
// tls-exporter.
func ExporterWithoutContext(cs *tls.ConnectionState) ([]byte, error) {
	if cs == nil || !cs.HandshakeComplete || cs.Version < tls.VersionTLS12 {
		return nil, fmt.Errorf("%w: no TLS 1.2 or later handshake", ErrChannelBindingUnavailable)
	}
	b, err := exportKeyingMaterial(cs, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: tls-exporter: %v", ErrChannelBindingUnavailable, err)
	}
	return b, nil
}

// exportChannelBinding returns RFC 9266's tls-exporter data: the label and
// a zero-length (non-nil) context.
func exportChannelBinding(cs *tls.ConnectionState) ([]byte, error) {
	return exportKeyingMaterial(cs, []byte{})
}

// exportKeyingMaterial calls cs.ExportKeyingMaterial, which panics on a
// ConnectionState that crypto/tls did not make (its exporter is then nil):
// a caller's hand-built state gets an error instead.
func exportKeyingMaterial(cs *tls.ConnectionState, context []byte) (b []byte, err error) {
	defer func() {
		if recover() != nil {
			b, err = nil, errors.New("connection state has no keying material exporter")
		}
	}()
	return cs.ExportKeyingMaterial(exporterLabel, context, 32)
}
