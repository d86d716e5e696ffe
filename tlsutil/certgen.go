package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Defaults of [CertOptions].
const (
	// srvCertLifetime is the validity of a generated certificate when
	// NotAfter is zero: 90 days, the Mozilla "modern" maximum and Let's
	// Encrypt's lifetime, so development setups see realistic renewals.
	srvCertLifetime = 90 * 24 * time.Hour
	// srvCertBackdate moves a zero NotBefore into the past, so a peer whose
	// clock is slightly behind accepts a certificate made just now.
	srvCertBackdate = time.Hour
	// srvSerialBits is the size of the random serial number (RFC 5280,
	// Section 4.1.2.2 allows up to 20 octets; CA/B Forum wants ≥ 64 bits
	// of entropy).
	srvSerialBits = 128
)

// CertOptions describe a certificate made by [SelfSigned], [NewCA] or
// [CA.Issue]. The zero value gives a certificate for localhost, 127.0.0.1
// and ::1 with a new ECDSA P-256 key, valid from an hour ago for 90 days.
type CertOptions struct {
	// Hosts are the subjectAltNames: IP literals become IP SANs, anything
	// else a DNS name (a wildcard only as the whole left-most label, RFC
	// 6125). Empty means "localhost", "127.0.0.1", "::1". The first host
	// is also the subject common name, which verifiers ignore (RFC 9525).
	Hosts []string
	// NotBefore and NotAfter bound the validity. A zero NotBefore means an
	// hour ago; a zero NotAfter means NotBefore + 90 days.
	NotBefore, NotAfter time.Time
	// Key is the certificate's key: *ecdsa.PrivateKey, *rsa.PrivateKey or
	// ed25519.PrivateKey. Nil means a new ECDSA P-256 key.
	Key crypto.Signer
	// SignatureAlgorithm is the algorithm the issuer signs with; zero means
	// the default for the issuer's key (ECDSA P-256: ECDSA-SHA256; RSA:
	// SHA256-RSA). It decides the tls-server-end-point hash (RFC 5929,
	// Section 4.1).
	SignatureAlgorithm x509.SignatureAlgorithm
}

// KeyPair is a generated certificate and its key, ready for a tls.Config
// (Certificate, with Leaf set) or for files (CertPEM, KeyPEM, the form
// tls.LoadX509KeyPair and [NewCertReloader] read).
type KeyPair struct {
	Certificate tls.Certificate
	CertPEM     []byte // "CERTIFICATE" block(s), leaf first
	KeyPEM      []byte // "PRIVATE KEY" block, PKCS #8
}

// Leaf returns the parsed leaf certificate.
func (k *KeyPair) Leaf() *x509.Certificate { return k.Certificate.Leaf }

// CA is a small certificate authority for development and tests: a
// self-signed CA certificate that issues leaf certificates with
// [CA.Issue]. Clients trust it through [CA.Pool].
type CA struct {
	KeyPair
}

// SelfSigned returns a self-signed leaf certificate for development and
// tests (a real client rejects it unless told to trust exactly this
// certificate, e.g. with a pool holding it). opts may be nil.
func SelfSigned(opts *CertOptions) (*KeyPair, error) {
	return srvCertCreate(opts, false, nil)
}

// NewCA returns a new CA for development and tests. opts may be nil; its
// Hosts only name the CA (the CA's subject common name is the first).
func NewCA(opts *CertOptions) (*CA, error) {
	kp, err := srvCertCreate(opts, true, nil)
	if err != nil {
		return nil, err
	}
	return &CA{KeyPair: *kp}, nil
}

// Issue returns a leaf certificate for opts.Hosts signed by ca. The chain
// is the leaf alone: clients hold the CA as a root. opts may be nil.
func (ca *CA) Issue(opts *CertOptions) (*KeyPair, error) {
	return srvCertCreate(opts, false, ca)
}

// Pool returns a new pool holding only ca's certificate, for
// [NewClientConfig]'s roots.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Leaf())
	return p
}

// srvCertCreate makes a certificate: self-signed if issuer is nil.
func srvCertCreate(opts *CertOptions, isCA bool, issuer *CA) (*KeyPair, error) {
	var o CertOptions
	if opts != nil {
		o = *opts
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-srvCertBackdate)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(srvCertLifetime)
	}
	if !o.NotAfter.After(o.NotBefore) {
		return nil, errors.New("tlsutil: certificate NotAfter is not after NotBefore")
	}
	key := o.Key
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("tlsutil: generate key: %w", err)
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), srvSerialBits))
	if err != nil {
		return nil, fmt.Errorf("tlsutil: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: o.Hosts[0], Organization: []string{"mailauth development"}},
		NotBefore:          o.NotBefore,
		NotAfter:           o.NotAfter,
		SignatureAlgorithm: o.SignatureAlgorithm,
		KeyUsage:           x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.MaxPathLenZero = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.Subject.CommonName = "mailauth development CA " + o.Hosts[0]
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.BasicConstraintsValid = true
		if _, ok := key.(*rsa.PrivateKey); ok {
			// TLS 1.2 RSA certificates may need it for older peers' checks.
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		for _, h := range o.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	switch key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("tlsutil: unsupported key type %T", key)
	}
	parent, signer := tmpl, key
	if issuer != nil {
		parent = issuer.Leaf()
		signer = issuer.Certificate.PrivateKey.(crypto.Signer)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: marshal key: %w", err)
	}
	kp := &KeyPair{
		Certificate: tls.Certificate{
			Certificate: [][]byte{der},
			PrivateKey:  key,
			Leaf:        leaf,
		},
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for _, c := range kp.Certificate.Certificate {
		kp.CertPEM = append(kp.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return kp, nil
}
