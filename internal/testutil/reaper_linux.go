package testutil

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// AdoptOrphans makes this process a child subreaper (PR_SET_CHILD_SUBREAPER)
// for the rest of its life: processes that its children leave behind, such
// as Chromium's helper processes, which outlive a killed browser, become
// its children instead of init's (which, in a container, may never reap
// them). In t.Cleanup, after the cleanups registered later (the browser's,
// say) have run, it reaps them, and kills those still running after 5 s.
// For a helper process that runs a browser inside a namespace (LAB.md).
func AdoptOrphans(t testing.TB) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	t.Cleanup(func() { reapChildren(t, 5*time.Second) })
}

// reapChildren waits for every child of this process to end, reaping
// them, for up to grace; then it kills the rest and reaps them too. Only
// call it once nothing else waits for a child (exec.Cmd.Wait), whose exit
// status it would take.
func reapChildren(t testing.TB, grace time.Duration) {
	deadline := time.Now().Add(grace)
	killed, reaped := false, 0
	for {
		for {
			var ws unix.WaitStatus
			if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
			reaped++
		}
		kids := children()
		if len(kids) == 0 {
			if reaped > 0 {
				t.Logf("reaped %d orphaned processes", reaped)
			}
			return
		}
		if time.Now().After(deadline) {
			if killed {
				t.Errorf("children %v still there after SIGKILL", kids)
				return
			}
			t.Logf("killing children still running %v after they were orphaned: %v", grace, kids)
			for _, pid := range kids {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			killed, deadline = true, time.Now().Add(grace)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// children lists the processes whose parent is this one, zombies included.
func children() []int {
	self := os.Getpid()
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "PID (COMM) STATE PPID ...": COMM may hold anything, so read after its last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) > 1 {
			if ppid, err := strconv.Atoi(string(f[1])); err == nil && ppid == self {
				out = append(out, pid)
			}
		}
	}
	return out
}
