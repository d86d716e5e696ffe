package tlsutil

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelfSignedDefaults(t *testing.T) {
	kp, err := SelfSigned(nil)
	require.NoError(t, err)
	leaf := kp.Leaf()
	assert.Equal(t, []string{"localhost"}, leaf.DNSNames)
	require.Len(t, leaf.IPAddresses, 2)
	assert.True(t, leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")))
	assert.True(t, leaf.IPAddresses[1].Equal(net.IPv6loopback))
	assert.Equal(t, x509.ECDSA, leaf.PublicKeyAlgorithm)
	assert.Equal(t, elliptic.P256(), leaf.PublicKey.(*ecdsa.PublicKey).Curve)
	assert.Equal(t, x509.ECDSAWithSHA256, leaf.SignatureAlgorithm)
	assert.False(t, leaf.IsCA)
	assert.Contains(t, leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	assert.WithinDuration(t, time.Now().Add(-time.Hour), leaf.NotBefore, time.Minute)
	assert.WithinDuration(t, leaf.NotBefore.Add(90*24*time.Hour), leaf.NotAfter, time.Second)
	assert.GreaterOrEqual(t, leaf.SerialNumber.BitLen(), 64)

	// The PEM form loads back into the same pair.
	loaded, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	require.NoError(t, err)
	assert.Equal(t, leaf.Raw, loaded.Leaf.Raw)

	// Trusting exactly this certificate verifies it for its names only.
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name})
		assert.NoError(t, err, name)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "example.org"})
	assert.Error(t, err)

	other, err := SelfSigned(nil)
	require.NoError(t, err)
	assert.NotEqual(t, leaf.SerialNumber, other.Leaf().SerialNumber)
}

func TestCAIssue(t *testing.T) {
	ca, err := NewCA(&CertOptions{Hosts: []string{"test"}})
	require.NoError(t, err)
	assert.True(t, ca.Leaf().IsCA)
	assert.True(t, ca.Leaf().MaxPathLenZero)
	nb := time.Now().Add(-time.Minute).Truncate(time.Second)
	na := nb.Add(24 * time.Hour)
	kp, err := ca.Issue(&CertOptions{Hosts: []string{"imap.example.org", "*.example.org", "192.0.2.1", "2001:db8::1"}, NotBefore: nb, NotAfter: na})
	require.NoError(t, err)
	leaf := kp.Leaf()
	assert.Equal(t, []string{"imap.example.org", "*.example.org"}, leaf.DNSNames)
	assert.Len(t, leaf.IPAddresses, 2)
	assert.True(t, nb.Equal(leaf.NotBefore))
	assert.True(t, na.Equal(leaf.NotAfter))
	assert.Len(t, kp.Certificate.Certificate, 1)
	for _, name := range []string{"imap.example.org", "smtp.example.org", "192.0.2.1", "2001:db8::1"} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name})
		assert.NoError(t, err, name)
	}
	for _, name := range []string{"example.org", "a.b.example.org", "192.0.2.2"} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name})
		assert.Error(t, err, name)
	}
	// Outside its validity window it does not verify.
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "imap.example.org", CurrentTime: na.Add(time.Hour)})
	assert.Error(t, err)
}

func TestCertOptionsKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	kp, err := SelfSigned(&CertOptions{Key: rsaKey, SignatureAlgorithm: x509.SHA384WithRSA})
	require.NoError(t, err)
	assert.Equal(t, x509.SHA384WithRSA, kp.Leaf().SignatureAlgorithm)
	assert.NotZero(t, kp.Leaf().KeyUsage&x509.KeyUsageKeyEncipherment)
	_, err = tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	assert.NoError(t, err)
	kp, err = SelfSigned(&CertOptions{Key: edKey})
	require.NoError(t, err)
	assert.Equal(t, x509.PureEd25519, kp.Leaf().SignatureAlgorithm)
}

func TestCertOptionsErrors(t *testing.T) {
	now := time.Now()
	_, err := SelfSigned(&CertOptions{NotBefore: now, NotAfter: now})
	assert.ErrorContains(t, err, "NotAfter")
	_, err = SelfSigned(&CertOptions{NotBefore: now, NotAfter: now.Add(-time.Hour)})
	assert.Error(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, err = SelfSigned(&CertOptions{Key: ecKey, SignatureAlgorithm: x509.SHA256WithRSA})
	assert.Error(t, err)
	_, err = SelfSigned(&CertOptions{Key: tlsSrvBadSigner{ecKey}})
	assert.ErrorContains(t, err, "unsupported key type")
}

// tlsSrvBadSigner is a crypto.Signer of a type the generator refuses.
type tlsSrvBadSigner struct{ *ecdsa.PrivateKey }
