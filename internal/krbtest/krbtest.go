// Package krbtest starts a throwaway MIT Kerberos KDC for tests: its own
// realm, krb5.conf, kdc.conf, database and keytabs in t.TempDir(), listening
// on 127.0.0.1 only, stopped by t.Cleanup.
//
// It needs the Debian packages krb5-kdc, krb5-admin-server and krb5-user
// (krb5kdc, kdb5_util, kadmin.local, kinit). When they are absent, [Start]
// skips the test and says so; CI installs them, so CI never skips.
//
// The KDC is configured the way both MIT tools and gokrb5 work with it: no
// DNS, no reverse lookups, no host name canonicalisation, TCP first, and
// only AES enctypes (gokrb5's built-in defaults still list DES and RC4).
package krbtest

import (
	"bytes"
	"errors"
	"fmt"
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

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Tools are the MIT programs Start needs.
var tools = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"}

// startTimeout bounds the wait for the KDC's port. A KDC that is not up by
// then has failed; the usual start is well under a second.
const startTimeout = 5 * time.Second

// Options change what Start sets up. The zero value is a realm
// "KRBTEST.INVALID" with service host "mail.krbtest.invalid".
type Options struct {
	// Realm is the realm name, in upper case by convention.
	Realm string
	// Host is the service host: the principals imap/Host, pop/Host and
	// smtp/Host are created, and Host maps to Realm in [domain_realm].
	Host string
	// Enctypes are the supported enctypes of the KDC, in kdc.conf's
	// "enctype:salt" form. If nil, aes256-cts-hmac-sha1-96:normal and
	// aes128-cts-hmac-sha1-96:normal.
	Enctypes []string
	// DisablePAC turns off the PAC MIT 1.20 puts in every ticket.
	DisablePAC bool
}

// KDC is a running throwaway KDC.
type KDC struct {
	Realm string // the realm
	Host  string // the service host
	Dir   string // state directory (t.TempDir)
	Addr  string // 127.0.0.1:port, TCP and UDP
	// Krb5Conf is the path of the client profile (KRB5_CONFIG).
	Krb5Conf string
	// Config is Krb5Conf parsed by gokrb5.
	Config *config.Config
	// StartTime is how long Start took, database and principals included.
	StartTime time.Duration

	kdcConf string
	cmd     *exec.Cmd
	mu      sync.Mutex // serialises kadmin.local runs
	n       int        // counter for file names
}

// Start starts a KDC for t, or skips t if the MIT binaries are absent.
// Principals "alice" (password "alice-pw" unless changed with AddUser)
// and imap/Host, pop/Host, smtp/Host (random keys) exist; Keytab exports
// service keys. The KDC is stopped and its directory removed when t ends.
func Start(t testing.TB, opts *Options) *KDC {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	paths, missing := lookTools()
	if missing != "" {
		t.Skipf("krbtest: %s not found: install krb5-kdc krb5-admin-server krb5-user", missing)
	}
	start := time.Now()
	k := &KDC{Realm: opts.Realm, Host: opts.Host, Dir: t.TempDir()}
	if k.Realm == "" {
		k.Realm = "KRBTEST.INVALID"
	}
	if k.Host == "" {
		k.Host = "mail.krbtest.invalid"
	}
	var err error
	// The port is chosen by binding port 0 and releasing it; another
	// process may take it in between, so a failed start is retried.
	for attempt := 0; attempt < 3; attempt++ {
		if err = k.start(paths, opts); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	t.Cleanup(k.stop)
	k.StartTime = time.Since(start)
	return k
}

// lookTools finds the MIT binaries on PATH or in /usr/sbin, where Debian
// puts the admin tools.
func lookTools() (map[string]string, string) {
	paths := map[string]string{}
	for _, name := range tools {
		p, err := exec.LookPath(name)
		if err != nil {
			if _, serr := os.Stat("/usr/sbin/" + name); serr != nil {
				return nil, name
			}
			p = "/usr/sbin/" + name
		}
		paths[name] = p
	}
	return paths, ""
}

var toolPaths = sync.OnceValue(func() map[string]string {
	p, _ := lookTools()
	return p
})

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// The KDC listens on UDP too: make sure that port is free as well.
	u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, err
	}
	u.Close()
	return port, nil
}

