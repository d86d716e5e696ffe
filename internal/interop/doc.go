//go:build interop

// Package interop holds mailauth's interoperability tests against real
// peers: Dovecot 2.3, GNU SASL (gsasl), Cyrus SASL, curl, python3
// imaplib/poplib/smtplib, fetchmail and openssl s_client, and for Kerberos
// (kerberos_test.go) an MIT KDC of their own with dovecot-gssapi, curl,
// gsasl, fetchmail and Cyrus's GSSAPI plugin. The tests set up every peer
// themselves on 127.0.0.1, in a temporary directory, and print a matrix of
// mechanism × peer × direction at the end.
//
// Every file carries the build tag "interop"; run the suite as root with
//
//	go test -tags interop -count=1 -v ./internal/interop/...
//
// A peer that is not installed turns its cases into SKIP; a case whose peer
// cannot do something by design is XFAIL with the reason.
package interop
