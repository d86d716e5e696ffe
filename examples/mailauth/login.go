package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

const loginExample = `  mailauth login imaps://alice@mail.example.org            # prompts for the password
  MAILAUTH_PASSWORD=... mailauth login -v smtp://alice@mail.example.org   # STARTTLS on 587, transcript
  mailauth login -mech SCRAM-SHA-256 -password-file ~/.pw pop3s://alice@mail.example.org
  mailauth login -mech XOAUTH2 -token-file token.txt imaps://alice@imap.gmail.com
  mailauth login -mech EXTERNAL -cert me.pem imaps://mail.example.org
  mailauth login -mech GSSAPI -keytab alice.keytab -principal alice@EXAMPLE.ORG imaps://mail.example.org
  mailauth login -ca maild.pem imap://alice@127.0.0.1:1143  # trust a test server's certificate`

// errServerNotVerified means a mutual mechanism ended without the client
// having checked the server's proof (sasl's FinishedClient said so).
var errServerNotVerified = sasl.ErrServerNotVerified

// loginOpts are login's settings (also used by probe and bench).
type loginOpts struct {
	tls       tlsFlags
	timeout   time.Duration
	mech      string
	user      string
	authzid   string
	cbType    string
	anonymous string // ANONYMOUS trace, "" for none
	useAPOP   bool
	noResume  bool
	noCache   bool
	krb       krbFlags
}

// credentials are the secrets of one login; never printed.
type credentials struct {
	password string
	token    string
	keytab   string // GSSAPI (kpop), when it exists
}

// loginResult is what a login shows.
type loginResult struct {
	Target         string
	TLSVersion     string
	Suite          string
	Resumed        bool
	CertSubject    string
	CertIssuer     string
	CertExpiry     time.Time
	Offered        []string
	Chosen         string
	Verified       string // "yes (...)", "no (...)", "unknown (...)"
	ChannelBinding string
	// Timings, for bench.
	Connect, Handshake, SASL time.Duration
}

// session is what one or many logins to the same target share: configs
// built once, so bench measures logins, not setup.
type session struct {
	t       target
	o       *loginOpts
	tlsCfg  *tls.Config
	sasl    *sasl.ClientConfig
	secrets []string // for masking in transcripts
}

func runLogin(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("login", "[flags] scheme://[user@]host[:port]", loginExample)
	o := &loginOpts{}
	o.tls.register(fs)
	fs.StringVar(&o.mech, "mech", "", "use this `mechanism` (default: the strongest both sides support)")
	fs.StringVar(&o.user, "u", "", "`user` name (default: the URL's)")
	fs.StringVar(&o.authzid, "authzid", "", "act as this authorization `identity`")
	fs.StringVar(&o.cbType, "cb", "", "channel-binding `type` for -PLUS: tls-exporter, tls-unique, tls-server-end-point")
	fs.StringVar(&o.anonymous, "anonymous", "", "log in with ANONYMOUS, sending this `trace`")
	fs.BoolVar(&o.useAPOP, "apop", false, "POP3: log in with APOP (needs pop3s: the timestamp must come inside TLS)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on the whole session")
	keytab := fs.String("keytab", "", "GSSAPI: Kerberos keytab `file` (default: $KRB5_CLIENT_KTNAME; else the password, else the credential cache)")
	fs.StringVar(&o.krb.principal, "principal", "", "GSSAPI: Kerberos `principal` (default: the user name)")
	fs.StringVar(&o.krb.ccache, "ccache", "", "GSSAPI: credential cache `file` (default: $KRB5CCNAME)")
	fs.StringVar(&o.krb.host, "krbhost", "", "GSSAPI: `host` of the service principal imap/host (default: -servername, else the URL's host)")
	fs.StringVar(&o.krb.conf, "krb5conf", "", "GSSAPI: krb5.conf `file` (default: $KRB5_CONFIG, /etc/krb5.conf)")
	verbose := fs.Bool("v", false, "print the protocol transcript on stderr, secrets masked")
	pw := secretFlags{what: "password", flagPfx: "password", defEnv: envPassword}
	pw.register(fs)
	tok := secretFlags{what: "token", flagPfx: "token", defEnv: envToken}
	tok.register(fs)
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return quietError{exitUsage}
	}
	t, err := parseTarget(fs.Arg(0), "")
	if err != nil {
		return err
	}
	if o.user == "" {
		o.user = t.user
	}
	if o.useAPOP && (t.proto != sasl.POP3 || !t.implicit) {
		// The timestamp APOP answers must come inside TLS, or a man in
		// the middle chooses it (CVE-2007-1558).
		return usagef("-apop needs pop3s:// (implicit TLS): a STLS greeting came in plaintext")
	}
	creds, err := gatherCredentials(c, t, o, &pw, &tok, *keytab)
	if err != nil {
		return err
	}
	var trace io.Writer
	if *verbose {
		trace = c.stderr
	}
	res, err := login(ctx, t, o, creds, trace)
	if res != nil {
		printLogin(c.stdout, res, err)
	}
	return err
}

