// Command maild is the mailauth demo: it starts a loopback IMAP, POP3 and
// SMTP-submission server (package examples/mailserver) with a throwaway
// self-signed certificate (tlsutil.SelfSigned) and an in-memory user store, logs in to each with
// every mechanism that both sides implement (package examples/mailclient,
// over STARTTLS), prints a table mechanism × protocol → ok/FAIL, and exits
// 0 only if every login worked.
//
//	go run ./examples/maild          # the demo
//	go run ./examples/maild -serve   # keep serving; prints addresses and users
//	go run ./examples/maild -serve -cert /tmp/maild.pem   # and write the certificate
//	go run ./examples/maild -serve -passwd /etc/dovecot/users   # serve a Dovecot passwd-file
//	go run ./examples/maild -serve -passdb postgres://mail@db/mail   # serve users from PostgreSQL
//	go run ./examples/maild -serve -passdb 'ldaps://ldap/ou=people,dc=example,dc=org?binddn=cn=mailauth,dc=example,dc=org'
//	go run ./examples/maild -serve -keytab mail.keytab -krb-host 127.0.0.1   # and GSSAPI, and KPOP (package kpop)
//
// It needs nothing installed and binds only 127.0.0.1 on random ports.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/examples/mailclient"
	"github.com/go-mailauth/mailauth/examples/mailserver"
	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb/pgsql"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// Demo credentials: throwaway values for a loopback demo.
const (
	demoUser     = "alice"
	demoPassword = "wonderland"
	demoToken    = "demo-bearer-token"
	demoTrace    = "demo@example.org"
	// demoIterations is the SCRAM iteration count of the demo store, the
	// RFC 7677 minimum, so the demo stays fast.
	demoIterations = 4096
)

func main() {
	serve := flag.Bool("serve", false, "keep serving after the demo; print the addresses")
	verbose := flag.Bool("v", false, "log server events to stderr")
	passwd := flag.String("passwd", "", "with -serve: authenticate the users of this Dovecot passwd-file `file` (package sasl/passdb) instead of the demo user")
	passdbURL := flag.String("passdb", "", "with -serve: authenticate the users of this PostgreSQL (postgres://…) or LDAP (ldap://…, ldaps://…) `URL` (packages sasl/passdb/pgsql, sasl/passdb/ldap)")
	query := flag.String("passdb-query", "", "with -passdb postgres://…: the password `query`, $1 the user name (default \""+pgsql.DefaultQuery+"\")")
	certFile := flag.String("cert", "", "write the server's self-signed certificate (PEM) to this `file`, for clients to trust")
	keytabFile := flag.String("keytab", "", "with -serve: offer GSSAPI on IMAP, POP3 and SMTP and serve KPOP, with the service keys of this `keytab` (package kpop)")
	krbHost := flag.String("krb-host", "localhost", "with -keytab: the service `host` of the principals imap/host, pop/host, smtp/host")
	krbRealm := flag.String("krb-realm", "", "with -keytab: the `realm` (default: the keytab's, for the service host)")
	kpopPort := flag.Int("kpop-port", 0, "with -keytab: the KPOP `port` on 127.0.0.1 (default: any free port; KPOP's own is 1109)")
	secretFile := flag.String("scram-secret", "", "with -passwd or -passdb: a `file` of at least 16 secret bytes, the same on every replica, that keys the fake SCRAM salts of unknown users (sasl.ServerConfig.SCRAMSecret); without it SCRAM is not offered")
	throttle := flag.Bool("throttle", true, "brake password guessing per client address (sasl.Throttle with Dovecot's defaults: 2 s failure delay, 2-15 s penalty)")
	flag.Parse()
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if (*passwd != "" || *passdbURL != "") && !*serve {
		fmt.Fprintln(os.Stderr, "maild: -passwd and -passdb need -serve (the demo logs in as its own user)")
		os.Exit(2)
	}
	var krb *kerberos
	if *keytabFile != "" {
		if !*serve {
			fmt.Fprintln(os.Stderr, "maild:", errNeedsServe)
			os.Exit(2)
		}
		var err error
		if krb, err = newKerberos(*keytabFile, *krbHost, *krbRealm); err != nil {
			fmt.Fprintln(os.Stderr, "maild:", err)
			os.Exit(1)
		}
		if err := krb.serveKPOP(*kpopPort); err != nil {
			fmt.Fprintln(os.Stderr, "maild: KPOP:", err)
			os.Exit(1)
		}
		defer krb.Close()
	}
	opts := demoOptions{}
	if *throttle {
		opts.limiter = &sasl.Throttle{}
	}
	if *secretFile != "" {
		var err error
		if opts.scramSecret, err = readSCRAMSecret(*secretFile); err != nil {
			fmt.Fprintln(os.Stderr, "maild:", err)
			os.Exit(2)
		}
	} else if *passwd != "" || *passdbURL != "" {
		// Issue 8, defect 7: without a stable secret the fake salt of an
		// unknown user changes at every restart while real salts stay,
		// and two answers tell who exists. Refuse SCRAM rather than leak.
		fmt.Fprintln(os.Stderr, "maild: WARNING: no -scram-secret file: SCRAM is NOT offered. Without a stable secret, "+
			"the salt SCRAM gives an unknown user changes at each restart and across replicas, which tells who exists. "+
			"Create one with: head -c 32 /dev/urandom > scram.secret && chmod 600 scram.secret")
		opts.noSCRAM = true
	}
	users, usersFrom, closeUsers, err := openStore(*passwd, *passdbURL, *query, opts.scramSecret, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maild:", err)
		os.Exit(1)
	}
	defer closeUsers()
	d, err := startDemoWith(logger, users, krb, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "maild:", err)
		os.Exit(1)
	}
	defer d.Close()
	if *certFile != "" {
		if err := os.WriteFile(*certFile, d.serverCertPEM, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "maild:", err)
			os.Exit(1)
		}
	}
	failures := 0
	if users == nil {
		failures = d.Run(os.Stdout)
	} else {
		fmt.Println(usersFrom)
	}
	if *serve {
		d.PrintAddresses(os.Stdout)
		if krb != nil {
			krb.printUsage(os.Stdout, d)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		return
	}
	if failures > 0 {
		d.Close()
		os.Exit(1)
	}
}

