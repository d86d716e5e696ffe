package ldap_test

import (
	"context"
	"log"
	"os"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb/ldap"
)

// A mail server takes its users from a directory: the service account
// reads userPassword and authPassword, and every mechanism those values
// can serve is offered. (Compile-only: it needs a directory.)
func Example() {
	st, err := ldap.New(context.Background(), ldap.Config{
		URL:          "ldaps://ldap.example.org",
		BindDN:       "cn=mailauth,dc=example,dc=org",
		BindPassword: os.Getenv("LDAP_BIND_PASSWORD"),
		BaseDN:       "ou=people,dc=example,dc=org",
		Filter:       "(&(objectClass=posixAccount)(uid=%u))",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: st, Plaintext: st, CRAMMD5: st, DigestMD5: st, SCRAM: st}
	_ = cfg
}

// With AuthBind the directory checks PLAIN and LOGIN passwords itself (a
// bind as the user), so the service account needs no read access to
// them; SCRAM still needs readable authPassword values.
func ExampleConfig_authBind() {
	st, err := ldap.New(context.Background(), ldap.Config{
		URL:          "ldap://ldap.example.org", // StartTLS, certificate verified
		BindDN:       "cn=mailauth,dc=example,dc=org",
		BindPassword: os.Getenv("LDAP_BIND_PASSWORD"),
		BaseDN:       "ou=people,dc=example,dc=org",
		Filter:       "(mail=%u)",
		AuthBind:     true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cfg := &sasl.ServerConfig{Passwords: st, Mechanisms: []string{"PLAIN", "LOGIN"}}
	_ = cfg
}
