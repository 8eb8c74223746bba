package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// Namespace tests run their clients (pion peers, TURN clients, a browser
// agent) as helpers: this test binary started again inside a namespace
// with `ip netns exec`, running only one helper test, which an environment
// variable switches on (without it the helper test skips). A helper prints
// one JSON result on a line of its own, then waits until its stdin closes,
// so that its connections stay up while the other helpers finish.

// helperResultPrefix starts the line a helper prints its result on.
const helperResultPrefix = "NETNS-HELPER-RESULT "

var helperResultLine = regexp.MustCompile(`(?m)^` + helperResultPrefix + `(.*)$`)

// helperProc is a helper running in a namespace.
type helperProc struct {
	name  string
	proc  *testutil.Process
	stdin io.WriteCloser
}

// startHelper runs this test binary's test named test inside namespace ns,
// with env added to the environment.
func startHelper(t *testing.T, lab *testutil.NetnsLab, ns, name, test string, env ...string) *helperProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := lab.Command(ns, exe, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &helperProc{name: name, stdin: stdin}
	h.proc = testutil.StartProcess(t, cmd)
	t.Cleanup(h.quit) // before the process is stopped: cleanups run last first
	return h
}

// result waits up to within for the helper's result and decodes it into v.
func (h *helperProc) result(t *testing.T, within time.Duration, v any) {
	t.Helper()
	m, err := h.proc.WaitOutput(helperResultLine, within)
	if err != nil {
		t.Fatalf("%s: %v\n%s", h.name, err, h.proc.Output())
	}
	if err := json.Unmarshal([]byte(m[1]), v); err != nil {
		t.Fatalf("%s: result %q: %v", h.name, m[1], err)
	}
}

// quit tells the helper to close what it holds and exit.
func (h *helperProc) quit() { _ = h.stdin.Close() }

// finish tells the helper to quit and waits for it to exit cleanly.
func (h *helperProc) finish(t *testing.T, within time.Duration) {
	t.Helper()
	h.quit()
	if err := h.proc.WaitExit(within); err != nil {
		t.Errorf("%s's helper: %v\n%s", h.name, err, h.proc.Output())
	}
}

// reportResult is the helper's side of result: it prints v as JSON on a
// line of its own.
func reportResult(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Printf("\n%s%s\n", helperResultPrefix, line)
}

// waitForQuit is the helper's side of quit: it returns once stdin closes,
// or fails the helper after a minute (should the parent be gone).
func waitForQuit(t *testing.T) {
	t.Helper()
	quit := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(quit)
	}()
	select {
	case <-quit:
	case <-time.After(60 * time.Second):
		t.Errorf("stdin still open after 60 s")
	}
}
