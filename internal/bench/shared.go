package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds what the signaling (Run) and TURN (RunTURN) generators
// share.

// errNote keeps the first error a run saw, and how many it saw.
type errNote struct {
	errMu    sync.Mutex
	firstErr string
	noted    int64
}

func (e *errNote) noteErr(err error) {
	e.errMu.Lock()
	if e.firstErr == "" {
		e.firstErr = err.Error()
	}
	e.noted++
	e.errMu.Unlock()
}

func (e *errNote) notedErrs() int64 {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.noted
}

func (e *errNote) firstError() string {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.firstErr
}

func (e *errNote) clearErr() {
	e.errMu.Lock()
	e.firstErr = ""
	e.errMu.Unlock()
}

// logf writes a progress line ("# ...") to out.
func logf(out io.Writer, format string, args ...any) { fmt.Fprintf(out, "# "+format+"\n", args...) }

// logMachine writes the progress line that describes m.
func logMachine(out io.Writer, m Machine) {
	logf(out, "machine: %d CPUs, %.1f GiB, kernel %s, %s, open-file limit %d; generator on CPUs %s, server on CPUs %s",
		m.CPUs, float64(m.MemTotal)/(1<<30), m.Kernel, m.GoVersion, m.FileLimit, m.GenCPUs, m.ServerCPUs)
}

