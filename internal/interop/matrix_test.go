//go:build interop

package interop

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Directions of a matrix row.
const (
	dirClient  = "our client → peer"
	dirServer  = "peer → our server"
	dirHarness = "harness check"
)

// Results of a matrix row.
const (
	resPass  = "PASS"
	resFail  = "FAIL"
	resSkip  = "SKIP"
	resXFail = "XFAIL"
)

// matrixRow is one interop case's outcome.
type matrixRow struct {
	Mech, Peer, Dir, Via, Result, Note string
}

// matrixRecorder collects rows from parallel tests; TestMain prints them.
type matrixRecorder struct {
	mu   sync.Mutex
	rows []matrixRow
}

// matrix is the test binary's recorder. It is test state, shared by every
// case of this binary and printed once by TestMain.
var matrix matrixRecorder

func (m *matrixRecorder) add(r matrixRow) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, r)
}

// print writes the matrix as an aligned table, sorted by mechanism, peer,
// direction, and a summary line; it returns the number of FAIL rows.
func (m *matrixRecorder) print(w io.Writer) int {
	m.mu.Lock()
	rows := slices.Clone(m.rows)
	m.mu.Unlock()
	slices.SortStableFunc(rows, func(a, b matrixRow) int {
		return cmp.Or(cmp.Compare(a.Mech, b.Mech), cmp.Compare(a.Peer, b.Peer),
			cmp.Compare(a.Dir, b.Dir), cmp.Compare(a.Via, b.Via))
	})
	head := matrixRow{"MECHANISM", "PEER", "DIRECTION", "VIA", "RESULT", "NOTE"}
	width := func(f func(matrixRow) string) int {
		n := len([]rune(f(head)))
		for _, r := range rows {
			n = max(n, len([]rune(f(r))))
		}
		return n
	}
	wm := width(func(r matrixRow) string { return r.Mech })
	wp := width(func(r matrixRow) string { return r.Peer })
	wd := width(func(r matrixRow) string { return r.Dir })
	wv := width(func(r matrixRow) string { return r.Via })
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len([]rune(s))) }
	line := func(r matrixRow) {
		fmt.Fprintf(w, "%s  %s  %s  %s  %-6s %s\n", pad(r.Mech, wm), pad(r.Peer, wp),
			pad(r.Dir, wd), pad(r.Via, wv), r.Result, r.Note)
	}
	count := map[string]int{}
	fmt.Fprintf(w, "\n===== interop matrix =====\n")
	line(head)
	for _, r := range rows {
		line(r)
		count[r.Result]++
	}
	fmt.Fprintf(w, "SUMMARY pass=%d fail=%d xfail=%d skip=%d total=%d\n",
		count[resPass], count[resFail], count[resXFail], count[resSkip], len(rows))
	return count[resFail]
}

// icase is one matrix cell being run by a test.
type icase struct {
	t    *testing.T
	row  matrixRow
	done bool
}

// newCase starts a matrix cell for t. If the test ends (t.Fatal, a
// panic-free FailNow, a skip) without the cell having recorded a result,
// the cleanup records what the test ended as.
func newCase(t *testing.T, mech, peer, dir, via string) *icase {
	t.Helper()
	c := &icase{t: t, row: matrixRow{Mech: mech, Peer: peer, Dir: dir, Via: via}}
	t.Cleanup(func() {
		if c.done {
			return
		}
		switch {
		case t.Failed():
			c.finish(resFail, "test failed (see its log)")
		case t.Skipped():
			c.finish(resSkip, "skipped")
		default:
			c.finish(resFail, "no result recorded")
		}
	})
	return c
}

func (c *icase) finish(res, note string) {
	c.done = true
	c.row.Result, c.row.Note = res, oneLine(note)
	matrix.add(c.row)
}

// check records PASS for a nil err and FAIL (and t.Errorf) otherwise.
func (c *icase) check(err error, note string) {
	c.t.Helper()
	if err != nil {
		c.t.Errorf("%s %s (%s, %s): %v", c.row.Mech, c.row.Peer, c.row.Dir, c.row.Via, err)
		c.finish(resFail, err.Error())
		return
	}
	c.finish(resPass, note)
}

// refused records a negative case: PASS when the authenticating side
// refused (see properRefusal), FAIL when the exchange succeeded or broke
// down for another reason (a setup error must not pass as a refusal).
func (c *icase) refused(err error, note string) {
	c.t.Helper()
	if err == nil {
		c.t.Errorf("%s %s (%s, %s): succeeded, want refusal", c.row.Mech, c.row.Peer, c.row.Dir, c.row.Via)
		c.finish(resFail, "succeeded, want refusal: "+note)
		return
	}
	if !properRefusal(err) {
		c.t.Errorf("%s %s (%s, %s): want an authentication refusal, got: %v", c.row.Mech, c.row.Peer, c.row.Dir, c.row.Via, err)
		c.finish(resFail, "failed for another reason: "+err.Error())
		return
	}
	c.finish(resPass, note+": refused ("+shorten(err.Error(), 60)+")")
}

// refusedLocally records a negative case that our own side must refuse
// before sending credentials: PASS for any error, FAIL for success.
func (c *icase) refusedLocally(err error, note string) {
	c.t.Helper()
	if err == nil {
		c.t.Errorf("%s %s (%s, %s): succeeded, want a local refusal", c.row.Mech, c.row.Peer, c.row.Dir, c.row.Via)
		c.finish(resFail, "succeeded, want refusal: "+note)
		return
	}
	c.finish(resPass, note+": refused by us ("+shorten(err.Error(), 60)+")")
}

// skip records SKIP with the reason and skips the test.
func (c *icase) skip(reason string) {
	c.t.Helper()
	c.finish(resSkip, reason)
	c.t.Skip(reason)
}

// xfail records an expected failure: the peer cannot do this by design.
// err must be non-nil; an unexpected success fails the test (XPASS), so a
// peer upgrade that fixes it is noticed.
func (c *icase) xfail(err error, reason string) {
	c.t.Helper()
	if err == nil {
		c.t.Errorf("%s %s: XPASS (expected failure: %s)", c.row.Mech, c.row.Peer, reason)
		c.finish(resFail, "XPASS: "+reason)
		return
	}
	c.t.Logf("expected failure (%s): %v", reason, err)
	c.finish(resXFail, reason)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func shorten(s string, n int) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
