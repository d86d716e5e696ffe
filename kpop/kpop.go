// Package kpop implements Kerberos V5 for mail sessions, on both sides, on
// top of github.com/jcmturner/gokrb5/v8: the SASL GSSAPI mechanism
// ([RFC 4752]) for IMAP AUTHENTICATE, POP3 AUTH and SMTP AUTH, and KPOP,
// POP3 on port 1109 after a krb5_sendauth handshake with application
// version "KPOPV1.0".
//
// For most uses a server makes one [Acceptor] from its keytab, service host
// and realm, and puts [Acceptor.ServerMechanism] for its protocol in
// sasl.ServerConfig.Extra (or asks for a server per connection with
// [Acceptor.NewGSSAPIServer]); a client logs in once
// ([NewPasswordCredentials], [NewKeytabCredentials] or
// [NewCCacheCredentials]) and puts [ClientConfig.ClientMechanism] in
// sasl.ClientConfig.Extra (or makes a client with [NewGSSAPIClient]).
// A KPOP server calls [Acceptor.ServeKPOP] on each connection to port
// 1109; a KPOP client calls [LoginKPOP].
//
//	scheme   RFC / source                       client  server  Security
//	GSSAPI   RFC 4752, RFC 4121, RFC 4120       yes     yes     Mutual
//	KPOP     krb5_sendauth "KPOPV1.0" (MIT)     yes     yes     Mutual, Legacy
//
// The service principals are imap/Host, pop/Host (POP3 and KPOP) and
// smtp/Host in the server's realm.
//
// # Security
//
// Both schemes are mutual: the client asks for an AP-REP and reports
// success (sasl.FinishedClient.Finished, [SendAuth]) only after it has
// verified it. The acceptor:
//
//   - accepts only tickets for its own service principal, service/Host@Realm,
//     not any key its keytab holds;
//   - refuses authenticators it has seen (its own bounded replay cache, not
//     gokrb5's process-wide one) and authenticators outside the clock skew;
//   - accepts only the AES enctypes (RFC 3962, RFC 8009), for the ticket,
//     the session key and subkeys;
//   - requires the GSS-API 0x8003 checksum without channel bindings for
//     GSSAPI, and checks the sequence numbers, direction and checksums of
//     the RFC 4121 Wrap tokens of the security-layer negotiation;
//   - ignores authorization data, the PAC that MIT 1.20 KDCs put in every
//     ticket included: the login rests on the ticket's client name, mapped
//     to a local user by [ServerConfig].LocalUser (by default: one
//     component, in the server's realm).
//
// No security layer is negotiated (only "none" is offered or chosen): run
// the mail session inside TLS if it needs protection after the login. A
// ticket is of no use to an eavesdropper without its session key, so
// neither scheme needs TLS for the login itself.
//
// # Errors
//
// Refusals wrap sasl.ErrAuthFailed and one of this package's sentinels
// ([ErrWrongService], [ErrReplay], [ErrClockSkew], [ErrEnctype],
// [ErrBadChecksum], [ErrSequence], ...), so errors.Is tells them apart;
// [ErrReplayCacheFull] wraps sasl.ErrTemporaryFailure instead. Tokens that
// do not parse wrap sasl.ErrMalformed or sasl.ErrTooLarge. KPOP servers
// send refusals to the client as KRB-ERRORs with the matching Kerberos
// error code. No error text of this package names a principal; a peer's
// KRB-ERROR e-text is quoted (printable ASCII, bounded) as the peer's.
//
// # Concurrency
//
// An [Acceptor] and [Credentials] are safe for concurrent use and meant to
// be shared. Each GSSAPI client or server, and each [KPOPAuth], is
// single-use and not safe for concurrent use.
//
// [RFC 4752]: https://www.rfc-editor.org/rfc/rfc4752
package kpop

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"

	"github.com/go-mailauth/mailauth/sasl"
)

