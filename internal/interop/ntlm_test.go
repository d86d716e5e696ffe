//go:build interop

package interop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
)

// NTLM (package ntlm) against real peers:
//   - curl's IMAP, POP3 and SMTP clients against our mail server (the
//     rows are in curlCases; curl speaks NTLMv2 because our CHALLENGE
//     echoes extended session security),
//   - python3-ntlm-auth as client, with a MIC and tls-server-end-point
//     channel bindings, over imaplib/poplib/smtplib (TestNTLMPythonClient),
//   - fetchmail, which speaks NTLMv1 only: refused (fetchmailCases),
//   - our client against Cyrus SASL's NTLM plugin (libntlm.so from
//     libsasl2-modules) through sasl-sample-server on stdio, verifying
//     NTLMv2 from the sasldb password (TestNTLMCyrusServer).

// LookupNTHash gives our NTLM server the NT hashes of peerUsers.
func (m memStore) LookupNTHash(_ context.Context, user string) ([16]byte, error) {
	pw, err := m.get(user)
	if err != nil {
		return [16]byte{}, err
	}
	return ntlm.Hash(pw), nil
}

// ourNTLM is the NTLM mechanism of our mail servers.
func ourNTLM() sasl.ServerMechanism {
	return ntlm.NewServerMechanism(&ntlm.ServerConfig{
		Hashes: memStore{users: peerUsers}, Domain: "INTEROP", DNSComputer: "localhost",
	})
}

// ---------------------------------------------------------------- Cyrus

// TestNTLMCyrusServer runs our NTLM client against Cyrus SASL's NTLM
// server plugin: sasl-sample-server -m NTLM, which takes the password from
// its sasldb and checks our NTLMv2 response (its V2(): HMAC-MD5 over its
// own nonce and our blob). Its CHALLENGE has no target info, so our client
// sends LMv2 and a blob with only its own AV pairs.
func TestNTLMCyrusServer(t *testing.T) {
	pki := sharedPKI(t)
	for _, tc := range []struct {
		user, pass, note string
		wantErr          bool
	}{
		{"plain", "plainpass", "", false},
		{"plain", "wrongpass", "wrong password", true},
		{"nosuchuser", "plainpass", "unknown user", true},
	} {
		t.Run(tc.user+"/"+strconv.FormatBool(tc.wantErr), func(t *testing.T) {
			t.Parallel()
			c := newCase(t, "NTLM", peerCyrus, dirClient, "stdio, TLS 1.3 pair")
			needBinary(c, "sasl-sample-server", "saslpasswd2")
			if !cyrusHasNTLM() {
				c.skip("Cyrus NTLM plugin (libsasl2-modules libntlm.so) not installed")
			}
			pair := newTLSPair(t, pki, 0)
			cl, err := ourClient(sasl.ClientConfig{Extra: []sasl.ClientMechanism{
				ntlm.NewClientMechanism(&ntlm.ClientConfig{Username: tc.user, Password: tc.pass, TargetName: "imap/localhost"}),
			}}, "NTLM", sasl.ClientConnState(pair.Client))
			if err == nil {
				err = cyrusServerRun(t, "NTLM", cl)
			}
			if tc.wantErr {
				c.refused(err, tc.note)
			} else {
				c.check(err, "NTLMv2 verified by Cyrus")
			}
		})
	}
}

// TestNTLMCyrusClient runs Cyrus's NTLM client plugin (sasl-sample-client
// -m NTLM) against our server. It sends an NTLMv1 response (or, with its
// ntlm_v2 option, an LMv2 response alone), which our server refuses.
func TestNTLMCyrusClient(t *testing.T) {
	pki := sharedPKI(t)
	c := newCase(t, "NTLM", peerCyrus, dirServer, "stdio, TLS 1.3 pair")
	needBinary(c, "sasl-sample-client")
	if !cyrusHasNTLM() {
		c.skip("Cyrus NTLM plugin (libsasl2-modules libntlm.so) not installed")
	}
	cfg := ourServerConfig("localhost")
	cfg.Extra = []sasl.ServerMechanism{ourNTLM()}
	pair := newTLSPair(t, pki, 0)
	srv, err := ourServer(cfg, "NTLM", sasl.ServerConnState(pair.Server, pair.ServerLeaf, nil))
	if err == nil {
		err = cyrusClientRun(t, "NTLM", srv, "plain", "plainpass")
	}
	if err != nil && !errors.Is(err, ntlm.ErrNotNTLMv2) {
		c.check(err, "")
		return
	}
	c.refused(err, "NTLMv1 only")
}