// demo is a running set of servers and what a client needs to reach them.
type demo struct {
	store         *store
	serverCertPEM []byte
	serverTLS     *tls.Config
	clientTLS     *tls.Config // trusts the server cert, presents the client cert
	servers       []*mailserver.Server
	plain         map[sasl.Protocol]string // STARTTLS listeners
	implicit      map[sasl.Protocol]string // implicit-TLS listeners
	passwdFile    bool                     // passwords come from a passwd-file
}

// demoOptions are the server settings main takes from flags.
type demoOptions struct {
	// limiter brakes guessing per client address (main: a sasl.Throttle
	// unless -throttle=false); nil: none.
	limiter sasl.Limiter
	// scramSecret keys the fake SCRAM salts; nil: a random one for this
	// process (the demo's own store), unless noSCRAM.
	scramSecret []byte
	// noSCRAM: SCRAM is not offered (a real user store without a secret).
	noSCRAM bool
}

// readSCRAMSecret reads the SCRAM secret file: at least 16 bytes.
func readSCRAMSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 16 {
		return nil, fmt.Errorf("%s: a SCRAM secret needs at least 16 bytes", path)
	}
	return b, nil
}

// startDemo is startDemoWith without a Limiter and with a random SCRAM
// secret: the in-process demo and the tests, which log in from one
// address many times.
func startDemo(logger *slog.Logger, users userStore, krb *kerberos) (*demo, error) {
	return startDemoWith(logger, users, krb, demoOptions{})
}

