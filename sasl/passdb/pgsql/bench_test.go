package pgsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the naive baseline

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storecore"
	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
)

// benchUsers are the benchmark's users: SCRAM-SHA-256 keys (the server
// does no PBKDF2: two HMACs and a hash) and bcrypt at passdb's default
// cost 10 (SHA512-CRYPT is not verifiable by passdb yet).
var benchUsers = sync.OnceValue(func() map[string]string {
	scram, err := passdb.Hash(passdb.SchemeSCRAMSHA256, storetest.Password)
	if err != nil {
		panic(err)
	}
	bcrypt, err := passdb.Hash(passdb.SchemeBLFCrypt, storetest.Password)
	if err != nil {
		panic(err)
	}
	return map[string]string{"scram": scram, "bcrypt": bcrypt}
})

// naiveStore is a Store whose lookups go through fetch instead of the
// pool and the prepared statement.
func naiveStore(b *testing.B, fetch storecore.Fetcher) *Store {
	s := &Store{}
	var err error
	s.core, err = storecore.New(storecore.Options{Name: "pgsql", DummyPassword: benchUsers()["bcrypt"], Describe: describe}, fetch)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkLogins: full logins (the SASL exchange in memory, the lookup
// over loopback) from 1, 8 and 64 goroutines, through the passwd-file,
// the pooled store, database/sql with its defaults (pgx's stdlib driver,
// a query string per lookup), and a connection per lookup.
//
//	go test -run '^$' -bench Logins ./sasl/passdb/pgsql/
func BenchmarkLogins(b *testing.B) {
	s := needPG(b)
	users := benchUsers()
	tbl := s.table(b, users)
	query := "SELECT password FROM " + tbl + " WHERE username = $1"

	var file strings.Builder
	for u, f := range users {
		fmt.Fprintf(&file, "%s:%s\n", u, f)
	}
	db, err := passdb.Parse(strings.NewReader(file.String()))
	if err != nil {
		b.Fatal(err)
	}
	pool := newStore(b, s, Config{Query: query, DummyPassword: users["bcrypt"]})

	sqlDB, err := sql.Open("pgx", s.connString())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sqlDB.Close() })
	naiveSQL := naiveStore(b, func(ctx context.Context, user string) (*storecore.Record, error) {
		var pw sql.NullString
		err := sqlDB.QueryRowContext(ctx, query, user).Scan(&pw)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, err
		}
		return &storecore.Record{Fields: []string{pw.String}}, nil
	})
	connect := naiveStore(b, func(ctx context.Context, user string) (*storecore.Record, error) {
		c, err := pgx.Connect(ctx, s.connString())
		if err != nil {
			return nil, err
		}
		defer c.Close(context.Background())
		var pw *string
		err = c.QueryRow(ctx, query, user).Scan(&pw)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, err
		}
		if pw == nil {
			return &storecore.Record{}, nil
		}
		return &storecore.Record{Fields: []string{*pw}}, nil
	})

	for _, be := range []struct {
		name string
		st   storetest.Store
	}{{"passwd-file", db}, {"pgsql-pool", pool}, {"database-sql", naiveSQL}, {"connect-per-lookup", connect}} {
		cfg := storetest.ServerConfig(be.st)
		for _, m := range []struct{ mech, user string }{{"SCRAM-SHA-256", "scram"}, {"PLAIN", "bcrypt"}} {
			for _, conc := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("backend=%s/mech=%s/conc=%d", be.name, m.mech, conc), func(b *testing.B) {
					storetest.BenchLogins(b, cfg, m.mech, m.user, conc)
				})
			}
		}
	}
}

// BenchmarkLookup is the lookup alone (no SASL, no hashing): the round trip
// and the pool, from 1 and 64 goroutines.
func BenchmarkLookup(b *testing.B) {
	s := needPG(b)
	tbl := s.table(b, benchUsers())
	pool := newStore(b, s, Config{Query: "SELECT password FROM " + tbl + " WHERE username = $1"})
	ctx := context.Background()
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("backend=pgsql-pool/conc=%d", conc), func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(max(1, conc/2)) // RunParallel runs GOMAXPROCS×p goroutines (2 cores)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := pool.LookupSCRAM(ctx, sasl.SCRAMSHA256, "scram"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
