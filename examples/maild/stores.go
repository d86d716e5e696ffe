package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
	"github.com/go-mailauth/mailauth/sasl/passdb/ldap"
	"github.com/go-mailauth/mailauth/sasl/passdb/pgsql"
)

// userStore is what maild needs of a credential store; passdb.DB,
// pgsql.Store and ldap.Store all have it, the NT-hash lookup of
// ntlm.NTHashLookup included.
type userStore interface {
	sasl.PasswordVerifier
	sasl.PlaintextLookup
	sasl.CRAMMD5Lookup
	sasl.DigestMD5Lookup
	sasl.SCRAMLookup
	LookupNTHash(ctx context.Context, username string) ([16]byte, error)
}

// openStore opens the store named by -passwd (a file) or -passdb (a URL):
//
//	postgres://user:pw@host/db?sslmode=verify-full   PostgreSQL; -passdb-query is the password query
//	ldaps://host/<base DN>?binddn=<DN>&filter=(uid=%25u)[&authbind=1][&ca=<PEM file>]
//	ldap://host/<base DN>?...                        the same over StartTLS ([&plaintext=1]: none)
//
// The LDAP service account's password comes from $MAILD_LDAP_BINDPW (or
// bindpw= in the URL). It returns the store, a description for the
// console (without passwords) and a closer.
func openStore(passwd, passdbURL, query string, scramSecret []byte, logger *slog.Logger) (userStore, string, func(), error) {
	none := func() {}
	switch {
	case passwd != "" && passdbURL != "":
		return nil, "", none, errors.New("-passwd and -passdb exclude each other")
	case passwd != "":
		db, err := passdb.Config{SCRAMSecret: scramSecret}.Open(passwd)
		if err != nil {
			return nil, "", none, err
		}
		return db, fmt.Sprintf("%d users from %s", db.Len(), passwd), none, nil
	case passdbURL == "":
		return nil, "", none, nil
	}
	u, err := url.Parse(passdbURL)
	if err != nil {
		return nil, "", none, errors.New("-passdb is not a URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch u.Scheme {
	case "postgres", "postgresql":
		st, err := pgsql.New(ctx, pgsql.Config{ConnString: passdbURL, Query: query, Logger: logger,
			SCRAMIterations: demoIterations, DigestRealm: "localhost", SCRAMSecret: scramSecret})
		if err != nil {
			return nil, "", none, err
		}
		return st, "users from PostgreSQL at " + u.Redacted(), st.Close, nil
	case "ldap", "ldaps":
		q := u.Query()
		cfg := ldap.Config{
			URL:          u.Scheme + "://" + u.Host,
			BaseDN:       strings.TrimPrefix(u.Path, "/"),
			BindDN:       q.Get("binddn"),
			BindPassword: os.Getenv("MAILD_LDAP_BINDPW"),
			Filter:       q.Get("filter"),
			AuthBind:     q.Get("authbind") == "1",
			// Cleartext to the directory only when asked for.
			InsecurePlaintext: q.Get("plaintext") == "1",
			AnonymousSearch:   q.Get("binddn") == "",
			SCRAMIterations:   demoIterations,
			DigestRealm:       "localhost",
			Logger:            logger,
			SCRAMSecret:       scramSecret,
		}
		if pw := q.Get("bindpw"); pw != "" {
			cfg.BindPassword = pw
		}
		if cfg.Filter == "" {
			cfg.Filter = "(uid=%u)"
		}
		if ca := q.Get("ca"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, "", none, err
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, "", none, fmt.Errorf("%s: no PEM certificates", ca)
			}
			cfg.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		}
		st, err := ldap.New(ctx, cfg)
		if err != nil {
			return nil, "", none, err
		}
		return st, "users from LDAP at " + cfg.URL + "/" + cfg.BaseDN, st.Close, nil
	}
	return nil, "", none, fmt.Errorf("-passdb: scheme %q is not postgres, ldap or ldaps", u.Scheme)
}
