// Package kpop implements Kerberos V5 for mail sessions, on both sides, on
// top of github.com/jcmturner/gokrb5/v8: the SASL GSSAPI mechanism
// ([RFC 4752]) for IMAP AUTHENTICATE, POP3 AUTH and SMTP AUTH, and KPOP,
// POP3 on port 1109 after a krb5_sendauth handshake with application
// version "KPOPV1.0".
//
// For most uses a server makes one [Acceptor] from its keytab, service host
// and realm, and asks it for a GSSAPI server per connection
// ([Acceptor.NewGSSAPIServer]); a client logs in once
// ([NewPasswordCredentials], [NewKeytabCredentials] or
// [NewCCacheCredentials]) and makes a GSSAPI client per connection
// ([NewGSSAPIClient]).
//
// # Security
//
// GSSAPI here is always mutual: the client asks for an AP-REP and reports
// success only after it verified it. The acceptor accepts only tickets for
// its own service principal (service/Host@Realm), not any key its keytab
// holds; it refuses replayed authenticators (its own bounded cache),
// authenticators outside the clock skew, and every enctype but AES. No
// security layer is negotiated: run the session inside TLS if it needs
// protection after the login.
//
// [RFC 4752]: https://www.rfc-editor.org/rfc/rfc4752
package kpop
