package tlsutil

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/textproto"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartTLSClientCore runs both TLS steps of STARTTLS against each
// other: the client's go-ahead is read by hand, as sasl.StartTLSClient
// does, and then StartTLSClient hands the connection to the handshake.
func TestStartTLSClientCore(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), tlsSrvWait)
	defer cancel()

	srvRaw, cliRaw := tlsSrvPipe()
	defer srvRaw.Close()
	defer cliRaw.Close()
	done := make(chan error, 1)
	go func() {
		tp := textproto.NewConn(srvRaw)
		if _, err := tp.ReadLine(); err != nil {
			done <- err
			return
		}
		_, stp, err := StartTLSServer(ctx, tp, srvRaw, pki.server, "A OK Begin TLS negotiation now")
		if err == nil {
			err = stp.PrintfLine("* OK inside TLS")
		}
		done <- err
	}()

	tp := textproto.NewConn(cliRaw)
	require.NoError(t, tp.PrintfLine("A STARTTLS"))
	line, err := tp.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "A OK Begin TLS negotiation now", line)
	tc, ttp, err := StartTLSClient(ctx, tp, cliRaw, pki.client)
	require.NoError(t, err)
	assert.True(t, tc.ConnectionState().HandshakeComplete)
	got, err := ttp.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "* OK inside TLS", got)
	require.NoError(t, <-done)
}

// TestStartTLSClientCoreInjection: bytes behind the go-ahead line, in
// textproto's buffer or a named layer, are refused before any handshake,
// and the connection is closed.
func TestStartTLSClientCoreInjection(t *testing.T) {
	pki := tlsSrvNewPKI(t, nil)
	for _, name := range []string{"textproto", "layer"} {
		t.Run(name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			go func() {
				_, _ = io.WriteString(a, "A OK go ahead\r\n* OK injected\r\n")
			}()
			tp := textproto.NewConn(b)
			var layers []Buffered
			if name == "layer" {
				// The layer claims bytes of its own; textproto's buffer
				// is drained after the go-ahead below.
				layers = append(layers, fakeBuffered(3))
			}
			_, err := tp.ReadLine()
			require.NoError(t, err)
			if name == "layer" {
				_, err = tp.ReadLine() // drain textproto's buffer
				require.NoError(t, err)
			}
			_, _, err = StartTLSClient(context.Background(), tp, b, pki.client, layers...)
			require.ErrorIs(t, err, ErrResponseInjection)
			// b is closed: a write fails at once.
			_ = b.SetWriteDeadline(time.Now().Add(time.Second))
			_, err = b.Write([]byte("x"))
			require.ErrorIs(t, err, io.ErrClosedPipe)
		})
	}
}

// fakeBuffered is a read layer that holds n bytes.
type fakeBuffered int

func (f fakeBuffered) Buffered() int { return int(f) }

// TestClientHandshakeConfig: a config that cannot verify the server is
// refused before anything is sent, and the handshake's errors wrap
// ErrHandshakeFailed.
func TestClientHandshakeConfig(t *testing.T) {
	require.ErrorIs(t, CheckClientConfig(nil), ErrInvalidConfig)
	require.ErrorIs(t, CheckClientConfig(&tls.Config{}), ErrInvalidConfig)
	require.NoError(t, CheckClientConfig(&tls.Config{ServerName: "x"}))
	require.NoError(t, CheckClientConfig(&tls.Config{InsecureSkipVerify: true}))

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err := ClientHandshake(context.Background(), b, &tls.Config{})
	require.ErrorIs(t, err, ErrInvalidConfig)

	// A server with a certificate for another CA: verification fails.
	pki, other := tlsSrvNewPKI(t, nil), tlsSrvNewPKI(t, nil)
	srv, cli := tlsSrvPipe()
	defer srv.Close()
	go func() { _ = Server(srv, pki.server).Handshake() }()
	ctx, cancel := context.WithTimeout(context.Background(), tlsSrvWait)
	defer cancel()
	_, err = ClientHandshake(ctx, cli, other.client)
	require.ErrorIs(t, err, ErrHandshakeFailed)

	// An old MinVersion is raised, never lowered for the caller's config.
	old := &tls.Config{ServerName: "x", MinVersion: tls.VersionTLS10}
	assert.Equal(t, uint16(tls.VersionTLS12), clientConfig(old).MinVersion)
	assert.Equal(t, uint16(tls.VersionTLS10), old.MinVersion)
}