// openAll calls open(i) for i in 0..n-1 with dials calls in flight until
// ctx ends; open reports whether i was opened. After giveUp failures
// without a single success it stops (a wrong secret or address fails every
// one the same way).
func openAll(ctx context.Context, n, dials, giveUp int, open func(i int) bool) {
	var next, ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range min(dials, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n || (failed.Load() >= int64(giveUp) && ok.Load() == 0) {
					return
				}
				if open(i) {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
}

// shards deals xs round-robin into min(n, len(xs)) shards.
func shards[T any](xs []T, n int) [][]T {
	n = min(n, len(xs))
	out := make([][]T, n)
	for k := range n {
		for i := k; i < len(xs); i += n {
			out[k] = append(out[k], xs[i])
		}
	}
	return out
}

// cpuWindow measures CPU use over a phase's measured time: the server's
// (from serverTicks, -1 unknown), the generator's, every other process's
// and every core's.
type cpuWindow struct {
	skip        map[int]bool
	serverTicks func() int64
	cs0         []cpuStat
	o0          map[int]int64
	sc0, gc0    int64
	t0          time.Time
}

// cpuUsage is what a cpuWindow measured.
type cpuUsage struct {
	Elapsed                     time.Duration
	ServerCPU, GenCPU, OtherCPU float64 // % of one core; ServerCPU -1 unknown
	CoreBusy                    []float64
	SoftIRQ, Steal              float64
}

func startCPUWindow(skip map[int]bool, serverTicks func() int64) *cpuWindow {
	w := &cpuWindow{skip: skip, serverTicks: serverTicks}
	w.cs0 = coreTicks()
	w.o0 = otherTicks(skip)
	w.sc0, w.gc0, w.t0 = serverTicks(), procCPUTicks(0), time.Now()
	return w
}

func (w *cpuWindow) stop() cpuUsage {
	u := cpuUsage{Elapsed: time.Since(w.t0)}
	sc1, gc1 := w.serverTicks(), procCPUTicks(0)
	cs1 := coreTicks()
	o1 := otherTicks(w.skip)
	secs := u.Elapsed.Seconds()
	u.ServerCPU = -1
	if w.sc0 >= 0 && sc1 >= 0 {
		u.ServerCPU = 100 * float64(sc1-w.sc0) / clockTicks / secs
	}
	u.GenCPU = 100 * float64(gc1-w.gc0) / clockTicks / secs
	u.OtherCPU = otherPct(w.o0, o1, secs)
	u.CoreBusy, u.SoftIRQ, u.Steal = coreUsage(w.cs0, cs1, secs)
	return u
}

// defaultSources are the default source addresses, 127.0.0.2-127.0.0.5.
func defaultSources() []netip.Addr {
	var out []netip.Addr
	for i := 2; i <= 5; i++ {
		out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	return out
}

// connectDefaults fills in the connect-phase settings both generators
// share: sources, dials in flight, warm-up count (-1: none) and settle time.
func connectDefaults(sources *[]netip.Addr, dials, warm *int, settle *time.Duration) {
	if len(*sources) == 0 {
		*sources = defaultSources()
	}
	if *dials == 0 {
		*dials = 64
	}
	if *warm == 0 {
		*warm = 100
	}
	if *warm < 0 {
		*warm = 0
	}
	if *settle == 0 {
		*settle = 8 * time.Second
	}
}

// perHeld is (after-before)/held divided by unit, or -1 when unknown.
func perHeld(before, after int64, held int, unit float64) float64 {
	if before < 0 || after < 0 || held == 0 {
		return -1
	}
	return float64(after-before) / unit / float64(held)
}

// resultTail is the end every RESULT line shares.
func resultTail(m Machine, firstErr string) string {
	return fmt.Sprintf("gen_cpus=%s server_cpus=%s first_err=%s", m.GenCPUs, m.ServerCPUs, orNone(firstErr))
}

// pcts joins percentages as "12/3/45".
func pcts(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, "/")
}

// writeSummaryTail writes the machine and error lines that end a summary.
func writeSummaryTail(w io.Writer, m Machine, errs int64, firstErr string) {
	fmt.Fprintf(w, "  machine: %d CPUs, %.1f GiB, kernel %s, generator %s on CPUs %s, server on CPUs %s, open-file limit %d\n",
		m.CPUs, float64(m.MemTotal)/(1<<30), m.Kernel, m.GoVersion, m.GenCPUs, m.ServerCPUs, m.FileLimit)
	if firstErr == "" {
		firstErr = "none"
	}
	fmt.Fprintf(w, "  errors: %d (first: %s)\n", errs, firstErr)
}

// badConfig is an ErrBadConfig error.
func badConfig(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
}

// checkSources refuses a source address that is not loopback.
func checkSources(srcs []netip.Addr) error {
	for _, a := range srcs {
		if !isLoopback(a) {
			return fmt.Errorf("%w: source %s", ErrNotLoopback, a)
		}
	}
	return nil
}

// countSet is how many of xs are not nil.
func countSet[T any](xs []*T) int {
	n := 0
	for _, x := range xs {
		if x != nil {
			n++
		}
	}
	return n
}

// offeredCell is a summary table's offered rate: the rate of a paced phase,
// "closed loop" otherwise.
func offeredCell(mode string, offered float64) string {
	if mode == "relay-paced" {
		return fmt.Sprintf("%.0f", offered)
	}
	return "closed loop"
}

// runTimeline waits d, publishing a fresh histogram in tick and printing
// every interval how many were timed in it (as "<what>=N") and their
// latency.
func runTimeline(ctx context.Context, out io.Writer, tick *atomic.Pointer[hist], every, d time.Duration, what string) {
	t := new(hist)
	tick.Store(t)
	defer tick.Store(nil)
	start := time.Now()
	for ctx.Err() == nil && time.Since(start) < d {
		sleepCtx(ctx, min(every, d-time.Since(start)))
		logf(out, "t=%5.1fs %s=%6d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f", time.Since(start).Seconds(), what,
			t.count.Load(), ms(t.quantile(0.5)), ms(t.quantile(0.99)), ms(t.maximum()))
		t.reset()
	}
}

// checkRates refuses a negative phase rate.
func checkRates(rates []float64) error {
	for _, r := range rates {
		if r < 0 {
			return badConfig("rate %v must not be negative", r)
		}
	}
	return nil
}

// checkSourcePorts refuses n connections (what: "sessions", "allocations")
// over too few source addresses: one offers about 28,000 ephemeral ports.
func checkSourcePorts(n, sources int, what string) error {
	if need := (n + 27999) / 28000; sources < need {
		return badConfig("%d %s need at least %d source addresses (about 28,000 ports each)", n, what, need)
	}
	return nil
}

// paceRoundRobin calls send(i) rate times a second, i going round-robin over
// 0..size-1 from a random start, until stop closes. When it falls more than
// maxBehind behind its schedule it drops the sends it missed (passing their
// number to behind) instead of bursting them. It sleeps at least minSleep
// between batches.
func paceRoundRobin(size int, rate float64, minSleep time.Duration, stop <-chan struct{}, behind func(int64), send func(i int)) {
	i := rand.IntN(size)
	lag := int64(rate*maxBehind.Seconds()) + 1
	start := time.Now()
	var n int64 // sends due so far, made or not
	for {
		select {
		case <-stop:
			return
		default:
		}
		due := int64(time.Since(start).Seconds() * rate)
		if due-n > lag {
			behind(due - n - lag)
			n = due - lag
		}
		for ; n < due; n++ {
			k := i
			if i++; i == size {
				i = 0
			}
			send(k)
		}
		next := start.Add(time.Duration(float64(n+1) / rate * float64(time.Second)))
		time.Sleep(min(max(time.Until(next), minSleep), 50*time.Millisecond))
	}
}