// startDemoWith makes the certificates and the store and starts the three
// servers, each on a STARTTLS and an implicit-TLS listener on 127.0.0.1.
// If users is not nil, passwords are checked against it (a Dovecot
// passwd-file) instead of the demo store; tokens, certificates and
// ANONYMOUS stay the demo's. If krb is not nil, the servers offer GSSAPI
// with its acceptor too.
func startDemoWith(logger *slog.Logger, users userStore, krb *kerberos, opts demoOptions) (*demo, error) {
	serverKP, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		return nil, err
	}
	clientKP, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: []string{demoUser}})
	if err != nil {
		return nil, err
	}
	serverRoots := x509.NewCertPool()
	serverRoots.AddCert(serverKP.Leaf())
	clientRoots := x509.NewCertPool()
	clientRoots.AddCert(clientKP.Leaf())

	serverTLS := tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &serverKP.Certificate, nil
	})
	// EXTERNAL: a client may present a certificate; the store maps its
	// subject to a user.
	serverTLS.ClientAuth = tls.VerifyClientCertIfGiven
	serverTLS.ClientCAs = clientRoots
	clientTLS := tlsutil.NewClientConfig("localhost", serverRoots)
	clientTLS.Certificates = []tls.Certificate{clientKP.Certificate}

	st, err := newStore(map[string]string{demoUser: demoPassword}, map[string]string{demoToken: demoUser})
	if err != nil {
		return nil, err
	}
	d := &demo{
		store:         st,
		serverCertPEM: serverKP.CertPEM,
		serverTLS:     serverTLS,
		clientTLS:     clientTLS,
		plain:         map[sasl.Protocol]string{},
		implicit:      map[sasl.Protocol]string{},
	}
	cfg := &mailserver.Config{
		SASL: &sasl.ServerConfig{
			Passwords: d.store,
			Plaintext: d.store,
			CRAMMD5:   d.store,
			SCRAM:     d.store,
			Tokens:    d.store,
			External:  d.store,
			// Unknown users get the same count as real ones.
			SCRAMIterations: demoIterations,
			Anonymous:       func(ctx context.Context, trace string) error { return nil },
			Hostname:        "localhost",
			// The demo's store holds SHA-512 keys too, and SCRAM-SHA-512
			// is offered only when listed: list every mechanism.
			Mechanisms: append(mechanismNames(), ntlm.MechanismName),
			// NTLM (package ntlm) from the store's NT hashes.
			Extra: []sasl.ServerMechanism{ntlm.NewServerMechanism(&ntlm.ServerConfig{
				Hashes: d.store, Domain: "MAILD", DNSComputer: "localhost",
			})},
		},
		TLS:      d.serverTLS,
		Hostname: "localhost",
		Logger:   logger,
		// Sessions not logged in: mailserver's own bounds
		// (MaxUnauthenticated, LoginIdleTimeout), the oldest giving way.
		// POP3 APOP needs the plaintext password (RFC 1939, Section 13).
		APOP: func() (mailserver.APOPServer, error) {
			return apop.NewServer(&apop.ServerConfig{Plaintext: d.store, Hostname: "localhost"})
		},
	}
	// One Limiter for the three servers and their six listeners, so the
	// brake counts every attempt from an address (issue 8).
	cfg.SASL.Limiter = opts.limiter
	cfg.SASL.SCRAMSecret = opts.scramSecret
	if cfg.SASL.SCRAMSecret == nil {
		// The demo runs as one process: a random secret is stable for
		// its lifetime. A real deployment reads one from a file.
		cfg.SASL.SCRAMSecret = make([]byte, 32)
		rand.Read(cfg.SASL.SCRAMSecret)
	}
	if users != nil {
		d.passwdFile = true
		// Each lookup serves the users whose stored scheme allows it
		// (e.g. SCRAM only for {SCRAM-SHA-256} or {PLAIN} entries).
		cfg.SASL.Passwords = users
		cfg.SASL.Plaintext = users
		cfg.SASL.CRAMMD5 = users
		cfg.SASL.DigestMD5 = users
		cfg.SASL.SCRAM = users
		if h, ok := users.(ntlm.NTHashLookup); ok { // passdb's {NTLM} and {PLAIN} entries
			cfg.SASL.Extra = []sasl.ServerMechanism{ntlm.NewServerMechanism(&ntlm.ServerConfig{
				Hashes: h, Domain: "MAILD", DNSComputer: "localhost",
			})}
		} else {
			cfg.SASL.Extra = nil
		}
		cfg.APOP = func() (mailserver.APOPServer, error) {
			return apop.NewServer(&apop.ServerConfig{Plaintext: users, Hostname: "localhost"})
		}
	}
	if opts.noSCRAM {
		cfg.SASL.SCRAM = nil // PLAIN and LOGIN use Passwords, not SCRAM keys
		var keep []string
		for _, m := range cfg.SASL.Mechanisms {
			if !strings.HasPrefix(strings.ToUpper(m), "SCRAM-") {
				keep = append(keep, m)
			}
		}
		cfg.SASL.Mechanisms = keep
	}
	for _, p := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		srv := mailserver.New(p, krb.config(cfg, p))
		d.servers = append(d.servers, srv)
		for _, implicit := range []bool{false, true} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				d.Close()
				return nil, err
			}
			if implicit {
				d.implicit[p] = ln.Addr().String()
				go srv.ServeTLS(ln)
			} else {
				d.plain[p] = ln.Addr().String()
				go srv.Serve(ln)
			}
		}
	}
	return d, nil
}

