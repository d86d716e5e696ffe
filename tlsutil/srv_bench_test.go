package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net"
	"testing"
)

// tlsSrvBenchHandshake runs one client/server handshake over an in-memory
// pipe with newServer making the server side (our Server or
// crypto/tls.Server), and reads one byte so a TLS 1.3 ticket is stored.
func tlsSrvBenchHandshake(b *testing.B, newServer func(net.Conn, *tls.Config) *tls.Conn, server, client *tls.Config, wantResume bool) {
	c1, c2 := tlsSrvPipe()
	errc := make(chan error, 1)
	go func() {
		sc := newServer(c1, server)
		err := sc.Handshake()
		if err == nil {
			_, err = sc.Write([]byte{'!'})
		}
		errc <- err
		_ = sc.Close()
	}()
	cc := tls.Client(c2, client)
	err := cc.Handshake()
	if err == nil {
		var one [1]byte
		_, err = io.ReadFull(cc, one[:])
	}
	if serr := <-errc; serr != nil {
		b.Fatal(serr)
	}
	if err != nil {
		b.Fatal(err)
	}
	if cc.ConnectionState().DidResume != wantResume {
		b.Fatalf("DidResume = %v, want %v", !wantResume, wantResume)
	}
	_ = cc.Close()
}

// BenchmarkHandshake measures what TLS costs per login: a full and a
// resumed handshake, TLS 1.2 and 1.3, with an ECDSA P-256 and an RSA-2048
// certificate, both ends in this process over an in-memory pipe (so the
// figure is the CPU of server plus client). impl=tlsutil is Server with
// the NewServerConfig/NewClientConfig defaults; impl=crypto-tls is plain
// tls.Server with the same configs, the floor ours cannot go below.
func BenchmarkHandshake(b *testing.B) {
	ca, err := NewCA(nil)
	if err != nil {
		b.Fatal(err)
	}
	ecCert, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}})
	if err != nil {
		b.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	rsaCert, err := ca.Issue(&CertOptions{Hosts: []string{tlsSrvTestHost}, Key: rsaKey})
	if err != nil {
		b.Fatal(err)
	}
	impls := []struct {
		name string
		fn   func(net.Conn, *tls.Config) *tls.Conn
	}{{"tlsutil", Server}, {"crypto-tls", tls.Server}}
	for _, v := range tlsSrvVersions {
		for _, c := range []struct {
			name string
			kp   *KeyPair
		}{{"ecdsa-p256", ecCert}, {"rsa-2048", rsaCert}} {
			for _, resume := range []bool{false, true} {
				for _, impl := range impls {
					name := "version=" + v.name + "/cert=" + c.name + "/resume=" + map[bool]string{false: "no", true: "yes"}[resume] + "/impl=" + impl.name
					b.Run(name, func(b *testing.B) {
						cert := c.kp.Certificate
						srv := NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
						cli := tlsSrvClientVersion(NewClientConfig(tlsSrvTestHost, ca.Pool()), v.v)
						if resume {
							tlsSrvBenchHandshake(b, impl.fn, srv, cli, false)
						} else {
							cli.ClientSessionCache = nil
						}
						b.ReportAllocs()
						for b.Loop() {
							tlsSrvBenchHandshake(b, impl.fn, srv, cli, resume)
						}
					})
				}
			}
		}
	}
}

// BenchmarkHandshakePrimitives times the signature operations a full
// handshake spends on the certificate (the server signs once, the client
// verifies the signature and the certificate chain), the part a resumed
// handshake skips.
func BenchmarkHandshakePrimitives(b *testing.B) {
	msg := sha256.Sum256([]byte("handshake transcript"))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ecSig, err := ecdsa.SignASN1(rand.Reader, ecKey, msg[:])
	if err != nil {
		b.Fatal(err)
	}
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	rsaSig, err := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, msg[:], pss)
	if err != nil {
		b.Fatal(err)
	}
	if !ecdsa.VerifyASN1(&ecKey.PublicKey, msg[:], ecSig) || rsa.VerifyPSS(&rsaKey.PublicKey, crypto.SHA256, msg[:], rsaSig, pss) != nil {
		b.Fatal("reference signatures do not verify")
	}
	run := func(f func()) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
		}
	}
	b.Run("raw=ecdsa-p256-sign", run(func() { _, _ = ecdsa.SignASN1(rand.Reader, ecKey, msg[:]) }))
	b.Run("raw=ecdsa-p256-verify", run(func() { ecdsa.VerifyASN1(&ecKey.PublicKey, msg[:], ecSig) }))
	b.Run("raw=rsa-2048-pss-sign", run(func() { _, _ = rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, msg[:], pss) }))
	b.Run("raw=rsa-2048-pss-verify", run(func() { _ = rsa.VerifyPSS(&rsaKey.PublicKey, crypto.SHA256, msg[:], rsaSig, pss) }))
}
