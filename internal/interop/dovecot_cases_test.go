//go:build interop

package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
)

const peerDovecot = "Dovecot 2.3"

// sessionTimeout bounds one whole client session against a peer.
const sessionTimeout = 30 * time.Second

// mailTransport is one way to reach a mail service: protocol and TLS mode.
type mailTransport struct {
	name  string
	proto sasl.Protocol
	mode  sasl.ClientMode
}

var dcTransports = []mailTransport{
	{"IMAPS", sasl.IMAP, sasl.ImplicitTLS},
	{"IMAP+STARTTLS", sasl.IMAP, sasl.RequireSTARTTLS},
	{"POP3S", sasl.POP3, sasl.ImplicitTLS},
	{"POP3+STLS", sasl.POP3, sasl.RequireSTARTTLS},
	{"submissions", sasl.SMTP, sasl.ImplicitTLS},
	{"submission+STARTTLS", sasl.SMTP, sasl.RequireSTARTTLS},
}

func (d *Dovecot) port(tr mailTransport) int {
	switch {
	case tr.proto == sasl.IMAP && tr.mode == sasl.ImplicitTLS:
		return d.IMAPS
	case tr.proto == sasl.IMAP:
		return d.IMAP
	case tr.proto == sasl.POP3 && tr.mode == sasl.ImplicitTLS:
		return d.POP3S
	case tr.proto == sasl.POP3:
		return d.POP3
	case tr.proto == sasl.SMTP && tr.mode == sasl.ImplicitTLS:
		return d.Submissions
	default:
		return d.Submission
	}
}

func serviceName(p sasl.Protocol) string {
	switch p {
	case sasl.IMAP:
		return "imap"
	case sasl.POP3:
		return "pop"
	default:
		return "smtp"
	}
}

// mailSession is a negotiated client session (TLS up, capabilities read).
type mailSession struct {
	cc    *sasl.ClientSession
	proto sasl.Protocol
	conn  *sasl.ConnState
}

// dialMail connects to addr and negotiates TLS with sasl.NegotiateClient.
func dialMail(t *testing.T, addr string, tr mailTransport, tlsCfg *tls.Config) (*mailSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cc, err := sasl.NegotiateClient(ctx, raw, sasl.ClientOptions{
		Protocol: tr.proto, Mode: tr.mode, TLSConfig: tlsCfg, Hostname: "localhost",
	})
	if err != nil {
		return nil, fmt.Errorf("negotiate %s: %w", tr.name, err)
	}
	t.Cleanup(func() { cc.Conn.Close() })
	cc.Conn.SetDeadline(time.Now().Add(sessionTimeout))
	s := &mailSession{cc: cc, proto: tr.proto, conn: sasl.ClientConn(cc.Conn)}
	if cc.TLS != nil {
		s.conn = sasl.ClientConn(cc.TLS)
	}
	return s, nil
}

// authenticate picks mech from the server's list with cfg and runs our
// client exchange.
func (s *mailSession) authenticate(cfg sasl.ClientConfig, mech string) error {
	offered := s.cc.Capabilities.AuthMechanisms()
	cfg.Mechanisms = []string{mech}
	cl, err := cfg.NewClient(offered, s.conn)
	if err != nil {
		return fmt.Errorf("choose %s from %v: %w", mech, offered, err)
	}
	x := &sasl.Exchange{Protocol: s.proto, SASLIR: s.cc.Capabilities.Has("SASL-IR")}
	if s.proto == sasl.IMAP {
		x.Tag = s.cc.NextTag()
	}
	if err := x.Authenticate(context.Background(), s.cc.Text, s.cc.Conn, cl); err != nil {
		var re *sasl.ReplyError
		if errors.As(err, &re) {
			return fmt.Errorf("%w: %w", errPeerRefused, err)
		}
		return err
	}
	return nil
}

// afterAuth proves the session is usable as the user: IMAP SELECT INBOX,
// POP3 STAT, SMTP a whole message (relayed to the sink).
func (s *mailSession) afterAuth(user string) error {
	tp := s.cc.Text
	switch s.proto {
	case sasl.IMAP:
		tag := s.cc.NextTag()
		if err := tp.PrintfLine("%s SELECT INBOX", tag); err != nil {
			return err
		}
		for {
			l, err := tp.ReadLine()
			if err != nil {
				return err
			}
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					return fmt.Errorf("SELECT: %s", l)
				}
				return nil
			}
		}
	case sasl.POP3:
		if err := tp.PrintfLine("STAT"); err != nil {
			return err
		}
		l, err := tp.ReadLine()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, "+OK 1 ") {
			return fmt.Errorf("STAT: %s (want one message)", l)
		}
		return nil
	default:
		for _, step := range []struct {
			cmd  string
			code int
		}{
			{"MAIL FROM:<" + user + "@interop.test>", 250},
			{"RCPT TO:<sink@interop.test>", 250},
			{"DATA", 354},
			{"Subject: interop\r\n\r\nhello from mailauth\r\n.", 250},
		} {
			id, err := tp.Cmd("%s", step.cmd)
			if err != nil {
				return err
			}
			tp.StartResponse(id)
			_, _, err = tp.ReadResponse(step.code)
			tp.EndResponse(id)
			if err != nil {
				return fmt.Errorf("%s: %w", strings.SplitN(step.cmd, ":", 2)[0], err)
			}
		}
		return nil
	}
}