// credKind says which secret a mechanism needs.
func credKind(mech string) string {
	switch strings.ToUpper(mech) {
	case sasl.OAuthBearer, sasl.XOAuth2:
		return "token"
	case sasl.External, sasl.Anonymous:
		return "none"
	case "GSSAPI":
		return "keytab"
	}
	return "password"
}

// gatherCredentials fetches the secrets the chosen (or likely) mechanism
// needs, and only those: a password is prompted for only when nothing
// else was given.
func gatherCredentials(c *cli, t target, o *loginOpts, pw, tok *secretFlags, keytab string) (credentials, error) {
	var cr credentials
	kind := "password"
	switch {
	case o.mech != "":
		kind = credKind(o.mech)
	case o.anonymous != "" || o.tls.certFile != "" && !pw.given(c):
		kind = "none"
	case tok.given(c) && !pw.given(c):
		kind = "token"
	}
	if o.anonymous != "" && o.mech == "" {
		o.mech = sasl.Anonymous
	}
	if o.tls.certFile != "" && o.mech == "" && kind == "none" {
		o.mech = sasl.External
	}
	var err error
	switch kind {
	case "password":
		if o.user == "" {
			return cr, usagef("no user name: give -u or user@ in the URL")
		}
		cr.password, err = pw.get(c, fmt.Sprintf("Password for %s at %s: ", o.user, t.host))
		if err == nil && tok.given(c) {
			cr.token, err = tok.get(c, "")
		}
	case "token":
		cr.token, err = tok.get(c, fmt.Sprintf("Bearer token for %s at %s: ", o.user, t.host))
	case "keytab":
		// A keytab, else a password if one was given, else kinit's
		// credential cache: nothing is prompted for.
		cr.keytab = keytab
		if cr.keytab == "" {
			cr.keytab = c.getenv("KRB5_CLIENT_KTNAME")
		}
		if cr.keytab == "" && pw.given(c) {
			cr.password, err = pw.get(c, "")
		}
	}
	return cr, err
}