// cyrusHasNTLM reports whether Cyrus's NTLM plugin is installed.
func cyrusHasNTLM() bool {
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/aarch64-linux-gnu/sasl2", "/usr/lib/sasl2"} {
		if _, err := os.Stat(filepath.Join(dir, "libntlm.so")); err == nil {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- python3-ntlm-auth

const peerPyNTLM = "python3-ntlm-auth 1.4"

// pyNTLMScript logs in with python3-ntlm-auth's NtlmContext over imaplib,
// poplib or smtplib. It binds to the server certificate it received
// (tls-server-end-point: SHA-256 of the DER for an ECDSA-SHA256
// certificate, RFC 5929 Section 4.1). mode "ok" binds correctly, "badcbt"
// binds to another certificate (a relay), "badmic" alters the MIC. It
// exits 0 on success, 3 when the server refused, 4 when ntlm-auth sent no
// MIC, 5 when the module is missing, 2 on any other error.
const pyNTLMScript = `
import base64, hashlib, imaplib, poplib, smtplib, ssl, sys
try:
    from ntlm_auth.ntlm import NtlmContext
    from ntlm_auth.gss_channel_bindings import GssChannelBindingsStruct
except ImportError as e:
    print("no ntlm_auth:", e); sys.exit(5)

proto, implicit, host, port, user, pw, ca, mode = sys.argv[1:9]
implicit = implicit == "1"
port = int(port)
tlsctx = ssl.create_default_context(cafile=ca)
TIMEOUT = 20

def context(sock):
    h = hashlib.sha256(sock.getpeercert(binary_form=True)).digest()
    if mode == "badcbt":
        h = hashlib.sha256(b"the certificate of a relay").digest()
    cbt = GssChannelBindingsStruct()
    cbt[cbt.APPLICATION_DATA] = b"tls-server-end-point:" + h
    return NtlmContext(user, pw, domain="", workstation="PYCLIENT", cbt_data=cbt, ntlm_compatibility=3)

def authenticate(ctx, challenge):
    auth = ctx.step(challenge)
    if ctx._authenticate_message.mic is None:
        print("ntlm-auth sent no MIC"); sys.exit(4)
    if mode == "badmic":
        auth = auth[:72] + bytes([auth[72] ^ 1]) + auth[73:]
    return auth

def b64(b):
    return base64.b64encode(b).decode()

def imap():
    if implicit:
        c = imaplib.IMAP4_SSL(host, port, ssl_context=tlsctx, timeout=TIMEOUT)
    else:
        c = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        c.starttls(ssl_context=tlsctx)
    ctx = context(c.sock)
    steps = iter([lambda _: ctx.step(), lambda ch: authenticate(ctx, ch)])
    try:
        c.authenticate("NTLM", lambda ch: next(steps)(ch))
    except imaplib.IMAP4.error as e:
        print("refused:", e); sys.exit(3)
    typ, _ = c.select("INBOX")
    assert typ == "OK", typ
    c.logout()

def pop3():
    if implicit:
        c = poplib.POP3_SSL(host, port, context=tlsctx, timeout=TIMEOUT)
    else:
        c = poplib.POP3(host, port, timeout=TIMEOUT)
        c.stls(context=tlsctx)
    ctx = context(c.sock)
    try:
        # RFC 5034 initial response; poplib has no AUTH of its own
        c._putcmd("AUTH NTLM " + b64(ctx.step()))
        resp = c._getresp()
        if not resp.startswith(b"+ "):
            raise poplib.error_proto(resp)
        c._shortcmd(b64(authenticate(ctx, base64.b64decode(resp[2:]))))
    except poplib.error_proto as e:
        print("refused:", e); sys.exit(3)
    c.stat()
    c.quit()

def smtp():
    if implicit:
        c = smtplib.SMTP_SSL(host, port, context=tlsctx, timeout=TIMEOUT)
    else:
        c = smtplib.SMTP(host, port, timeout=TIMEOUT)
        c.starttls(context=tlsctx)
    c.ehlo("localhost")
    ctx = context(c.sock)
    # smtplib.auth encodes responses as ASCII text: send the lines directly
    code, resp = c.docmd("AUTH", "NTLM " + b64(ctx.step()))
    if code != 334:
        print("refused:", code, resp); sys.exit(3)
    code, resp = c.docmd(b64(authenticate(ctx, base64.b64decode(resp))))
    if code != 235:
        print("refused:", code, resp); sys.exit(3)
    c.sendmail(user + "@interop.test", ["sink@interop.test"], "Subject: interop\r\n\r\nhello\r\n")
    c.quit()

try:
    {"imap": imap, "pop3": pop3, "smtp": smtp}[proto]()
except SystemExit:
    raise
except Exception as e:
    print("error: %s: %s" % (type(e).__name__, e)); sys.exit(2)
`

// opensslLegacyConf activates OpenSSL 3's default and legacy providers.
const opensslLegacyConf = `openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
`

// TestNTLMPythonClient runs python3-ntlm-auth against our mail server over
// every transport, with a MIC and channel bindings; a relay's bindings and
// an altered MIC must be refused.
func TestNTLMPythonClient(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "ntlm_client.py")
	if err := os.WriteFile(script, []byte(pyNTLMScript), 0o644); err != nil {
		t.Fatal(err)
	}
	// ntlm-auth takes MD4 from hashlib, which OpenSSL 3 keeps in its
	// legacy provider: load it for the peer (not for us: x/crypto's MD4).
	osslConf := filepath.Join(dir, "openssl.cnf")
	if err := os.WriteFile(osslConf, []byte(opensslLegacyConf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tr := range ourTransports {
		for _, tc := range []peerCase{
			{mech: "NTLM", user: "plain", pass: "plainpass", note: "MIC + channel bindings"},
			{mech: "NTLM", user: "plain", pass: "wrong", wantErr: true, note: "wrong password", only: onlyName("IMAPS")},
			{mech: "NTLM", user: "plain", pass: "plainpass", wantErr: true, note: "relay's channel bindings", extra: []string{"badcbt"},
				only: onlyName("IMAPS", "POP3+STLS", "submissions")},
			{mech: "NTLM", user: "plain", pass: "plainpass", wantErr: true, note: "altered MIC", extra: []string{"badmic"},
				only: onlyName("IMAP+STARTTLS", "POP3S", "submission+STARTTLS")},
		} {
			if tc.only != nil && !tc.only(tr) {
				continue
			}
			runPeerClient(t, peerPyNTLM, []string{"python3"}, tr, tc, func(t *testing.T, m *ourMail) error {
				implicit, mode := "0", "ok"
				if tr.implicit {
					implicit = "1"
				}
				if len(tc.extra) > 0 {
					mode = tc.extra[0]
				}
				out, err := runCmd(t, "", []string{"OPENSSL_CONF=" + osslConf}, pythonBin(), script, tr.proto, implicit,
					"127.0.0.1", strconv.Itoa(m.port(tr)), tc.user, tc.pass, m.PKI.CAFile, mode)
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					switch ee.ExitCode() {
					case 3:
						return fmt.Errorf("python3-ntlm-auth: %w: %s", errPeerRefused, oneLine(out))
					case 5:
						t.Skipf("python3-ntlm-auth not installed: %s", oneLine(out))
					}
				}
				if err != nil {
					return fmt.Errorf("python3-ntlm-auth: %v: %s", err, oneLine(out))
				}
				return nil
			})
		}
	}
}
