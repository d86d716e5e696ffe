package sasl

import (
	"github.com/go-mailauth/mailauth/tlsutil"

	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests named TestCn follow the client checklist C1–C14 of
// research/tls-security.md §1.4; the EAST test names (O_1, D_1, B_1, ...)
// are those of the NO STARTTLS fake-mail-server.

// cliNoCredentials asserts that the client sent none of the commands that
// carry or start authentication.
func cliNoCredentials(t *testing.T, received []byte) {
	t.Helper()
	for _, line := range strings.Split(cliPlaintext(received), "\r\n") {
		verb, _, _ := strings.Cut(line, " ")
		if strings.HasPrefix(verb, "a") { // IMAP tag
			_, line, _ = strings.Cut(line, " ")
			verb, _, _ = strings.Cut(line, " ")
		}
		switch strings.ToUpper(verb) {
		case "LOGIN", "AUTHENTICATE", "AUTH", "USER", "PASS", "APOP", "SELECT", "MAIL":
			t.Errorf("client sent %q in plaintext", line)
		}
	}
}

func TestC1Stripping(t *testing.T) {
	pki := cliNewTestPKI(t)
	tests := []struct {
		name   string
		proto  Protocol
		script func(s *cliServer)
	}{
		{"IMAP/O_1 no STARTTLS capability", IMAP, func(s *cliServer) {
			s.send("* OK ready\r\n")
			s.expect("a1 CAPABILITY")
			s.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN\r\na1 OK done\r\n")
		}},
		{"IMAP/O_1 greeting code without STARTTLS", IMAP, func(s *cliServer) {
			s.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
		}},
		{"IMAP/D_1 CAPABILITY unknown", IMAP, func(s *cliServer) {
			s.send("* OK ready\r\n")
			s.expect("a1 CAPABILITY")
			s.send("a1 BAD unknown command\r\n")
		}},
		{"IMAP/D_1 CAPABILITY NO", IMAP, func(s *cliServer) {
			s.send("* OK ready\r\n")
			s.expect("a1 CAPABILITY")
			s.send("a1 NO not now\r\n")
		}},
		{"IMAP/D_2 only IMAP4", IMAP, func(s *cliServer) {
			s.send("* OK ready\r\n")
			s.expect("a1 CAPABILITY")
			s.send("* CAPABILITY IMAP4\r\na1 OK done\r\n")
		}},
		{"IMAP/D_3 only IMAP4 in greeting", IMAP, func(s *cliServer) {
			s.send("* OK [CAPABILITY IMAP4] ready\r\n")
		}},
		{"IMAP untagged CAPABILITY then OK without data", IMAP, func(s *cliServer) {
			s.send("* OK ready\r\n")
			s.expect("a1 CAPABILITY")
			s.send("a1 OK done\r\n")
		}},
		{"SMTP/O_1 no STARTTLS extension", SMTP, func(s *cliServer) {
			s.send("220 mail.example.org ESMTP\r\n")
			s.expect("EHLO localhost")
			s.send(cliEhloReply([]string{"AUTH PLAIN LOGIN", "8BITMIME"}))
		}},
		{"SMTP/D_1 EHLO hidden", SMTP, func(s *cliServer) {
			s.send("220 mail.example.org ESMTP\r\n")
			s.expect("EHLO localhost")
			s.send("500 5.5.1 command unrecognized\r\n")
		}},
		{"SMTP EHLO 502", SMTP, func(s *cliServer) {
			s.send("220 mail.example.org ESMTP\r\n")
			s.expect("EHLO localhost")
			s.send("502 5.5.1 not implemented\r\n")
		}},
		{"POP3/O_2 no STLS", POP3, func(s *cliServer) {
			s.send("+OK ready\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n")
		}},
		{"POP3/O_3 CAPA hidden", POP3, func(s *cliServer) {
			s.send("+OK ready\r\n")
			s.expect("CAPA")
			s.send("-ERR unknown command\r\n")
		}},
		{"POP3/O_4 APOP stamp without STLS", POP3, func(s *cliServer) {
			s.send("+OK ready <1234.123456789@example.org>\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nUSER\r\nAPOP\r\n.\r\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: tt.proto}, tt.script)
			require.ErrorIs(t, res.err, ErrStartTLSUnavailable)
			assert.NoError(t, res.srvErr)
			cliNoCredentials(t, res.received)
			// Aborted before STARTTLS: the command was never sent.
			assert.NotContains(t, string(res.received), "STARTTLS")
			assert.NotContains(t, string(res.received), "STLS")
		})
	}
}

func TestC2Refusals(t *testing.T) {
	pki := cliNewTestPKI(t)
	imap := func(reply string) func(s *cliServer) {
		return func(s *cliServer) {
			s.send("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n")
			s.expect("a1 STARTTLS")
			s.send(reply)
		}
	}
	smtp := func(reply string) func(s *cliServer) {
		return func(s *cliServer) {
			s.send("220 mail.example.org ESMTP\r\n")
			s.expect("EHLO localhost")
			s.send(cliEhloReply([]string{"STARTTLS", "AUTH PLAIN LOGIN"}))
			s.expect("STARTTLS")
			s.send(reply)
		}
	}
	pop3 := func(reply string) func(s *cliServer) {
		return func(s *cliServer) {
			s.send("+OK ready\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nSTLS\r\nUSER\r\nSASL PLAIN\r\n.\r\n")
			s.expect("STLS")
			s.send(reply)
		}
	}
	type tcase struct {
		name   string
		proto  Protocol
		script func(s *cliServer)
	}
	tests := []tcase{
		{"IMAP/O_2 NO", IMAP, imap("a1 NO do not begin TLS now.\r\n")},
		{"IMAP/O_3 BAD", IMAP, imap("a1 BAD STARTTLS not supported.\r\n")},
		{"IMAP/O_4 continuation", IMAP, imap("+ continue with something.\r\n")},
		{"IMAP BYE", IMAP, imap("* BYE go away\r\n")},
		{"IMAP foreign tag OK", IMAP, imap("a0 OK begin\r\n")},
		{"IMAP untagged OK only", IMAP, imap("* OK begin TLS\r\n* NO wait\r\na1 NO\r\n")},
		{"SMTP/O_1 502", SMTP, smtp("502 Command not implemented\r\n")},
		{"SMTP/O_3 454", SMTP, smtp("454 TLS not available due to temporary reason\r\n")},
		{"SMTP/O_4 354", SMTP, smtp("354 do something else\r\n")},
		{"SMTP 501", SMTP, smtp("501 Syntax error (no parameters allowed)\r\n")},
		{"POP3/O_1 -ERR", POP3, pop3("-ERR STARTTLS not supported.\r\n")},
		{"POP3 -ERR bare", POP3, pop3("-ERR\r\n")},
		{"POP3 not a status", POP3, pop3("OK go\r\n")},
	}
	// EAST others/: every reply code from 221 to 554 but 220 to STARTTLS.
	for code := 221; code <= 554; code++ {
		if code%100 > 59 {
			continue
		}
		tests = append(tests, tcase{fmt.Sprintf("SMTP sweep %d", code), SMTP, smtp(fmt.Sprintf("%d something\r\n", code))})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: tt.proto}, tt.script)
			require.ErrorIs(t, res.err, ErrStartTLSRefused)
			assert.NoError(t, res.srvErr)
			cliNoCredentials(t, res.received)
			// Never fall back: the client wrote nothing after STARTTLS.
			marker := "STARTTLS"
			if tt.proto == POP3 {
				marker = "STLS"
			}
			assert.Empty(t, cliTLSFrom(res.received, marker), "bytes after %s", marker)
		})
	}
}

