// Package sasl implements SASL (RFC 4422) for mail sessions: the client and
// server sides of the password, token and external mechanisms, the choice of
// mechanism under a security policy, the exchange over IMAP, POP3 and SMTP
// command lines, and the mail-protocol side of a client connection:
// greeting, capabilities and STARTTLS.
//
// For most servers: describe where credentials come from in one
// [ServerConfig] per listener, make a [ServerSet] per connection with
// [NewServerSet], advertise [ServerSet.Mechanisms], and run the Server that
// [ServerSet.NewServer] returns for the mechanism the client picked. After
// success, [ServerSet.Identity] says who logged in. For most clients: put the
// credentials in a [ClientConfig] and call [ClientConfig.NewClient] with the
// mechanisms the server advertised; it picks the strongest one that is safe
// on the connection, and [ChosenMechanism] tells which.
//
// Mechanisms from other packages (ntlm's NTLM, kpop's GSSAPI) and a
// caller's own are values that carry their credentials: a
// [ServerMechanism] in [ServerConfig.Extra], a [ClientMechanism] in
// [ClientConfig.Extra]. They are offered, ordered by the strength their
// [Security] gives them, refused without TLS when they need it, refused when
// not offered, given the Authorize policy and recorded as the Identity
// exactly as the built-in ones are, which take the same path. There is no
// global registry: importing a package never changes what a server offers.
//
// Clients and servers are emersion/go-sasl's Client and Server (type
// aliases), so a Client goes to go-imap v2's imapclient.Client.Authenticate
// and go-smtp's Client.Auth as it is; such a caller runs the exchange
// itself, so it must check [Finished] after the server reports success (see
// [FinishedClient]). A go-imap or go-smtp server needs glue around the
// Servers (a set that follows the connection's TLS, error replies, the
// identity): the packages examples/goimap and examples/gosmtp are that
// glue, supported, with an Authenticator to embed in a session. Servers
// and clients on their own net/textproto loops run the exchange with
// [Exchange]: [ParseAuthCommand] parses "AUTHENTICATE mech [ir]" and "AUTH
// mech [ir]", [ReadLine] reads command lines with a bound, [Exchange.Serve]
// and [Exchange.WriteResult] run the server side and send the reply the
// outcome calls for ([ReplyFor], the one reply table), and
// [Exchange.Authenticate] runs the client side. Both sides take a
// context.Context whose end interrupts the connection, and errors that
// leave the connection out of step wrap [ErrOutOfStep].
//
// # Client connections
//
// A client secures a freshly dialed connection with [NegotiateClient]: it
// starts TLS as [ClientOptions] asks, reads the greeting, and reads the
// capabilities inside TLS, whose [Capabilities.AuthMechanisms] are what
// [ClientConfig.NewClient] chooses from. Prefer [ImplicitTLS] (993, 995,
// 465; RFC 8314, Section 3): there is no plaintext phase for an attacker to
// strip, inject into or tamper with. [RequireSTARTTLS], the zero
// [ClientMode], is for servers that offer nothing else; it never falls back
// to plaintext and discards everything learned before TLS. [StartTLSClient]
// is the single upgrade step, and [IMAPCapabilities], [POP3Capabilities]
// and [SMTPEhlo] the capability commands, for callers that drive the
// protocol themselves. The client side's NO STARTTLS defences (Poddebniak
// et al., USENIX Security 2021: stripping, refusals, PREAUTH, response
// injection, capability reset; checklist C1–C14) are listed in their docs
// and errors ([ErrStartTLSUnavailable], [ErrStartTLSRefused], [ErrPreAuth],
// [ErrBadGreeting], tlsutil.ErrResponseInjection). The TLS itself (configs,
// the handshake, the plaintext checks at the boundary, channel-binding data)
// is package tlsutil's.
//
// # Mechanisms
//
//	mechanism             RFC                  server needs                          security
//	SCRAM-SHA-{1,256,512} 5802, 7677           SCRAMLookup (StoredKey, ServerKey)    mutual
//	SCRAM-*-PLUS          5802 §6, 5929, 9266  SCRAMLookup + TLS                     mutual, channel binding
//	EXTERNAL              4422 App. A          ExternalVerifier                      outside SASL (TLS cert)
//	OAUTHBEARER           7628                 TokenVerifier                         bearer token: TLS only
//	XOAUTH2               Google, Microsoft    TokenVerifier                         bearer token: TLS only
//	PLAIN                 4616                 PasswordVerifier, Plaintext or SCRAM  password in clear: TLS only
//	LOGIN                 draft (expired)      PasswordVerifier, Plaintext or SCRAM  password in clear: TLS only, legacy
//	CRAM-MD5              2195                 CRAMMD5Lookup (midstates) or Plaintext offline-attackable: TLS only, legacy
//	DIGEST-MD5            2831 (Historic)      DigestMD5Lookup or Plaintext          offline-attackable: TLS only, legacy
//	ANONYMOUS             4505                 ServerConfig.Anonymous                none
//
// The table is also available at run time: [Mechanisms] and
// [MechanismByName] return each mechanism's [Security] properties.
//
// # Security
//
// The invariants held in code at the seams between components:
//
//   - A client of a mutual mechanism never reports success before it has
//     verified the server: [Exchange.Authenticate] refuses a server's OK
//     with [ErrServerNotVerified] until the client is [Finished].
//   - A server binds channels only to what it knows of its own side of TLS:
//     tls-server-end-point is the certificate it served, never the peer's
//     ([ConnState] knows its side; a [ServerSet] always takes the server's).
//   - The identity a mechanism reports is exactly the one whose credentials
//     it verified; the [ServerSet] alone applies Authorize and records it,
//     and an empty identity fails closed.
//   - No password-based mechanism, SCRAM without -PLUS included (RFC 5802,
//     Section 9), is offered or accepted before TLS unless InsecureAuth is
//     set; EXTERNAL needs a TLS client certificate; ANONYMOUS yields an
//     [Identity] with Anonymous set and no user name.
//   - Legacy mechanisms (LOGIN, CRAM-MD5, DIGEST-MD5) are offered only when
//     the configuration asks ([ServerConfig.Legacy]), and a store that is a
//     [CredentialReporter] limits the offer to what it holds.
//   - Unknown user, wrong password and a stored credential the mechanism
//     cannot use give the peer the same reply after the same work: SCRAM
//     makes the fake salt for every user, PLAIN/LOGIN from SCRAM keys run
//     the dummy PBKDF2 with the strongest hash the store holds and
//     SCRAMIterations, and ErrNoCredentials is answered as ErrAuthFailed.
//   - SCRAM is offered only with [ServerConfig.SCRAMSecret] set (the same
//     on every replica), which keys the fake salt of an unknown user, so
//     that it is as stable as a real one across restarts and replicas;
//     sasl/passdb derives keys for PLAIN users only with its own secret.
//   - A TokenVerifier that accepts a token without naming its user fails
//     the exchange like an invalid token; the client's a=/user= is never
//     taken instead.
//   - PLAIN and LOGIN checked against SCRAM keys prepare the user name as
//     SCRAM prepares n=, and report the prepared name, whose keys they
//     checked. SASLprep maps U+200B to nothing (libidn, in GNU SASL: to a
//     space), the one known difference in keys from gsasl.
//   - On TLS 1.2 a -PLUS server accepts tls-exporter with RFC 9266's
//     zero-length context and with none (xdg-go/scram's form): both are of
//     this session's master secret. Clients send the RFC 9266 form.
//   - A [Throttle] as [ServerConfig.Limiter] delays failures per client
//     address (IPv4 /32, IPv6 /64) in bounded memory; a failure at one
//     address never delays another.
//
// A server never needs a plaintext password where the mechanism allows a
// derived credential: SCRAM verifies from StoredKey and ServerKey, CRAM-MD5
// from HMAC-MD5 midstates, PLAIN and LOGIN from any verifier (including the
// SCRAM keys). PLAIN and LOGIN verified from SCRAM keys look for the
// user's SHA-512, then SHA-256, then SHA-1 keys and use the first found; a
// store with a HoldsCredentials method is asked only for the hashes it
// holds, so a store of SHA-256 keys costs one lookup per login. Mechanisms
// whose Security has NeedsTLS are neither offered by
// a ServerSet nor chosen by a ClientConfig on a connection without TLS,
// unless the InsecureAuth field is set. Secrets are compared in constant
// time on fixed-length values, randomness comes only from crypto/rand, and
// an unknown user costs the same work and gets the same error as a wrong
// password. Every length, count and round read from the peer is bounded.
//
// # Concurrency
//
// ServerConfig and ClientConfig may be shared by many goroutines and must
// not be modified after first use. Credential lookups must be safe for
// concurrent use. A ServerSet belongs to one connection, and every Client
// and Server is single-use and not safe for concurrent use.
//
// # Errors
//
// Mechanism errors wrap the sentinel values ([ErrAuthFailed],
// [ErrAuthzFailed], [ErrMalformed], [ErrTooLarge], [ErrNeedsTLS],
// [ErrUnexpectedClientResponse], ...), so callers test them with errors.Is.
// Errors returned by the caller's own lookups and callbacks are passed
// through unchanged, so go-smtp still sees an *smtp.SMTPError and go-imap an
// *imap.Error. Error text never contains a username, password or secret.
package sasl
