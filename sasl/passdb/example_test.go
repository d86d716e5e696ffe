package passdb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

// Example reads a small Dovecot passwd-file, verifies passwords, and
// serves SASL logins from it.
func Example() {
	const users = `# user:password:uid:gid:(gecos):home:(shell):extra_fields
alice:{PLAIN}wonderland:1000:1000::/home/alice
bob:{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56:1001:1001::/home/bob
carol:{SCRAM-SHA-256}4096,/h2E01g+ClyvvhPYG6vblQ==,fNV9kMWo8MZXmAD/3BxgYFq3aGOxLhMeIDeUo6EW1MA=,LBl9PwlNUnDTgUbP8pYz94Q2f+CyM8XAEUEgQDKgg+A=
`
	db, err := passdb.Parse(strings.NewReader(users))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	fmt.Println("bob/secret:", db.VerifyPassword(ctx, "bob", "secret"))
	fmt.Println("bob/guess:", db.VerifyPassword(ctx, "bob", "guess"))
	fmt.Println("nobody is unknown:", errors.Is(db.VerifyPassword(ctx, "nobody", "x"), sasl.ErrUnknownUser))
	home, _ := db.Lookup("alice")
	fmt.Println("alice's home:", home.Home)

	// One DB serves every mechanism, each from the form it needs.
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: db, Plaintext: db, CRAMMD5: db, DigestMD5: db, SCRAM: db, InsecureAuth: true, Legacy: true}
	for _, login := range []struct{ mech, user, password string }{
		{"SCRAM-SHA-256", "carol", "secret"},
		{"CRAM-MD5", "bob", "secret"},
		{"CRAM-MD5", "carol", "secret"}, // SCRAM keys cannot answer CRAM-MD5
		{"PLAIN", "carol", "secret"},
	} {
		set := sasl.NewServerSet(cfg, nil)
		s, _ := set.NewServer(ctx, login.mech)
		c, _ := (&sasl.ClientConfig{Username: login.user, Password: login.password,
			Mechanisms: []string{login.mech}, InsecureAuth: true}).NewClient([]string{login.mech}, nil)
		_, serr := storetest.Exchange(c, s)
		fmt.Printf("%s %s: %v\n", login.mech, login.user, serr)
	}
	// Output:
	// bob/secret: <nil>
	// bob/guess: sasl: authentication failed: password does not match
	// nobody is unknown: true
	// alice's home: /home/alice
	// SCRAM-SHA-256 carol: <nil>
	// CRAM-MD5 bob: <nil>
	// CRAM-MD5 carol: sasl: authentication failed
	// PLAIN carol: <nil>
}

// ExampleHash writes password fields for a passwd-file.
func ExampleHash() {
	for _, scheme := range []string{"PLAIN", "CRAM-MD5", "NTLM"} {
		field, err := passdb.Hash(scheme, "secret")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("user:" + field)
	}
	field, _ := passdb.HashUser("DIGEST-MD5", "alice@example.org", "secret")
	fmt.Println("alice@example.org:" + field)
	field, _ = passdb.Hash("SSHA512", "secret") // salted: different every time
	p, _ := passdb.ParsePassword(field, "")
	fmt.Println(p, p.Verify("", "secret"))
	// Output:
	// user:{PLAIN}secret
	// user:{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56
	// user:{NTLM}878d8014606cda29677a44efa1353fc7
	// alice@example.org:{DIGEST-MD5}543e1aec5d3614f03141652d6ada51b2
	// {SSHA512} <nil>
}

// A Reloader serves logins from a passwd-file that an operator edits:
// call Reload on SIGHUP. A file that does not parse keeps the old users.
func ExampleNewReloader() {
	dir, err := os.MkdirTemp("", "passdb-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "users")
	if err := os.WriteFile(path, []byte("alice:{PLAIN}one\n"), 0o600); err != nil {
		panic(err)
	}
	r, err := passdb.NewReloader(path, passdb.Config{})
	if err != nil {
		panic(err)
	}
	cfg := &sasl.ServerConfig{Passwords: r} // r serves the current file
	ctx := context.Background()
	fmt.Println(cfg.Passwords.VerifyPassword(ctx, "alice", "one"))

	os.WriteFile(path, []byte("alice:{PLAIN}two\n"), 0o600)
	fmt.Println(r.Reload(), cfg.Passwords.VerifyPassword(ctx, "alice", "two"))

	os.WriteFile(path, []byte("alice:{NOSUCH}x\n"), 0o600)
	fmt.Println(r.Reload() != nil, cfg.Passwords.VerifyPassword(ctx, "alice", "two"))
	// Output:
	// <nil>
	// <nil> <nil>
	// true <nil>
}
