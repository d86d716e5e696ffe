package tlsutil

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsSrvReloadFiles writes kp to cert.pem and key.pem in dir with
// modification time mtime (so two writes in the same clock tick still
// differ) and returns the paths.
func tlsSrvReloadFiles(t *testing.T, dir string, certPEM, keyPEM []byte, mtime time.Time) (string, string) {
	t.Helper()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cf, certPEM, 0o600))
	require.NoError(t, os.WriteFile(kf, keyPEM, 0o600))
	require.NoError(t, os.Chtimes(cf, mtime, mtime))
	require.NoError(t, os.Chtimes(kf, mtime, mtime))
	return cf, kf
}

// tlsSrvErrs collects OnError calls.
type tlsSrvErrs struct {
	mu   sync.Mutex
	errs []error
}

func (e *tlsSrvErrs) add(err error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }
func (e *tlsSrvErrs) get() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

func TestCertReloaderReload(t *testing.T) {
	dir := t.TempDir()
	a, err := SelfSigned(nil)
	require.NoError(t, err)
	b, err := SelfSigned(nil)
	require.NoError(t, err)
	base := time.Now().Add(-time.Hour)
	cf, kf := tlsSrvReloadFiles(t, dir, a.CertPEM, a.KeyPEM, base)

	r, err := NewCertReloader(cf, kf)
	require.NoError(t, err)
	var errs tlsSrvErrs
	r.OnError = errs.add
	r.CheckInterval = -1 // only explicit reloads here
	cert, err := r.GetCertificate(&tls.ClientHelloInfo{})
	require.NoError(t, err)
	assert.Equal(t, a.Leaf().Raw, cert.Leaf.Raw)

	// A valid new pair is picked up.
	tlsSrvReloadFiles(t, dir, b.CertPEM, b.KeyPEM, base.Add(time.Minute))
	require.NoError(t, r.Reload())
	assert.Equal(t, b.Leaf().Raw, r.Certificate().Leaf.Raw)

	// Broken files keep the old pair and report.
	broken := []struct {
		name      string
		cert, key []byte
	}{
		{"garbage", []byte("not a certificate"), b.KeyPEM},
		{"key-mismatch", a.CertPEM, b.KeyPEM},
		{"half-written", b.CertPEM[:len(b.CertPEM)/2], b.KeyPEM},
		{"empty-key", b.CertPEM, nil},
	}
	for i, tt := range broken {
		tlsSrvReloadFiles(t, dir, tt.cert, tt.key, base.Add(time.Duration(i+2)*time.Minute))
		err := r.Reload()
		require.Error(t, err, tt.name)
		assert.Equal(t, b.Leaf().Raw, r.Certificate().Leaf.Raw, tt.name)
		assert.NotContains(t, err.Error(), string(b.KeyPEM[30:60]), "key bytes in error")
	}
	assert.Len(t, errs.get(), len(broken))

	// An expired certificate is refused too.
	old, err := SelfSigned(&CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	tlsSrvReloadFiles(t, dir, old.CertPEM, old.KeyPEM, base.Add(time.Hour))
	assert.ErrorIs(t, r.Reload(), ErrCertificateExpired)
	assert.Equal(t, b.Leaf().Raw, r.Certificate().Leaf.Raw)

	// Missing files too.
	require.NoError(t, os.Remove(cf))
	assert.ErrorIs(t, r.Reload(), os.ErrNotExist)
	assert.Equal(t, b.Leaf().Raw, r.Certificate().Leaf.Raw)
}

func TestCertReloaderAutomatic(t *testing.T) {
	dir := t.TempDir()
	a, err := SelfSigned(nil)
	require.NoError(t, err)
	b, err := SelfSigned(nil)
	require.NoError(t, err)
	base := time.Now().Add(-time.Hour)
	cf, kf := tlsSrvReloadFiles(t, dir, a.CertPEM, a.KeyPEM, base)
	r, err := NewCertReloader(cf, kf)
	require.NoError(t, err)
	var errs tlsSrvErrs
	r.OnError = errs.add
	clock := time.Now()
	r.now = func() time.Time { return clock }

	// Changed files are not looked at before the interval has passed.
	tlsSrvReloadFiles(t, dir, b.CertPEM, b.KeyPEM, base.Add(time.Minute))
	cert, _ := r.GetCertificate(nil)
	assert.Equal(t, a.Leaf().Raw, cert.Leaf.Raw)
	clock = clock.Add(DefaultCheckInterval)
	cert, _ = r.GetCertificate(nil)
	assert.Equal(t, b.Leaf().Raw, cert.Leaf.Raw)

	// A broken pair is reported once, and the old one stays.
	tlsSrvReloadFiles(t, dir, []byte("junk"), b.KeyPEM, base.Add(2*time.Minute))
	for range 3 {
		clock = clock.Add(DefaultCheckInterval)
		cert, err = r.GetCertificate(nil)
		require.NoError(t, err)
		assert.Equal(t, b.Leaf().Raw, cert.Leaf.Raw)
	}
	assert.Len(t, errs.get(), 1)

	// Fixed files are picked up.
	tlsSrvReloadFiles(t, dir, a.CertPEM, a.KeyPEM, base.Add(3*time.Minute))
	clock = clock.Add(DefaultCheckInterval)
	cert, _ = r.GetCertificate(nil)
	assert.Equal(t, a.Leaf().Raw, cert.Leaf.Raw)
	assert.Len(t, errs.get(), 1)
}

// TestCertReloaderHandshake: a server using the CertReloader serves the new
// certificate after a reload, and the served leaf follows.
func TestCertReloaderHandshake(t *testing.T) {
	ca, err := NewCA(nil)
	require.NoError(t, err)
	a, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}})
	require.NoError(t, err)
	b, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}})
	require.NoError(t, err)
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	cf, kf := tlsSrvReloadFiles(t, dir, a.CertPEM, a.KeyPEM, base)
	r, err := NewCertReloader(cf, kf)
	require.NoError(t, err)
	srv := NewServerConfig(r.GetCertificate)
	srv.SessionTicketsDisabled = true // each handshake is a full one
	cli := NewClientConfig(tlsSrvTestHost, ca.Pool())

	sc, _ := tlsSrvHandshakePair(t, srv, cli)
	assert.Equal(t, a.Leaf().Raw, ServedCertificate(sc).Raw)
	tlsSrvReloadFiles(t, dir, b.CertPEM, b.KeyPEM, base.Add(time.Minute))
	require.NoError(t, r.Reload())
	sc, cc := tlsSrvHandshakePair(t, srv, cli)
	assert.Equal(t, b.Leaf().Raw, ServedCertificate(sc).Raw)
	assert.Equal(t, b.Leaf().Raw, cc.ConnectionState().PeerCertificates[0].Raw)
}

func TestNewCertReloaderErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := NewCertReloader(filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestCertReloaderConcurrent: handshakes and reloads in parallel (run with
// -race).
func TestCertReloaderConcurrent(t *testing.T) {
	dir := t.TempDir()
	a, err := SelfSigned(nil)
	require.NoError(t, err)
	cf, kf := tlsSrvReloadFiles(t, dir, a.CertPEM, a.KeyPEM, time.Now())
	r, err := NewCertReloader(cf, kf)
	require.NoError(t, err)
	r.CheckInterval = time.Nanosecond
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				c, err := r.GetCertificate(nil)
				if err != nil || c == nil {
					t.Error("no certificate")
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			_ = r.Reload()
		}
	})
	wg.Wait()
}