func (k *KDC) start(paths map[string]string, opts *Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	k.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	db := filepath.Join(k.Dir, "db")
	os.RemoveAll(db)
	if err := os.MkdirAll(db, 0o700); err != nil {
		return err
	}
	enctypes := opts.Enctypes
	if enctypes == nil {
		enctypes = []string{"aes256-cts-hmac-sha1-96:normal", "aes128-cts-hmac-sha1-96:normal"}
	}
	k.Krb5Conf = filepath.Join(k.Dir, "krb5.conf")
	k.kdcConf = filepath.Join(k.Dir, "kdc.conf")
	krb5conf := fmt.Sprintf(`[libdefaults]
    default_realm = %[1]s
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    forwardable = true
    ticket_lifetime = 10h
    clockskew = 300
    default_ccache_name = FILE:%[3]s/ccache
    default_keytab_name = FILE:%[3]s/service.keytab
    default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128
    default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128

[realms]
    %[1]s = {
        kdc = %[2]s
        admin_server = %[2]s
    }

[domain_realm]
    %[4]s = %[1]s
    .%[4]s = %[1]s
`, k.Realm, k.Addr, k.Dir, k.Host)
	kdcconf := fmt.Sprintf(`[kdcdefaults]
    kdc_listen = %[2]s
    kdc_tcp_listen = %[2]s

[realms]
    %[1]s = {
        database_name = %[3]s/principal
        key_stash_file = %[3]s/stash
        acl_file = %[4]s/kadm5.acl
        kadmind_listen = 127.0.0.1:0
        kpasswd_listen = 127.0.0.1:0
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = %[5]s
        max_life = 10h 0m 0s
        disable_pac = %[6]t
    }

[logging]
    kdc = FILE:%[4]s/kdc.log
    admin_server = FILE:%[4]s/kadmin.log
    default = FILE:%[4]s/krb5lib.log
`, k.Realm, k.Addr, db, k.Dir, strings.Join(enctypes, " "), opts.DisablePAC)
	if err := os.WriteFile(k.Krb5Conf, []byte(krb5conf), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(k.kdcConf, []byte(kdcconf), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(k.Dir, "kadm5.acl"), nil, 0o600); err != nil {
		return err
	}
	// -W: the master key needs no strong randomness in a throwaway
	// database, and reading it is what makes kdb5_util slow.
	if out, err := k.run(paths["kdb5_util"], nil, "-r", k.Realm, "create", "-W", "-s", "-P", "krbtest-master"); err != nil {
		return fmt.Errorf("kdb5_util create: %v: %s", err, out)
	}
	// The KDC starts while kadmin.local adds the principals: the KDC reads
	// the database per request.
	cmd := exec.Command(paths["krb5kdc"], "-n", "-r", k.Realm)
	cmd.Env = k.Env()
	// -n keeps it our child; if the test binary dies, so does the KDC.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("krb5kdc: %v", err)
	}
	k.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	script := "addprinc -pw alice-pw alice\n"
	for _, s := range []string{"imap", "pop", "smtp"} {
		script += "addprinc -randkey " + s + "/" + k.Host + "\n"
	}
	if err := k.kadmin(script); err != nil {
		k.stop()
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", k.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case werr := <-exited:
			k.cmd = nil
			return fmt.Errorf("krb5kdc exited: %v: %s%s", werr, stderr.String(), k.Log())
		default:
		}
		if time.Now().After(deadline) {
			k.stop()
			return fmt.Errorf("krb5kdc not up on %s after %v: %s", k.Addr, startTimeout, k.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	k.Config, err = config.Load(k.Krb5Conf)
	if err != nil {
		k.stop()
		return fmt.Errorf("gokrb5 cannot parse %s: %v", k.Krb5Conf, err)
	}
	return nil
}

func (k *KDC) stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	k.cmd.Process.Kill() // our own child, by its pid
	k.cmd = nil
}

// Env returns the environment for MIT tools and peers using this KDC:
// the current environment with KRB5_CONFIG, KRB5_KDC_PROFILE and
// KRB5RCACHEDIR pointing into Dir.
func (k *KDC) Env() []string {
	env := []string{}
	for _, e := range os.Environ() {
		switch {
		case strings.HasPrefix(e, "KRB5_CONFIG="), strings.HasPrefix(e, "KRB5_KDC_PROFILE="),
			strings.HasPrefix(e, "KRB5CCNAME="), strings.HasPrefix(e, "KRB5_KTNAME="),
			strings.HasPrefix(e, "KRB5RCACHEDIR="), strings.HasPrefix(e, "KRB5_CLIENT_KTNAME="):
			continue
		}
		env = append(env, e)
	}
	return append(env, "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+k.kdcConf,
		"KRB5RCACHEDIR="+k.Dir, "KRB5CCNAME=FILE:"+filepath.Join(k.Dir, "ccache"))
}

// Log returns the KDC's log, for failure messages.
func (k *KDC) Log() string {
	b, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
	return string(b)
}

func (k *KDC) run(path string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = k.Env()
	cmd.Dir = k.Dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kadmin runs kadmin.local commands, one per line, in one process.
// kadmin.local exits 0 even when a command fails, so its output is checked.
func (k *KDC) kadmin(script string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	out, err := k.run(toolPaths()["kadmin.local"], []byte(script), "-r", k.Realm)
	if err != nil {
		return fmt.Errorf("kadmin.local: %v: %s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "while ") || strings.HasPrefix(line, "kadmin.local: Unknown") {
			return fmt.Errorf("kadmin.local: %s", line)
		}
	}
	return nil
}

// Kadmin runs kadmin.local commands (one per line) against the database.
func (k *KDC) Kadmin(t testing.TB, script string) {
	t.Helper()
	if err := k.kadmin(script); err != nil {
		t.Fatalf("krbtest: %v", err)
	}
}

// AddUser creates (or re-keys) principal name with password, with the
// KDC's supported enctypes. name has no realm.
func (k *KDC) AddUser(t testing.TB, name, password string) {
	t.Helper()
	k.Kadmin(t, "addprinc -pw "+password+" "+name+"\n")
}

// AddService creates principal name (such as "imap/other.host") with a
// random key.
func (k *KDC) AddService(t testing.TB, name string) {
	t.Helper()
	k.Kadmin(t, "addprinc -randkey "+name+"\n")
}

// KeytabFile exports the keys of principals (names without realm) to a
// new keytab file and returns its path. Keys are not re-randomised
// (-norandkey), so user passwords stay valid and earlier exports stay
// current.
func (k *KDC) KeytabFile(t testing.TB, principals ...string) string {
	t.Helper()
	k.mu.Lock()
	k.n++
	path := filepath.Join(k.Dir, fmt.Sprintf("k%d.keytab", k.n))
	k.mu.Unlock()
	k.Kadmin(t, "ktadd -k "+path+" -norandkey "+strings.Join(principals, " ")+"\n")
	return path
}

// Keytab exports the keys of principals and loads them with gokrb5.
func (k *KDC) Keytab(t testing.TB, principals ...string) *keytab.Keytab {
	t.Helper()
	kt, err := keytab.Load(k.KeytabFile(t, principals...))
	if err != nil {
		t.Fatalf("krbtest: loading keytab: %v", err)
	}
	return kt
}

// Kinit gets a TGT for principal with password into a new credential
// cache with MIT kinit and returns the cache's name ("FILE:path").
func (k *KDC) Kinit(t testing.TB, principal, password string) string {
	t.Helper()
	k.mu.Lock()
	k.n++
	path := filepath.Join(k.Dir, fmt.Sprintf("ccache%d", k.n))
	k.mu.Unlock()
	out, err := k.run(toolPaths()["kinit"], []byte(password+"\n"), "-c", "FILE:"+path, principal)
	if err != nil {
		t.Fatalf("krbtest: kinit %s: %v: %s%s", principal, err, out, k.Log())
	}
	return "FILE:" + path
}

// ErrNoTools is returned by Available when the MIT binaries are absent.
var ErrNoTools = errors.New("krbtest: MIT Kerberos binaries not found (install krb5-kdc krb5-admin-server krb5-user)")

// Available reports whether Start can run here.
func Available() error {
	if _, missing := lookTools(); missing != "" {
		return fmt.Errorf("%w: %s", ErrNoTools, missing)
	}
	return nil
}
