package ldap

import (
	"crypto/x509"
	"encoding/base64"
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

	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// The tests share one OpenLDAP slapd per test binary, started on first use
// in a temporary directory on 127.0.0.1 with its own configuration and
// data, and stopped by TestMain.

const (
	ldapSuffix  = "dc=example,dc=org"
	ldapPeople  = "ou=people," + ldapSuffix
	ldapService = "cn=mailauth," + ldapSuffix
	ldapSvcPW   = "mailauth-service-pw" // a throwaway, loopback-only directory
	ldapAdmin   = "cn=admin," + ldapSuffix
	ldapAdminPW = "admin-pw"
)

// authPasswordSchema declares RFC 3112's authPassword, which Debian's
// slapd does not build in, with a syntax slapd has.
const authPasswordSchema = `attributetype ( 1.3.6.1.4.1.4203.1.3.4 NAME 'authPassword'
	DESC 'RFC 3112 authentication password, RFC 5803 SCRAM values'
	EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
objectclass ( 1.3.6.1.4.1.4203.1.4.7 NAME 'authPasswordObject'
	DESC 'RFC 3112 authPassword holder' SUP top AUXILIARY MAY authPassword )
`

// ldapServer is a running slapd.
type ldapServer struct {
	dir           string
	port, tlsPort int
	roots         *x509.CertPool
	mu            sync.Mutex
	cmd           *exec.Cmd
	done          chan struct{}
}

var (
	ldapOnce   sync.Once
	ldapShared *ldapServer
	ldapErr    error
	ldapSkip   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if ldapShared != nil {
		ldapShared.stop()
		os.RemoveAll(ldapShared.dir)
	}
	os.Exit(code)
}

// needLDAP returns the shared directory, starting it on first use; it
// skips the test when slapd is not installed.
func needLDAP(t testing.TB) *ldapServer {
	t.Helper()
	ldapOnce.Do(func() { ldapShared, ldapSkip, ldapErr = startLDAP(t) })
	if ldapSkip != "" {
		t.Skip(ldapSkip)
	}
	if ldapErr != nil {
		t.Fatal(ldapErr)
	}
	return ldapShared
}

func slapdPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/libexec"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	return ""
}

// ldapUsers are the directory's users: storetest's (userPassword as
// Dovecot writes it), plus LDAP's own forms.
func ldapUsers(t testing.TB) []storetest.User {
	users := storetest.Users(t)
	scram, err := passdbHash("SCRAM-SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	return append(users,
		// LDAP's cleartext: no scheme.
		storetest.User{Name: "cleartext", Field: storetest.Password, OK: storetest.Mechanisms},
		// RFC 5803 authPassword only.
		storetest.User{Name: "authpw", Field: "authPassword:" + scram, OK: []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}},
		// Verifiable by slapd itself, for the authentication bind.
		storetest.User{Name: "bind-ssha", Field: sshaLDAP(storetest.Password), OK: []string{"PLAIN", "LOGIN"}},
		storetest.User{Name: "bind-crypt", Field: "{CRYPT}" + strings.TrimPrefix(storetest.BcryptSecret, "{BLF-CRYPT}"), OK: []string{"PLAIN", "LOGIN"}},
	)
}

func startLDAP(t testing.TB) (*ldapServer, string, error) {
	slapd, slapadd := slapdPath("slapd"), slapdPath("slapadd")
	if slapd == "" || slapadd == "" {
		return nil, "OpenLDAP slapd/slapadd not found; apt-get install slapd ldap-utils", nil
	}
	dir, err := os.MkdirTemp("", "mailauth-ldap-")
	if err != nil {
		return nil, "", err
	}
	s := &ldapServer{dir: dir}
	kp, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		return nil, "", err
	}
	s.roots = x509.NewCertPool()
	s.roots.AddCert(kp.Leaf())
	for _, p := range []*int{&s.port, &s.tlsPort} {
		if *p, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	files := map[string]string{
		"cert.pem":            string(kp.CertPEM),
		"key.pem":             string(kp.KeyPEM),
		"authpassword.schema": authPasswordSchema,
		"slapd.conf":          s.config(),
		"data.ldif":           ldapData(append(ldapUsers(t), ldapBenchUsers()...)),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return nil, "", err
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, "", err
	}
	out, err := exec.Command(slapadd, "-f", filepath.Join(dir, "slapd.conf"), "-l", filepath.Join(dir, "data.ldif"), "-q").CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("slapadd: %v\n%s", err, out)
	}
	if err := s.start(); err != nil {
		return nil, "", err
	}
	return s, "", nil
}

