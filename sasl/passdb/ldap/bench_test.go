package ldap

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

// ldapBenchUsers are the benchmark's users: SCRAM-SHA-256 keys in
// authPassword (RFC 5803), and bcrypt at passdb's default cost 10 as
// {CRYPT}, which slapd verifies too (authentication bind). SHA512-CRYPT
// is not verifiable by passdb yet.
var ldapBenchUsers = sync.OnceValue(func() []storetest.User {
	scram, err := passdb.Hash(passdb.SchemeSCRAMSHA256, storetest.Password)
	if err != nil {
		panic(err)
	}
	bcrypt, err := passdb.Hash(passdb.SchemeBLFCrypt, storetest.Password)
	if err != nil {
		panic(err)
	}
	return []storetest.User{
		{Name: "bench-scram", Field: "authPassword:" + scram},
		{Name: "bench-bcrypt", Field: "{CRYPT}" + strings.TrimPrefix(bcrypt, "{BLF-CRYPT}")},
	}
})

// BenchmarkLogins: full logins (the SASL exchange in memory, the lookup
// over loopback StartTLS) from 1, 8 and 64 goroutines, through the
// passwd-file, a search, and an authentication bind (PLAIN only: slapd
// runs the bcrypt).
//
//	go test -run '^$' -bench Logins ./sasl/passdb/ldap/
func BenchmarkLogins(b *testing.B) {
	s := needLDAP(b)
	users := ldapBenchUsers()
	var file strings.Builder
	for _, u := range users {
		f := strings.TrimPrefix(u.Field, "authPassword:")
		fmt.Fprintf(&file, "%s:%s\n", u.Name, strings.Replace(f, "{CRYPT}", "{BLF-CRYPT}", 1))
	}
	db, err := passdb.Parse(strings.NewReader(file.String()))
	if err != nil {
		b.Fatal(err)
	}
	dummy := "{CRYPT}" + strings.TrimPrefix(users[1].Field, "{CRYPT}")
	cfg := baseConfig(s)
	cfg.DummyPassword = dummy
	search := newStore(b, cfg)
	cfg.AuthBind = true
	bind := newStore(b, cfg)
	for _, be := range []struct {
		name  string
		st    storetest.Store
		mechs []string
	}{
		{"passwd-file", db, []string{"SCRAM-SHA-256", "PLAIN"}},
		{"ldap-search", search, []string{"SCRAM-SHA-256", "PLAIN"}},
		{"ldap-authbind", bind, []string{"PLAIN"}},
	} {
		scfg := storetest.ServerConfig(be.st)
		for _, mech := range be.mechs {
			user := "bench-scram"
			if mech == "PLAIN" {
				user = "bench-bcrypt"
			}
			for _, conc := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("backend=%s/mech=%s/conc=%d", be.name, mech, conc), func(b *testing.B) {
					storetest.BenchLogins(b, scfg, mech, user, conc)
				})
			}
		}
	}
}
