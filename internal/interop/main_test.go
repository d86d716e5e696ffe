//go:build interop

package interop

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the cases, stops the shared peers, and prints the matrix.
func TestMain(m *testing.M) {
	code := m.Run()
	stopSharedPeers()
	if fails := matrix.print(os.Stdout); fails > 0 && code == 0 {
		fmt.Fprintf(os.Stdout, "interop: %d FAIL rows\n", fails)
		code = 1
	}
	os.Exit(code)
}
