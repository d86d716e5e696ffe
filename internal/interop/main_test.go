//go:build interop

package interop

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// interopParallel is the default number of cases run at once.
const interopParallel = 8

// TestMain runs the cases, stops the shared peers, and prints the matrix.
// The cases wait on peers far more than they compute, so unless -parallel
// is given they run interopParallel at a time.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", strconv.Itoa(interopParallel))
	}
	code := m.Run()
	dumpDovecotLogOnFailure()
	stopSharedPeers()
	if fails := matrix.print(os.Stdout); fails > 0 && code == 0 {
		fmt.Fprintf(os.Stdout, "interop: %d FAIL rows\n", fails)
		code = 1
	}
	os.Exit(code)
}

// dovecotLogTail is how many lines of Dovecot's log a failing run prints.
const dovecotLogTail = 60

// dumpDovecotLogOnFailure prints the end of Dovecot's log when a Dovecot
// case failed, before the temp dir is removed: CI keeps nothing else.
func dumpDovecotLogOnFailure() {
	failed := false
	matrix.mu.Lock()
	for _, r := range matrix.rows {
		failed = failed || (r.Result == resFail && strings.HasPrefix(r.Peer, "Dovecot"))
	}
	matrix.mu.Unlock()
	shared.mu.Lock()
	d := shared.dovecot
	shared.mu.Unlock()
	if !failed || d == nil {
		return
	}
	b, err := os.ReadFile(d.Log)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > dovecotLogTail {
		lines = lines[len(lines)-dovecotLogTail:]
	}
	fmt.Printf("\n===== last %d lines of %s =====\n%s\n", len(lines), d.Log, strings.Join(lines, "\n"))
}
