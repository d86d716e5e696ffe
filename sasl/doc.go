// Package sasl implements SASL (RFC 4422) for mail sessions: the client and
// server sides of the password, token and external mechanisms, the choice of
// mechanism under a security policy, and the exchange over IMAP, POP3 and
// SMTP command lines.
//
// Clients and servers are emersion/go-sasl's Client and Server, so they drop
// into go-imap v2 and go-smtp with no glue.
package sasl
