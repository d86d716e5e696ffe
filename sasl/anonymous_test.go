package sasl

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	gosasl "github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// anonTestConfig records the traces it is given.
func anonTestConfig(traces *[]string) *ServerConfig {
	return &ServerConfig{Anonymous: func(ctx context.Context, trace string) error {
		*traces = append(*traces, trace)
		return nil
	}}
}

func TestAnonymousRoundTrip(t *testing.T) {
	// RFC 4505, Section 4's example trace, a token, a maximal one, none.
	for _, trace := range []string{"sirhc", "user@example.org", strings.Repeat("ü", anonMaxTraceChars), ""} {
		t.Run(trace, func(t *testing.T) {
			var traces []string
			s := NewAnonymousServer(context.Background(), anonTestConfig(&traces))
			cerr, serr := runExchange(t, NewAnonymousClient(trace), s)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			id, ok := s.(IdentityServer).Identity()
			require.True(t, ok)
			assert.Equal(t, Identity{Mechanism: Anonymous, Anonymous: true}, id)

			// go-sasl's client against our server.
			s = NewAnonymousServer(context.Background(), anonTestConfig(&traces))
			cerr, serr = runExchange(t, gosasl.NewAnonymousClient(trace), s)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			assert.Equal(t, []string{trace, trace}, traces)

			// Our client against go-sasl's server.
			got := "unset"
			gs := gosasl.NewAnonymousServer(func(tr string) error { got = tr; return nil })
			cerr, serr = runExchange(t, NewAnonymousClient(trace), gs)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			assert.Equal(t, trace, got)
		})
	}
}

func TestAnonymousServerSteps(t *testing.T) {
	tooMany := []byte(strings.Repeat("a", anonMaxTraceChars+1))
	tooManyBytes := []byte(strings.Repeat("€", anonMaxTraceChars+1))
	tests := []struct {
		name  string
		steps []plainStep
	}{
		{"empty initial response", []plainStep{{resp: []byte{}, wantDone: true}}},
		{"no initial response", []plainStep{{resp: nil, wantChal: []byte{}}, {resp: []byte("sirhc"), wantDone: true}}},
		{"extra round after done", []plainStep{{resp: []byte("x"), wantDone: true}, {resp: []byte{}, wantErr: ErrUnexpectedClientResponse}}},
		{"response after failure", []plainStep{{resp: []byte("\xff"), wantErr: ErrMalformed}, {resp: []byte{}, wantErr: ErrUnexpectedClientResponse}}},
		{"too many characters", []plainStep{{resp: tooMany, wantErr: ErrTooLarge}}},
		{"too many bytes", []plainStep{{resp: tooManyBytes, wantErr: ErrTooLarge}}},
		{"not UTF-8", []plainStep{{resp: []byte("a\xc3"), wantErr: ErrMalformed}}},
		{"NUL", []plainStep{{resp: []byte("a\x00"), wantErr: ErrMalformed}}},
		{"CRLF", []plainStep{{resp: []byte("a\r\nfake log line"), wantErr: ErrMalformed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var traces []string
			plainRunSteps(t, NewAnonymousServer(nil, anonTestConfig(&traces)), tt.steps)
		})
	}
}

func TestAnonymousErrors(t *testing.T) {
	_, _, err := NewAnonymousServer(nil, &ServerConfig{Anonymous: func(ctx context.Context, trace string) error {
		return plainTestStoreErr
	}}).Next([]byte("x"))
	assert.Same(t, plainTestStoreErr, err)
	_, _, err = NewAnonymousServer(nil, nil).Next([]byte("x"))
	assert.ErrorIs(t, err, ErrUnsupportedMechanism)

	for _, tr := range []string{strings.Repeat("a", anonMaxTraceChars+1), "\xff", "a\nb"} {
		_, _, err := NewAnonymousClient(tr).Start()
		assert.Error(t, err)
		_, err = newAnonymousClientFor(&ClientConfig{Anonymous: true, Trace: tr}, nil, nil)
		assert.Error(t, err)
	}
	_, ir, err := NewAnonymousClient("").Start()
	require.NoError(t, err)
	assert.NotNil(t, ir)
}

func FuzzAnonymousServer(f *testing.F) {
	f.Add([]byte("sirhc"))
	f.Add([]byte{})
	f.Add([]byte(strings.Repeat("€", anonMaxTraceChars)))
	f.Add([]byte("a\xc3"))
	var traces []string
	cfg := anonTestConfig(&traces)
	f.Fuzz(func(t *testing.T, resp []byte) {
		if resp == nil {
			resp = []byte{} // nil would mean "no initial response"
		}
		traces = traces[:0]
		s := NewAnonymousServer(context.Background(), cfg)
		_, done, err := s.Next(resp)
		if err == nil {
			require.True(t, done)
			require.Equal(t, []string{string(resp)}, traces)
			require.True(t, utf8.Valid(resp))
			require.LessOrEqual(t, utf8.RuneCount(resp), anonMaxTraceChars)
		} else {
			require.False(t, done)
			require.Empty(t, traces)
			require.True(t, strings.HasPrefix(err.Error(), "sasl: "), err.Error())
		}
		_, _, err = s.Next(resp)
		require.ErrorIs(t, err, ErrUnexpectedClientResponse)
	})
}