// KPOP constants.
const (
	// KPOPPort is the TCP port of KPOP ("kpop 1109/tcp" in old
	// /etc/services files; not in Debian 12's).
	KPOPPort = 1109
	// KPOPVersion is the application version krb5_sendauth sends for
	// KPOP with Kerberos V5 (fetchmail's driver.c, MIT's historic popper).
	KPOPVersion = "KPOPV1.0"
	// KPOPName is the name KPOP is described by in mechanism tables.
	KPOPName = "KPOP"
	// kpopPassword is what a KPOP client sends as the POP3 password: a
	// fixed dummy (fetchmail sends the same), so that a user switching to
	// KPOP by mistake never reveals a real password.
	kpopPassword = "krb_ticket"
)

// sendauthVersion is krb5_sendauth's protocol version string (MIT
// src/lib/krb5/krb/sendauth.c).
const sendauthVersion = "KRB5_SENDAUTH_V1.0"

// Bounds.
const (
	// maxVersionLen bounds the two version strings of krb5_sendauth; both
	// are under 20 octets with their NUL.
	maxVersionLen = 64
	// maxPOP3Line bounds a POP3 command or reply line, CRLF included
	// (RFC 2449, Section 4: 255 for commands, 512 for replies).
	maxPOP3Line = 512
	// maxAuthCommands bounds the commands a server answers in the
	// AUTHORIZATION state of a KPOP session before it gives up.
	maxAuthCommands = 16
)

// Replies to the version strings (MIT src/lib/krb5/krb/recvauth.c).
const (
	sendauthOK            = 0
	sendauthBadVersion    = 1
	sendauthBadAppVersion = 2
)

// KPOPMechanism returns the description of KPOP: Mutual (the client asks
// for an AP-REP and verifies it) and Legacy (fetchmail is its last
// client; SASL GSSAPI replaced it).
func KPOPMechanism() sasl.Mechanism {
	return sasl.NewMechanism(KPOPName, sasl.Security{Mutual: true, Legacy: true})
}

// ErrSendauth means the krb5_sendauth handshake broke its framing or
// versions: not a KPOP peer, or one speaking another application version.
var ErrSendauth = errors.New("kpop: sendauth handshake failed")

// writeMessage writes b as krb5_write_message does: a 4-octet big-endian
// length, then the octets.
func writeMessage(w io.Writer, b []byte) error {
	m := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(m, uint32(len(b)))
	copy(m[4:], b)
	_, err := w.Write(m)
	return err
}

