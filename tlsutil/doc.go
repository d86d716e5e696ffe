// Package tlsutil holds the TLS pieces a mail server or client needs around
// authentication: hardened configs, certificates that reload without a
// restart, implicit-TLS listeners, the TLS step of STARTTLS/STLS on a
// net/textproto session, on both sides, with the NO STARTTLS defences at the
// plaintext boundary, and channel-binding data for SASL -PLUS mechanisms. It
// imports only the standard library and knows nothing of SASL or of the
// mail protocols' commands: the greeting, capability and STARTTLS command
// exchanges of IMAP, POP3 and SMTP are package sasl's (sasl.NegotiateClient).
//
// For most servers: load the certificate with [NewCertReloader], build the
// config with [NewServerConfig], and either listen for implicit TLS (993,
// 995, 465; preferred by [RFC 8314]) with [Listen]/[NewListener], or upgrade
// a plaintext session (143, 110, 587) with [StartTLSServer] after checking
// [Session.CheckStartTLS]. Hand [ServedCertificate] and the connection
// state to the SASL layer for channel binding.
//
// For most clients: build the config with [NewClientConfig] and the host
// name the user configured, and secure a freshly dialed connection with
// sasl.NegotiateClient, which sends the protocol's commands and calls
// [ClientHandshake] (implicit TLS) or [StartTLSClient] (after the STARTTLS
// go-ahead) here. [StartTLSClient] refuses plaintext buffered behind the
// go-ahead ([ErrResponseInjection]); a failed handshake or certificate
// check is [ErrHandshakeFailed].
//
// # NO STARTTLS checklist (server side)
//
// STARTTLS is where mail TLS breaks (Poddebniak et al., "Why TLS is better
// without STARTTLS", USENIX Security 2021). What this package enforces,
// numbered as in the project's checklist:
//
//	S1 command injection  StartTLSServer refuses any byte buffered after the
//	                      command (ErrPlaintextAfterStartTLS; CVE-2011-0411,
//	                      CVE-2021-33515); bytes arriving after the go-ahead
//	                      line fail the handshake (ErrNotTLS), never run.
//	S2 every layer        tc.R and every extra reader layer (Buffered).
//	S3 order              checked before the go-ahead line is written.
//	S4 reset              StartTLSServer returns a new textproto.Conn; the
//	                      caller drops all pre-TLS state (documented).
//	S5 session fixation   Session.CheckStartTLS: ErrStartTLSAfterAuth.
//	S6 double STARTTLS    Session.CheckStartTLS: ErrTLSActive.
//	S8 failed handshake   closes the connection; no plaintext continuation.
//	S9 deadlines          every handshake, and the STARTTLS go-ahead write,
//	                      is bounded (context deadline or
//	                      DefaultHandshakeTimeout; ListenerOptions).
//	S10 implicit TLS      Listener.Accept returns only handshaken
//	                      connections, so no greeting precedes TLS; plaintext
//	                      first bytes close the connection with no reply.
//	S11 ALPN              with NextProtos set, a client offering only other
//	                      protocols fails the handshake (crypto/tls).
//
// S7 (no plaintext credentials before TLS) is the SASL layer's and the
// protocol server's: offer no PLAIN/LOGIN/USER/APOP until [Session].TLS.
//
// # Configuration
//
// [NewServerConfig] and [NewClientConfig] set every security field
// explicitly, because crypto/tls defaults follow the go line of the main
// module (GODEBUG), which a library cannot control: TLS 1.2 minimum
// ([RFC 8997]), Mozilla "intermediate" TLS 1.2 suites (ECDHE with AES-GCM
// or ChaCha20-Poly1305 only), the groups X25519MLKEM768, X25519 and P-256,
// session resumption on. Clients verify the configured host name ([RFC
// 7817]); InsecureSkipVerify is never set.
//
// # Certificates
//
// [CertReloader] serves a PEM pair from files and reloads it when the files
// change; a new pair that fails to load (or is expired) is reported and the
// old one stays. [SelfSigned], [NewCA] and [CA.Issue] make ECDSA P-256 (or
// RSA, Ed25519) certificates for development and tests, including the
// unknown-root, wrong-host and expired cases.
//
// # Channel binding
//
// [ChannelBinding] returns tls-unique ([RFC 5929], TLS 1.2 only),
// tls-exporter ([RFC 9266]; TLS 1.3, and TLS 1.2 with extended master
// secret) and tls-server-end-point (RFC 5929, Section 4; any version, hashed
// with the certificate's signature hash). A server's ConnectionState does
// not say which certificate it sent, so connections made by [Server],
// [Listener] and [StartTLSServer] record it: [ServedCertificate],
// [ServerChannelBinding]. A resumed session reports the certificate of its
// original handshake, which is what the client holds.
//
// # Security
//
// Invariants under load and at the seams (issue 8; each has a test):
//   - [Listener] never hands out a connection from Accept once Close has
//     run.
//   - Stalled handshakes cannot lock a [Listener]: at MaxPendingHandshakes
//     the oldest handshake still in progress gives way to a new connection,
//     so 1,024 clients that never send a ClientHello delay a real one by
//     milliseconds, not by HandshakeTimeout.
//   - A server's tls-server-end-point is the certificate it served
//     ([ServerChannelBinding]), never the client's; tls-exporter is RFC
//     9266's (zero-length context), and [ExporterWithoutContext] gives the
//     TLS 1.2 form some clients send, of the same session.
//
// # Concurrency
//
// Configs must not be modified after first use. [Listener], [CertReloader]
// and [ServedCertificate] are safe for concurrent use. [StartTLSServer] runs
// on the session's goroutine.
//
// # Errors
//
// Errors are sentinel values for errors.Is. Server side:
// [ErrPlaintextAfterStartTLS], [ErrNotTLS], [ErrTLSActive],
// [ErrStartTLSAfterAuth]. Client side: [ErrResponseInjection],
// [ErrHandshakeFailed], [ErrInvalidConfig]. Both: [ErrCertificateExpired],
// [ErrChannelBindingUnavailable]. A handshake that runs into its deadline
// wraps context.DeadlineExceeded.
//
// [RFC 8314]: https://www.rfc-editor.org/rfc/rfc8314
// [RFC 8997]: https://www.rfc-editor.org/rfc/rfc8997
// [RFC 7817]: https://www.rfc-editor.org/rfc/rfc7817
// [RFC 5929]: https://www.rfc-editor.org/rfc/rfc5929
// [RFC 9266]: https://www.rfc-editor.org/rfc/rfc9266
package tlsutil