func TestC3PreAuth(t *testing.T) {
	pki := cliNewTestPKI(t)
	greetings := []string{
		"* PREAUTH IMAP4rev1 server logged in as attacker",             // P
		"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in",          // P_1
		"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hello",   // P_2
		"* PREAUTH [CAPABILITY IMAP4rev1 LOGINDISABLED] hello",         // P_3
		"* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hello",                  // P_4
		"* preauth [capability imap4rev1 starttls] lower-case variant", // P_5
	}
	for _, g := range greetings {
		t.Run(g, func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: IMAP}, func(s *cliServer) {
				s.send(g + "\r\n")
			})
			require.ErrorIs(t, res.err, ErrPreAuth)
			assert.Empty(t, res.received, "client must send nothing after a PREAUTH greeting")
		})
	}
	// With implicit TLS, PREAUTH is legitimate (a client certificate, say)
	// and reported.
	t.Run("implicit TLS", func(t *testing.T) {
		res := cliRun(t, pki, ClientOptions{Protocol: IMAP, Mode: ImplicitTLS}, func(s *cliServer) {
			s.startTLS(s.pki.good)
			s.send("* PREAUTH [CAPABILITY IMAP4rev2] welcome back\r\n")
		})
		require.NoError(t, res.err)
		assert.True(t, res.cc.PreAuth)
		assert.Equal(t, []string{"IMAP4rev2"}, res.cc.Capabilities.List())
	})
}

func TestC4Greetings(t *testing.T) {
	pki := cliNewTestPKI(t)
	tests := []struct {
		proto    Protocol
		greeting string
	}{
		{IMAP, "* BYE go away"},
		{IMAP, "* NO [PARSE] uNiQTghK"},
		{IMAP, "* BAD oops"},
		{IMAP, "a1 OK ready"},
		{IMAP, "1 OK tagged greeting"},
		{IMAP, "+ continue"},
		{IMAP, "* CAPABILITY IMAP4rev1 STARTTLS"},
		{IMAP, "* 54321 EXISTS"},
		{IMAP, "garbage"},
		{IMAP, ""},
		{IMAP, "* OK [ALERT unterminated"},
		{SMTP, "554 5.3.2 no service"},
		{SMTP, "421 4.3.2 shutting down"},
		{SMTP, "250 mail.example.org"},
		{SMTP, "220-first\r\n221 second"},
		{SMTP, "22"},
		{SMTP, "220mail.example.org"},
		{SMTP, "hello"},
		{POP3, "-ERR go away"},
		{POP3, "+OKAY"},
		{POP3, "* OK IMAP server"},
		{POP3, ""},
	}
	for _, tt := range tests {
		for _, mode := range []ClientMode{RequireSTARTTLS, ImplicitTLS} {
			t.Run(fmt.Sprintf("%v/%v/%q", tt.proto, mode, tt.greeting), func(t *testing.T) {
				res := cliRun(t, pki, ClientOptions{Protocol: tt.proto, Mode: mode}, func(s *cliServer) {
					if mode == ImplicitTLS {
						s.startTLS(s.pki.good)
					}
					s.send(tt.greeting + "\r\n")
				})
				require.ErrorIs(t, res.err, ErrBadGreeting)
				cliNoCredentials(t, res.received)
				if mode == RequireSTARTTLS {
					assert.Empty(t, res.received, "client must send nothing after a bad greeting")
				}
			})
		}
	}
	t.Run("EOF", func(t *testing.T) {
		res := cliRun(t, pki, ClientOptions{Protocol: SMTP}, func(s *cliServer) {
			s.send("220-mail.example.org")
			s.conn.Close()
		})
		require.Error(t, res.err)
		assert.True(t, errors.Is(res.err, io.ErrUnexpectedEOF) || errors.Is(res.err, io.EOF), "%v", res.err)
	})
}