// readMessage reads one krb5_read_message of at most max octets.
func readMessage(r io.Reader, max int) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		if errors.Is(err, io.EOF) { // a message was due
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > uint32(max) {
		return nil, fmt.Errorf("%w: message of %d octets, at most %d: %w", ErrSendauth, n, max, sasl.ErrTooLarge)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// flush flushes w if it buffers.
func flush(w io.Writer) error {
	if f, ok := w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// KPOPAuth is the outcome of a server's krb5_recvauth: who authenticated.
// Its User and Pass methods run the dummy USER/PASS exchange that follows
// in the POP3 AUTHORIZATION state. A KPOPAuth is not safe for concurrent
// use.
type KPOPAuth struct {
	client Principal
	user   string
	userOK bool
	done   bool
}

// RecvAuth runs the server side of krb5_recvauth with application version
// "KPOPV1.0" (MIT src/lib/krb5/krb/recvauth.c), byte for byte, before the
// POP3 greeting. It reads from r and writes to w (for a textproto.Conn,
// its R and W, so that the POP3 lines that follow use the same buffer),
// and flushes w if it buffers.
//
// It answers the two version strings with one octet (0 accepted, 1 bad
// protocol version, 2 bad application version), verifies the AP-REQ for
// pop/Host@Realm as a GSSAPI server does, except that no GSS-API checksum
// is required, and answers four zero octets and, when the client asked for
// mutual authentication, the AP-REP; or, on a refusal, a KRB-ERROR with
// the Kerberos error code, after which the caller closes the connection.
// remote is the client's address, for tickets bound to addresses.
//
// Errors: ErrSendauth (wrapping sasl.ErrMalformed or sasl.ErrTooLarge)
// for a broken handshake; the refusals of NewGSSAPIServer; I/O errors
// wrapped.
func (a *Acceptor) RecvAuth(ctx context.Context, r io.Reader, w io.Writer, remote net.Addr) (*KPOPAuth, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	v, err := readMessage(r, maxVersionLen)
	if err != nil {
		return nil, fmt.Errorf("kpop: KPOP recvauth: reading the sendauth version: %w", err)
	}
	if string(v) != sendauthVersion+"\x00" {
		w.Write([]byte{sendauthBadVersion})
		flush(w)
		return nil, fmt.Errorf("%w: not %s: %w", ErrSendauth, sendauthVersion, sasl.ErrMalformed)
	}
	v, err = readMessage(r, maxVersionLen)
	if err != nil {
		return nil, fmt.Errorf("kpop: KPOP recvauth: reading the application version: %w", err)
	}
	if string(v) != KPOPVersion+"\x00" {
		w.Write([]byte{sendauthBadAppVersion})
		flush(w)
		return nil, fmt.Errorf("%w: application version is not %s: %w", ErrSendauth, KPOPVersion, sasl.ErrMalformed)
	}
	if _, err := w.Write([]byte{sendauthOK}); err != nil {
		return nil, fmt.Errorf("kpop: KPOP recvauth: %w", err)
	}
	if err := flush(w); err != nil {
		return nil, fmt.Errorf("kpop: KPOP recvauth: %w", err)
	}
	apreq, err := readMessage(r, maxTokenLen)
	if err != nil {
		return nil, fmt.Errorf("kpop: KPOP recvauth: reading the AP-REQ: %w", err)
	}
	acc, err := a.accept(ctx, apreq, ServicePOP, remote, false)
	if err != nil {
		if ke, kerr := a.krbErrorReply(ServicePOP, err); kerr == nil {
			writeMessage(w, ke)
			flush(w)
		}
		var k *krbError
		if errors.As(err, &k) || errors.Is(err, sasl.ErrMalformed) {
			return nil, fmt.Errorf("kpop: KPOP recvauth: %w", err)
		}
		return nil, err // LocalUser's error, unchanged
	}
	out := []byte{0, 0, 0, 0}
	if acc.mutual {
		m := make([]byte, 4+len(acc.aprep))
		binary.BigEndian.PutUint32(m, uint32(len(acc.aprep)))
		copy(m[4:], acc.aprep)
		out = append(out, m...)
	}
	if _, err := w.Write(out); err != nil {
		return nil, fmt.Errorf("kpop: KPOP recvauth: %w", err)
	}
	if err := flush(w); err != nil {
		return nil, fmt.Errorf("kpop: KPOP recvauth: %w", err)
	}
	return &KPOPAuth{client: acc.client, user: acc.user}, nil
}

// Principal returns the authenticated client principal.
func (k *KPOPAuth) Principal() Principal { return k.client }

// User answers the POP3 USER command, whose argument must be the local
// user the principal maps to (MIT's popper: "Wrong username supplied").
// It returns nil (reply +OK) or an error wrapping sasl.ErrAuthzFailed.
func (k *KPOPAuth) User(name string) error {
	if k.done {
		return fmt.Errorf("kpop: KPOP USER: already authenticated: %w", sasl.ErrUnexpectedClientResponse)
	}
	// Not secret: both names are known to the client.
	k.userOK = name == k.user
	if !k.userOK {
		return fmt.Errorf("kpop: KPOP USER: not the user of the authenticated principal: %w", sasl.ErrAuthzFailed)
	}
	return nil
}

// Pass answers the POP3 PASS command after an accepted USER: the password
// is a placeholder and is not looked at (the ticket authenticated the
// client). It returns the identity, Mechanism "KPOP".
func (k *KPOPAuth) Pass(string) (sasl.Identity, error) {
	if k.done || !k.userOK {
		return sasl.Identity{}, fmt.Errorf("kpop: KPOP PASS: no USER accepted: %w", sasl.ErrUnexpectedClientResponse)
	}
	k.done = true
	return sasl.Identity{Mechanism: KPOPName, Username: k.user}, nil
}

// ErrQuit means the client sent QUIT in the AUTHORIZATION state.
var ErrQuit = errors.New("kpop: client quit")

// ServeKPOP runs a KPOP server's login on tp, a fresh connection: RecvAuth
// on tp.R and tp.W, the greeting (a "+OK" line of the caller's text), and
// the AUTHORIZATION state, answering CAPA (fetchmail insists on +OK),
// USER, PASS and QUIT, and -ERR to anything else, until PASS succeeds. It
// returns the identity, with tp ready for the TRANSACTION state.
//
// After a RecvAuth refusal the KRB-ERROR has been sent; after ErrQuit the
// +OK; after any other error the caller closes the connection. It gives up
// after 16 commands (sasl.ErrTooLarge) and reads lines of at most 512
// octets.
func (a *Acceptor) ServeKPOP(ctx context.Context, tp *textproto.Conn, remote net.Addr, greeting string) (sasl.Identity, error) {
	auth, err := a.RecvAuth(ctx, tp.R, tp.W, remote)
	if err != nil {
		return sasl.Identity{}, err
	}
	if err := tp.PrintfLine("+OK %s", greeting); err != nil {
		return sasl.Identity{}, err
	}
	for i := 0; i < maxAuthCommands; i++ {
		line, err := sasl.ReadLine(tp.R, maxPOP3Line)
		if err != nil {
			return sasl.Identity{}, fmt.Errorf("kpop: KPOP: %w", err)
		}
		cmd, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "CAPA":
			err = tp.PrintfLine("+OK Capability list follows\r\nUSER\r\n.")
		case "USER":
			if uerr := auth.User(arg); uerr != nil {
				err = tp.PrintfLine("-ERR Wrong username supplied")
			} else {
				err = tp.PrintfLine("+OK")
			}
		case "PASS":
			id, perr := auth.Pass(arg)
			if perr != nil {
				err = tp.PrintfLine("-ERR USER first")
				break
			}
			if err := tp.PrintfLine("+OK Kerberos V5 authentication accepted"); err != nil {
				return sasl.Identity{}, err
			}
			return id, nil
		case "QUIT":
			tp.PrintfLine("+OK")
			return sasl.Identity{}, ErrQuit
		default:
			err = tp.PrintfLine("-ERR Not in the AUTHORIZATION state")
		}
		if err != nil {
			return sasl.Identity{}, err
		}
	}
	return sasl.Identity{}, fmt.Errorf("kpop: KPOP: more than %d commands before PASS: %w", maxAuthCommands, sasl.ErrTooLarge)
}

// SendAuth runs the client side of krb5_sendauth with application version
// "KPOPV1.0" (MIT src/lib/krb5/krb/sendauth.c), byte for byte, to
// pop/cfg.Host: the two version strings, the AP-REQ (mutual authentication
// required, no checksum, as fetchmail sends), and the server's answer. It
// returns nil only after the server's AP-REP verified. It reads from r and
// writes to w (a textproto.Conn's R and W), and flushes w if it buffers.
//
// Errors: ErrSendauth for a server that refuses the versions or breaks the
// framing; an error wrapping ErrKRBError and sasl.ErrAuthFailed for a
// KRB-ERROR; ErrIntegrity when the AP-REP does not verify.
func SendAuth(r io.Reader, w io.Writer, cfg *ClientConfig) error {
	if cfg == nil || cfg.Host == "" {
		return errors.New("kpop: KPOP sendauth: ClientConfig.Host is required")
	}
	in, apreq, err := newInitiator(cfg.Credentials, ServicePOP, cfg.Host, false, 0)
	if err != nil {
		return err
	}
	if err := writeMessage(w, []byte(sendauthVersion+"\x00")); err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: %w", err)
	}
	if err := writeMessage(w, []byte(KPOPVersion+"\x00")); err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: %w", err)
	}
	if err := flush(w); err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: %w", err)
	}
	var reply [1]byte
	if _, err := io.ReadFull(r, reply[:]); err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: reading the version reply: %w", err)
	}
	switch reply[0] {
	case sendauthOK:
	case sendauthBadVersion:
		return fmt.Errorf("%w: server refused sendauth version %s", ErrSendauth, sendauthVersion)
	case sendauthBadAppVersion:
		return fmt.Errorf("%w: server refused application version %s", ErrSendauth, KPOPVersion)
	default:
		return fmt.Errorf("%w: bad version reply %#02x: %w", ErrSendauth, reply[0], sasl.ErrMalformed)
	}
	if err := writeMessage(w, apreq); err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: %w", err)
	}
	if err := flush(w); err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: %w", err)
	}
	ke, err := readMessage(r, maxTokenLen)
	if err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: reading the server's answer: %w", err)
	}
	if len(ke) != 0 {
		return fmt.Errorf("kpop: KPOP sendauth: %w", krbErrorText(ke))
	}
	rep, err := readMessage(r, maxTokenLen)
	if err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: reading the AP-REP: %w", err)
	}
	if err := in.verifyAPRep(rep); err != nil {
		return fmt.Errorf("kpop: KPOP sendauth: AP-REP: %w", err)
	}
	return nil
}

