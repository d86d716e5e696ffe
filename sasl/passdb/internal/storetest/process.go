package storetest

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// WaitUp polls up until it succeeds, the server process ends (done is
// closed: its log at logPath goes into the error), or timeout passes. It
// is how the tests wait for the servers they start.
func WaitUp(name string, done <-chan struct{}, logPath string, timeout, every time.Duration, up func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := up()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s exited: %s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come up: %w", name, err)
		}
		time.Sleep(every)
	}
}

// Stop sends cmd's process the signals in turn and waits for done, killing
// the process if it has not ended within timeout.
func Stop(cmd *exec.Cmd, done <-chan struct{}, timeout time.Duration, sigs ...syscall.Signal) {
	for _, sig := range sigs {
		cmd.Process.Signal(sig)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
	}
}