// newSession builds the TLS and SASL configs of logins to t.
func newSession(t target, o *loginOpts, cr credentials) (*session, error) {
	tlsCfg, err := o.tls.config(t)
	if err != nil {
		return nil, err
	}
	if o.noResume {
		tlsCfg.ClientSessionCache = nil
	}
	cfg := &sasl.ClientConfig{
		Username:           o.user,
		Password:           cr.password,
		Authzid:            o.authzid,
		Token:              cr.token,
		External:           len(tlsCfg.Certificates) > 0,
		Anonymous:          o.anonymous != "",
		Trace:              o.anonymous,
		Host:               t.host,
		Port:               t.port,
		Service:            t.service(),
		ChannelBindingType: o.cbType,
	}
	if !o.noCache {
		// Reconnects skip PBKDF2 when the server sends the same salt and
		// count (RFC 5802, Section 5.1): bench measures the server.
		cfg.SCRAMCache = &sasl.SCRAMCache{}
	}
	if o.mech != "" {
		cfg.Mechanisms = []string{strings.ToUpper(o.mech)}
	}
	if err := addExtraMechanisms(cfg, t, o, cr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, &opError{t.String(), "Kerberos credentials", err}
	}
	s := &session{t: t, o: o, tlsCfg: tlsCfg, sasl: cfg}
	for _, v := range []string{cr.password, cr.token} {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
	return s, nil
}

// login runs one session against t: TLS (implicit, or STARTTLS that is
// required), capabilities inside TLS, the exchange, LOGOUT/QUIT.
func login(ctx context.Context, t target, o *loginOpts, cr credentials, trace io.Writer) (*loginResult, error) {
	s, err := newSession(t, o, cr)
	if err != nil {
		return nil, err
	}
	return s.login(ctx, trace)
}

func (s *session) login(ctx context.Context, trace io.Writer) (res *loginResult, err error) {
	t := s.t
	res = &loginResult{Target: t.String()}
	step := "connect"
	defer func() {
		if err != nil {
			err = &opError{t.String(), step, err}
		}
	}()
	if s.o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.o.timeout)
		defer cancel()
	}
	t0 := time.Now()
	raw, err := dial(ctx, t, s.o.timeout)
	if err != nil {
		return res, err
	}
	defer raw.Close()
	res.Connect = time.Since(t0)
	// ctx bounds the whole session, reads and writes included.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	tr := newTracer(trace, s.secrets)
	conn := tr.wrapPlain(raw)

	t1 := time.Now()
	opts := sasl.ClientOptions{Protocol: t.proto, Mode: t.mode(), TLSConfig: s.tlsCfg}
	step = "STARTTLS"
	if t.implicit {
		// The handshake first and on its own, so that bench can tell its
		// cost from the SASL exchange's; NegotiateClient takes the
		// *tls.Conn as it is (its config verified the server).
		step = "TLS handshake"
		tc, err := tlsutil.ClientHandshake(ctx, raw, s.tlsCfg)
		if err != nil {
			return res, err
		}
		res.Handshake = time.Since(t1)
		conn = tc
		step = "greeting"
	}
	cc, err := sasl.NegotiateClient(ctx, conn, opts)
	if err != nil {
		return res, err
	}
	if !t.implicit {
		res.Handshake = time.Since(t1)
	}
	dl, _ := ctx.Deadline()
	cc.Conn.SetDeadline(dl)
	cs := cc.TLS.ConnectionState()
	res.TLSVersion = tls.VersionName(cs.Version)
	res.Suite = tls.CipherSuiteName(cs.CipherSuite)
	res.Resumed = cs.DidResume
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		res.CertSubject = leaf.Subject.String()
		res.CertIssuer = leaf.Issuer.String()
		res.CertExpiry = leaf.NotAfter
	}
	res.Offered = cc.Capabilities.AuthMechanisms()
	tr.tlsUp(res, cc)

	// The exchange runs on a textproto.Conn over the traced TLS
	// connection; NegotiateClient's reader must hold nothing unread.
	tp := cc.Text
	if trace != nil && cc.Text.R.Buffered() == 0 {
		tp = textproto.NewConn(tr.wrapTLS(cc.Conn))
	}
	state := connState(cc.TLS)
	t2 := time.Now()
	if s.o.useAPOP {
		step = "APOP"
		res.Chosen = apop.Name
		if t.proto != sasl.POP3 || !t.implicit || cc.Greeting == "" {
			// The timestamp APOP answers must come inside TLS, or a
			// man in the middle chooses it (CVE-2007-1558).
			return res, usagef("-apop needs pop3s:// (implicit TLS)")
		}
		res.Verified = "no (APOP is not mutual)"
		res.ChannelBinding = "none"
		// cc.Conn is the *tls.Conn under the trace: apop.Login reads TLS
		// from it, and ctx's deadline applies to it.
		if err := apop.Login(ctx, tp, cc.Conn, cc.Greeting, s.o.user, s.sasl.Password, nil); err != nil {
			return res, err
		}
		res.SASL = time.Since(t2)
		step = "logout"
		return res, logout(tp, t.proto, cc.NextTag())
	}
	step = "choose mechanism"
	cl, err := s.sasl.NewClient(res.Offered, state)
	if err != nil {
		return res, err
	}
	mech := ""
	if m, ok := sasl.ChosenMechanism(cl); ok {
		mech = m.Name()
	}
	x := &sasl.Exchange{Protocol: t.proto, Tag: cc.NextTag(), SASLIR: t.proto == sasl.IMAP && cc.Capabilities.Has("SASL-IR")}
	step = "AUTHENTICATE"
	if t.proto != sasl.IMAP {
		step = "AUTH"
	}
	err = x.Authenticate(ctx, tp, cc.Conn, cl)
	res.Chosen = mech
	step += " " + mech
	res.SASL = time.Since(t2)
	res.ChannelBinding = channelBinding(mech, s.sasl.ChannelBindingType, &cs)
	res.Verified, err = serverVerified(mech, cl, err)
	if err != nil {
		return res, err
	}
	step = "logout"
	return res, logout(tp, t.proto, cc.NextTag())
}

