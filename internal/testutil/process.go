package testutil

import (
	"fmt"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// Process is a program a test started with StartProcess.
type Process struct {
	Cmd    *exec.Cmd
	out    *cappedBuffer // what it wrote to stdout and stderr
	exited chan struct{} // closed once it ended and was reaped
}

// StartProcess starts cmd (set its Stdin, Env and Dir first; its output
// is collected) and stops it by its PID in t.Cleanup: SIGTERM, then
// SIGKILL after 3 s. Should the test process die without cleaning up, the
// kernel kills cmd too (Pdeathsig).
func StartProcess(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, out: &cappedBuffer{max: 1 << 20}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.WaitDelay = time.Second
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)
	return p
}

// Output is what the process wrote so far (its first MiB).
func (p *Process) Output() string { return p.out.String() }

// Exited is closed once the process ended; then Cmd.ProcessState is set.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop ends the process and waits for it. It is idempotent.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// WaitExit waits up to within for the process to end by itself and
// returns its exit error; after that it kills it and says so.
func (p *Process) WaitExit(within time.Duration) error {
	select {
	case <-p.exited:
		if !p.Cmd.ProcessState.Success() {
			return fmt.Errorf("%s: %s", p.Cmd.Path, p.Cmd.ProcessState)
		}
		return nil
	case <-time.After(within):
		p.Stop()
		return fmt.Errorf("%s still running after %v: killed", p.Cmd.Path, within)
	}
}

// WaitOutput waits until the output matches re and returns the match's
// submatches; it fails if the process ends first or within passes.
func (p *Process) WaitOutput(re *regexp.Regexp, within time.Duration) ([]string, error) {
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m, nil
		}
		select {
		case <-p.exited:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s ended (%s) before printing %q", p.Cmd.Path, p.Cmd.ProcessState, re)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s printed no %q within %v", p.Cmd.Path, re, within)
		}
	}
}
