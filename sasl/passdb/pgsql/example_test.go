package pgsql_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb/pgsql"
)

// A mail server takes its users from a table that holds Dovecot password
// fields ("{SCRAM-SHA-256}…", "{BLF-CRYPT}…", "{PLAIN}…"), and offers
// every mechanism the fields can serve. (Compile-only: it needs a
// database.)
func Example() {
	ctx := context.Background()
	st, err := pgsql.New(ctx, pgsql.Config{
		ConnString: "postgres://mail:secret@db.example.org/mail?sslmode=verify-full",
		Query:      "SELECT password, home FROM users WHERE username = $1 AND active",
		Timeout:    2 * time.Second,
		// An unknown user costs what a bcrypt user costs.
		DummyPassword: "{BLF-CRYPT}$2a$10$BC/Z3BoWNh81Pvyc6AfbYOE29HZZP/BsvTA5hGWgM38q1E7VikqEK",
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"), Passwords: st, Plaintext: st, CRAMMD5: st, DigestMD5: st, SCRAM: st}
	_ = cfg // one ServerConfig per listener
}

// A database outage is a temporary failure, never a wrong password.
func ExampleStore_VerifyPassword() {
	var st *pgsql.Store // from pgsql.New
	err := st.VerifyPassword(context.Background(), "alice", "password")
	switch {
	case err == nil:
		// logged in
	case errors.Is(err, sasl.ErrTemporaryFailure):
		// "NO [UNAVAILABLE]": try again later; the cause was logged
	default:
		// wrong password or unknown user: the same reply
	}
}
