package kpop

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/stretchr/testify/require"
)

// BenchmarkGSSAPIAccept times the server's side of one GSSAPI login: the
// AP-REQ checks (ticket and authenticator decryption, service, times,
// replay cache, checksum), the AP-REP with a fresh acceptor subkey, and
// the security-layer round (one wrap made, one verified); beside it,
// gokrb5's bare service.VerifyAPREQ (unmarshal, ticket and authenticator
// decryption, its replay cache) on the same kind of ticket. Every
// iteration has a fresh authenticator (both replay caches would refuse a
// repeat); making it, and the client's steps, are not timed.
func BenchmarkGSSAPIAccept(b *testing.B) {
	for _, ticket := range []string{"cached", "fresh"} {
		b.Run("ticket="+ticket, func(b *testing.B) { benchAccept(b, ticket == "cached") })
	}
}

// benchAccept: with cached, every login presents the same service ticket
// (a client's cached one: the session key's derived keys are reused on
// both sides); without, every login has a new ticket and session key.
func benchAccept(b *testing.B, cached bool) {
	kt := testKeytab(b)
	a := testAcceptor(b, kt, func(cfg *ServerConfig) { cfg.MaxReplayEntries = 1 << 22 })
	creds, _ := testCreds(kt)
	var err error
	if cached {
		tkt, key, err := creds.source().serviceTicket("imap/" + testHost)
		require.NoError(b, err)
		creds.src = cachedSource{tkt, key, creds.source().principal()}
	}
	cfg := &ClientConfig{Credentials: creds, Host: testHost}

	// The work is done in batches of b.N so that the timer stops only
	// twice per run: StopTimer reads the memory statistics, which costs
	// more than a step of the exchange.
	b.Run("side=server", func(b *testing.B) {
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var cpu threadCPU
		defer func() { cpu.off(); cpu.report(b) }()
		clients := make([]*gssapiClient, b.N)
		servers := make([]sasl.IdentityServer, b.N)
		toks, reps, offers := make([][]byte, b.N), make([][]byte, b.N), make([][]byte, b.N)
		for i := range b.N {
			clients[i] = NewGSSAPIClient(cfg, ServiceIMAP).(*gssapiClient)
			_, toks[i], err = clients[i].Start()
			require.NoError(b, err)
			servers[i] = a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		}
		b.ResetTimer()
		cpu.on()
		for i := range b.N {
			if reps[i], _, err = servers[i].Next(toks[i]); err != nil {
				b.Fatal(err)
			}
			if offers[i], _, err = servers[i].Next([]byte{}); err != nil {
				b.Fatal(err)
			}
		}
		cpu.off()
		b.StopTimer()
		for i := range b.N {
			_, err := clients[i].Next(reps[i])
			require.NoError(b, err)
			offers[i], err = clients[i].Next(offers[i]) // now the reply
			require.NoError(b, err)
		}
		b.StartTimer()
		cpu.on()
		for i := range b.N {
			if _, done, err := servers[i].Next(offers[i]); err != nil || !done {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw=gokrb5-VerifyAPREQ", func(b *testing.B) {
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var cpu threadCPU
		defer func() { cpu.off(); cpu.report(b) }()
		settings := service.NewSettings(kt, service.DecodePAC(false))
		raws := make([][]byte, b.N)
		for i := range b.N {
			_, raws[i], err = newInitiator(creds, ServiceIMAP, testHost, true, gssFlagsRequested)
			require.NoError(b, err)
		}
		b.ResetTimer()
		cpu.on()
		for i := range b.N {
			var ap messages.APReq
			if err := ap.Unmarshal(raws[i]); err != nil {
				b.Fatal(err)
			}
			if ok, _, err := service.VerifyAPREQ(&ap, settings); !ok {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGSSAPIClient times a client's whole login with a cached
// service ticket: the AP-REQ (authenticator with subkey, encrypted), the
// AP-REP's verification, and the security-layer round. The server's steps
// are not timed.
func BenchmarkGSSAPIClient(b *testing.B) {
	kt := testKeytab(b)
	a := testAcceptor(b, kt, func(cfg *ServerConfig) { cfg.MaxReplayEntries = 1 << 22 })
	creds, _ := testCreds(kt)
	tkt, key, err := creds.source().serviceTicket("imap/" + testHost)
	require.NoError(b, err)
	creds.src = cachedSource{tkt, key, creds.source().principal()}
	cfg := &ClientConfig{Credentials: creds, Host: testHost}
	b.Run("side=client", func(b *testing.B) {
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var cpu threadCPU
		defer func() { cpu.off(); cpu.report(b) }()
		clients := make([]sasl.Client, b.N)
		servers := make([]sasl.IdentityServer, b.N)
		msgs := make([][]byte, b.N)
		for i := range b.N {
			servers[i] = a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		}
		b.ResetTimer()
		cpu.on()
		for i := range b.N {
			clients[i] = NewGSSAPIClient(cfg, ServiceIMAP)
			if _, msgs[i], err = clients[i].Start(); err != nil {
				b.Fatal(err)
			}
		}
		cpu.off()
		b.StopTimer()
		for i := range b.N {
			msgs[i], _, err = servers[i].Next(msgs[i])
			require.NoError(b, err)
		}
		b.StartTimer()
		cpu.on()
		for i := range b.N {
			if msgs[i], err = clients[i].Next(msgs[i]); err != nil {
				b.Fatal(err)
			}
		}
		cpu.off()
		b.StopTimer()
		for i := range b.N {
			msgs[i], _, err = servers[i].Next(msgs[i])
			require.NoError(b, err)
		}
		b.StartTimer()
		cpu.on()
		for i := range b.N {
			if _, err := clients[i].Next(msgs[i]); err != nil {
				b.Fatal(err)
			}
			if err := sasl.Finished(clients[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The floor: gokrb5 making the same AP-REQ (authenticator with subkey
	// and checksum, encrypted, marshalled) from the cached ticket.
	b.Run("raw=gokrb5-NewAPReq", func(b *testing.B) {
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var cpu threadCPU
		defer func() { cpu.off(); cpu.report(b) }()
		p := creds.Principal()
		cpu.on()
		for b.Loop() {
			au, err := types.NewAuthenticator(p.Realm, types.PrincipalName{NameType: 1, NameString: p.Components})
			if err != nil {
				b.Fatal(err)
			}
			au.Cksum = gssChecksum(gssFlagsRequested)
			au.GenerateSeqNumberAndSubKey(key.KeyType, 32)
			ap, err := messages.NewAPReq(tkt, key, au)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ap.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// threadCPU measures the CPU time of the benchmark's own thread, which a
// loaded machine does not inflate as it does wall time: start it with
// the timer, and report reports cpu-ns/op beside ns/op.
type threadCPU struct{ total, start time.Duration }

func threadTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *threadCPU) on()  { c.start = threadTime() }
func (c *threadCPU) off() { c.total += threadTime() - c.start }
func (c *threadCPU) report(b *testing.B) {
	b.ReportMetric(float64(c.total.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cachedSource hands out one ticket, as gokrb5's client cache does after
// the first GetServiceTicket.
type cachedSource struct {
	tkt messages.Ticket
	key types.EncryptionKey
	p   Principal
}

func (c cachedSource) serviceTicket(string) (messages.Ticket, types.EncryptionKey, error) {
	return c.tkt, c.key, nil
}

func (c cachedSource) principal() Principal { return c.p }
