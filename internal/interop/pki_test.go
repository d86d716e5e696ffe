//go:build interop

package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// testPKI is throwaway TLS material: a CA that signs a server certificate
// (CN=localhost, SAN DNS:localhost IP:127.0.0.1) and a client certificate
// CN=extuser for SASL EXTERNAL, plus a "rogue" self-signed CN=extuser
// certificate the CA did not issue, for negative EXTERNAL cases. Files are
// written as PEM into Dir for the peers.
type testPKI struct {
	Dir                        string
	CAFile                     string
	ServerCertFile, ServerKeyF string
	ClientCertFile, ClientKeyF string
	RogueCertFile, RogueKeyF   string

	Pool   *x509.CertPool
	Server tls.Certificate
	Client tls.Certificate
	Rogue  tls.Certificate
}

// pkiExternalUser is the CN of the client certificate.
const pkiExternalUser = "extuser"

func newTestPKI(dir string) (*testPKI, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := &testPKI{Dir: dir, Pool: x509.NewCertPool()}
	now := time.Now()
	caKey, caDER, err := pkiIssue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "mailauth interop test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(72 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.Pool.AddCert(caCert)
	p.CAFile = filepath.Join(dir, "ca.pem")
	if err := pkiWrite(p.CAFile, caDER, nil); err != nil {
		return nil, err
	}
	leaf := func(name, cn string, ca *x509.Certificate, caKey crypto.Signer, tmpl *x509.Certificate) (tls.Certificate, string, string, error) {
		tmpl.Subject = pkix.Name{CommonName: cn}
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(72*time.Hour)
		key, der, err := pkiIssue(tmpl, ca, caKey)
		if err != nil {
			return tls.Certificate{}, "", "", err
		}
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		if err := pkiWrite(certFile, der, key); err != nil {
			return tls.Certificate{}, "", "", err
		}
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		return c, certFile, keyFile, err
	}
	if p.Server, p.ServerCertFile, p.ServerKeyF, err = leaf("server", "localhost", caCert, caKey, &x509.Certificate{
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, err
	}
	if p.Client, p.ClientCertFile, p.ClientKeyF, err = leaf("client", pkiExternalUser, caCert, caKey, &x509.Certificate{
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}
	if p.Rogue, p.RogueCertFile, p.RogueKeyF, err = leaf("rogue", pkiExternalUser, nil, nil, &x509.Certificate{
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// pkiIssue makes a P-256 key and a certificate for tmpl signed by parent
// (self-signed when parent is nil).
func pkiIssue(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return key, der, nil
}

// pkiWrite writes the certificate (and key, if not nil) as PEM. The files
// are world-readable: Dovecot's auth and login processes, and the peer
// CLIs run by the tests, read them. Test material only.
func pkiWrite(certFile string, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	if key == nil {
		return nil
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyFile := certFile[:len(certFile)-len(".pem")] + ".key"
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o644)
}

// clientTLS is a client tls.Config trusting the test CA. cert, if not nil,
// is presented as client certificate.
func (p *testPKI) clientTLS(cert *tls.Certificate, maxVersion uint16) *tls.Config {
	cfg := &tls.Config{RootCAs: p.Pool, ServerName: "localhost", MaxVersion: maxVersion}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// serverTLS is a server tls.Config with the server certificate that asks
// for (and verifies, if presented) a client certificate from the test CA.
func (p *testPKI) serverTLS(maxVersion uint16) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.Server},
		ClientCAs:    p.Pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MaxVersion:   maxVersion,
	}
}