// dcCase is one row against Dovecot.
type dcCase struct {
	mech    string
	cfg     sasl.ClientConfig
	cert    *tls.Certificate
	wantErr bool
	xfail   string // Dovecot cannot do it by design
	only    func(mailTransport) bool
	note    string
	// needUser skips the row when the harness could not create the user
	needUser string
}

func dovecotCases(d *Dovecot) []dcCase {
	pw := func(user string) sasl.ClientConfig {
		return sasl.ClientConfig{Username: user, Password: d.Passwords[user], Host: "localhost"}
	}
	wrong := func(user string) sasl.ClientConfig {
		return sasl.ClientConfig{Username: user, Password: "wrong-" + d.Passwords[user], Host: "localhost"}
	}
	implicit := func(tr mailTransport) bool { return tr.mode == sasl.ImplicitTLS }
	imaps := func(tr mailTransport) bool { return tr.name == "IMAPS" }
	isSMTP := func(tr mailTransport) bool { return tr.proto == sasl.SMTP }
	notSMTP := func(tr mailTransport) bool { return tr.proto != sasl.SMTP }
	client := &d.PKI.Client
	rogue := &d.PKI.Rogue
	token := d.OAuthToken(d.OAuthUser, time.Hour)
	return []dcCase{
		{mech: "PLAIN", cfg: pw(dcPlain)},
		{mech: "PLAIN", cfg: pw(dcUTF8), note: "non-ASCII password", only: imaps},
		{mech: "PLAIN", cfg: pw(dcHashed), note: "{SSHA256} user", only: imaps},
		{mech: "PLAIN", cfg: wrong(dcPlain), wantErr: true, note: "wrong password"},
		{mech: "PLAIN", cfg: sasl.ClientConfig{Username: "nosuchuser", Password: "x", Host: "localhost"}, wantErr: true, note: "unknown user", only: imaps},
		{mech: "LOGIN", cfg: pw(dcPlain)},
		{mech: "LOGIN", cfg: wrong(dcPlain), wantErr: true, note: "wrong password", only: imaps},
		{mech: "CRAM-MD5", cfg: pw(dcCRAM), note: "{CRAM-MD5} user"},
		{mech: "CRAM-MD5", cfg: pw(dcPlain), only: imaps},
		{mech: "CRAM-MD5", cfg: wrong(dcCRAM), wantErr: true, note: "wrong password", only: imaps},
		{mech: "CRAM-MD5", cfg: pw(dcHashed), wantErr: true, note: "{SSHA256} cannot serve CRAM-MD5", only: imaps},
		{mech: "DIGEST-MD5", cfg: pw(dcDigest), note: "{DIGEST-MD5} user"},
		{mech: "DIGEST-MD5", cfg: pw(dcPlain), only: imaps},
		{mech: "DIGEST-MD5", cfg: wrong(dcDigest), wantErr: true, note: "wrong password", only: imaps},
		{mech: "SCRAM-SHA-1", cfg: pw(dcSCRAM1), note: "{SCRAM-SHA-1} user"},
		{mech: "SCRAM-SHA-1", cfg: wrong(dcSCRAM1), wantErr: true, note: "wrong password", only: imaps},
		{mech: "SCRAM-SHA-256", cfg: pw(dcSCRAM), note: "{SCRAM-SHA-256} user"},
		{mech: "SCRAM-SHA-256", cfg: pw(dcPlain), only: imaps},
		{mech: "SCRAM-SHA-256", cfg: pw(dcUTF8), note: "non-ASCII password (SASLprep)", only: imaps},
		{mech: "SCRAM-SHA-256", cfg: wrong(dcSCRAM), wantErr: true, note: "wrong password", only: imaps},
		{mech: "SCRAM-SHA-256", cfg: sasl.ClientConfig{Username: "nosuchuser", Password: "x", Host: "localhost"}, wantErr: true, note: "unknown user", only: imaps},
		{mech: "SCRAM-SHA-256", cfg: pw(dcGsasl), note: "gsasl --mkpasswd hash, 65536 iterations", only: imaps, needUser: dcGsasl},
		{mech: "SCRAM-SHA-256-PLUS", cfg: pw(dcSCRAM), xfail: "Dovecot 2.3 has no channel binding (-PLUS came in 2.4)", only: imaps},
		{mech: "ANONYMOUS", cfg: sasl.ClientConfig{Anonymous: true, Trace: "interop@mailauth.test"}, only: notSMTP},
		{mech: "ANONYMOUS", cfg: sasl.ClientConfig{Anonymous: true, Trace: "interop@mailauth.test"}, only: isSMTP,
			xfail: "Dovecot submission does not offer ANONYMOUS"},
		{mech: "EXTERNAL", cfg: sasl.ClientConfig{External: true}, cert: client, note: "client cert CN=extuser"},
		{mech: "EXTERNAL", cfg: sasl.ClientConfig{External: true}, cert: rogue, wantErr: true, note: "cert from an untrusted CA", only: implicit},
		{mech: "EXTERNAL", cfg: sasl.ClientConfig{External: true}, wantErr: true, note: "no client cert", only: imaps},
		{mech: "EXTERNAL", cfg: sasl.ClientConfig{External: true, Authzid: dcPlain}, cert: client, wantErr: true, note: "authzid of another user", only: imaps},
		{mech: "OAUTHBEARER", cfg: sasl.ClientConfig{Username: d.OAuthUser, Token: token, Host: "localhost"}},
		{mech: "OAUTHBEARER", cfg: sasl.ClientConfig{Username: d.OAuthUser, Token: d.OAuthToken(d.OAuthUser, -time.Hour), Host: "localhost"}, wantErr: true, note: "expired token", only: imaps},
		{mech: "OAUTHBEARER", cfg: sasl.ClientConfig{Username: dcPlain, Token: token, Host: "localhost"}, wantErr: true, note: "a= is not the token's subject", only: imaps},
		{mech: "XOAUTH2", cfg: sasl.ClientConfig{Username: d.OAuthUser, Token: token}},
		{mech: "XOAUTH2", cfg: sasl.ClientConfig{Username: d.OAuthUser, Token: token + "x"}, wantErr: true, note: "bad signature", only: imaps},
	}
}