func TestC6CapabilityReset(t *testing.T) {
	pki := cliNewTestPKI(t)
	const plus = "SCRAM-SHA-256-PLUS"
	type tcase struct {
		name   string
		proto  Protocol
		script func(s *cliServer)
		want   []string
	}
	tests := []tcase{
		{"IMAP PLAIN before, PLUS after", IMAP,
			cliGoodIMAP("IMAP4rev1 STARTTLS AUTH=PLAIN", "IMAP4rev1 AUTH="+plus), []string{plus}},
		{"IMAP PLUS before, PLAIN after", IMAP,
			cliGoodIMAP("IMAP4rev1 STARTTLS AUTH="+plus, "IMAP4rev1 AUTH=PLAIN"), []string{"PLAIN"}},
		{"SMTP PLAIN before, PLUS after", SMTP,
			cliGoodSMTP([]string{"STARTTLS", "AUTH PLAIN"}, []string{"AUTH " + plus}), []string{plus}},
		{"SMTP PLUS before, PLAIN after", SMTP,
			cliGoodSMTP([]string{"STARTTLS", "AUTH " + plus}, []string{"AUTH PLAIN"}), []string{"PLAIN"}},
		{"POP3 PLAIN before, PLUS after", POP3,
			cliGoodPOP3([]string{"STLS", "SASL PLAIN"}, []string{"SASL " + plus}), []string{plus}},
		{"POP3 PLUS before, PLAIN after", POP3,
			cliGoodPOP3([]string{"STLS", "SASL " + plus}, []string{"SASL PLAIN"}), []string{"PLAIN"}},
		{"IMAP greeting code ignored", IMAP, func(s *cliServer) {
			s.send("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n")
			s.expect("a1 STARTTLS")
			s.send("a1 OK begin\r\n")
			s.startTLS(s.pki.good)
			s.expect("a2 CAPABILITY")
			s.send("* CAPABILITY IMAP4rev1 AUTH=" + plus + "\r\na2 OK\r\n")
		}, []string{plus}},
		{"IMAP [CAPABILITY] in STARTTLS OK ignored", IMAP, func(s *cliServer) {
			s.send("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=" + plus + "] ready\r\n")
			s.expect("a1 STARTTLS")
			// The go-imap v2 gap: a MitM's code in the plaintext OK.
			s.send("a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] go\r\n")
			s.startTLS(s.pki.good)
			s.expect("a2 CAPABILITY")
			s.send("* CAPABILITY IMAP4rev1 AUTH=" + plus + "\r\na2 OK\r\n")
		}, []string{plus}},
		{"IMAP untagged CAPABILITY before STARTTLS OK ignored", IMAP, func(s *cliServer) {
			s.send("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=" + plus + "] ready\r\n")
			s.expect("a1 STARTTLS")
			// EAST others/untagged_capability_before_starttls.
			s.send("* CAPABILITY IDLE AUTH=PLAIN\r\na1 OK ready for starttls\r\n")
			s.startTLS(s.pki.good)
			s.expect("a2 CAPABILITY")
			s.send("* CAPABILITY IMAP4rev1 AUTH=" + plus + "\r\na2 OK\r\n")
		}, []string{plus}},
		{"IMAP post-TLS caps only in tagged code", IMAP, func(s *cliServer) {
			s.send("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n")
			s.expect("a1 STARTTLS")
			s.send("a1 OK begin\r\n")
			s.startTLS(s.pki.good)
			s.expect("a2 CAPABILITY")
			s.send("a2 OK [CAPABILITY IMAP4rev1 AUTH=" + plus + "] done\r\n")
		}, []string{plus}},
		{"POP3 post-TLS CAPA refused", POP3, func(s *cliServer) {
			s.send("+OK ready\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nSTLS\r\nSASL PLAIN\r\n.\r\n")
			s.expect("STLS")
			s.send("+OK\r\n")
			s.startTLS(s.pki.good)
			s.expect("CAPA")
			s.send("-ERR no CAPA\r\n")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: tt.proto}, tt.script)
			require.NoError(t, res.err)
			require.NoError(t, res.srvErr)
			assert.Equal(t, tt.want, res.cc.Capabilities.AuthMechanisms())
			assert.False(t, res.cc.Capabilities.Has("STARTTLS") || res.cc.Capabilities.Has("STLS"),
				"pre-TLS STARTTLS capability survived")
			assert.Empty(t, res.cc.Greeting, "pre-TLS greeting returned")
			assert.NotNil(t, res.cc.TLS)
			assert.Equal(t, res.cc.TLS, res.cc.Conn)
			assert.Zero(t, res.cc.Text.R.Buffered())
		})
	}
}

// TestC7C8UntaggedAndAlerts sends mailbox data, referrals and alerts before
// TLS; none of it may come back from NegotiateClient.
func TestC7C8UntaggedAndAlerts(t *testing.T) {
	pki := cliNewTestPKI(t)
	untagged := []string{
		`* LIST () "/" 7XiYhgS7`,
		`* LSUB () "/" 7XiYhgS7`,
		`* STATUS 7XiYhgS7 (MESSAGES 1)`,
		`* SEARCH 7 8 9`,
		`* FLAGS (\Seen 7XiYhgS7)`,
		`* 54321 EXISTS`,
		`* 54321 RECENT`,
		`* 1 EXPUNGE`,
		"* 1 FETCH (BODY[] {24}\r\na1 OK [ALERT] 7XiYhgS7\r\n)", // a literal hiding a fake OK
		`* OK [REFERRAL imaps://7XiYhgS7.example.org:993] go there`,
		`* OK [ALERT] 7XiYhgS7 Attacker-controlled text`,
		`* NO [ALERT] 7XiYhgS7`,
	}
	script := func(s *cliServer) {
		s.send("* OK [ALERT] 7XiYhgS7 greeting\r\n")
		s.send(strings.Join(untagged, "\r\n") + "\r\n") // after the greeting
		s.expect("a1 CAPABILITY")
		s.send(strings.Join(untagged, "\r\n") + "\r\n")
		s.send("* CAPABILITY IMAP4rev1 STARTTLS 7XiYhgS7\r\na1 OK [ALERT] 7XiYhgS7\r\n")
		s.expect("a2 STARTTLS")
		s.send(strings.Join(untagged, "\r\n") + "\r\n") // before the STARTTLS OK
		s.send("a2 OK [ALERT] 7XiYhgS7 begin\r\n")
		s.startTLS(s.pki.good)
		s.expect("a3 CAPABILITY")
		s.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na3 OK\r\n")
	}
	res := cliRun(t, pki, ClientOptions{Protocol: IMAP}, script)
	require.NoError(t, res.err)
	require.NoError(t, res.srvErr)
	dump := fmt.Sprintf("%+v %v", *res.cc, res.cc.Capabilities.List())
	assert.NotContains(t, dump, "7XiYhgS7")
	assert.Equal(t, []string{"IMAP4rev1", "AUTH=PLAIN"}, res.cc.Capabilities.List())
	assert.Empty(t, res.cc.Greeting)
}

