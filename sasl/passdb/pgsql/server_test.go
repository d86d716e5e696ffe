package pgsql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl/passdb/internal/storetest"
	"github.com/jackc/pgx/v5"
)

// The tests share one PostgreSQL server per test binary, started on first
// use by pgServerOnce in a temporary directory on 127.0.0.1 with its own
// configuration, and stopped by TestMain.

const (
	pgSuperuser = "mailauth"
	pgPassword  = "mailauth-test-pw" // a throwaway, loopback-only server
	pgDatabase  = "postgres"
)

// pgServer is a running postgres.
type pgServer struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential // nil: run as ourselves
	mu             sync.Mutex
	cmd            *exec.Cmd
	done           chan struct{}
}

var (
	pgOnce   sync.Once
	pgShared *pgServer
	pgErr    error  // the server failed to start: tests fail
	pgSkip   string // the binaries are absent: tests skip
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgShared != nil {
		pgShared.stop()
		os.RemoveAll(pgShared.dir)
	}
	os.Exit(code)
}

// needPG returns the shared server, starting it on first use; it skips
// the test when PostgreSQL is not installed.
func needPG(t testing.TB) *pgServer {
	t.Helper()
	pgOnce.Do(func() { pgShared, pgSkip, pgErr = startPG() })
	if pgSkip != "" {
		t.Skip(pgSkip)
	}
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pgShared
}

// pgBinDir finds PostgreSQL's server binaries: Debian keeps them out of
// PATH, under /usr/lib/postgresql/<major>/bin.
func pgBinDir() string {
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func startPG() (*pgServer, string, error) {
	bin := pgBinDir()
	if bin == "" {
		return nil, "PostgreSQL server binaries (initdb, postgres) not found; apt-get install postgresql", nil
	}
	dir, err := os.MkdirTemp("", "mailauth-pgsql-")
	if err != nil {
		return nil, "", err
	}
	s := &pgServer{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	// PostgreSQL refuses to run as root (CI runs as root): run it as
	// nobody, in a directory that nobody owns and can reach (/tmp is
	// world-traversable; MkdirTemp made dir 0700).
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, "", fmt.Errorf("running as root and no user nobody to run postgres as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, "", err
		}
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(pgPassword+"\n"), 0o600); err == nil && s.cred != nil {
		err = os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid))
	}
	if err != nil {
		return nil, "", err
	}
	out, err := s.command("initdb", "-D", s.data, "-U", pgSuperuser, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.start(); err != nil {
		return nil, "", err
	}
	return s, "", nil
}

func (s *pgServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin", "HOME=" + s.dir}
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs postgres (on the same port after a stop) and waits until it
// accepts logins.
func (s *pgServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.port = p
	}
	cmd := s.command("postgres", "-D", s.data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=16MB", "-c", "logging_collector=off",
		"-c", "log_min_messages=fatal")
	log, err := os.Create(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(s.done) }()
	return storetest.WaitUp("postgres", s.done, filepath.Join(s.dir, "postgres.log"), 30*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, s.connString())
		if err == nil {
			c.Close(context.Background())
		}
		return err
	})
}

// stop shuts postgres down (fast shutdown: SIGINT) and waits for it.
func (s *pgServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	storetest.Stop(s.cmd, s.done, 20*time.Second, syscall.SIGINT)
	s.cmd = nil
}

func (s *pgServer) connString() string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", pgSuperuser, pgPassword, s.port, pgDatabase)
}

// exec runs SQL statements as the superuser.
func (s *pgServer) exec(t testing.TB, sqls ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.connString())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range sqls {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// table creates a fresh table name with rows user → password field ("" is
// NULL) and returns its name.
func (s *pgServer) table(t testing.TB, users map[string]string) string {
	t.Helper()
	name := "users_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_", "=", "_").Replace(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	s.exec(t, "DROP TABLE IF EXISTS "+name,
		"CREATE TABLE "+name+" (username text PRIMARY KEY, password text, home text, uid integer)")
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.connString())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for u, pw := range users {
		var field any = pw
		if pw == "" {
			field = nil
		}
		if _, err := c.Exec(ctx, "INSERT INTO "+name+" VALUES ($1, $2, $3, $4)", u, field, "/home/"+u, 1000); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

var errStopped = errors.New("server stopped")