// config is slapd.conf: one mdb database, the service account may read
// passwords, everyone else may only bind with them.
func (s *ldapServer) config() string {
	return fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
include %[1]s/authpassword.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
TLSCertificateFile %[1]s/cert.pem
TLSCertificateKeyFile %[1]s/key.pem
sizelimit 100
database mdb
maxsize 33554432
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
access to attrs=userPassword,authPassword
	by dn.exact="%[5]s" read
	by anonymous auth
	by * none
access to * by * read
`, s.dir, ldapSuffix, ldapAdmin, ldapAdminPW, ldapService)
}

// ldapData is the LDIF of the tree; every value base64, so that any name
// goes in as it is.
func ldapData(users []storetest.User) string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n", ldapSuffix)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", ldapPeople)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: mailauth\nuserPassword:: %s\n\n",
		ldapService, b64(ldapSvcPW))
	for i, u := range users {
		fmt.Fprintf(&b, "dn: cn=user%d,%s\nobjectClass: inetOrgPerson\nobjectClass: authPasswordObject\ncn: user%d\nsn: user%d\nuid:: %s\nhomePhone: %d\n",
			i, ldapPeople, i, i, b64(u.Name), 1000+i)
		switch {
		case strings.HasPrefix(u.Field, "authPassword:"):
			fmt.Fprintf(&b, "authPassword:: %s\n", b64(scramToAuthPassword(strings.TrimPrefix(u.Field, "authPassword:"))))
		case u.Field != "":
			fmt.Fprintf(&b, "userPassword:: %s\n", b64(u.Field))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// scramToAuthPassword writes passdb's "{SCRAM-SHA-256}iter,salt,stored,server"
// as RFC 5803's "SCRAM-SHA-256$iter:salt$stored:server".
func scramToAuthPassword(field string) string {
	scheme, rest, _ := strings.Cut(strings.TrimPrefix(field, "{"), "}")
	f := strings.Split(rest, ",")
	return scheme + "$" + f[0] + ":" + f[1] + "$" + f[2] + ":" + f[3]
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs slapd in the foreground (-d 0) and waits for its port.
func (s *ldapServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s.port, s.tlsPort)
	cmd := exec.Command(slapdPath("slapd"), "-f", filepath.Join(s.dir, "slapd.conf"), "-h", urls, "-d", "0")
	log, err := os.Create(filepath.Join(s.dir, "slapd.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(s.done) }()
	return storetest.WaitUp("slapd", s.done, filepath.Join(s.dir, "slapd.log"), 20*time.Second, 20*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// stop ends slapd (SIGTERM, after SIGCONT in case it is paused) and waits.
func (s *ldapServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	storetest.Stop(s.cmd, s.done, 10*time.Second, syscall.SIGCONT, syscall.SIGTERM)
	s.cmd = nil
}

// pause stops slapd from answering (SIGSTOP) until resume, and waits
// until the kernel shows it stopped.
func (s *ldapServer) pause() {
	s.cmd.Process.Signal(syscall.SIGSTOP)
	stat := fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid)
	for range 200 {
		b, err := os.ReadFile(stat)
		if err != nil {
			return // no procfs: the signal is all we have
		}
		// pid (comm) state ...: the state follows the last ')'.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
func (s *ldapServer) resume() { s.cmd.Process.Signal(syscall.SIGCONT) }

func (s *ldapServer) url() string    { return "ldap://127.0.0.1:" + strconv.Itoa(s.port) }
func (s *ldapServer) tlsURL() string { return "ldaps://127.0.0.1:" + strconv.Itoa(s.tlsPort) }
