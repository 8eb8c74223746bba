package testutil

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// LeakCheckMain runs a package's tests and then fails the run if any
// goroutine started by them is still alive after a grace period: servers,
// sessions, writers and timers must all end when the tests end. Use it in
// every package that starts goroutines:
//
//	func TestMain(m *testing.M) { testutil.LeakCheckMain(m) }
func LeakCheckMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := waitForRoutines(10 * time.Second); left != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines still running after the tests:\n\n%s\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

// Goroutines returns the stacks of goroutines other than the caller's and
// the runtime's own, separated by blank lines.
func Goroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || g == "" || // the first is the calling goroutine
			strings.Contains(g, "testing.Main(") ||
			strings.Contains(g, "testing.(*M).") ||
			strings.Contains(g, "os/signal.signal_recv") ||
			strings.Contains(g, "runtime.ensureSigM") {
			continue
		}
		out = append(out, g)
	}
	return out
}

func waitForRoutines(grace time.Duration) string {
	deadline := time.Now().Add(grace)
	for {
		runtime.GC()
		left := Goroutines()
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
