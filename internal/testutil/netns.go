package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A network-namespace lab: namespaces joined by veth pairs, with addresses
// from a private range used only inside them, so tests can run real
// processes on real sockets across a network whose routes the test
// decides. Nothing is added to the root namespace: each veth is created
// with both ends already in their namespaces. Needs root and iproute2
// (LAB.md, "Network namespaces").

// NetnsLab is one test's namespaces. Its methods fail the test on error.
type NetnsLab struct {
	t      testing.TB
	prefix string // unique per lab: "swbt<pid>-<n>-"

	mu    sync.Mutex
	names []string // full names of the namespaces made, in order
}

// netnsPrefix starts every namespace name a lab makes, followed by the
// PID of the test process: what a crashed run left behind can be told
// from what a running one is using.
const netnsPrefix = "swbt"

var (
	netnsLabs      atomic.Uint32
	netnsStaleOnce sync.Once
)

// NewNetnsLab checks that namespaces can be made here and returns an empty
// lab whose namespaces, and the processes in them, are gone after the test
// (processes started with StartProcess stop first: their t.Cleanup runs
// before the lab's). Without root or iproute2 the test is skipped, except
// under CI=true, where it fails.
func NewNetnsLab(t testing.TB) *NetnsLab {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		netnsUnavailable(t, "no ip command (apt-get install -y iproute2)")
	}
	netnsStaleOnce.Do(removeStaleNetns)
	l := &NetnsLab{t: t, prefix: fmt.Sprintf("%s%d-%d-", netnsPrefix, os.Getpid(), netnsLabs.Add(1))}
	probe := l.prefix + "probe"
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		netnsUnavailable(t, fmt.Sprintf("cannot create a network namespace (ip netns add: %v: %s); these tests need root", err, bytes.TrimSpace(out)))
	}
	if out, err := exec.Command("ip", "netns", "del", probe).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", probe, err, out)
	}
	t.Cleanup(l.cleanup)
	return l
}

func netnsUnavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; namespace tests never skip in CI")
	}
	t.Skip(msg)
}

// removeStaleNetns deletes the namespaces of test processes that are gone
// (a crashed or killed run skips its cleanup), and kills what still runs
// in them.
func removeStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if running(pidText) {
			continue
		}
		if pids, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, f := range strings.Fields(string(pids)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

// running tells whether process pid exists and is not a zombie.
func running(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	// "PID (COMM) STATE ...": COMM may hold anything, so look after its last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || !bytes.HasPrefix(stat[i+1:], []byte(" Z"))
}

// Name is the full name of the lab's namespace ns.
func (l *NetnsLab) Name(ns string) string { return l.prefix + ns }

// Namespace makes namespace ns (its loopback up) and returns its full name.
func (l *NetnsLab) Namespace(ns string) string {
	l.t.Helper()
	name := l.Name(ns)
	l.run("ip", "netns", "add", name)
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
	l.IP(ns, "link", "set", "lo", "up")
	return name
}

// Link joins namespaces a and b with a veth pair: interface ifA in a with
// address addrA (CIDR) and ifB in b with addrB, both up. Interface names
// are per namespace, so every lab can use the same ones.
func (l *NetnsLab) Link(a, ifA, addrA, b, ifB, addrB string) {
	l.t.Helper()
	l.run("ip", "link", "add", ifA, "netns", l.Name(a), "type", "veth", "peer", "name", ifB, "netns", l.Name(b))
	for _, end := range []struct{ ns, ifc, addr string }{{a, ifA, addrA}, {b, ifB, addrB}} {
		l.IP(end.ns, "addr", "add", end.addr, "dev", end.ifc)
		l.IP(end.ns, "link", "set", end.ifc, "up")
	}
}

// IP runs `ip -n NS args...` and returns its output.
func (l *NetnsLab) IP(ns string, args ...string) string {
	l.t.Helper()
	return l.run("ip", append([]string{"-n", l.Name(ns)}, args...)...)
}

// TryIP is IP returning the error instead of failing.
func (l *NetnsLab) TryIP(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", l.Name(ns)}, args...)...).CombinedOutput()
	return string(out), err
}

// Command returns a command that runs name with args inside namespace ns
// (ip netns exec, which execs it: the process's PID is the program's).
func (l *NetnsLab) Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.Name(ns), name}, args...)...)
}

// Do runs f on an OS thread of its own moved into namespace ns, and
// returns its error: a socket f opens belongs to ns for good, whichever
// thread uses it later, so one test process can hold sockets in several
// namespaces. The thread is never moved back: it ends with f (a goroutine
// that exits locked takes its thread with it).
func (l *NetnsLab) Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+l.Name(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Sysctl reads (value "") or writes a /proc/sys file inside ns, such as
// "net/ipv4/ip_forward", and returns its value.
func (l *NetnsLab) Sysctl(ns, key, value string) string {
	l.t.Helper()
	path := "/proc/sys/" + strings.TrimPrefix(key, "/")
	if value != "" {
		l.run("ip", "netns", "exec", l.Name(ns), "sh", "-c", `echo "$1" > "$2"`, "sh", value, path)
	}
	return strings.TrimSpace(l.run("ip", "netns", "exec", l.Name(ns), "cat", path))
}

func (l *NetnsLab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// cleanup deletes the namespaces, newest first; their veths go with them.
func (l *NetnsLab) cleanup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.names) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", l.names[i]).CombinedOutput(); err != nil {
			l.t.Errorf("ip netns del %s: %v: %s", l.names[i], err, bytes.TrimSpace(out))
		}
	}
	l.names = nil
}
