package ntlm_test

import (
	"fmt"

	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl/passdb"
)

// passdb's stores give NT hashes by method set: passdb does not import ntlm.
var (
	_ ntlm.NTHashLookup = (*passdb.DB)(nil)
	_ ntlm.NTHashLookup = (*passdb.Reloader)(nil)
)

// The NT hash of a password, as Dovecot's {NTLM} scheme stores it
// ([MS-NLMP] 4.2.2.1.2).
func ExampleHash() {
	h := ntlm.Hash("Password")
	fmt.Printf("{NTLM}%x\n", h)
	// Output:
	// {NTLM}a4f49c406510bdcab6824ee7c30fd852
}
