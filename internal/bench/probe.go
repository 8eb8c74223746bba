package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// memSample is what the generator reads about one server's memory.
type memSample struct {
	rss        int64  // bytes; -1 unknown
	rssSource  string // "proc" (VmRSS) or "metrics" (process_resident_memory_bytes)
	heapInuse  int64  // go_memstats_heap_inuse_bytes; -1 unknown
	heapAlloc  int64  // go_memstats_heap_alloc_bytes
	stackInuse int64  // go_memstats_stack_inuse_bytes
	goroutines int64  // go_goroutines
	gcCount    int64  // go_gc_duration_seconds_count
}

// probe reads one target's memory and CPU.
type probe struct {
	pid     int // <= 0: no /proc
	metrics string
	client  *http.Client
}

// sample reads VmRSS and the server's /metrics; fields it could not read are -1.
func (p *probe) sample(ctx context.Context) memSample {
	s := memSample{rss: -1, heapInuse: -1, heapAlloc: -1, stackInuse: -1, goroutines: -1, gcCount: -1}
	if p.pid > 0 {
		if v := procRSS(p.pid); v >= 0 {
			s.rss, s.rssSource = v, "proc"
		}
	}
	if p.metrics == "" || p.metrics == "-" {
		return s
	}
	m, err := scrape(ctx, p.client, p.metrics)
	if err != nil {
		return s
	}
	get := func(name string) int64 {
		if v, ok := m[name]; ok {
			return int64(v)
		}
		return -1
	}
	s.heapInuse = get("go_memstats_heap_inuse_bytes")
	s.heapAlloc = get("go_memstats_heap_alloc_bytes")
	s.stackInuse = get("go_memstats_stack_inuse_bytes")
	s.goroutines = get("go_goroutines")
	s.gcCount = get("go_gc_duration_seconds_count")
	if s.rss < 0 {
		if v := get("process_resident_memory_bytes"); v >= 0 {
			s.rss, s.rssSource = v, "metrics"
		}
	}
	return s
}

// cpuTicks is the server's utime+stime in clock ticks, -1 unknown.
func (p *probe) cpuTicks() int64 {
	if p.pid <= 0 {
		return -1
	}
	return procCPUTicks(p.pid)
}

// newHTTPClient reaches loopback only and keeps no idle connections (no
// goroutine outlives a scrape).
func newHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			Proxy:             nil,
			DialContext:       loopbackDial(d),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// scrape fetches a Prometheus text exposition and returns its unlabelled samples.
func scrape(ctx context.Context, c *http.Client, u string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 8<<20))
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') {
			continue
		}
		val, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // drop a timestamp
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// procRSS is VmRSS of pid in bytes, -1 if unreadable.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return -1
			}
			kib, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return -1
			}
			return kib << 10
		}
	}
	return -1
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procCPUTicks is utime+stime of every thread of pid (0: this process), -1 if unreadable.
func procCPUTicks(pid int) int64 {
	p := "/proc/self/stat"
	if pid > 0 {
		p = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return -1
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return u + st
}

// cpuStat is one CPU's line of /proc/stat, in clock ticks.
type cpuStat struct{ busy, total, softirq, steal int64 }

// coreTicks reads every CPU's line of /proc/stat.
func coreTicks() []cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var out []cpuStat
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var c cpuStat
		var idle int64
		for i, x := range f[1:9] { // user nice system idle iowait irq softirq steal
			v, _ := strconv.ParseInt(x, 10, 64)
			c.total += v
			switch i {
			case 3, 4:
				idle += v
			case 6:
				c.softirq = v
			case 7:
				c.steal = v
			}
		}
		c.busy = c.total - idle
		out = append(out, c)
	}
	return out
}

// coreUsage turns two coreTicks samples secs apart into busy % per CPU and
// softirq and steal time summed over CPUs (% of one core).
func coreUsage(a, b []cpuStat, secs float64) (busy []float64, softirq, steal float64) {
	for i := range b {
		if i >= len(a) || b[i].total <= a[i].total {
			continue
		}
		busy = append(busy, 100*float64(b[i].busy-a[i].busy)/float64(b[i].total-a[i].total))
		softirq += 100 * float64(b[i].softirq-a[i].softirq) / clockTicks / secs
		steal += 100 * float64(b[i].steal-a[i].steal) / clockTicks / secs
	}
	return busy, softirq, steal
}

// otherTicks samples utime+stime of every process except skip (the servers
// and this generator): other work competing for the cores.
func otherTicks(skip map[int]bool) map[int]int64 {
	ents, _ := os.ReadDir("/proc")
	m := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || skip[pid] {
			continue
		}
		if t := procCPUTicks(pid); t > 0 {
			m[pid] = t
		}
	}
	return m
}

// otherPct is the CPU (% of one core) other processes used between two
// samples (a process born in between counts whole, one that died is missed).
func otherPct(a, b map[int]int64, secs float64) float64 {
	var sum int64
	for pid, t := range b {
		if d := t - a[pid]; d > 0 {
			sum += d
		}
	}
	return 100 * float64(sum) / clockTicks / secs
}

// findPID finds the process listening on the TCP port of a ws:// URL by
// matching the socket inode in /proc/net/tcp{,6} with /proc/*/fd; 0 if not found.
func findPID(wsURL string) int {
	u, err := url.Parse(wsURL)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		if port = 80; u.Scheme == "wss" {
			port = 443
		}
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 10 || fs[3] != "0A" { // LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	return pidHolding(inodes, "")
}

// pidHolding is the first process (other than the one numbered skip) with
// an open file descriptor on one of inodes ("socket:[N]"); 0 if none.
func pidHolding(inodes map[string]bool, skip string) int {
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if skip != "" && filepath.Base(p) == skip {
			continue
		}
		fds, _ := os.ReadDir(p + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(p + "/fd/" + fd.Name()); err == nil && inodes[l] {
				pid, _ := strconv.Atoi(filepath.Base(p))
				return pid
			}
		}
	}
	return 0
}
