package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// coturn's tools (Debian's coturn package, 4.6): turnutils_uclient, a TURN
// load client; turnutils_peer, a UDP echo peer; turnserver, the reference
// TURN server. LAB.md lists their traps.

// CoturnTool returns the path of one of coturn's programs. Without it the
// test is skipped, except under CI=true, where it fails: the test command
// (scripts/test.sh) installs coturn.
func CoturnTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("no %s in PATH (apt-get install -y coturn)", name)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; these tests never skip in CI")
		}
		t.Skip(msg)
	}
	return path
}

// freePort returns a port that was free for both UDP and TCP on ip a
// moment ago.
func freePort(t testing.TB, ip netip.Addr) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))) //nolint:gosec // a port
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatalf("no port free for both UDP and TCP on %s", ip)
	return 0
}

// StartTURNPeer runs turnutils_peer, a UDP echo server, on ip and a free
// port, waits until it echoes and returns its address. It stops in t.Cleanup.
func StartTURNPeer(t testing.TB, ip netip.Addr) netip.AddrPort {
	t.Helper()
	bin := CoturnTool(t, "turnutils_peer")
	for range 3 { // the free port can be taken before the peer binds it
		addr := netip.AddrPortFrom(ip, uint16(freePort(t, ip))) //nolint:gosec // a port
		p := StartProcess(t, exec.Command(bin, "-L", ip.String(), "-p", strconv.Itoa(int(addr.Port()))))
		if err := waitEcho(addr, 5*time.Second); err != nil {
			p.Stop()
			t.Logf("turnutils_peer on %s: %v\n%s", addr, err, p.Output())
			continue
		}
		return addr
	}
	t.Fatalf("turnutils_peer did not start")
	return netip.AddrPort{}
}

// waitEcho sends datagrams to addr until one comes back.
func waitEcho(addr netip.AddrPort, within time.Duration) error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(within)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte("ping")); err != nil {
			time.Sleep(50 * time.Millisecond) // ICMP port unreachable: not bound yet
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "ping" {
			return nil
		}
	}
	return fmt.Errorf("no echo within %v", within)
}

// uclientSources numbers the source addresses UClientSource hands out.
var uclientSources atomic.Uint32

// UClientSource returns a loopback address for one turnutils_uclient run
// (its -L): LAB.md's trap is that a run reusing a 5-tuple a TURN server
// still holds an allocation for retries error 437 forever. The addresses
// differ between runs of one process and, mostly, between processes.
func UClientSource() netip.Addr {
	n := uclientSources.Add(1)
	pid := os.Getpid()
	return netip.AddrFrom4([4]byte{127, byte(100 + pid%100), byte(pid / 100 % 250), byte(1 + n%250)})
}

// UClientReport is what one turnutils_uclient run printed.
type UClientReport struct {
	Output string
	// Allocated is false when a client could not complete its allocation
	// ("Cannot complete Allocation"), for example with bad credentials.
	Allocated bool
	// Sent and Received are the whole run's message totals
	// ("tot_send_msgs=N, tot_recv_msgs=M"), Lost its "Total lost packets".
	// They are -1 when the run did not print them.
	Sent, Received, Lost int
}

var (
	uclientTotals  = regexp.MustCompile(`(?m)start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$`)
	uclientLost    = regexp.MustCompile(`(?m)Total lost packets (\d+) \(`)
	uclientNoAlloc = regexp.MustCompile(`Cannot complete Allocation`)
)

// ParseUClient reads turnutils_uclient's output.
func ParseUClient(out string) UClientReport {
	r := UClientReport{Output: out, Allocated: !uclientNoAlloc.MatchString(out), Sent: -1, Received: -1, Lost: -1}
	if m := uclientTotals.FindAllStringSubmatch(out, -1); len(m) > 0 {
		last := m[len(m)-1]
		r.Sent, _ = strconv.Atoi(last[1])
		r.Received, _ = strconv.Atoi(last[2])
	}
	if m := uclientLost.FindAllStringSubmatch(out, -1); len(m) > 0 {
		r.Lost, _ = strconv.Atoi(m[len(m)-1][1])
	}
	return r
}

