package sasl

import (
	"strings"
	"testing"
)

// FuzzAnonTraceOK: the client's copy-free check agrees with the server's
// anonCheckTrace on every input.
func FuzzAnonTraceOK(f *testing.F) {
	for _, s := range []string{"", "tim@example.org", "a\x00b", "a\rb", "line\n", "\xff", "\xe2\x82", "€uro",
		strings.Repeat("é", anonMaxTraceChars), strings.Repeat("é", anonMaxTraceChars+1), strings.Repeat("x", anonMaxTraceBytes+1), "\uFFFD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := anonTraceOK(s), anonCheckTrace([]byte(s)) == nil; got != want {
			t.Fatalf("anonTraceOK(%q) = %v, anonCheckTrace says %v", s, got, want)
		}
	})
}