// LoginKPOP logs in to a KPOP server over tp, a fresh connection: SendAuth
// on tp.R and tp.W, then the greeting, and USER user and PASS with a fixed
// placeholder (the ticket authenticates; no password is ever sent). If
// user is "", the first component of the client principal is used. It
// returns the greeting line, with tp in the TRANSACTION state.
//
// A -ERR reply is an error wrapping sasl.ErrAuthFailed that quotes the
// server's text; the errors of SendAuth are returned as they are. Bound
// the wait with a deadline on the connection.
func LoginKPOP(tp *textproto.Conn, cfg *ClientConfig, user string) (string, error) {
	if err := SendAuth(tp.R, tp.W, cfg); err != nil {
		return "", err
	}
	if user == "" {
		user = cfg.Credentials.Principal().Components[0]
	}
	if !validUser(user) {
		return "", errors.New("kpop: KPOP: user name cannot be sent in a USER command")
	}
	greeting, err := kpopReply(tp.R, "greeting")
	if err != nil {
		return "", err
	}
	if err := tp.PrintfLine("USER %s", user); err != nil {
		return "", err
	}
	if _, err := kpopReply(tp.R, "USER"); err != nil {
		return "", err
	}
	if err := tp.PrintfLine("PASS %s", kpopPassword); err != nil {
		return "", err
	}
	if _, err := kpopReply(tp.R, "PASS"); err != nil {
		return "", err
	}
	return greeting, nil
}

// kpopReply reads one POP3 status line and returns it, or an error for
// -ERR.
func kpopReply(r *bufio.Reader, what string) (string, error) {
	line, err := sasl.ReadLine(r, maxPOP3Line)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("kpop: KPOP %s: %w", what, err)
	}
	switch {
	case line == "+OK" || strings.HasPrefix(line, "+OK "):
		return line, nil
	case line == "-ERR" || strings.HasPrefix(line, "-ERR "):
		return "", fmt.Errorf("kpop: KPOP %s refused: %q: %w", what, printable(strings.TrimPrefix(line[4:], " "), 100), sasl.ErrAuthFailed)
	}
	return "", fmt.Errorf("kpop: KPOP %s: reply is neither +OK nor -ERR: %w", what, sasl.ErrMalformed)
}