// RunUClient runs turnutils_uclient with args (the server address last, as
// it wants) and returns its report and exit error. It is killed when
// timeout passes: a client that never finishes (437 retries, a server that
// stopped answering) ends with an error instead of hanging the test.
func RunUClient(t testing.TB, timeout time.Duration, args ...string) (UClientReport, error) {
	t.Helper()
	bin := CoturnTool(t, "turnutils_uclient")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("turnutils_uclient still running after %v: %w", timeout, ctx.Err())
	}
	return ParseUClient(string(out)), err
}

// Coturn is a running coturn turnserver.
type Coturn struct {
	Addr   netip.AddrPort // UDP and TCP listening address
	Secret string         // its static-auth-secret (TURN REST API credentials)
	Realm  string
	PID    int
	Dir    string // its userdb, log and pid file
}

// CoturnOptions configures StartCoturn.
type CoturnOptions struct {
	Secret string // default "coturn-test-secret"
	// RelayPortMin and RelayPortMax bound its relay ports (default a
	// block of 1,000 ports between 20000 and 31999 picked from the PID, so
	// runs side by side mostly keep apart; coturn skips taken ports).
	RelayPortMin, RelayPortMax int
	// AllowLoopbackPeers relays to 127.0.0.0/8 (off by default, as in coturn).
	AllowLoopbackPeers bool
	Args               []string // more turnserver flags
}

// StartCoturn runs coturn's turnserver on 127.0.0.1 and a free port, with
// TURN REST API credentials, as LAB.md's recipe does, for side-by-side
// tests and benchmarks. It waits until the server accepts TCP connections
// and stops it by PID in t.Cleanup. Without coturn the test is skipped,
// except under CI=true.
func StartCoturn(t testing.TB, opts CoturnOptions) *Coturn {
	t.Helper()
	bin := CoturnTool(t, "turnserver")
	if opts.Secret == "" {
		opts.Secret = "coturn-test-secret"
	}
	if opts.RelayPortMin == 0 {
		opts.RelayPortMin = 20000 + os.Getpid()%12*1000
		opts.RelayPortMax = opts.RelayPortMin + 999
	}
	lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	c := &Coturn{Secret: opts.Secret, Realm: "test", Dir: t.TempDir()}
	for range 3 { // the free port can be taken before coturn binds it
		c.Addr = netip.AddrPortFrom(lo, uint16(freePort(t, lo))) //nolint:gosec // a port
		args := []string{"-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
			"--listening-port=" + strconv.Itoa(int(c.Addr.Port())),
			"--min-port=" + strconv.Itoa(opts.RelayPortMin), "--max-port=" + strconv.Itoa(opts.RelayPortMax),
			"--use-auth-secret", "--static-auth-secret=" + opts.Secret, "--realm=" + c.Realm,
			"--no-cli", "--no-tls", "--no-dtls",
			"--userdb=" + filepath.Join(c.Dir, "db"), "--pidfile=" + filepath.Join(c.Dir, "pid"),
			"--log-file=" + filepath.Join(c.Dir, "log"), "--simple-log", "--no-stdout-log"}
		if opts.AllowLoopbackPeers {
			args = append(args, "--allow-loopback-peers")
		}
		p := StartProcess(t, exec.Command(bin, append(args, opts.Args...)...))
		c.PID = p.Cmd.Process.Pid
		if err := waitTCP(c.Addr, 10*time.Second, p.Exited()); err != nil {
			p.Stop()
			logs, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
			t.Logf("turnserver on %s: %v\n%s%s", c.Addr, err, p.Output(), logs)
			continue
		}
		return c
	}
	t.Fatalf("coturn's turnserver did not start (logs above)")
	return nil
}

var errExited = errors.New("process exited")

// waitTCP waits until addr accepts a TCP connection, or the process exits.
func waitTCP(addr netip.AddrPort, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errExited
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s accepts no TCP connection after %v", addr, within)
}
