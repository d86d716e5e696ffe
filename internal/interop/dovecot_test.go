//go:build interop

package interop

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dovecot is a throwaway Dovecot 2.3 on 127.0.0.1, shared by every test
// of this binary (see StartDovecot).
type Dovecot struct {
	Dir, Conf, Log string
	PKI            *testPKI
	Host           string // "127.0.0.1"

	IMAP, IMAPS, POP3, POP3S, Submission, Submissions int

	// Passwords maps each password user to their password. Each user's
	// password is stored in the scheme named by the user (see dovecotUsers).
	Passwords map[string]string
	// OAuthUser is the user whose JWTs the oauth2 passdb accepts.
	OAuthUser string
	oauthKey  []byte

	Sink *smtpSink

	cmd     *exec.Cmd
	exited  chan struct{}
	startup time.Duration
}

// Dovecot users, one per stored password scheme (NOTES table of the lab).
const (
	dcPlain  = "plain"    // {PLAIN}: every password mechanism, APOP
	dcCRAM   = "cram"     // {CRAM-MD5}: CRAM-MD5 and the plaintext mechanisms
	dcDigest = "digest"   // {DIGEST-MD5} with the empty realm
	dcSCRAM1 = "scram1"   // {SCRAM-SHA-1}
	dcSCRAM  = "scram"    // {SCRAM-SHA-256}
	dcUTF8   = "utf8"     // {PLAIN} non-ASCII password with a space
	dcHashed = "hashed"   // {SSHA256}: only PLAIN/LOGIN (negative case for the rest)
	dcGsasl  = "mkpasswd" // {SCRAM-SHA-256} made by gsasl --mkpasswd (65536 iterations)
	dcAnon   = "anonymous"
	dcOAuth  = "oauth"
)

// dovecotStartTimeout bounds the wait for every listener to come up.
const dovecotStartTimeout = 15 * time.Second

// dcIterations is the SCRAM iteration count stored for scram and scram1.
const dcIterations = 4096

var shared struct {
	mu      sync.Mutex
	tmp     string
	dovecot *Dovecot
	dcErr   error
	dcTried bool
	pki     *testPKI
	stops   []func() // other shared peers' stop functions
}

// sharedTempDir is the binary's temp root (0755: Dovecot's mail processes
// run as nobody and must traverse it). stopSharedPeers removes it.
func sharedTempDir() (string, error) {
	if shared.tmp != "" {
		return shared.tmp, nil
	}
	d, err := os.MkdirTemp("", "mailauth-interop-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(d, 0o755); err != nil {
		return "", err
	}
	shared.tmp = d
	return d, nil
}

// StartDovecot returns the binary's Dovecot, starting it on first use.
// It skips the test when dovecot is not installed or we are not root, and
// fails it when Dovecot does not start.
func StartDovecot(t *testing.T) *Dovecot {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.dcTried {
		shared.dcTried = true
		shared.dovecot, shared.dcErr = startDovecot()
		if shared.dovecot != nil {
			t.Logf("dovecot up in %v (dir %s)", shared.dovecot.startup.Round(time.Millisecond), shared.dovecot.Dir)
		}
	}
	if shared.dcErr != nil {
		var skip dovecotSkipError
		if errors.As(shared.dcErr, &skip) {
			t.Skip(skip.Error())
		}
		t.Fatalf("dovecot: %v", shared.dcErr)
	}
	return shared.dovecot
}

type dovecotSkipError string

func (e dovecotSkipError) Error() string { return string(e) }

// stopSharedPeers stops Dovecot (if started) and removes the temp root.
func stopSharedPeers() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, stop := range shared.stops {
		stop()
	}
	if shared.dovecot != nil {
		if err := shared.dovecot.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "interop: stopping dovecot: %v\n", err)
		}
		shared.dovecot = nil
	}
	if shared.tmp != "" && os.Getenv("INTEROP_KEEP") == "" {
		os.RemoveAll(shared.tmp)
	}
}

// freePorts finds n free TCP ports on 127.0.0.1 by listening on :0.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startDovecot() (*Dovecot, error) { return startDovecotAs("dovecot", "127.0.0.1", nil) }