// TestDovecotClient runs our clients (tlsutil's TLS/STARTTLS negotiation,
// sasl.Exchange, our mechanisms) against Dovecot's IMAP, POP3 and
// submission services.
func TestDovecotClient(t *testing.T) {
	d := StartDovecot(t)
	for _, tr := range dcTransports {
		for _, tc := range dovecotCases(d) {
			if tc.only != nil && !tc.only(tr) {
				continue
			}
			name := tr.name + "/" + tc.mech
			if tc.note != "" {
				name += "/" + tc.note
			}
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				t.Parallel()
				c := newCase(t, tc.mech, peerDovecot, dirClient, tr.name)
				if _, ok := d.Passwords[tc.needUser]; tc.needUser != "" && !ok {
					c.skip("user " + tc.needUser + " not created (gsasl missing)")
				}
				tc.cfg.Service = serviceName(tr.proto)
				tc.cfg.Port = d.port(tr)
				s, err := dialMail(t, d.addr(d.port(tr)), tr, d.PKI.clientTLS(tc.cert, 0))
				if err == nil {
					err = s.authenticate(tc.cfg, tc.mech)
					if err == nil && !tc.wantErr && tc.xfail == "" {
						user := tc.cfg.Username
						if user == "" {
							user = "x"
						}
						err = s.afterAuth(user)
					}
				}
				switch {
				case tc.xfail != "":
					c.xfail(err, tc.xfail)
				case tc.wantErr:
					c.refused(err, tc.note)
				default:
					c.check(err, tc.note)
				}
			})
		}
	}
}

// TestDovecotAPOP logs in with package apop on POP3S: the greeting (with
// its APOP timestamp) comes inside TLS there. After STLS, NegotiateClient discards
// the plaintext greeting, so APOP is not possible (by design).
func TestDovecotAPOP(t *testing.T) {
	d := StartDovecot(t)
	tr := dcTransports[2] // POP3S
	for _, tc := range []struct {
		user, pass string
		wantErr    bool
		note       string
	}{
		{dcPlain, d.Passwords[dcPlain], false, ""},
		{dcPlain, "wrong", true, "wrong password"},
		{dcCRAM, d.Passwords[dcCRAM], true, "{CRAM-MD5} cannot serve APOP"},
	} {
		t.Run(strings.ReplaceAll("APOP/"+tc.user+"/"+tc.note, " ", "_"), func(t *testing.T) {
			t.Parallel()
			c := newCase(t, "APOP", peerDovecot, dirClient, tr.name)
			s, err := dialMail(t, d.addr(d.POP3S), tr, d.PKI.clientTLS(nil, 0))
			if err == nil {
				err = apop.Login(context.Background(), s.cc.Text, s.cc.Conn, s.cc.Greeting, tc.user, tc.pass, nil)
				if err == nil {
					err = s.afterAuth(tc.user)
				}
			}
			if tc.wantErr {
				c.refused(err, tc.note)
			} else {
				c.check(err, tc.note)
			}
		})
	}
	t.Run("APOP/after_STLS", func(t *testing.T) {
		t.Parallel()
		c := newCase(t, "APOP", peerDovecot, dirClient, "POP3+STLS")
		s, err := dialMail(t, d.addr(d.POP3), dcTransports[3], d.PKI.clientTLS(nil, 0))
		if err == nil {
			// the greeting was plaintext: NegotiateClient drops it, so apop has
			// no timestamp to answer and must refuse before sending.
			err = apop.Login(context.Background(), s.cc.Text, s.cc.Conn, s.cc.Greeting, dcPlain, d.Passwords[dcPlain], nil)
		}
		c.refusedLocally(err, "pre-TLS timestamp discarded (CVE-2007-1558)")
	})
}