func TestC10Certificates(t *testing.T) {
	pki := cliNewTestPKI(t)
	tests := []struct {
		name  string
		cert  tls.Certificate
		check func(t *testing.T, err error)
	}{
		{"T_1 self-signed", pki.selfSigned, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, new(x509.UnknownAuthorityError))
		}},
		{"T_2 unknown root", pki.unknownRoot, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, new(x509.UnknownAuthorityError))
		}},
		{"T_3 wrong host", pki.wrongHost, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, new(x509.HostnameError))
		}},
		{"T_4 expired", pki.expired, func(t *testing.T, err error) {
			var ci x509.CertificateInvalidError
			require.ErrorAs(t, err, &ci)
			assert.Equal(t, x509.Expired, ci.Reason)
		}},
	}
	for _, tt := range tests {
		for _, proto := range []Protocol{IMAP, POP3, SMTP} {
			for _, mode := range []ClientMode{RequireSTARTTLS, ImplicitTLS} {
				t.Run(fmt.Sprintf("%s/%v/%v", tt.name, proto, mode), func(t *testing.T) {
					var script func(s *cliServer)
					switch {
					case mode == ImplicitTLS:
						script = func(s *cliServer) { s.startTLS(tt.cert) }
					case proto == IMAP:
						script = func(s *cliServer) {
							s.send("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
							s.expect("a1 STARTTLS")
							s.send("a1 OK begin\r\n")
							s.startTLS(tt.cert)
						}
					case proto == SMTP:
						script = func(s *cliServer) {
							s.send("220 mail.example.org ESMTP\r\n")
							s.expect("EHLO localhost")
							s.send(cliEhloReply([]string{"STARTTLS"}))
							s.expect("STARTTLS")
							s.send("220 go\r\n")
							s.startTLS(tt.cert)
						}
					default:
						script = func(s *cliServer) {
							s.send("+OK ready\r\n")
							s.expect("CAPA")
							s.send("+OK\r\nSTLS\r\n.\r\n")
							s.expect("STLS")
							s.send("+OK\r\n")
							s.startTLS(tt.cert)
						}
					}
					res := cliRun(t, pki, ClientOptions{Protocol: proto, Mode: mode}, script)
					require.ErrorIs(t, res.err, tlsutil.ErrHandshakeFailed)
					var cv *tls.CertificateVerificationError
					assert.ErrorAs(t, res.err, &cv)
					tt.check(t, res.err)
					assert.Error(t, res.srvErr, "the server must see the handshake fail")
				})
			}
		}
	}
}

// TestC11NoPipelining checks that the first byte after the STARTTLS line is
// the TLS handshake record: the client wrote nothing in between.
func TestC11NoPipelining(t *testing.T) {
	pki := cliNewTestPKI(t)
	tests := []struct {
		proto  Protocol
		marker string
		script func(s *cliServer)
	}{
		{IMAP, "a2 STARTTLS", cliGoodIMAP("IMAP4rev1 STARTTLS", "IMAP4rev1")},
		{SMTP, "STARTTLS", cliGoodSMTP([]string{"STARTTLS"}, []string{"8BITMIME"})},
		{POP3, "STLS", cliGoodPOP3([]string{"STLS"}, []string{"USER"})},
	}
	for _, tt := range tests {
		t.Run(tt.proto.String(), func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: tt.proto}, tt.script)
			require.NoError(t, res.err)
			require.NoError(t, res.srvErr)
			after := cliTLSFrom(res.received, tt.marker)
			require.GreaterOrEqual(t, len(after), 3)
			assert.Equal(t, []byte{0x16, 0x03}, after[:2], "first byte after %s is not a TLS handshake record", tt.marker)
			// And the plaintext part is exactly the commands expected.
			assert.True(t, strings.HasSuffix(cliPlaintext(res.received), tt.marker+"\r\n"))
		})
	}
}