// startDovecotAs starts a Dovecot in the subdirectory name of the temp
// root, listening on host (a loopback address), with its config passed
// through edit when edit is not nil: a second instance configured
// differently (see mailauth_cmd_test.go). The caller stops it.
func startDovecotAs(name, host string, edit func(conf string) string) (*Dovecot, error) {
	t0 := time.Now()
	if _, err := exec.LookPath("dovecot"); err != nil {
		return nil, dovecotSkipError("dovecot not installed")
	}
	if os.Geteuid() != 0 {
		return nil, dovecotSkipError("dovecot harness needs root (the master drops privileges itself)")
	}
	root, err := sharedTempDir()
	if err != nil {
		return nil, err
	}
	d := &Dovecot{Dir: filepath.Join(root, name), Host: host, OAuthUser: dcOAuth, exited: make(chan struct{})}
	for _, sub := range []string{"run", "state", "log", "auth/oauth-keys/default/HS256", "mail"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	if shared.pki == nil {
		if shared.pki, err = newTestPKI(filepath.Join(root, "tls")); err != nil {
			return nil, err
		}
	}
	d.PKI = shared.pki
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	d.IMAP, d.IMAPS, d.POP3, d.POP3S, d.Submission, d.Submissions = ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	if d.Sink, err = startSMTPSink(); err != nil {
		return nil, err
	}

	// users.passwd: one user per scheme, password "<user>pass".
	d.Passwords = map[string]string{}
	var users strings.Builder
	add := func(user, pass, stored string) {
		d.Passwords[user] = pass
		fmt.Fprintf(&users, "%s:%s\n", user, stored)
	}
	add(dcPlain, "plainpass", "{PLAIN}plainpass")
	add(dcCRAM, "crampass", "{CRAM-MD5}"+hex.EncodeToString(dcCRAMMD5Context("crampass")))
	add(dcDigest, "digestpass", "{DIGEST-MD5}"+dcHexMD5(dcDigest+"::digestpass"))
	add(dcSCRAM1, "scram1pass", dcSCRAMStored("SCRAM-SHA-1", sha1.New, "scram1pass"))
	add(dcSCRAM, "scrampass", dcSCRAMStored("SCRAM-SHA-256", sha256.New, "scrampass"))
	add(dcUTF8, "päss wörd", "{PLAIN}päss wörd")
	add(dcHashed, "hashedpass", dcSSHA256("hashedpass"))
	if _, err := exec.LookPath("gsasl"); err == nil {
		// Dovecot's field layout, made by another implementation
		out, err := exec.Command("gsasl", "--mkpasswd", "-m", "SCRAM-SHA-256", "-p", "mkpasswdpass", "--quiet").Output()
		if err == nil && strings.HasPrefix(string(out), "{SCRAM-SHA-256}") {
			add(dcGsasl, "mkpasswdpass", strings.TrimSpace(string(out)))
		}
	}
	auth := filepath.Join(d.Dir, "auth")
	if err := os.WriteFile(filepath.Join(auth, "users.passwd"), []byte(users.String()), 0o644); err != nil {
		return nil, err
	}
	// oauth2 local validation key: looked up at
	// <prefix>/<azp|default>/<alg>/<kid|default>, base64, no newline.
	d.oauthKey = make([]byte, 32)
	rand.Read(d.oauthKey)
	if err := os.WriteFile(filepath.Join(auth, "oauth-keys/default/HS256/default"),
		[]byte(base64.StdEncoding.EncodeToString(d.oauthKey)), 0o644); err != nil {
		return nil, err
	}
	oauthConf := fmt.Sprintf("introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix=%s/\nusername_attribute = sub\nissuers = mailauth-interop\n",
		filepath.Join(auth, "oauth-keys"))
	if err := os.WriteFile(filepath.Join(auth, "oauth2.conf.ext"), []byte(oauthConf), 0o644); err != nil {
		return nil, err
	}
	// Maildirs with one message each; mail processes run as nobody.
	for _, u := range []string{dcPlain, dcCRAM, dcDigest, dcSCRAM1, dcSCRAM, dcUTF8, dcHashed, dcGsasl, dcAnon, pkiExternalUser, dcOAuth} {
		md := filepath.Join(d.Dir, "mail", u, "Maildir")
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, sub), 0o755); err != nil {
				return nil, err
			}
		}
		msg := fmt.Sprintf("From: sender@interop.test\r\nTo: %s@interop.test\r\nSubject: interop message for %s\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <1.%s@interop.test>\r\n\r\nHello %s.\r\n", u, u, u, u)
		if err := os.WriteFile(filepath.Join(md, "new", "1700000001.M1P1.interop"), []byte(msg), 0o644); err != nil {
			return nil, err
		}
	}
	if err := chownTree(filepath.Join(d.Dir, "mail"), 65534, 65534); err != nil {
		return nil, err
	}

	d.Conf = filepath.Join(d.Dir, "dovecot.conf")
	d.Log = filepath.Join(d.Dir, "log", "dovecot.log")
	conf := d.config()
	if edit != nil {
		conf = edit(conf)
	}
	if err := os.WriteFile(d.Conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	stdio, err := os.Create(filepath.Join(d.Dir, "log", "dovecot.stdio"))
	if err != nil {
		return nil, err
	}
	defer stdio.Close()
	// -F keeps the master in the foreground as our child, so Pdeathsig
	// ends it (and it its children) even if this test binary is killed.
	// Its stdout/stderr go to a file: a daemon holding our pipes would
	// keep readers waiting (lab gotcha 7).
	d.cmd = exec.Command("dovecot", "-F", "-c", d.Conf)
	d.cmd.Stdout, d.cmd.Stderr = stdio, stdio
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dovecot: %w", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	deadline := time.Now().Add(dovecotStartTimeout)
	for _, p := range ports {
		for {
			c, err := net.DialTimeout("tcp", d.addr(p), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-d.exited:
				out, _ := os.ReadFile(stdio.Name())
				return nil, fmt.Errorf("dovecot exited at start: %s", out)
			default:
			}
			if time.Now().After(deadline) {
				d.stop()
				return nil, fmt.Errorf("port %d did not come up within %v; log %s", p, dovecotStartTimeout, d.Log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	d.startup = time.Since(t0)
	return d, nil
}

func (d *Dovecot) addr(port int) string { return net.JoinHostPort(d.Host, strconv.Itoa(port)) }

func (d *Dovecot) config() string {
	auth := filepath.Join(d.Dir, "auth")
	return fmt.Sprintf(`# generated by mailauth's interop harness: throwaway, NOT for production
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = mailauth-interop-%[2]d
listen = %[16]s
protocols = imap pop3 submission
hostname = localhost
log_path = %[3]s
info_log_path = %[3]s
debug_log_path = %[3]s
auth_verbose = yes
auth_debug = yes
verbose_ssl = yes

ssl = yes
ssl_cert = <%[4]s
ssl_key = <%[5]s
ssl_ca = <%[6]s
ssl_verify_client_cert = yes
# without a CRL every client certificate would fail (lab gotcha 3)
ssl_require_crl = no
ssl_cert_username_field = commonName
auth_ssl_username_from_cert = yes

disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256 apop anonymous external oauthbearer xoauth2
auth_anonymous_username = %[7]s
auth_failure_delay = 0
auth_cache_size = 0

passdb {
  driver = passwd-file
  args = scheme=PLAIN %[8]s/users.passwd
  mechanisms = plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256 apop
}
# EXTERNAL verifies an empty password: only for that mechanism
passdb {
  driver = static
  args = nopassword=y
  mechanisms = external
}
passdb {
  driver = oauth2
  mechanisms = oauthbearer xoauth2
  args = %[8]s/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%[1]s/mail/%%u allow_all_users=yes
}

mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
pop3_uidl_format = %%08Xu%%08Xv
protocol imap {
  mail_max_userip_connections = 500
}
protocol pop3 {
  mail_max_userip_connections = 500
}

# Dovecot 2.3 submission refuses logins without a relay: our Go sink
submission_relay_host = 127.0.0.1
submission_relay_port = %[9]d
submission_relay_trusted = no

service imap-login {
  inet_listener imap {
    address = %[16]s
    port = %[10]d
  }
  inet_listener imaps {
    address = %[16]s
    port = %[11]d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = %[16]s
    port = %[12]d
  }
  inet_listener pop3s {
    address = %[16]s
    port = %[13]d
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    address = %[16]s
    port = %[14]d
  }
  inet_listener submissions {
    address = %[16]s
    port = %[15]d
    ssl = yes
  }
}
# no auth-failure penalty: negative cases must not slow the others down
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, d.Dir, os.Getpid(), d.Log, d.PKI.ServerCertFile, d.PKI.ServerKeyF, d.PKI.CAFile, dcAnon, auth,
		d.Sink.Port, d.IMAP, d.IMAPS, d.POP3, d.POP3S, d.Submission, d.Submissions, d.Host)
}

// stop ends the master and every process it started, and the sink.
func (d *Dovecot) stop() error {
	defer d.Sink.Close()
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	kids := descendants(d.cmd.Process.Pid)
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	// The master stops its children; make sure none is left behind.
	deadline := time.Now().Add(3 * time.Second)
	for _, pid := range kids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

// descendants lists the pids below pid, from /proc.
func descendants(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ")".
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 {
				pp, _ := strconv.Atoi(f[1])
				parent[p] = pp
			}
		}
	}
	var out []int
	var walk func(int)
	walk = func(pp int) {
		for p, q := range parent {
			if q == pp {
				out = append(out, p)
				walk(p)
			}
		}
	}
	walk(pid)
	return out
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// OAuthToken mints an HS256 JWT for sub that the oauth2 passdb validates
// locally; a negative lifetime gives an expired token.
func (d *Dovecot) OAuthToken(sub string, lifetime time.Duration) string {
	return mintJWT(d.oauthKey, sub, "mailauth-interop", lifetime)
}

func mintJWT(key []byte, sub, iss string, lifetime time.Duration) string {
	now := time.Now()
	iat := now.Add(-time.Minute)
	if lifetime < 0 {
		iat = now.Add(lifetime - time.Hour)
	}
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"sub": sub, "iss": iss, "iat": iat.Unix(), "nbf": iat.Unix(), "exp": now.Add(lifetime).Unix(),
	})
	in := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(in))
	return in + "." + enc.EncodeToString(mac.Sum(nil))
}

// dcCRAMMD5Context is Dovecot's {CRAM-MD5} value: the MD5 states after the
// inner and outer HMAC pads (RFC 2104), each word little-endian, OUTER
// first (Dovecot's hmac_md5_get_cram_context; checked against doveadm pw
// by TestHarnessDovecot).
func dcCRAMMD5Context(password string) []byte {
	key := []byte(password)
	if len(key) > 64 {
		s := md5.Sum(key)
		key = s[:]
	}
	out := make([]byte, 0, 32)
	for _, pad := range []byte{0x5c, 0x36} { // outer, inner
		block := make([]byte, 64)
		copy(block, key)
		for i := range block {
			block[i] ^= pad
		}
		h := md5.New()
		h.Write(block)
		st, _ := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
		// crypto/md5 state: "md5\x01", then a, b, c, d big-endian.
		for w := range 4 {
			out = binary.LittleEndian.AppendUint32(out, binary.BigEndian.Uint32(st[4+4*w:]))
		}
	}
	return out
}

func dcHexMD5(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// dcSCRAMStored is Dovecot's {SCRAM-SHA-*}iter,salt,StoredKey,ServerKey.
func dcSCRAMStored(scheme string, h func() hash.Hash, password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	salted, _ := pbkdf2.Key(h, password, salt, dcIterations, h().Size())
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sh := h()
	sh.Write(clientKey)
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("{%s}%d,%s,%s,%s", scheme, dcIterations, b64(salt), b64(sh.Sum(nil)), b64(mac(salted, "Server Key")))
}

func dcSSHA256(password string) string {
	salt := make([]byte, 8)
	rand.Read(salt)
	sum := sha256.Sum256(append([]byte(password), salt...))
	return "{SSHA256}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
}

// sharedPKI returns the binary's TLS material (the same as Dovecot's).
func sharedPKI(t *testing.T) *testPKI {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pki == nil {
		root, err := sharedTempDir()
		if err != nil {
			t.Fatal(err)
		}
		if shared.pki, err = newTestPKI(filepath.Join(root, "tls")); err != nil {
			t.Fatal(err)
		}
	}
	return shared.pki
}
