package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often, at most, a [CertReloader] looks at its
// files' modification time and size from GetCertificate. Certificates are
// renewed days before they expire, so a minute's delay costs nothing, and
// one stat per minute costs nothing either.
const DefaultCheckInterval = time.Minute

// ErrCertificateExpired means a certificate file holds a certificate that
// is already past its NotAfter (or not yet valid); a [CertReloader] keeps
// serving the previous one.
var ErrCertificateExpired = errors.New("tlsutil: certificate is expired or not yet valid")

// CertReloader serves a certificate and key from PEM files and picks up new
// files without a restart: when certbot, acme.sh or an operator replaces
// them (in place, by rename, or by moving a symlink), the next handshake
// after the check interval uses the new pair. A new pair that does not load
// (unreadable, key not matching, expired, half written) is not used: the
// CertReloader keeps serving the previous pair and reports the error,
// from Reload and through OnError.
//
// Use GetCertificate as tls.Config.GetCertificate ([NewServerConfig] takes
// it). A CertReloader is safe for concurrent use; set its fields before the
// first use.
type CertReloader struct {
	// CheckInterval is the least time between two looks at the files from
	// GetCertificate. Zero means DefaultCheckInterval; a negative value
	// turns automatic checks off, leaving only Reload.
	CheckInterval time.Duration
	// OnError, if not nil, is called with the error of every failed
	// reload, also those started by GetCertificate, for logging. It may be
	// called from handshake goroutines, so it must be safe for concurrent
	// use, and it runs under the reload lock, so it must not call Reload.
	OnError func(error)

	certFile, keyFile string
	now               func() time.Time // time.Now; tests replace it

	cert      atomic.Pointer[tls.Certificate] // what GetCertificate serves
	lastCheck atomic.Int64                    // unix nanoseconds of the last look
	mu        sync.Mutex                      // serializes reloads and stamp
	stamp     [2]srvReloadStamp               // of the files last loaded or tried
}

// srvReloadStamp is what tells a changed file: modification time and size.
type srvReloadStamp struct {
	modTime time.Time
	size    int64
}

// NewCertReloader loads the certificate chain from certFile and the
// private key from keyFile (PEM, as tls.LoadX509KeyPair reads them) and
// returns a CertReloader serving them. An error loading them the first
// time is returned.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, now: time.Now}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads both files again, whether or not they changed. If they load
// and the certificate is valid now, they replace the served pair; otherwise
// the previous pair stays and the error is returned (and passed to
// OnError).
func (r *CertReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *CertReloader) reloadLocked() error {
	r.lastCheck.Store(r.now().UnixNano())
	// Stamps taken before reading: a write racing with the read changes
	// them again and the next check retries.
	r.stamp = [2]srvReloadStamp{srvStat(r.certFile), srvStat(r.keyFile)}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err == nil {
		err = srvCheckValid(cert.Leaf, r.now())
	}
	if err != nil {
		// Never name the key's bytes; the file names are the operator's.
		err = fmt.Errorf("tlsutil: load %s, %s: %w", r.certFile, r.keyFile, err)
		if r.OnError != nil {
			r.OnError(err)
		}
		return err
	}
	r.cert.Store(&cert)
	return nil
}

// srvCheckValid refuses a leaf that is outside its validity window now.
func srvCheckValid(leaf *x509.Certificate, now time.Time) error {
	if leaf == nil {
		return errors.New("tlsutil: certificate not parsed")
	}
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return fmt.Errorf("%w: valid %s to %s", ErrCertificateExpired,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// srvStat returns the stamp of file (following symlinks, so a moved
// certbot "live" link counts as a change); a missing file has a zero stamp.
func srvStat(file string) srvReloadStamp {
	fi, err := os.Stat(file)
	if err != nil {
		return srvReloadStamp{}
	}
	return srvReloadStamp{modTime: fi.ModTime(), size: fi.Size()}
}

// maybeReload looks at the files if the check interval has passed, and
// reloads them if their stamps changed. One caller at a time does the
// looking; the others serve the current pair without waiting.
func (r *CertReloader) maybeReload() {
	interval := r.CheckInterval
	if interval < 0 {
		return
	}
	if interval == 0 {
		interval = DefaultCheckInterval
	}
	now := r.now().UnixNano()
	last := r.lastCheck.Load()
	if now-last < int64(interval) || !r.lastCheck.CompareAndSwap(last, now) {
		return
	}
	if !r.mu.TryLock() {
		return // a Reload is running
	}
	defer r.mu.Unlock()
	if [2]srvReloadStamp{srvStat(r.certFile), srvStat(r.keyFile)} == r.stamp {
		return
	}
	// The error went to OnError; a failed pair is not retried until the
	// files change again or Reload is called, so it is reported once.
	_ = r.reloadLocked()
}

// GetCertificate returns the current certificate, after reloading the files
// if they changed (at most once per CheckInterval). It has the signature of
// tls.Config.GetCertificate and never fails once NewCertReloader succeeded.
// The returned certificate must not be modified.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.cert.Load(), nil
}

// Certificate returns the certificate currently served, with Leaf set.
// It must not be modified.
func (r *CertReloader) Certificate() *tls.Certificate { return r.cert.Load() }
