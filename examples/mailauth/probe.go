package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
)

const probeExample = `  mailauth probe imap://mail.example.org          # STARTTLS on 143
  mailauth probe -proto pop3s mail.example.org:995
  mailauth probe -json smtp://mail.example.org:587 | jq .findings
  mailauth probe -ca dovecot-ca.pem -u alice imaps://127.0.0.1:993   # also log in, inside TLS`

// Severities of a finding, worst last.
const (
	sevOK   = "ok"
	sevInfo = "info"
	sevWarn = "warn"
	sevFail = "FAIL"
)

// finding is one line of the verdict.
type finding struct {
	Severity string `json:"severity"`
	Check    string `json:"check"`
	Verdict  string `json:"verdict"`
	Ref      string `json:"ref,omitempty"`
}

// mechReport is one advertised mechanism and its properties from the
// library (sasl.MechanismByName, apop.Mechanism).
type mechReport struct {
	Name  string         `json:"name"`
	Known bool           `json:"known"`
	Sec   *sasl.Security `json:"security,omitempty"`
}

// phaseReport is what the server said in one phase (before or after TLS).
type phaseReport struct {
	Greeting     string       `json:"greeting,omitempty"`
	Capabilities []string     `json:"capabilities"`
	Mechanisms   []mechReport `json:"mechanisms"`
	Error        string       `json:"error,omitempty"`
}

