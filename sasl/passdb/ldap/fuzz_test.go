package ldap

import (
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

// FuzzExpandFilter: whatever the user name, the expanded filter compiles
// to exactly one equality match whose value is the name, byte for byte:
// no name can add a wildcard, a clause or a parenthesis.
func FuzzExpandFilter(f *testing.F) {
	for _, s := range storetest.Injections {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := goldap.CompileFilter(expandFilter("(uid=%u)", name))
		if err != nil {
			t.Fatalf("does not compile: %v", err)
		}
		if p.Tag != goldap.FilterEqualityMatch || len(p.Children) != 2 {
			t.Fatalf("not one equality match: tag %d, %d children", p.Tag, len(p.Children))
		}
		if got := p.Children[1].Data.String(); got != name {
			t.Fatalf("value %q, want %q", got, name)
		}
	})
}

// FuzzAuthPasswordField: any authPassword value is skipped or becomes a
// field passdb parses or refuses with an error, never a panic, and
// never longer than the bound.
func FuzzAuthPasswordField(f *testing.F) {
	f.Add("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy")
	f.Add("SCRAM-SHA-1 $ 4096:QSXCR+Q6sek8bf92 $ 6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=")
	f.Add("MD5$c2FsdA==$aGFzaA==")
	f.Fuzz(func(t *testing.T, v string) {
		field, ok := authPasswordField(v)
		if !ok {
			return
		}
		if len(field) > maxAuthPasswordValue+2 || !strings.HasPrefix(field, "{SCRAM-SHA-") {
			t.Fatalf("field %q", field)
		}
		passdb.ParsePassword(field, "")
	})
}
