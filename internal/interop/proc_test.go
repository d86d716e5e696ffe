//go:build interop

package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// procTimeout bounds every external peer process, so a peer waiting for
// input that never comes cannot hang CI.
const procTimeout = 30 * time.Second

// stepTimeout bounds the wait for one line (or prompt) from a peer process.
const stepTimeout = 15 * time.Second

// maxProcLine bounds one line read from a peer process.
const maxProcLine = 64 << 10

// needBinary skips the case (recording SKIP) when a peer program is missing.
func needBinary(c *icase, names ...string) {
	c.t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			c.skip(n + " not installed")
		}
	}
}

// procEvent is one thing a peer process printed: a full line, or a prompt
// (text without newline after which it waits for input), or EOF.
type procEvent struct {
	kind int
	text string
}

const (
	evLine = iota
	evPrompt
	evEOF
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// peerProc is a running peer CLI driven over stdin/stdout, line by line.
type peerProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan procEvent
	stderr syncBuffer
	trace  syncBuffer // both directions, for failure logs
	cancel context.CancelFunc
	waited chan struct{}
	err    error // of Wait, valid after waited is closed

	emitMu sync.Mutex // orders emits from the stdout and stderr readers with close
	closed bool
}

func (p *peerProc) emit(ev procEvent) {
	p.emitMu.Lock()
	defer p.emitMu.Unlock()
	if !p.closed {
		p.events <- ev
	}
}

// promptWriter is a process's stderr: it keeps the text, and reports an
// unterminated fragment that isPrompt accepts as a prompt (getpass()
// writes its prompt to stderr when there is no terminal).
type promptWriter struct {
	p        *peerProc
	isPrompt func(string) bool
	pending  []byte
}

func (w *promptWriter) Write(b []byte) (int, error) {
	w.p.stderr.Write(b)
	w.pending = append(w.pending, b...)
	if i := bytes.LastIndexByte(w.pending, '\n'); i >= 0 {
		w.pending = w.pending[i+1:]
	}
	if len(w.pending) > maxProcLine {
		w.pending = nil
	}
	if len(w.pending) > 0 && w.isPrompt != nil && w.isPrompt(string(w.pending)) {
		w.p.trace.Write([]byte("< " + string(w.pending) + " (stderr prompt)\n"))
		w.p.emit(procEvent{kind: evPrompt, text: string(w.pending)})
		w.pending = nil
	}
	return len(b), nil
}

// startProc starts name with args under procTimeout. isPrompt decides when
// an unterminated stdout fragment is a prompt the process now waits on.
// The process is killed in t.Cleanup if still running.
func startProc(t *testing.T, env []string, isPrompt func(string) bool, name string, args ...string) (*peerProc, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	argv := append([]string{name}, args...)
	if _, err := exec.LookPath("stdbuf"); err == nil {
		// Line-buffered stdout: CLIs that print with stdio would otherwise
		// hold their output back on a pipe; glibc flushes a line-buffered
		// stdout before reading stdin, so prompts come through too.
		argv = append([]string{"stdbuf", "-oL"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	// A new session: no controlling terminal, so getpass() prompts read
	// stdin rather than /dev/tty; the session id is the group id we kill.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	p := &peerProc{name: name, cmd: cmd, cancel: cancel, events: make(chan procEvent, 64), waited: make(chan struct{})}
	cmd.Stderr = &promptWriter{p: p, isPrompt: isPrompt}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go p.readStdout(stdout, isPrompt)
	t.Cleanup(func() { p.kill() })
	return p, nil
}

func (p *peerProc) readStdout(r io.Reader, isPrompt func(string) bool) {
	defer func() {
		p.emitMu.Lock()
		p.closed = true
		close(p.events) // next reports evEOF from now on
		p.emitMu.Unlock()
		p.err = p.cmd.Wait()
		close(p.waited)
	}()
	var pending []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimRight(string(pending[:i]), "\r")
			pending = pending[i+1:]
			p.trace.Write([]byte("< " + line + "\n"))
			p.emit(procEvent{kind: evLine, text: line})
		}
		if len(pending) > maxProcLine {
			p.trace.Write([]byte("< (line too long)\n"))
			return
		}
		if len(pending) > 0 && isPrompt != nil && isPrompt(string(pending)) {
			p.trace.Write([]byte("< " + string(pending) + " (prompt)\n"))
			p.emit(procEvent{kind: evPrompt, text: string(pending)})
			pending = nil
		}
		if err != nil {
			return
		}
	}
}

// next returns the next event, or an error after stepTimeout.
func (p *peerProc) next() (procEvent, error) {
	select {
	case ev, ok := <-p.events:
		if !ok {
			return procEvent{kind: evEOF}, nil
		}
		return ev, nil
	case <-time.After(stepTimeout):
		return procEvent{}, fmt.Errorf("%s: no output within %v", p.name, stepTimeout)
	}
}

// send writes one line to the process's stdin.
func (p *peerProc) send(line string) error {
	p.trace.Write([]byte("> " + line + "\n"))
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// wait closes stdin and waits for the process to exit; it returns the exit
// code (-1 if it did not exit normally).
func (p *peerProc) wait() (int, error) {
	p.stdin.Close()
	// drain events so the reader goroutine can finish
	go func() {
		for range p.events {
		}
	}()
	select {
	case <-p.waited:
	case <-time.After(stepTimeout):
		p.kill()
		<-p.waited
		return -1, fmt.Errorf("%s: did not exit within %v", p.name, stepTimeout)
	}
	var ee *exec.ExitError
	if p.err == nil {
		return 0, nil
	}
	if errors.As(p.err, &ee) {
		return ee.ExitCode(), nil
	}
	return -1, p.err
}

// kill ends the process group and releases the context.
func (p *peerProc) kill() {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	p.cancel()
}

// stderrText is the process's stderr, without gsasl's noise warnings.
func (p *peerProc) stderrText() string {
	var keep []string
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "warning:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, " / ")
}

// runCmd runs a one-shot peer command under procTimeout and returns its
// combined output.
func runCmd(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	return runCmdIn(t, dir, env, nil, name, args...)
}

// runCmdInput is runCmd with input on stdin.
func runCmdInput(t *testing.T, input string, name string, args ...string) (string, error) {
	t.Helper()
	return runCmdIn(t, "", nil, strings.NewReader(input), name, args...)
}

func runCmdIn(t *testing.T, dir string, env []string, stdin io.Reader, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s: timed out after %v", name, procTimeout)
	}
	return string(out), err
}