type certReport struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	IPs       []string  `json:"ips,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Key       string    `json:"key"`
	Signature string    `json:"signature"`
}

type versionReport struct {
	Version  string   `json:"version"`
	Accepted bool     `json:"accepted"`
	Suites   []string `json:"suites,omitempty"`
}

type tlsReport struct {
	Versions    []versionReport `json:"versions"`
	Negotiated  string          `json:"negotiated,omitempty"` // version and suite with defaults
	Chain       []certReport    `json:"chain,omitempty"`
	VerifiedFor string          `json:"verified_for"`
	Verify      string          `json:"verify"` // "ok" or the error
}

type startTLSReport struct {
	Offered     bool      `json:"offered"`
	InjectOne   *tlsStart `json:"injection_single_write,omitempty"`
	InjectSplit *tlsStart `json:"injection_split_write,omitempty"`
	Again       string    `json:"starttls_inside_tls,omitempty"`
}

type loginReport struct {
	Mechanism string `json:"mechanism"`
	Result    string `json:"result"`
}

type probeReport struct {
	Target   string          `json:"target"`
	Protocol string          `json:"protocol"`
	Implicit bool            `json:"implicit_tls"`
	PreTLS   *phaseReport    `json:"pre_tls,omitempty"`
	StartTLS *startTLSReport `json:"starttls,omitempty"`
	TLS      *tlsReport      `json:"tls,omitempty"`
	PostTLS  *phaseReport    `json:"post_tls,omitempty"`
	Logins   []loginReport   `json:"logins,omitempty"`
	Findings []finding       `json:"findings"`
}

func (r *probeReport) add(sev, check, ref, format string, args ...any) {
	r.Findings = append(r.Findings, finding{Severity: sev, Check: check, Verdict: fmt.Sprintf(format, args...), Ref: ref})
}

type probeOpts struct {
	tls      tlsFlags
	wait     time.Duration
	timeout  time.Duration
	noScan   bool
	user     string
	password secretFlags
	login    bool
}

func runProbe(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("probe", "[flags] scheme://host[:port] | -proto scheme host[:port]", probeExample)
	var o probeOpts
	o.tls.register(fs)
	proto := fs.String("proto", "", "`scheme` when the target is host[:port]: imap, imaps, pop3, pop3s, smtp, smtps")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.DurationVar(&o.wait, "wait", time.Second, "how long to wait for an answer to the injected command inside TLS")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on each connection")
	fs.BoolVar(&o.noScan, "noscan", false, "skip the TLS version and cipher-suite scan (one connection per suite)")
	fs.StringVar(&o.user, "u", "", "also log in as `user` with each mechanism offered after TLS (only if the certificate verifies)")
	o.password = secretFlags{what: "password", flagPfx: "password", defEnv: envPassword}
	o.password.register(fs)
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return quietError{exitUsage}
	}
	t, err := parseTarget(fs.Arg(0), *proto)
	if err != nil {
		return err
	}
	// Only -u asks for a login: a user in the URL alone does not make
	// the probe send a credential.
	var secret string
	if o.user != "" {
		if secret, err = o.password.get(c, fmt.Sprintf("Password for %s at %s: ", o.user, t.host)); err != nil {
			return err
		}
	}
	rep, err := probe(ctx, t, &o, secret)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printProbe(c.stdout, rep)
	}
	for _, f := range rep.Findings {
		if f.Severity == sevFail {
			return quietError{exitFindings}
		}
	}
	return nil
}

// probe runs every check against t. It fails only when the server cannot
// be reached at all; everything else is a finding.
func probe(ctx context.Context, t target, o *probeOpts, secret string) (*probeReport, error) {
	rep := &probeReport{Target: t.String(), Protocol: t.proto.String(), Implicit: t.implicit, Findings: []finding{}}
	roots, err := o.tls.roots()
	if err != nil {
		return nil, err
	}
	name := t.host
	if o.tls.serverName != "" {
		name = o.tls.serverName
	}
	// Inspection only: the probe looks at whatever certificate it is
	// given and judges it itself (checkChain). Nothing that carries a
	// credential ever uses this config.
	inspect := &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}

	if !t.implicit {
		if err := probePreTLS(ctx, t, o, rep, inspect); err != nil {
			return nil, err
		}
	}
	// After TLS: capabilities, mechanisms, certificate, STARTTLS again.
	cs, err := probePostTLS(ctx, t, o, rep, inspect)
	if err != nil {
		if rep.PreTLS == nil {
			return nil, &opError{t.String(), "TLS", err}
		}
	}
	if cs != nil {
		rep.TLS = &tlsReport{Negotiated: tls.VersionName(cs.Version) + " " + tls.CipherSuiteName(cs.CipherSuite)}
		checkChain(rep, cs.PeerCertificates, name, roots)
		if !o.noScan {
			scanTLS(ctx, t, o, rep, name)
		}
	}
	if o.user != "" && rep.PostTLS != nil {
		probeLogins(ctx, t, o, rep, secret)
	}
	sortFindings(rep.Findings)
	return rep, nil
}

// probePreTLS reads the greeting and capabilities in plaintext (nothing
// is sent but the capability command), then runs the STARTTLS injection
// tests on fresh connections.
func probePreTLS(ctx context.Context, t target, o *probeOpts, rep *probeReport, inspect *tls.Config) error {
	pre := &phaseReport{}
	rep.PreTLS = pre
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	conn, err := dial(cctx, t, o.timeout)
	if err != nil {
		return &opError{t.String(), "connect", err}
	}
	// Plaintext on purpose: this is the view of anyone on the path. The
	// probe sends no credential on it.
	cc, err := sasl.NegotiateClient(cctx, conn, sasl.ClientOptions{Protocol: t.proto, Mode: sasl.InsecurePlaintext, Hostname: probeEHLO})
	if err != nil {
		conn.Close()
		pre.Error = err.Error()
		rep.add(sevFail, "greeting", "", "no usable plaintext greeting or capabilities: %v", oneLine(err.Error()))
		return nil
	}
	pre.Greeting = trunc(cc.Greeting, 200)
	pre.Capabilities = cc.Capabilities.List()
	pre.Mechanisms = mechReports(t.proto, cc.Capabilities.AuthMechanisms(), cc.Greeting)
	quit(cc.Text, t.proto, cc.NextTag())
	conn.Close()
	if cc.PreAuth {
		rep.add(sevFail, "preauth", "RFC 9051 §6.2.1; CVE-2020-12398", "IMAP PREAUTH greeting: STARTTLS is impossible in the authenticated state")
	}
	checkPlaintextExposure(t.proto, cc.Capabilities, cc.Greeting, pre.Mechanisms, rep)

	st := &startTLSReport{}
	rep.StartTLS = st
	switch t.proto {
	case sasl.POP3:
		st.Offered = cc.Capabilities.Has("STLS")
	default:
		st.Offered = cc.Capabilities.Has("STARTTLS")
	}
	if !st.Offered {
		rep.add(sevFail, "starttls-offered", "RFC 8314 §3; RFC 2595 §3-4; RFC 3207", "STARTTLS is not offered: every login on this port crosses the network in clear")
		return nil
	}
	rep.add(sevOK, "starttls-offered", "RFC 2595; RFC 3207", "STARTTLS offered (implicit TLS on its own port is still preferred, RFC 8314 §3)")
	for _, split := range []bool{false, true} {
		res, err := injectionTest(ctx, t, o, inspect, split)
		if err != nil {
			res = &tlsStart{Outcome: "error", Detail: err.Error()}
		}
		how := "one write"
		if split {
			st.InjectSplit = res
			how = "split write"
		} else {
			st.InjectOne = res
		}
		switch res.Outcome {
		case "executed":
			rep.add(sevFail, "starttls-injection", "CVE-2011-0411; CVE-2021-33515; NO STARTTLS (USENIX Sec 2021)",
				"command pipelined after STARTTLS (%s) was answered inside TLS: an attacker can inject commands into the TLS session", how)
		case "error":
			rep.add(sevWarn, "starttls-injection", "CVE-2011-0411", "injection test (%s) could not run: %s", how, oneLine(res.Detail))
		case "plaintext-after-go-ahead":
			rep.add(sevWarn, "starttls-injection", "RFC 2595 §3.1; RFC 3207 §4", "server sent plaintext after the STARTTLS go-ahead (%s)", how)
		default:
			rep.add(sevOK, "starttls-injection", "CVE-2011-0411", "command pipelined after STARTTLS (%s) not executed (%s)", how, res.Outcome)
		}
	}
	return nil
}

// injectionTest is the NO STARTTLS server command-injection test
// (research §1.2): STARTTLS with a harmless command pipelined after it,
// then TLS, then a wait: a server that answers before we said anything
// inside TLS ran a command that was sent in plaintext.
func injectionTest(ctx context.Context, t target, o *probeOpts, cfg *tls.Config, split bool) (*tlsStart, error) {
	cctx, cancel := context.WithTimeout(ctx, o.timeout+o.wait)
	defer cancel()
	conn, err := dial(cctx, t, o.timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := cctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	tc, st, err := rawStartTLS(cctx, conn, t.proto, cfg, injected(t.proto), split)
	if err != nil || tc == nil {
		return &st, err
	}
	tc.SetReadDeadline(time.Now().Add(o.wait))
	w := newWire(tc, t.proto)
	l, err := w.readLine()
	switch {
	case err == nil:
		return &tlsStart{Outcome: "executed", Detail: trunc(l, 120)}, nil
	case errors.Is(err, io.EOF) || isReset(err) && !isTimeout(err):
		return &tlsStart{Outcome: "closed-after-tls", Detail: "the server closed the TLS session"}, nil
	}
	return &tlsStart{Outcome: "ignored", Detail: fmt.Sprintf("nothing answered inside TLS within %v", o.wait)}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// checkPlaintextExposure rates what the plaintext capabilities let a
// client send in clear (checklist S7).
func checkPlaintextExposure(p sasl.Protocol, caps sasl.Capabilities, greeting string, mechs []mechReport, rep *probeReport) {
	exposed := false
	ref := "RFC 2595 §2.3; RFC 8314 §4.1"
	if p == sasl.SMTP {
		ref = "RFC 4954 §4; RFC 8314 §4.1"
	}
	var clear, guessable, other []string
	for _, m := range mechs {
		switch {
		case m.Name == apop.Name:
			// rated below, from the greeting
		case m.Sec == nil:
			other = append(other, m.Name)
		case m.Sec.PlaintextEquivalent:
			clear = append(clear, m.Name)
		case m.Sec.NeedsTLS, strings.HasPrefix(m.Name, "SCRAM-"):
			// SCRAM without TLS lets a passive eavesdropper test
			// password guesses offline too (RFC 5802, Section 9).
			guessable = append(guessable, m.Name)
		default:
			other = append(other, m.Name)
		}
	}
	if len(clear) > 0 {
		exposed = true
		rep.add(sevFail, "plaintext-auth", ref, "%s offered before TLS: the password (or token) can be sent in clear", strings.Join(clear, ", "))
	}
	if len(guessable) > 0 {
		exposed = true
		rep.add(sevWarn, "plaintext-auth", guessRefs(guessable), "%s offered before TLS: an eavesdropper can test password guesses offline", strings.Join(guessable, ", "))
	}
	if len(other) > 0 {
		rep.add(sevInfo, "plaintext-auth", "RFC 2595 §3.1", "%s offered before TLS (no password involved; the list itself is unauthenticated)", strings.Join(other, ", "))
	}
	switch p {
	case sasl.IMAP:
		if !caps.Has("LOGINDISABLED") {
			exposed = true
			rep.add(sevFail, "plaintext-login", "RFC 2595 §3.2; RFC 9051 §6.2.3", "no LOGINDISABLED before TLS: the IMAP LOGIN command takes a password in clear")
		}
	case sasl.POP3:
		if caps.Has("USER") {
			exposed = true
			rep.add(sevFail, "plaintext-login", "RFC 2595 §2.3; RFC 2449 §6.8", "USER offered before TLS: USER/PASS sends the password in clear")
		}
		if _, err := apop.ParseGreeting(greeting); err == nil {
			exposed = true
			rep.add(sevWarn, "plaintext-login", "RFC 1939 §7; CVE-2007-1558", "APOP timestamp in the plaintext greeting: an APOP digest sent before TLS can be guessed offline")
		}
	case sasl.SMTP:
		if caps.Has("AUTH") {
			exposed = true
			rep.add(sevWarn, "plaintext-login", "RFC 4954 §4; RFC 3207 §4.2", "AUTH offered in the EHLO reply before TLS")
		}
	}
	if !exposed {
		rep.add(sevOK, "plaintext-auth", ref, "no credential-exposing login offered before TLS")
	}
}

// guessRefs cites, for the mechanisms in names, where their exposure to
// offline guessing without TLS is written down.
func guessRefs(names []string) string {
	var refs []string
	add := func(r string) {
		if !slices.Contains(refs, r) {
			refs = append(refs, r)
		}
	}
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "SCRAM-"):
			add("RFC 5802 §9")
		case n == sasl.CRAMMD5:
			add("RFC 2195 §4")
		case n == sasl.DigestMD5:
			add("RFC 6331 §1")
		case n == "NTLM":
			add("MS-NLMP §5")
		default:
			add("RFC 8314 §4.1")
		}
	}
	return strings.Join(refs, "; ")
}

// mechReports describes each advertised mechanism with the library's
// security properties; APOP is added when the greeting has a stamp.
func mechReports(p sasl.Protocol, names []string, greeting string) []mechReport {
	out := []mechReport{}
	for _, n := range names {
		out = append(out, describeMech(n))
	}
	if p == sasl.POP3 && greeting != "" {
		if _, err := apop.ParseGreeting(greeting); err == nil {
			out = append(out, describeMech(apop.Name))
		}
	}
	return out
}

// describeMech returns what the library knows of mechanism name.
func describeMech(name string) mechReport {
	m, ok := lookupMechanism(name)
	if !ok {
		return mechReport{Name: name}
	}
	sec := m.Security()
	return mechReport{Name: m.Name(), Known: true, Sec: &sec}
}

// lookupMechanism finds a mechanism of this module by name: sasl's, APOP,
// and those of the packages outside sasl (see mechs.go).
func lookupMechanism(name string) (sasl.Mechanism, bool) {
	if m, ok := sasl.MechanismByName(name); ok {
		return m, true
	}
	for _, m := range extraMechanisms() {
		if strings.EqualFold(m.Name(), name) {
			return m, true
		}
	}
	return nil, false
}

// probePostTLS brings TLS up the library's way (sasl.NegotiateClient,
// with verification left to checkChain) and reads the capabilities inside
// it, then tries STARTTLS again.
func probePostTLS(ctx context.Context, t target, o *probeOpts, rep *probeReport, inspect *tls.Config) (*tls.ConnectionState, error) {
	post := &phaseReport{}
	rep.PostTLS = post
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	conn, err := dial(cctx, t, o.timeout)
	if err != nil {
		post.Error = err.Error()
		return nil, err
	}
	defer conn.Close()
	cc, err := sasl.NegotiateClient(cctx, conn, sasl.ClientOptions{Protocol: t.proto, Mode: t.mode(), TLSConfig: inspect, Hostname: probeEHLO})
	if err != nil {
		post.Error = err.Error()
		rep.add(sevFail, "tls", "RFC 8314 §3; RFC 8997", "no TLS session with TLS 1.2 or later: %v", oneLine(err.Error()))
		return nil, err
	}
	cs := cc.TLS.ConnectionState()
	post.Greeting = trunc(cc.Greeting, 200)
	post.Capabilities = cc.Capabilities.List()
	post.Mechanisms = mechReports(t.proto, cc.Capabilities.AuthMechanisms(), cc.Greeting)
	checkPostTLSMechs(t.proto, post.Mechanisms, rep)
	starttlsCap := "STARTTLS"
	if t.proto == sasl.POP3 {
		starttlsCap = "STLS"
	}
	if cc.Capabilities.Has(starttlsCap) {
		sev := sevInfo
		if t.proto == sasl.SMTP {
			sev = sevWarn // a MUST NOT of RFC 3207 §4.2
		}
		rep.add(sev, "starttls-again", "RFC 3207 §4.2; NO STARTTLS S6", "%s still advertised inside TLS", starttlsCap)
	}
	// STARTTLS inside TLS must be refused (checklist S6).
	w := &wire{conn: cc.Conn, r: cc.Text.R, proto: t.proto}
	tag := cc.NextTag()
	again := "error"
	if err := w.send(startTLSCommand(t.proto, tag)); err == nil {
		ok, reply, err := w.goAhead(tag)
		switch {
		case err != nil:
			again = "connection closed"
		case ok:
			again = "accepted: " + trunc(strings.Join(reply, " | "), 100)
		default:
			again = "refused: " + trunc(reply[len(reply)-1], 100)
		}
		if err == nil && !ok {
			quit(cc.Text, t.proto, cc.NextTag())
		}
	}
	if rep.StartTLS == nil {
		rep.StartTLS = &startTLSReport{}
	}
	rep.StartTLS.Again = again
	if strings.HasPrefix(again, "accepted") {
		rep.add(sevWarn, "starttls-again", "RFC 2595 §3.1; RFC 3207 §4.2; NO STARTTLS S6", "STARTTLS accepted inside TLS")
	} else {
		rep.add(sevOK, "starttls-again", "NO STARTTLS S6", "STARTTLS inside TLS %s", strings.SplitN(again, ":", 2)[0])
	}
	return &cs, nil
}

// checkPostTLSMechs rates what is offered inside TLS.
func checkPostTLSMechs(p sasl.Protocol, mechs []mechReport, rep *probeReport) {
	if len(mechs) == 0 {
		if p == sasl.IMAP || p == sasl.POP3 {
			rep.add(sevInfo, "mechanisms", "RFC 9051 §6.2.2", "no SASL mechanism advertised inside TLS (only LOGIN/USER, if any)")
		} else {
			rep.add(sevWarn, "mechanisms", "RFC 4954", "no AUTH advertised inside TLS")
		}
		return
	}
	var scram, plus, legacy bool
	for _, m := range mechs {
		if m.Sec == nil {
			continue
		}
		scram = scram || m.Sec.Mutual
		plus = plus || m.Sec.ChannelBinding
		if m.Sec.Legacy {
			legacy = true
		}
	}
	switch {
	case plus:
		rep.add(sevOK, "mechanisms", "RFC 5802 §6; RFC 9266", "a channel-binding mechanism (-PLUS) is offered")
	case scram:
		rep.add(sevInfo, "mechanisms", "RFC 5802 §6; RFC 9266", "mutual authentication offered, but no channel binding (-PLUS)")
	default:
		rep.add(sevInfo, "mechanisms", "RFC 7677", "no mutual mechanism: the server learns the password, the client never verifies the server")
	}
	if legacy {
		var names []string
		for _, m := range mechs {
			if m.Sec != nil && m.Sec.Legacy {
				names = append(names, m.Name)
			}
		}
		rep.add(sevInfo, "mechanisms", "RFC 6331", "legacy mechanisms offered: %s", strings.Join(names, ", "))
	}
}

// checkChain judges the certificate chain the server sent: validity now,
// the host name (RFC 7817; RFC 9525), the roots, key and signature.
func checkChain(rep *probeReport, chain []*x509.Certificate, name string, roots *x509.CertPool) {
	tr := rep.TLS
	tr.VerifiedFor = name
	if len(chain) == 0 {
		tr.Verify = "no certificate"
		rep.add(sevFail, "certificate", "RFC 8314 §5.3", "the server sent no certificate")
		return
	}
	now := time.Now()
	for _, c := range chain {
		cr := certReport{Subject: c.Subject.String(), Issuer: c.Issuer.String(), DNSNames: c.DNSNames,
			NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Key: keyName(c), Signature: c.SignatureAlgorithm.String()}
		for _, ip := range c.IPAddresses {
			cr.IPs = append(cr.IPs, ip.String())
		}
		tr.Chain = append(tr.Chain, cr)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: now})
	if err == nil {
		tr.Verify = "ok"
		rep.add(sevOK, "certificate", "RFC 7817; RFC 8314 §5.3", "certificate chain verifies for %s", name)
	} else {
		tr.Verify = err.Error()
	}
	var certInvalid x509.CertificateInvalidError
	var hostErr x509.HostnameError
	var unknown x509.UnknownAuthorityError
	switch {
	case now.After(leaf.NotAfter):
		rep.add(sevFail, "certificate", "RFC 5280 §4.1.2.5; RFC 8314 §5.3", "certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		rep.add(sevFail, "certificate", "RFC 5280 §4.1.2.5", "certificate not valid before %s", leaf.NotBefore.UTC().Format(time.DateTime))
	case errors.As(err, &certInvalid):
		rep.add(sevFail, "certificate", "RFC 5280 §6", "certificate chain invalid: %v", err)
	case leaf.NotAfter.Sub(now) < 14*24*time.Hour:
		rep.add(sevWarn, "certificate", "RFC 5280 §4.1.2.5", "certificate expires in %d days", int(leaf.NotAfter.Sub(now).Hours()/24))
	}
	if herr := leaf.VerifyHostname(name); herr != nil || errors.As(err, &hostErr) {
		rep.add(sevFail, "certificate", "RFC 7817 §3; RFC 9525 §6", "certificate is not valid for %s", name)
	}
	if errors.As(err, &unknown) {
		rep.add(sevFail, "certificate", "RFC 8314 §5.3; RFC 5280 §6", "certificate chain does not lead to a trusted root (%s)", oneLine(err.Error()))
	}
	if rk, ok := leaf.PublicKey.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
		rep.add(sevWarn, "certificate", "RFC 9325 §4.3", "RSA key of %d bits", rk.N.BitLen())
	}
	switch leaf.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		rep.add(sevFail, "certificate", "RFC 9155", "certificate signed with %v", leaf.SignatureAlgorithm)
	}
}

func keyName(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return c.PublicKeyAlgorithm.String()
}

// scanTLS tries each TLS version alone, and each TLS 1.0-1.2 cipher
// suite crypto/tls can offer alone, one connection each.
func scanTLS(ctx context.Context, t target, o *probeOpts, rep *probeReport, name string) {
	versions := []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}
	var all []*tls.CipherSuite
	all = append(all, tls.CipherSuites()...)
	all = append(all, tls.InsecureCipherSuites()...)
	try := func(v uint16, suite uint16) (string, bool) {
		cfg := &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v}
		if suite != 0 {
			cfg.CipherSuites = []uint16{suite}
		} else if v < tls.VersionTLS13 {
			for _, s := range all {
				cfg.CipherSuites = append(cfg.CipherSuites, s.ID)
			}
		}
		tc, err := secure(ctx, t, cfg, o.timeout)
		if err != nil {
			return "", false
		}
		cs := tc.ConnectionState()
		tc.Close()
		return tls.CipherSuiteName(cs.CipherSuite), true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4) // a few at once: the server's limits, not ours
	for _, v := range versions {
		vr := versionReport{Version: tls.VersionName(v)}
		suite, ok := try(v, 0)
		vr.Accepted = ok
		if ok && v == tls.VersionTLS13 {
			vr.Suites = []string{suite} // crypto/tls does not let a client choose TLS 1.3 suites
		}
		if ok && v < tls.VersionTLS13 {
			for _, s := range all {
				if !slices.Contains(s.SupportedVersions, v) {
					continue
				}
				wg.Add(1)
				sem <- struct{}{}
				go func(id uint16) {
					defer wg.Done()
					defer func() { <-sem }()
					if got, ok := try(v, id); ok {
						mu.Lock()
						vr.Suites = append(vr.Suites, got)
						mu.Unlock()
					}
				}(s.ID)
			}
			wg.Wait()
			slices.Sort(vr.Suites)
		}
		rep.TLS.Versions = append(rep.TLS.Versions, vr)
	}
	accepted := map[string]bool{}
	for _, vr := range rep.TLS.Versions {
		accepted[vr.Version] = vr.Accepted
	}
	var old []string
	for _, v := range []string{"TLS 1.0", "TLS 1.1"} {
		if accepted[v] {
			old = append(old, v)
		}
	}
	if len(old) > 0 {
		rep.add(sevFail, "tls-version", "RFC 8996; RFC 8997", "%s accepted", strings.Join(old, ", "))
	} else {
		rep.add(sevOK, "tls-version", "RFC 8996; RFC 8997", "TLS 1.0 and 1.1 refused")
	}
	if !accepted["TLS 1.3"] {
		rep.add(sevWarn, "tls-version", "RFC 9325 §3.1.1", "TLS 1.3 not supported")
	}
	weak := map[string][]string{}
	for _, vr := range rep.TLS.Versions {
		for _, s := range vr.Suites {
			switch {
			case strings.Contains(s, "RC4"):
				weak["RC4 (RFC 7465)"] = append(weak["RC4 (RFC 7465)"], s)
			case strings.Contains(s, "3DES"):
				weak["3DES (CVE-2016-2183)"] = append(weak["3DES (CVE-2016-2183)"], s)
			case strings.HasPrefix(s, "TLS_RSA_"):
				weak["no forward secrecy (RFC 9325 §4.1)"] = append(weak["no forward secrecy (RFC 9325 §4.1)"], s)
			case strings.Contains(s, "CBC"):
				weak["CBC (RFC 9325 §4.2)"] = append(weak["CBC (RFC 9325 §4.2)"], s)
			}
		}
	}
	for _, k := range slices.Sorted(mapsKeys(weak)) {
		sev := sevWarn
		if strings.HasPrefix(k, "RC4") || strings.HasPrefix(k, "3DES") {
			sev = sevFail
		}
		ref := k[strings.Index(k, "(")+1 : len(k)-1]
		rep.add(sev, "tls-suites", ref, "%s suites accepted: %s", k[:strings.Index(k, " (")], strings.Join(dedup(weak[k]), ", "))
	}
	if len(weak) == 0 {
		rep.add(sevOK, "tls-suites", "RFC 9325 §4.2", "only forward-secret AEAD suites accepted")
	}
}

func mapsKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func dedup(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// probeLogins logs in with each mechanism offered after TLS, with the
// credential the user gave: only inside TLS, and only when the
// certificate verified (login's own TLS config checks it again).
func probeLogins(ctx context.Context, t target, o *probeOpts, rep *probeReport, secret string) {
	if rep.TLS == nil || rep.TLS.Verify != "ok" {
		rep.add(sevInfo, "login", "RFC 8314 §5.3", "credentials not sent: the certificate did not verify")
		return
	}
	for _, m := range rep.PostTLS.Mechanisms {
		lo := &loginOpts{tls: o.tls, timeout: o.timeout, mech: m.Name, user: o.user}
		res, err := login(ctx, t, lo, credentials{password: secret}, nil)
		lr := loginReport{Mechanism: m.Name, Result: "ok"}
		switch {
		case err == nil && res.Verified == "no":
			lr.Result = "ok, but the server was not verified"
		case err != nil:
			lr.Result = causeOf(err) + ": " + oneLine(errors.Unwrap(err).Error())
		}
		rep.Logins = append(rep.Logins, lr)
	}
}

// quit ends a session politely, best effort.
func quit(tp interface {
	PrintfLine(format string, args ...any) error
}, p sasl.Protocol, tag string) {
	if p == sasl.IMAP {
		tp.PrintfLine("%s LOGOUT", tag)
		return
	}
	tp.PrintfLine("QUIT")
}

func sortFindings(f []finding) {
	rank := map[string]int{sevFail: 0, sevWarn: 1, sevInfo: 2, sevOK: 3}
	slices.SortStableFunc(f, func(a, b finding) int { return rank[a.Severity] - rank[b.Severity] })
}

// printProbe writes the report as a readable table.
func printProbe(w io.Writer, r *probeReport) {
	mode := "STARTTLS"
	if r.Implicit {
		mode = "implicit TLS"
	}
	fmt.Fprintf(w, "probe %s (%s, %s)\n", r.Target, r.Protocol, mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if p := r.PreTLS; p != nil {
		fmt.Fprintln(tw, "\nbefore TLS\t")
		fmt.Fprintf(tw, "  greeting\t%s\n", p.Greeting)
		fmt.Fprintf(tw, "  capabilities\t%s\n", joinOr(p.Capabilities, " | "))
		fmt.Fprintf(tw, "  mechanisms\t%s\n", joinOr(mechNames(p.Mechanisms), " "))
	}
	if s := r.StartTLS; s != nil {
		fmt.Fprintln(tw, "\nSTARTTLS\t")
		if r.PreTLS != nil {
			fmt.Fprintf(tw, "  offered\t%s\n", yesNo(s.Offered))
		}
		if s.InjectOne != nil {
			fmt.Fprintf(tw, "  injection, one write\t%s\n", outcome(s.InjectOne))
		}
		if s.InjectSplit != nil {
			fmt.Fprintf(tw, "  injection, split write\t%s\n", outcome(s.InjectSplit))
		}
		if s.Again != "" {
			fmt.Fprintf(tw, "  STARTTLS inside TLS\t%s\n", s.Again)
		}
	}
	if t := r.TLS; t != nil {
		fmt.Fprintln(tw, "\nTLS\t")
		fmt.Fprintf(tw, "  negotiated\t%s\n", t.Negotiated)
		for _, v := range t.Versions {
			line := "no"
			if v.Accepted {
				line = "yes"
				if len(v.Suites) > 0 {
					line += "  " + strings.Join(v.Suites, " ")
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\n", v.Version, line)
		}
		for i, c := range t.Chain {
			fmt.Fprintf(tw, "  cert #%d\t%s (issuer %s)\n", i, c.Subject, c.Issuer)
			fmt.Fprintf(tw, "  \t%s to %s, %s, %s\n", c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly), c.Key, c.Signature)
			if i == 0 {
				fmt.Fprintf(tw, "  \tnames: %s\n", joinOr(append(slices.Clone(c.DNSNames), c.IPs...), " "))
			}
		}
		fmt.Fprintf(tw, "  verified for %s\t%s\n", t.VerifiedFor, t.Verify)
	}
	if p := r.PostTLS; p != nil {
		fmt.Fprintln(tw, "\nafter TLS\t")
		if p.Error != "" {
			fmt.Fprintf(tw, "  error\t%s\n", p.Error)
		} else {
			fmt.Fprintf(tw, "  capabilities\t%s\n", joinOr(p.Capabilities, " | "))
		}
	}
	tw.Flush()
	if p := r.PostTLS; p != nil && len(p.Mechanisms) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  mechanism\tplaintext-equiv\tmutual\tchannel binding\tneeds TLS\tlegacy\t")
		for _, m := range p.Mechanisms {
			if m.Sec == nil {
				fmt.Fprintf(tw, "  %s\t(unknown to mailauth)\t\t\t\t\t\n", m.Name)
				continue
			}
			s := m.Sec
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t\n", m.Name, yesDash(s.PlaintextEquivalent), yesDash(s.Mutual), yesDash(s.ChannelBinding), yesDash(s.NeedsTLS), yesDash(s.Legacy))
		}
		tw.Flush()
	}
	if len(r.Logins) > 0 {
		fmt.Fprintln(w, "\nlogins (inside TLS)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, l := range r.Logins {
			fmt.Fprintf(tw, "  %s\t%s\n", l.Mechanism, l.Result)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nfindings")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range r.Findings {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t[%s]\n", f.Severity, f.Check, f.Verdict, f.Ref)
	}
	tw.Flush()
}

func outcome(s *tlsStart) string {
	if s.Detail == "" {
		return s.Outcome
	}
	return s.Outcome + ": " + s.Detail
}

func mechNames(ms []mechReport) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func joinOr(s []string, sep string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, sep)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func yesDash(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