// TestC12NoPlaintextAuth is EAST X_1: dozens of AUTH mechanisms offered
// while STARTTLS is refused or missing. No credential command may follow.
func TestC12NoPlaintextAuth(t *testing.T) {
	pki := cliNewTestPKI(t)
	var mechs []string
	for i := range 40 {
		mechs = append(mechs, fmt.Sprintf("X-MECH-%d", i))
	}
	mechs = append(mechs, "PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "NTLM", "GSSAPI", "XOAUTH2")
	imapCaps := "IMAP4rev1 STARTTLS AUTH=" + strings.Join(mechs, " AUTH=")
	tests := []struct {
		name   string
		proto  Protocol
		want   error
		script func(s *cliServer)
	}{
		{"IMAP refused", IMAP, ErrStartTLSRefused, func(s *cliServer) {
			s.send("* OK [CAPABILITY " + imapCaps + "] ready\r\n")
			s.expect("a1 STARTTLS")
			s.send("a1 NO not today\r\n")
		}},
		{"IMAP missing", IMAP, ErrStartTLSUnavailable, func(s *cliServer) {
			s.send("* OK [CAPABILITY " + strings.Replace(imapCaps, "STARTTLS ", "", 1) + "] ready\r\n")
		}},
		{"SMTP refused", SMTP, ErrStartTLSRefused, func(s *cliServer) {
			s.send("220 mail.example.org ESMTP\r\n")
			s.expect("EHLO localhost")
			s.send(cliEhloReply([]string{"STARTTLS", "AUTH " + strings.Join(mechs, " "), "AUTH=LOGIN PLAIN"}))
			s.expect("STARTTLS")
			s.send("454 4.7.0 TLS not available\r\n")
		}},
		{"POP3 refused", POP3, ErrStartTLSRefused, func(s *cliServer) {
			s.send("+OK ready <1234.123456789@example.org>\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nSTLS\r\nUSER\r\nAPOP\r\nSASL " + strings.Join(mechs, " ") + "\r\n.\r\n")
			s.expect("STLS")
			s.send("-ERR not now\r\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: tt.proto}, tt.script)
			require.ErrorIs(t, res.err, tt.want)
			assert.NoError(t, res.srvErr)
			cliNoCredentials(t, res.received)
		})
	}
	// The connection is closed on error, so a caller cannot go on to
	// authenticate on it.
	t.Run("conn closed", func(t *testing.T) {
		cconn, sconn := net.Pipe()
		defer sconn.Close()
		go func() {
			io.WriteString(sconn, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
		}()
		_, err := NegotiateClient(context.Background(), cconn, ClientOptions{Protocol: IMAP, TLSConfig: pki.clientTLS()})
		require.ErrorIs(t, err, ErrStartTLSUnavailable)
		_, werr := cconn.Write([]byte("a1 LOGIN user pass\r\n"))
		assert.ErrorIs(t, werr, io.ErrClosedPipe)
	})
}

// TestC14Defaults: the zero mode is required STARTTLS, never plaintext; a
// zero ClientOptions cannot connect without a verifying tls.Config. The
// package examples use ImplicitTLS (RFC 8314), the recommended mode.
func TestC14Defaults(t *testing.T) {
	var opts ClientOptions
	assert.Equal(t, RequireSTARTTLS, opts.Mode)
	for _, o := range []ClientOptions{
		{},
		{Protocol: IMAP},
		{Protocol: IMAP, Mode: ImplicitTLS},
		{Protocol: IMAP, TLSConfig: &tls.Config{}},
		{Protocol: Protocol(7), TLSConfig: &tls.Config{ServerName: "x"}},
		{Protocol: SMTP, Mode: ClientMode(9), TLSConfig: &tls.Config{ServerName: "x"}},
		{Protocol: SMTP, TLSConfig: &tls.Config{ServerName: "x"}, Hostname: "a\r\nRCPT TO:<x>"},
		{Protocol: SMTP, TLSConfig: &tls.Config{ServerName: "x"}, Hostname: "two words"},
	} {
		cconn, sconn := net.Pipe()
		_, err := NegotiateClient(context.Background(), cconn, o)
		assert.ErrorIs(t, err, ErrInvalidClientOption, "%+v", o)
		_, werr := cconn.Write([]byte("x"))
		assert.ErrorIs(t, werr, io.ErrClosedPipe, "conn not closed")
		sconn.Close()
	}
}

// TestClientModes runs the good paths of every protocol in every mode.
func TestClientModes(t *testing.T) {
	pki := cliNewTestPKI(t)
	t.Run("IMAP implicit uses greeting code", func(t *testing.T) {
		res := cliRun(t, pki, ClientOptions{Protocol: IMAP, Mode: ImplicitTLS}, func(s *cliServer) {
			s.startTLS(s.pki.good)
			s.send("* OK [CAPABILITY IMAP4rev2 AUTH=PLAIN] ready\r\n")
		})
		require.NoError(t, res.err)
		require.NoError(t, res.srvErr)
		assert.Equal(t, "* OK [CAPABILITY IMAP4rev2 AUTH=PLAIN] ready", res.cc.Greeting)
		assert.Equal(t, []string{"PLAIN"}, res.cc.Capabilities.AuthMechanisms())
		assert.Equal(t, "a1", res.cc.NextTag())
	})
	t.Run("IMAP implicit asks CAPABILITY", func(t *testing.T) {
		res := cliRun(t, pki, ClientOptions{Protocol: IMAP, Mode: ImplicitTLS}, func(s *cliServer) {
			s.startTLS(s.pki.good)
			s.send("* OK ready\r\n")
			s.expect("a1 CAPABILITY")
			s.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n* CAPABILITY AUTH=LOGIN\r\na1 OK\r\n")
		})
		require.NoError(t, res.err)
		require.NoError(t, res.srvErr)
		assert.Equal(t, []string{"PLAIN", "LOGIN"}, res.cc.Capabilities.AuthMechanisms())
		assert.Equal(t, "a2", res.cc.NextTag())
	})
	t.Run("SMTP implicit", func(t *testing.T) {
		res := cliRun(t, pki, ClientOptions{Protocol: SMTP, Mode: ImplicitTLS, Hostname: "client.example.org"}, func(s *cliServer) {
			s.startTLS(s.pki.good)
			s.send("220-mail.example.org ESMTP\r\n220 second line\r\n")
			s.expect("EHLO client.example.org")
			s.send(cliEhloReply([]string{"SIZE 35882577", "AUTH PLAIN LOGIN"}))
		})
		require.NoError(t, res.err)
		require.NoError(t, res.srvErr)
		assert.Equal(t, "220 mail.example.org ESMTP", res.cc.Greeting)
		assert.Equal(t, []string{"35882577"}, res.cc.Capabilities.Params("size"))
	})
	t.Run("POP3 implicit", func(t *testing.T) {
		res := cliRun(t, pki, ClientOptions{Protocol: POP3, Mode: ImplicitTLS}, func(s *cliServer) {
			s.startTLS(s.pki.good)
			s.send("+OK ready <1.2@example.org>\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nUSER\r\nSASL PLAIN\r\n..odd\r\n.\r\n")
		})
		require.NoError(t, res.err)
		require.NoError(t, res.srvErr)
		assert.Equal(t, "+OK ready <1.2@example.org>", res.cc.Greeting)
		assert.Equal(t, []string{"USER", "SASL PLAIN", ".odd"}, res.cc.Capabilities.List())
	})
	t.Run("implicit over a tls.Conn", func(t *testing.T) {
		res := cliRunWith(t, pki, func(s *cliServer) {
			s.startTLS(s.pki.good)
			s.send("+OK ready\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nUSER\r\n.\r\n")
		}, func(ctx context.Context, c net.Conn) (*ClientSession, error) {
			return NegotiateClient(ctx, tls.Client(c, pki.clientTLS()), ClientOptions{Protocol: POP3, Mode: ImplicitTLS, TLSConfig: pki.clientTLS()})
		})
		require.NoError(t, res.err)
		assert.True(t, res.cc.Capabilities.Has("user"))
	})
	for _, proto := range []Protocol{IMAP, SMTP, POP3} {
		t.Run(proto.String()+" plaintext", func(t *testing.T) {
			res := cliRun(t, pki, ClientOptions{Protocol: proto, Mode: InsecurePlaintext}, func(s *cliServer) {
				switch proto {
				case IMAP:
					s.send("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
				case SMTP:
					s.send("220 hi\r\n")
					s.expect("EHLO localhost")
					s.send("250 mail.example.org\r\n")
				case POP3:
					s.send("+OK hi\r\n")
					s.expect("CAPA")
					s.send("-ERR what\r\n")
				}
			})
			require.NoError(t, res.err)
			require.NoError(t, res.srvErr)
			assert.Nil(t, res.cc.TLS)
			assert.NotEmpty(t, res.cc.Greeting)
			assert.Empty(t, res.cc.Capabilities.AuthMechanisms())
		})
	}
	t.Run("MinVersion raised", func(t *testing.T) {
		cfg := pki.clientTLS()
		cfg.MinVersion = tls.VersionTLS10
		cfg.MaxVersion = tls.VersionTLS11
		res := cliRun(t, pki, ClientOptions{Protocol: POP3, Mode: ImplicitTLS, TLSConfig: cfg}, func(s *cliServer) {
			s.startTLS(s.pki.good)
		})
		require.ErrorIs(t, res.err, tlsutil.ErrHandshakeFailed)
		assert.Equal(t, uint16(tls.VersionTLS10), cfg.MinVersion, "caller's config modified")
	})
}

func TestClientContext(t *testing.T) {
	pki := cliNewTestPKI(t)
	t.Run("deadline", func(t *testing.T) {
		cconn, sconn := net.Pipe()
		defer sconn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := NegotiateClient(ctx, cconn, ClientOptions{Protocol: IMAP, TLSConfig: pki.clientTLS()})
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("cancel during handshake", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		res := cliRunWith(t, pki, func(s *cliServer) {
			s.send("+OK ready\r\n")
			s.expect("CAPA")
			s.send("+OK\r\nSTLS\r\n.\r\n")
			s.expect("STLS")
			s.send("+OK\r\n")
			cancel() // and never answer the ClientHello
		}, func(ctx2 context.Context, c net.Conn) (*ClientSession, error) {
			return NegotiateClient(ctx, c, ClientOptions{Protocol: POP3, TLSConfig: pki.clientTLS()})
		})
		require.ErrorIs(t, res.err, context.Canceled)
	})
	t.Run("StartTLSClient deadline", func(t *testing.T) {
		cconn, sconn := net.Pipe()
		defer sconn.Close()
		go io.Copy(io.Discard, sconn)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err := StartTLSClient(ctx, textproto.NewConn(cconn), cconn, SMTP, "", pki.clientTLS())
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestCapabilities(t *testing.T) {
	imap := cliNewCapabilities(IMAP, []string{"IMAP4rev1 auth=plain AUTH=SCRAM-SHA-256 AUTH=PLAIN STARTTLS", "SASL-IR"})
	assert.Equal(t, IMAP, imap.Protocol())
	assert.True(t, imap.Has("starttls"))
	assert.True(t, imap.Has("AUTH=PLAIN"))
	assert.False(t, imap.Has("AUTH"))
	assert.Equal(t, []string{"PLAIN", "SCRAM-SHA-256"}, imap.AuthMechanisms())
	assert.Nil(t, imap.Params("IMAP4rev1"))
	assert.Len(t, imap.List(), 6)

	smtp := cliNewCapabilities(SMTP, []string{"AUTH=LOGIN PLAIN", "AUTH PLAIN LOGIN CRAM-MD5", "SIZE 100", "", "8BITMIME"})
	assert.Equal(t, []string{"LOGIN", "PLAIN", "CRAM-MD5"}, smtp.AuthMechanisms())
	assert.Equal(t, []string{"100"}, smtp.Params("SIZE"))
	assert.True(t, smtp.Has("8bitmime"))
	assert.False(t, smtp.Has("PLAIN"))

	pop := cliNewCapabilities(POP3, []string{"SASL SCRAM-SHA-1 plain", "TOP", "USER"})
	assert.Equal(t, []string{"SCRAM-SHA-1", "PLAIN"}, pop.AuthMechanisms())
	assert.True(t, pop.Has("user"))
	assert.Equal(t, []string{"SASL SCRAM-SHA-1 plain", "TOP", "USER"}, pop.List())

	var zero Capabilities
	assert.False(t, zero.Has("STARTTLS"))
	assert.Empty(t, zero.AuthMechanisms())
	assert.Empty(t, zero.List())
}

// TestClientBounds checks every named limit of the client's readers: going
// over one is ErrTooLarge.
func TestClientBounds(t *testing.T) {
	read := func(s string) (string, error) {
		return cliReadLine(bufio.NewReader(strings.NewReader(s)))
	}
	t.Run("line length", func(t *testing.T) {
		max := strings.Repeat("x", cliMaxLineLength-2)
		got, err := read(max + "\r\n")
		require.NoError(t, err)
		assert.Equal(t, max, got)
		_, err = read(max + "x\r\n")
		require.ErrorIs(t, err, ErrTooLarge)
		_, err = read(strings.Repeat("x", 1<<20))
		require.ErrorIs(t, err, ErrTooLarge)
		// A bigger bufio buffer does not lift the limit.
		_, err = cliReadLine(bufio.NewReaderSize(strings.NewReader(max+"xx\r\n"), 1<<16))
		require.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("line endings", func(t *testing.T) {
		got, err := read("bare LF\n")
		require.NoError(t, err)
		assert.Equal(t, "bare LF", got)
		_, err = read("no end")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		_, err = read("")
		require.ErrorIs(t, err, io.EOF)
	})
	t.Run("SMTP lines", func(t *testing.T) {
		_, _, err := cliReadSMTPReply(bufio.NewReader(strings.NewReader(strings.Repeat("250-x\r\n", cliMaxResponseLines+1) + "250 x\r\n")))
		require.ErrorIs(t, err, ErrTooLarge)
		code, lines, err := cliReadSMTPReply(bufio.NewReader(strings.NewReader(strings.Repeat("250-x\r\n", cliMaxResponseLines-1) + "250 x\r\n")))
		require.NoError(t, err)
		assert.Equal(t, 250, code)
		assert.Len(t, lines, cliMaxResponseLines)
		_, _, err = cliReadSMTPReply(bufio.NewReader(strings.NewReader("250-x\r\n251 y\r\n")))
		require.ErrorIs(t, err, ErrMalformed)
		_, _, err = cliReadSMTPReply(bufio.NewReader(strings.NewReader("250-x\r\n")))
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("POP3 lines", func(t *testing.T) {
		_, err := POP3Capabilities(cliFuzzText([]byte("+OK\r\n" + strings.Repeat("X\r\n", cliMaxResponseLines+1) + ".\r\n")))
		require.ErrorIs(t, err, ErrTooLarge)
		_, err = POP3Capabilities(cliFuzzText([]byte("+OK\r\nUSER\r\n")))
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("IMAP untagged responses", func(t *testing.T) {
		_, err := cliReadIMAPCapabilities(cliFuzzText([]byte(strings.Repeat("* 1 EXISTS\r\n", cliMaxResponseLines)+"a1 OK\r\n")), "a1")
		require.ErrorIs(t, err, ErrTooLarge)
		err = cliIMAPGoAhead(cliFuzzText([]byte(strings.Repeat("* OK x\r\n", cliMaxResponseLines)+"a1 OK\r\n")), "a1")
		require.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("IMAP literals", func(t *testing.T) {
		var skipped int64
		big := fmt.Sprintf("* 1 FETCH (BODY[] {%d}\r\n", cliMaxLiteralSkip+1)
		_, err := cliReadIMAPResponse(bufio.NewReader(strings.NewReader(big)), &skipped)
		require.ErrorIs(t, err, ErrTooLarge)
		_, err = cliReadIMAPResponse(bufio.NewReader(strings.NewReader("* 1 FETCH (BODY[] {99999999999}\r\n")), &skipped)
		require.ErrorIs(t, err, ErrTooLarge)
		_, err = cliReadIMAPResponse(bufio.NewReader(strings.NewReader("* 1 FETCH (BODY[] {10}\r\nshort")), &skipped)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		// Literals add up across responses of one exchange.
		half := fmt.Sprintf("* 1 FETCH (BODY[] {%d}\r\n%s)\r\n", cliMaxLiteralSkip/2+1, strings.Repeat("x", cliMaxLiteralSkip/2+1))
		_, err = cliReadIMAPCapabilities(cliFuzzText([]byte(half+half+"a1 OK\r\n")), "a1")
		require.ErrorIs(t, err, ErrTooLarge)
		// Within the bound the literal is skipped, fake tagged line and all.
		caps, err := cliReadIMAPCapabilities(cliFuzzText([]byte("* 1 FETCH (BODY[] {7}\r\na1 OK\r\n)\r\n* CAPABILITY IMAP4rev1\r\na1 OK\r\n")), "a1")
		require.NoError(t, err)
		assert.Equal(t, []string{"IMAP4rev1"}, caps.List())
	})
	t.Run("huge greeting", func(t *testing.T) {
		pki := cliNewTestPKI(t)
		res := cliRun(t, pki, ClientOptions{Protocol: IMAP}, func(s *cliServer) {
			s.send("* OK " + strings.Repeat("A", 1<<20) + "\r\n")
		})
		require.ErrorIs(t, res.err, ErrTooLarge)
	})
}

func TestClientParsers(t *testing.T) {
	imap := []struct {
		line string
		want cliIMAPResp
		err  bool
	}{
		{"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi", cliIMAPResp{tag: "*", kind: "OK", code: "CAPABILITY", args: []string{"IMAP4rev1", "STARTTLS"}}, false},
		{"* ok [alert] x", cliIMAPResp{tag: "*", kind: "OK", code: "ALERT"}, false},
		{"a1 OK done", cliIMAPResp{tag: "a1", kind: "OK"}, false},
		{"a1 NO [CAPABILITY X] no", cliIMAPResp{tag: "a1", kind: "NO", code: "CAPABILITY", args: []string{"X"}}, false},
		{"* CAPABILITY A B", cliIMAPResp{tag: "*", kind: "CAPABILITY", args: []string{"A", "B"}}, false},
		{"* 3 EXISTS", cliIMAPResp{tag: "*", kind: "EXISTS"}, false},
		{"+ go on", cliIMAPResp{tag: "+"}, false},
		{"+", cliIMAPResp{tag: "+"}, false},
		{"a1 CAPABILITY X", cliIMAPResp{}, true},
		{"a1 PREAUTH x", cliIMAPResp{}, true},
		{"a1 BYE x", cliIMAPResp{}, true},
		{"*", cliIMAPResp{}, true},
		{"* 3", cliIMAPResp{}, true},
		{"* OK [", cliIMAPResp{}, true},
		{"* OK [] x", cliIMAPResp{}, true},
		{"a(1 OK x", cliIMAPResp{}, true},
		{"", cliIMAPResp{}, true},
	}
	for _, tt := range imap {
		got, err := cliParseIMAPResponse(tt.line)
		if tt.err {
			assert.ErrorIs(t, err, ErrMalformed, "%q", tt.line)
			continue
		}
		if assert.NoError(t, err, "%q", tt.line) {
			assert.Equal(t, tt.want, got, "%q", tt.line)
		}
	}
	smtp := []struct {
		line string
		code int
		more bool
		text string
		err  bool
	}{
		{"250-SIZE 100", 250, true, "SIZE 100", false},
		{"220 hi", 220, false, "hi", false},
		{"221", 221, false, "", false},
		{"199 x", 0, false, "", true},
		{"600 x", 0, false, "", true},
		{"2a0 x", 0, false, "", true},
		{"250_x", 0, false, "", true},
		{"25", 0, false, "", true},
	}
	for _, tt := range smtp {
		code, more, text, err := cliParseSMTPLine(tt.line)
		if tt.err {
			assert.ErrorIs(t, err, ErrMalformed, "%q", tt.line)
			continue
		}
		require.NoError(t, err, "%q", tt.line)
		assert.Equal(t, tt.code, code)
		assert.Equal(t, tt.more, more)
		assert.Equal(t, tt.text, text)
	}
	for line, want := range map[string]bool{"+OK": true, "+OK hi": true, "-ERR": false, "-ERR no": false} {
		ok, err := cliParsePOP3Status(line)
		require.NoError(t, err)
		assert.Equal(t, want, ok, line)
	}
	for _, line := range []string{"+OKAY", "-ERROR", "+ok", "", "OK"} {
		_, err := cliParsePOP3Status(line)
		assert.ErrorIs(t, err, ErrMalformed, line)
	}
	assert.Equal(t, "IMAP", IMAP.String())
	assert.Equal(t, "Protocol(0)", Protocol(0).String())
	assert.Equal(t, "ImplicitTLS", ImplicitTLS.String())
	assert.Equal(t, "ClientMode(7)", ClientMode(7).String())
}

// TestClientAgainstStartTLSServer runs NegotiateClient against this
// package's own server side, tlsutil.StartTLSServer, over loopback TCP.
func TestClientAgainstStartTLSServer(t *testing.T) {
	pki := cliNewTestPKI(t)
	serverCfg := &tls.Config{Certificates: []tls.Certificate{pki.good}}
	type step struct{ expect, reply string }
	tests := []struct {
		proto    Protocol
		greeting string
		pre      []step
		cmd      string
		goAhead  string
		post     step
		want     []string
	}{
		{IMAP, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready", nil,
			"a1 STARTTLS", "a1 OK Begin TLS negotiation now.",
			step{"a2 CAPABILITY", "* CAPABILITY IMAP4rev1 AUTH=SCRAM-SHA-256-PLUS\r\na2 OK done"}, []string{"SCRAM-SHA-256-PLUS"}},
		{SMTP, "220 mail.example.org ESMTP", []step{{"EHLO localhost", "250-mail.example.org\r\n250 STARTTLS"}},
			"STARTTLS", "220 2.0.0 Ready to start TLS",
			step{"EHLO localhost", "250-mail.example.org\r\n250 AUTH SCRAM-SHA-256-PLUS PLAIN"}, []string{"SCRAM-SHA-256-PLUS", "PLAIN"}},
		{POP3, "+OK ready", []step{{"CAPA", "+OK\r\nSTLS\r\n."}},
			"STLS", "+OK Begin TLS negotiation now.",
			step{"CAPA", "+OK\r\nSASL SCRAM-SHA-256-PLUS\r\n."}, []string{"SCRAM-SHA-256-PLUS"}},
	}
	for _, tt := range tests {
		t.Run(tt.proto.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan error, 1)
			go func() {
				done <- func() error {
					raw, err := ln.Accept()
					if err != nil {
						return err
					}
					defer raw.Close()
					tp := textproto.NewConn(raw)
					expect := func(tp *textproto.Conn, want string) error {
						line, err := tp.ReadLine()
						if err == nil && line != want {
							err = fmt.Errorf("got %q, want %q", line, want)
						}
						return err
					}
					if err := tp.PrintfLine("%s", tt.greeting); err != nil {
						return err
					}
					for _, s := range tt.pre {
						if err := expect(tp, s.expect); err != nil {
							return err
						}
						if err := tp.PrintfLine("%s", s.reply); err != nil {
							return err
						}
					}
					if err := expect(tp, tt.cmd); err != nil {
						return err
					}
					_, tp2, err := tlsutil.StartTLSServer(context.Background(), tp, raw, serverCfg, tt.goAhead)
					if err != nil {
						return err
					}
					if err := expect(tp2, tt.post.expect); err != nil {
						return err
					}
					if err := tp2.PrintfLine("%s", tt.post.reply); err != nil {
						return err
					}
					_, err = tp2.ReadLine() // until the client closes
					if errors.Is(err, io.EOF) {
						err = nil
					}
					return err
				}()
			}()
			conn, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			cc, err := NegotiateClient(context.Background(), conn, ClientOptions{Protocol: tt.proto, TLSConfig: tlsutil.NewClientConfig(cliTestHost, pki.roots)})
			require.NoError(t, err)
			assert.Equal(t, tt.want, cc.Capabilities.AuthMechanisms())
			cc.Conn.Close()
			assert.NoError(t, <-done)
		})
	}
}
