package sasl

import (
	"testing"
)

// maxTestRounds bounds runExchange so a broken state machine fails instead
// of looping.
const maxTestRounds = 16

// runExchange drives client c against server s in memory, as the protocol
// layer would: the client's initial response goes first, each challenge is
// answered until the server says done or either side fails. It returns
// both sides' errors; a client error ends the exchange like a "*" cancel.
func runExchange(t testing.TB, c Client, s Server) (clientErr, serverErr error) {
	t.Helper()
	_, resp, err := c.Start()
	if err != nil {
		return err, nil
	}
	if resp == nil {
		resp = []byte(nil)
	}
	for i := 0; i < maxTestRounds; i++ {
		chal, done, err := s.Next(resp)
		if err != nil {
			return nil, err
		}
		if done {
			return nil, nil
		}
		resp, err = c.Next(chal)
		if err != nil {
			return err, nil
		}
		if resp == nil {
			// go-smtp ends its loop on a nil response; an empty answer
			// must be []byte{}.
			resp = []byte{}
		}
	}
	t.Fatalf("exchange did not finish in %d rounds", maxTestRounds)
	return nil, nil
}

// bench wraps f as a sub-benchmark body that reports allocations.
func bench(f func()) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f()
		}
	}
}