// serverVerified says whether the server proved itself, for a mutual
// mechanism: sasl's FinishedClient reports that the client received and
// checked the server's proof (SCRAM v=, DIGEST-MD5 rspauth, GSSAPI
// AP-REP). A success without it is turned into an error.
func serverVerified(mech string, c sasl.Client, err error) (string, error) {
	m, ok := lookupMechanism(mech)
	if !ok || !m.Security().Mutual {
		return "no (" + mech + " is not mutual: only TLS authenticated the server)", err
	}
	f, ok := c.(sasl.FinishedClient)
	if !ok {
		return "unknown (this mechanism's client does not report it)", err
	}
	if ferr := f.Finished(); ferr != nil {
		if err == nil {
			// Exchange refuses this itself; kept so that no path can
			// report such a login as a success.
			err = fmt.Errorf("%w: %w", errServerNotVerified, ferr)
		}
		return "NO: " + oneLine(ferr.Error()), err
	}
	return "yes (" + proofName(mech) + ")", err
}

func proofName(mech string) string {
	switch {
	case strings.HasPrefix(mech, "SCRAM-"):
		return "SCRAM server signature checked"
	case mech == sasl.DigestMD5:
		return "DIGEST-MD5 rspauth checked"
	case mech == "GSSAPI":
		return "Kerberos AP-REP checked"
	}
	return "server proof checked"
}

// channelBinding names the binding a -PLUS mechanism used: the configured
// type, or sasl's default (tls-exporter on TLS 1.3, tls-unique on 1.2;
// ClientConfig.ChannelBindingType).
func channelBinding(mech, configured string, cs *tls.ConnectionState) string {
	if !strings.HasSuffix(mech, "-PLUS") {
		return "none"
	}
	typ := configured
	if typ == "" {
		typ = tlsutil.TLSExporter
		if cs.Version < tls.VersionTLS13 && cs.TLSUnique != nil {
			typ = tlsutil.TLSUnique
		}
	}
	ref := map[string]string{tlsutil.TLSExporter: "RFC 9266", tlsutil.TLSUnique: "RFC 5929 §3", tlsutil.TLSServerEndPoint: "RFC 5929 §4"}[typ]
	return typ + " (" + ref + ")"
}

// logout ends the session politely and reads the answer.
func logout(tp *textproto.Conn, p sasl.Protocol, tag string) error {
	w := &wire{r: tp.R, proto: p}
	if p == sasl.IMAP {
		if err := tp.PrintfLine("%s LOGOUT", tag); err != nil {
			return err
		}
		_, _, err := w.imapTagged(tag)
		return err
	}
	if err := tp.PrintfLine("QUIT"); err != nil {
		return err
	}
	if p == sasl.SMTP {
		_, _, err := w.smtpReply()
		return err
	}
	_, err := w.readLine()
	return err
}

func printLogin(w io.Writer, r *loginResult, err error) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "server\t%s\n", r.Target)
	if r.TLSVersion != "" {
		resumed := ""
		if r.Resumed {
			resumed = " (resumed)"
		}
		fmt.Fprintf(tw, "TLS\t%s, %s%s\n", r.TLSVersion, r.Suite, resumed)
		fmt.Fprintf(tw, "certificate\t%s, issued by %s\n", r.CertSubject, r.CertIssuer)
		fmt.Fprintf(tw, "\tvalid until %s (%d days), verified for the host name\n", r.CertExpiry.UTC().Format(time.DateTime), int(time.Until(r.CertExpiry).Hours()/24))
		fmt.Fprintf(tw, "offered\t%s\n", joinOr(r.Offered, " "))
	}
	if r.Chosen != "" {
		fmt.Fprintf(tw, "mechanism\t%s\n", r.Chosen)
		if r.Verified != "" {
			fmt.Fprintf(tw, "server verified\t%s\n", r.Verified)
		}
		fmt.Fprintf(tw, "channel binding\t%s\n", r.ChannelBinding)
	}
	if err == nil {
		fmt.Fprintf(tw, "result\tauthenticated (TLS %v, SASL %v)\n", r.Handshake.Round(time.Millisecond), r.SASL.Round(time.Millisecond))
	} else {
		fmt.Fprintf(tw, "result\tFAILED (%s)\n", causeOf(err))
	}
	tw.Flush()
}
