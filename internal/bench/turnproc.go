package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

func pidSelf() int { return os.Getpid() }

func newGet(ctx context.Context, u string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
}

// findUDPPID finds the process with a UDP socket bound to ap's port (on
// ap's address or any address), by matching the socket inode in
// /proc/net/udp with /proc/*/fd; 0 if not found.
func findUDPPID(ap netip.AddrPort) int {
	inodes := map[string]bool{}
	for _, s := range readUDPTable() {
		if s.local.Port() == ap.Port() && (s.local.Addr() == ap.Addr() || s.local.Addr().IsUnspecified()) {
			inodes["socket:["+s.inode+"]"] = true
		}
	}
	return pidHolding(inodes, strconv.Itoa(os.Getpid()))
}

// countFDs is the number of open files of pid, -1 unknown.
func countFDs(pid int) int {
	if pid <= 0 {
		return -1
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(fds)
}

// udpSock is one line of /proc/net/udp.
type udpSock struct {
	local netip.AddrPort
	inode string
	drops int64
}

// readUDPTable parses /proc/net/udp (IPv4 only: the bench is IPv4).
func readUDPTable() []udpSock {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []udpSock
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 13 {
			continue
		}
		hexIP, hexPort, ok := strings.Cut(fs[1], ":")
		ip, err1 := strconv.ParseUint(hexIP, 16, 32)
		port, err2 := strconv.ParseUint(hexPort, 16, 16)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		// The address is in host byte order (little-endian here).
		a := netip.AddrFrom4([4]byte{byte(ip), byte(ip >> 8), byte(ip >> 16), byte(ip >> 24)})
		d, _ := strconv.ParseInt(fs[12], 10, 64)
		out = append(out, udpSock{local: netip.AddrPortFrom(a, uint16(port)), inode: fs[9], drops: d})
	}
	return out
}

// procSocketInodes is the set of socket inodes pid holds.
func procSocketInodes(pid int) map[string]bool {
	m := map[string]bool{}
	if pid <= 0 {
		return m
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			m[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	return m
}

// turnSockets tells the UDP sockets of the run apart, for kernel drops.
type turnSockets struct {
	server, gen map[string]bool
	peerPort    uint16
	peerIP      netip.Addr
}

func (r *turnRunner) socketInodes() turnSockets {
	return turnSockets{server: procSocketInodes(r.probe.pid), gen: procSocketInodes(pidSelf()),
		peerPort: r.peer.addr.Port(), peerIP: r.peer.addr.Addr()}
}

// udpDrops are receive-buffer drops counted on the sockets' own counters.
type udpDrops struct{ peer, server, clients, other int64 }

func (t turnSockets) drops() udpDrops {
	var d udpDrops
	for _, s := range readUDPTable() {
		switch {
		case s.local.Port() == t.peerPort && s.local.Addr() == t.peerIP:
			d.peer += s.drops
		case t.server[s.inode]:
			d.server += s.drops
		case t.gen[s.inode]:
			d.clients += s.drops
		default:
			d.other += s.drops
		}
	}
	return d
}

func (d udpDrops) minus(o udpDrops) udpDrops {
	return udpDrops{d.peer - o.peer, d.server - o.server, d.clients - o.clients, d.other - o.other}
}

// rcvbufErrors is Udp RcvbufErrors of /proc/net/snmp (every UDP socket of
// the host), -1 unknown.
func rcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var head []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Udp: ") {
			continue
		}
		f := strings.Fields(l)
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return -1
}

// turnCounters reads the server's relayed and dropped packet counters
// from its /metrics (Switchboard's names; -1 when absent).
func (r *turnRunner) turnCounters(ctx context.Context) (relayed, dropped int64) {
	relayed, dropped = -1, -1
	if r.probe.metrics == "" || r.probe.metrics == "-" {
		return
	}
	req, err := newGet(ctx, r.probe.metrics)
	if err != nil {
		return
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(l, "switchboard_turn_relayed_packets_total{"):
			dst = &relayed
		case strings.HasPrefix(l, "switchboard_turn_dropped_packets_total{"):
			dst = &dropped
		default:
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		if *dst < 0 {
			*dst = 0
		}
		*dst += int64(v)
	}
	return relayed, dropped
}