// Close stops the servers.
func (d *demo) Close() {
	for _, s := range d.servers {
		s.Close()
	}
}

// outcome is one cell of the table.
type outcome int

const (
	cellSkipped outcome = iota // not offered, or not implemented on one side
	cellOK
	cellFail
)

// login logs in over proto with exactly mechanism mech, over STARTTLS (or
// implicit TLS), and classifies the result.
func (d *demo) login(proto sasl.Protocol, mech string, implicit bool) (outcome, error) {
	return d.loginAs(proto, mech, implicit, demoUser, demoPassword)
}

func (d *demo) loginAs(proto sasl.Protocol, mech string, implicit bool, user, password string) (outcome, error) {
	addr := d.plain[proto]
	if implicit {
		addr = d.implicit[proto]
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return cellFail, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, port, _ := net.SplitHostPort(addr)
	var portNum int
	fmt.Sscan(port, &portNum)
	service := map[sasl.Protocol]string{sasl.IMAP: "imap", sasl.POP3: "pop", sasl.SMTP: "smtp"}[proto]
	cfg := &sasl.ClientConfig{
		Username:   user,
		Password:   password,
		Token:      demoToken,
		External:   true,
		Anonymous:  true,
		Trace:      demoTrace,
		Host:       "localhost",
		Port:       portNum,
		Service:    service,
		Mechanisms: []string{mech},
		Extra: []sasl.ClientMechanism{ntlm.NewClientMechanism(&ntlm.ClientConfig{
			Username: user, Password: password, TargetName: service + "/localhost",
		})},
	}
	isAPOP := mech == apop.Mechanism().Name()
	if isAPOP && proto != sasl.POP3 {
		return cellSkipped, nil // APOP is POP3's own
	}
	if isAPOP && !implicit {
		// APOP answers the greeting's timestamp, which must come inside
		// TLS: use the implicit-TLS port.
		conn.Close()
		if conn, err = net.DialTimeout("tcp", d.implicit[proto], 5*time.Second); err != nil {
			return cellFail, err
		}
		defer conn.Close()
		implicit = true
	}
	mode := sasl.RequireSTARTTLS
	if implicit {
		mode = sasl.ImplicitTLS
	}
	res, err := mailclient.Login(ctx, conn, &mailclient.Options{
		Protocol: proto,
		TLS:      d.clientTLS,
		Mode:     mode,
		SASL:     cfg,
		APOP:     isAPOP,
	})
	switch {
	case err == nil && res.Mechanism == mech:
		return cellOK, nil
	case err == nil:
		return cellFail, fmt.Errorf("used %s", res.Mechanism)
	case errors.Is(err, sasl.ErrNoMechanism):
		// Not offered by the server, or the client side cannot do it.
		return cellSkipped, err
	case errors.Is(err, sasl.ErrUnsupportedMechanism) && res.Mechanism != "":
		// The first exchange step failed as "not implemented": a
		// mechanism whose server is still a placeholder.
		return cellSkipped, err
	}
	return cellFail, err
}

// Run logs in with every mechanism over every protocol and prints the
// table to w. It returns the number of failed logins.
func (d *demo) Run(w io.Writer) int {
	protos := []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mechanism\tIMAP\tPOP3\tSMTP\t")
	failures := 0
	var skipped, details []string
	mechs := sasl.Mechanisms()
	mechs = append(mechs, ntlm.Mechanism(), apop.Mechanism())
	for _, m := range mechs {
		name := m.Name()
		cells := make([]outcome, len(protos))
		errs := make([]error, len(protos))
		any := false
		for i, p := range protos {
			cells[i], errs[i] = d.login(p, name, false)
			any = any || cells[i] != cellSkipped
		}
		if !any {
			skipped = append(skipped, name)
			continue
		}
		fmt.Fprintf(tw, "%s\t", name)
		for i, c := range cells {
			switch c {
			case cellOK:
				fmt.Fprint(tw, "ok\t")
			case cellFail:
				failures++
				fmt.Fprint(tw, "FAIL\t")
				details = append(details, fmt.Sprintf("%s over %s: %v", name, protos[i], errs[i]))
			default:
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	// Implicit TLS, once per protocol, with the strongest mechanism.
	fmt.Fprint(tw, "(implicit TLS)\t")
	for _, p := range protos {
		c, err := d.implicitLogin(p)
		if c == cellOK {
			fmt.Fprint(tw, "ok\t")
		} else {
			failures++
			fmt.Fprint(tw, "FAIL\t")
			details = append(details, fmt.Sprintf("implicit TLS over %s: %v", p, err))
		}
	}
	fmt.Fprintln(tw)
	tw.Flush()
	if len(skipped) > 0 {
		fmt.Fprintf(w, "not offered or not implemented on both sides: %s\n", strings.Join(skipped, " "))
	}
	for _, d := range details {
		fmt.Fprintln(w, "FAIL:", d)
	}
	if failures == 0 {
		fmt.Fprintln(w, "all logins succeeded")
	}
	return failures
}

// implicitLogin logs in over implicit TLS letting the client choose.
func (d *demo) implicitLogin(p sasl.Protocol) (outcome, error) {
	conn, err := net.DialTimeout("tcp", d.implicit[p], 5*time.Second)
	if err != nil {
		return cellFail, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = mailclient.Login(ctx, conn, &mailclient.Options{
		Protocol: p,
		TLS:      d.clientTLS,
		Mode:     sasl.ImplicitTLS,
		SASL:     &sasl.ClientConfig{Username: demoUser, Password: demoPassword},
	})
	if err != nil {
		// With no password mechanism implemented yet there is nothing
		// to choose; that is not a failure of TLS.
		if errors.Is(err, sasl.ErrNoMechanism) || errors.Is(err, sasl.ErrUnsupportedMechanism) {
			return cellOK, nil
		}
		return cellFail, err
	}
	return cellOK, nil
}

// PrintAddresses prints where the servers listen and how to log in.
func (d *demo) PrintAddresses(w io.Writer) {
	if d.passwdFile {
		fmt.Fprintf(w, "\nserving (Ctrl-C to stop) the passwd-file's users; bearer token %q is %q's\n", demoToken, demoUser)
	} else {
		fmt.Fprintf(w, "\nserving (Ctrl-C to stop); user %q password %q, bearer token %q\n", demoUser, demoPassword, demoToken)
	}
	for _, p := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		fmt.Fprintf(w, "  %-4s  STARTTLS %s   implicit TLS %s\n", p, d.plain[p], d.implicit[p])
	}
	fmt.Fprintln(w, "  the certificate is self-signed for localhost: e.g. curl -k --login-options AUTH=PLAIN")
}

// store is the demo's in-memory user store. It implements the lookups of
// package sasl by method set: sasl.PasswordVerifier, sasl.PlaintextLookup
// (for DIGEST-MD5 and APOP, which need it), sasl.CRAMMD5Lookup and
// sasl.SCRAMLookup (derived credentials: no password needed),
// sasl.TokenVerifier, sasl.ExternalVerifier, and ntlm.NTHashLookup. It is
// read-only after newStore, so safe for concurrent use.
type store struct {
	passwords map[string]string
	tokens    map[string]string                // token -> user
	scram     map[string]sasl.SCRAMCredentials // mech "\x00" user -> keys
	cram      map[string]sasl.CRAMMD5Secret
	nt        map[string][16]byte // NT hashes, for NTLM
}

func newStore(passwords, tokens map[string]string) (*store, error) {
	s := &store{passwords: passwords, tokens: tokens, scram: map[string]sasl.SCRAMCredentials{}, cram: map[string]sasl.CRAMMD5Secret{}, nt: map[string][16]byte{}}
	for user, pass := range passwords {
		for _, mech := range []string{sasl.SCRAMSHA1, sasl.SCRAMSHA256, sasl.SCRAMSHA512} {
			c, err := sasl.NewSCRAMCredentials(mech, pass, nil, demoIterations)
			if err != nil {
				return nil, err
			}
			s.scram[mech+"\x00"+user] = c
		}
		s.cram[user] = sasl.NewCRAMMD5Secret(pass)
		s.nt[user] = ntlm.Hash(pass)
	}
	return s, nil
}

// LookupCRAMMD5 implements sasl.CRAMMD5Lookup.
func (s *store) LookupCRAMMD5(ctx context.Context, username string) (sasl.CRAMMD5Secret, error) {
	c, ok := s.cram[username]
	if !ok {
		return sasl.CRAMMD5Secret{}, sasl.ErrUnknownUser
	}
	return c, nil
}

// LookupNTHash implements ntlm.NTHashLookup.
func (s *store) LookupNTHash(ctx context.Context, username string) ([16]byte, error) {
	h, ok := s.nt[username]
	if !ok {
		return [16]byte{}, sasl.ErrUnknownUser
	}
	return h, nil
}

// VerifyPassword implements sasl.PasswordVerifier.
func (s *store) VerifyPassword(ctx context.Context, username, password string) error {
	want, ok := s.passwords[username]
	// Constant time on fixed-size digests: a byte-wise compare would tell
	// a guesser how much of the password they have right.
	a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 || !ok {
		return sasl.ErrAuthFailed
	}
	return nil
}

// LookupPassword implements sasl.PlaintextLookup.
func (s *store) LookupPassword(ctx context.Context, username string) (string, error) {
	p, ok := s.passwords[username]
	if !ok {
		return "", sasl.ErrUnknownUser
	}
	return p, nil
}

// LookupSCRAM implements sasl.SCRAMLookup.
func (s *store) LookupSCRAM(ctx context.Context, mech, username string) (sasl.SCRAMCredentials, error) {
	c, ok := s.scram[mech+"\x00"+username]
	if !ok {
		return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	}
	return c, nil
}

// VerifyToken implements sasl.TokenVerifier.
func (s *store) VerifyToken(ctx context.Context, username, token string) (string, error) {
	user, ok := s.tokens[token]
	if !ok || (username != "" && username != user) {
		return "", sasl.ErrAuthFailed
	}
	return user, nil
}

// VerifyExternal implements sasl.ExternalVerifier.
func (s *store) VerifyExternal(ctx context.Context, conn *sasl.ConnState, authzid string) (string, error) {
	if conn.TLS() == nil || len(conn.TLS().PeerCertificates) == 0 {
		return "", sasl.ErrAuthFailed
	}
	// The certificate was verified against ClientCAs in the handshake.
	user := conn.TLS().PeerCertificates[0].Subject.CommonName
	if _, ok := s.passwords[user]; !ok {
		return "", sasl.ErrAuthFailed
	}
	return user, nil
}

// mechanismNames lists every mechanism of package sasl, strongest first.
func mechanismNames() []string {
	var names []string
	for _, m := range sasl.Mechanisms() {
		names = append(names, m.Name())
	}
	return names
}
