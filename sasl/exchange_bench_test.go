package sasl

import (
	"context"
	"testing"
)

// BenchmarkOneMessage times the full in-memory exchange (client Start,
// server Next until done) of the mechanisms that have no hash to compute:
// LOGIN, EXTERNAL, ANONYMOUS; their cost is parsing and allocation, which
// BenchmarkPlain and BenchmarkExchange put beside go-sasl and the wire.
func BenchmarkOneMessage(b *testing.B) {
	ctx := context.Background()
	cfg := &ServerConfig{
		Passwords: plainTestFuncVerifier(func(u, p string) error {
			if p != "tanstaaftanstaaf" {
				return ErrAuthFailed
			}
			return nil
		}),
		External:  &extTestVerifier{},
		Anonymous: func(context.Context, string) error { return nil },
	}
	conn := extTestConn("tim")
	run := func(b *testing.B, newClient func() Client, newServer func() Server) {
		c, s := newClient(), newServer()
		if cerr, serr := runExchange(b, c, s); cerr != nil || serr != nil {
			b.Fatal(cerr, serr)
		}
		bench(func() { runExchange(b, newClient(), newServer()) })(b)
	}
	b.Run("mech=LOGIN/side=both", func(b *testing.B) {
		run(b, func() Client { return NewLoginClient("tim", "tanstaaftanstaaf") },
			func() Server { return NewLoginServer(ctx, cfg) })
	})
	b.Run("mech=EXTERNAL/side=both", func(b *testing.B) {
		run(b, func() Client { return NewExternalClient("") },
			func() Server { return NewExternalServer(ctx, cfg, conn) })
	})
	b.Run("mech=ANONYMOUS/side=both", func(b *testing.B) {
		run(b, func() Client { return NewAnonymousClient("tim@example.org") },
			func() Server { return NewAnonymousServer(ctx, cfg) })
	})
}
