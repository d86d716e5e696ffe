package tlsutil

import (
	"bytes"
	"context"
	"errors"
	"net/textproto"
	"testing"
	"time"
)

// tlsSrvFuzzSeeds are first bytes a server may see: plaintext commands of
// the three protocols, TLS record headers good and bad, an SSLv2 hello.
var tlsSrvFuzzSeeds = [][]byte{
	[]byte("A1 CAPABILITY\r\n"),
	[]byte("EHLO client.example\r\n"),
	[]byte("STLS\r\nCAPA\r\n"),
	[]byte("A STARTTLS\r\nQWXYZ NOOP\r\n"),
	{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03},
	{0x16, 0x03, 0x01, 0x00, 0x00},
	{0x16, 0x03, 0x01, 0x40, 0x01},
	{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28},
	{0x80, 0x2e, 0x01, 0x03, 0x01},
	{},
}

// FuzzCheckRecordHeader checks the first-bytes rule against its
// specification, written out independently: a handshake record, version
// 3.0–3.4, length 1..2^14; everything else, and any plaintext command, is
// ErrNotTLS.
func FuzzCheckRecordHeader(f *testing.F) {
	for _, s := range tlsSrvFuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := srvCheckRecordHeader(b)
		want := len(b) >= 5 && b[0] == 22 && b[1] == 3 && b[2] <= 4 &&
			int(b[3])*256+int(b[4]) >= 1 && int(b[3])*256+int(b[4]) <= 16384
		if want != (err == nil) {
			t.Fatalf("srvCheckRecordHeader(%x) = %v, want ok=%v", b, err, want)
		}
		if err != nil && !errors.Is(err, ErrNotTLS) {
			t.Fatalf("error %v does not wrap ErrNotTLS", err)
		}
	})
}

// FuzzServerFirstBytes sends arbitrary first bytes to a Server: the
// handshake never succeeds or panics, it ends well within its deadline,
// and if the bytes are not a TLS handshake record the server writes
// nothing at all.
func FuzzServerFirstBytes(f *testing.F) {
	for _, s := range tlsSrvFuzzSeeds {
		f.Add(s)
	}
	pki := tlsSrvNewPKI(f, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		srv, cli := tlsSrvPipe()
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		sc := Server(srv, pki.server)
		errc := make(chan error, 1)
		go func() { errc <- sc.HandshakeContext(ctx) }()
		go func() {
			_, _ = cli.Write(b)
			// End of client data: a record waiting for more bytes fails.
			_ = cli.Conn.Close()
		}()
		err := <-errc
		if err == nil {
			t.Fatalf("handshake succeeded on %x", b)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("handshake on %x ran into its deadline", b)
		}
		_ = srv.Close()
		if len(b) >= srvRecordHeaderLen && srvCheckRecordHeader(b[:srvRecordHeaderLen]) != nil {
			if !errors.Is(err, ErrNotTLS) {
				t.Fatalf("error %v on %x, want ErrNotTLS", err, b)
			}
			cli.mu.Lock()
			n := cli.buf.Len()
			cli.mu.Unlock()
			if n != 0 {
				t.Fatalf("server wrote %d bytes in reply to %x", n, b)
			}
		}
	})
}

// FuzzStartTLSServer feeds arbitrary bytes after an IMAP "A STARTTLS"
// line, in one write: StartTLSServer refuses with ErrPlaintextAfterStartTLS
// and writes nothing whenever anything follows the line, and never
// answers inside TLS.
func FuzzStartTLSServer(f *testing.F) {
	for _, s := range tlsSrvFuzzSeeds {
		f.Add(s)
	}
	pki := tlsSrvNewPKI(f, nil)
	f.Fuzz(func(t *testing.T, after []byte) {
		if len(after) == 0 {
			return // nothing buffered: the handshake path, covered by tests
		}
		srv, cli := tlsSrvPipe()
		defer cli.Close()
		go func() { _, _ = cli.Write(append([]byte("A STARTTLS\r\n"), after...)) }()
		tc := textproto.NewConn(srv)
		line, err := tc.ReadLine()
		if err != nil || line != "A STARTTLS" {
			t.Fatalf("ReadLine = %q, %v", line, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, _, err := StartTLSServer(ctx, tc, srv, pki.server, "A OK begin TLS")
		_ = srv.Close()
		if !errors.Is(err, ErrPlaintextAfterStartTLS) || conn != nil {
			t.Fatalf("StartTLSServer with %q buffered: %v", after, err)
		}
		cli.mu.Lock()
		out := bytes.Clone(cli.buf.Bytes())
		cli.mu.Unlock()
		if len(out) != 0 {
			t.Fatalf("server wrote %q before refusing", out)
		}
	})
}
