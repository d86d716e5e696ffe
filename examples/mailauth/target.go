package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// target is a server to talk to, from a URL such as imaps://alice@host:993.
type target struct {
	scheme   string // imap, imaps, pop3, pop3s, smtp, smtps
	proto    sasl.Protocol
	implicit bool // TLS on connect (RFC 8314), else required STARTTLS
	host     string
	port     int
	user     string // from the URL's userinfo, "" if none
}

// schemes maps URL schemes to protocol, implicit TLS and default port
// (RFC 8314, Section 3; RFC 6409 for submission on 587).
var schemes = map[string]struct {
	proto    sasl.Protocol
	implicit bool
	port     int
}{
	"imap":  {sasl.IMAP, false, 143},
	"imaps": {sasl.IMAP, true, 993},
	"pop3":  {sasl.POP3, false, 110},
	"pop3s": {sasl.POP3, true, 995},
	"smtp":  {sasl.SMTP, false, 587},
	"smtps": {sasl.SMTP, true, 465},
}

// parseTarget reads "scheme://[user@]host[:port]", or "host[:port]" when
// defScheme names the scheme (probe's -proto).
func parseTarget(s, defScheme string) (target, error) {
	if !strings.Contains(s, "://") {
		if defScheme == "" {
			return target{}, usagef("%q: give a URL such as imaps://%s", s, s)
		}
		s = defScheme + "://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return target{}, usagef("bad URL %q", s)
	}
	sc, ok := schemes[strings.ToLower(u.Scheme)]
	if !ok {
		return target{}, usagef("%q: scheme must be imap, imaps, pop3, pop3s, smtp or smtps", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return target{}, usagef("%q: only scheme://[user@]host[:port] is understood", s)
	}
	if _, set := u.User.Password(); set {
		// A password in argv is visible to every user of the machine
		// (ps, /proc/*/cmdline) and lands in shell history.
		return target{}, usagef("%q: no password in the URL; use the prompt, -password-env or -password-file", s)
	}
	t := target{scheme: strings.ToLower(u.Scheme), proto: sc.proto, implicit: sc.implicit, host: u.Hostname(), port: sc.port}
	if u.User != nil {
		t.user = u.User.Username()
	}
	if t.host == "" {
		return target{}, usagef("%q: no host", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return target{}, usagef("%q: bad port", s)
		}
		t.port = n
	}
	return t, nil
}

// String is the target as shown in errors and reports, without the user.
func (t target) String() string {
	return t.scheme + "://" + t.addr()
}

func (t target) addr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

// service is the DIGEST-MD5 and GSSAPI service name (RFC 2831; RFC 4752).
func (t target) service() string {
	switch t.proto {
	case sasl.POP3:
		return "pop"
	case sasl.SMTP:
		return "smtp"
	}
	return "imap"
}

// mode is how NegotiateClient secures the connection: never plaintext.
func (t target) mode() sasl.ClientMode {
	if t.implicit {
		return sasl.ImplicitTLS
	}
	return sasl.RequireSTARTTLS
}

// tlsFlags are the TLS settings login, probe and bench share.
type tlsFlags struct {
	caFile     string
	serverName string
	certFile   string
	keyFile    string
}

func (f *tlsFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&f.caFile, "ca", "", "trust only the CA certificates in this PEM `file` (default: the system roots)")
	fs.StringVar(&f.serverName, "servername", "", "verify the certificate for this `name` (default: the URL's host)")
	fs.StringVar(&f.certFile, "cert", "", "client certificate PEM `file`, for EXTERNAL")
	fs.StringVar(&f.keyFile, "key", "", "client key PEM `file`, for EXTERNAL (default: -cert)")
}

// roots returns the pool to verify servers with: -ca's, or nil for the
// system's.
func (f *tlsFlags) roots() (*x509.CertPool, error) {
	if f.caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(f.caFile)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("-ca %s: no PEM certificate in it", f.caFile)
	}
	return pool, nil
}

// config returns the hardened client config (tlsutil.NewClientConfig):
// verification against the host name the user gave, never a DNS answer
// (RFC 7817), TLS 1.2 or later.
func (f *tlsFlags) config(t target) (*tls.Config, error) {
	roots, err := f.roots()
	if err != nil {
		return nil, err
	}
	name := t.host
	if f.serverName != "" {
		name = f.serverName
	}
	cfg := tlsutil.NewClientConfig(name, roots)
	if f.certFile != "" {
		key := f.keyFile
		if key == "" {
			key = f.certFile
		}
		kp, err := tls.LoadX509KeyPair(f.certFile, key)
		if err != nil {
			return nil, fmt.Errorf("-cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

// dial opens a TCP connection to t within ctx.
func dial(ctx context.Context, t target, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.DialContext(ctx, "tcp", t.addr())
}

// connState describes a connection to the sasl package. It is the one
// place that builds a sasl.ConnState, so a change of that type's
// constructor touches one line.
func connState(tc *tls.Conn) *sasl.ConnState {
	if tc == nil {
		return sasl.ClientConnState(nil)
	}
	return sasl.ClientConn(tc)
}
