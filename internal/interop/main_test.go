//go:build interop

package interop

import (
	"flag"
	"fmt"
	"os"
	"strconv"
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
	stopSharedPeers()
	if fails := matrix.print(os.Stdout); fails > 0 && code == 0 {
		fmt.Fprintf(os.Stdout, "interop: %d FAIL rows\n", fails)
		code = 1
	}
	os.Exit(code)
}
