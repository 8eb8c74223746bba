package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// turnDrainWait bounds the wait for echoes still in flight after a phase.
const turnDrainWait = 2 * time.Second

// turnRunner is one RunTURN.
type turnRunner struct {
	cfg     TURNConfig
	out     io.Writer
	t0      time.Time // send stamps count from here (monotonic)
	runID   string
	credTTL time.Duration
	client  *http.Client
	probe   *probe
	auth    turnAuth
	peer    *echoPeer
	readers sync.WaitGroup

	// The measuring window, in ns since t0: a packet counts when its send
	// stamp is in [winFrom, winTo).
	winFrom, winTo atomic.Int64
	loop           atomic.Bool // closed loop: every echo is sent again
	hist           hist
	tick           atomic.Pointer[hist]

	sent, sentWin, delivered atomic.Int64
	behind, stalls           atomic.Int64
	writeErrs, readErrs      atomic.Int64
	badPackets, misrouted    atomic.Int64
	ctlOK, ctlErrs           atomic.Int64

	errNote
}

func (r *turnRunner) logf(format string, args ...any) { logf(r.out, format, args...) }

func (r *turnRunner) stamp() int64 { return int64(time.Since(r.t0)) }

func (r *turnRunner) inWindow(s int64) bool { return s >= r.winFrom.Load() && s < r.winTo.Load() }

// RunTURN allocates cfg.Allocations relays on a running TURN server, reads
// the server's memory per idle allocation, runs the relay phases through
// an echo peer of its own, and releases everything; it writes progress and
// RESULT lines to out as it goes and a summary at the end. It returns early
// (with what it measured so far and ctx's error) when ctx ends.
func RunTURN(ctx context.Context, cfg TURNConfig, out io.Writer) (TURNResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return TURNResult{}, err
	}
	if lim := fileLimit(); lim > 0 && uint64(cfg.Allocations+cfg.PeerSockets)+64 > lim {
		return TURNResult{}, fmt.Errorf("%w: %d allocations (one socket each), limit %d: run several generator processes",
			ErrFileLimit, cfg.Allocations, lim)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	r := &turnRunner{
		cfg:     cfg,
		out:     out,
		t0:      time.Now(),
		runID:   hex.EncodeToString(id[:]),
		credTTL: TURNBudget(cfg) + cfg.WaitMax + time.Hour,
		client:  newHTTPClient(),
	}
	r.winFrom.Store(math.MaxInt64)
	defer r.client.CloseIdleConnections()
	pid := cfg.PID
	if pid == 0 {
		pid = findUDPPID(cfg.Server)
	}
	r.probe = &probe{pid: pid, metrics: cfg.MetricsURL, client: r.client}
	if cfg.MetricsURL == "" {
		r.probe.metrics = "-"
	}
	res := TURNResult{Label: cfg.Label, Machine: machineInfo([]int{pid})}
	err := r.run(ctx, &res)
	res.FirstError = r.firstError()
	res.WriteSummary(out)
	return res, err
}

func (r *turnRunner) run(ctx context.Context, res *TURNResult) error {
	cfg := &r.cfg
	logMachine(r.out, res.Machine)
	r.logf("target: turn:%s pid=%d metrics=%s", cfg.Server, r.probe.pid, orNone(cfg.MetricsURL))

	var err error
	if r.peer, err = newEchoPeer(r, cfg.Peer, cfg.PeerSockets); err != nil {
		return err
	}
	defer r.peer.close()
	r.logf("echo peer %s (%d sockets)", r.peer.addr, len(r.peer.conns))

	if cfg.Warm > 0 {
		w := r.connect(ctx, cfg.Warm, cfg.Allocations)
		if countAllocs(w) == 0 {
			r.release(w)
			return fmt.Errorf("%w: %s", ErrNoSessions, r.firstError())
		}
		sleepCtx(ctx, time.Second)
		r.release(w)
		r.logf("warm-up: %d allocations made and released", countAllocs(w))
		sleepCtx(ctx, 2*time.Second)
		r.resetErrors()
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	idle := &res.Idle
	idle.Allocations, idle.Sources = cfg.Allocations, len(cfg.Sources)
	idle.IdleWait, idle.WaitTimedOut = r.waitIdle(ctx, "the memory baseline")
	before := r.probe.sample(ctx)
	fds0 := countFDs(r.probe.pid)
	t := time.Now()
	as := r.connect(ctx, cfg.Allocations, 0)
	idle.Connect = time.Since(t)
	held := slices.DeleteFunc(as, func(a *turnAlloc) bool { return a == nil })
	defer func() { r.release(held) }()
	idle.Failures = cfg.Allocations - len(held)
	r.logf("allocated %d of %d in %.1f s", len(held), cfg.Allocations, idle.Connect.Seconds())
	if len(held) == 0 {
		return fmt.Errorf("%w: %s", ErrNoSessions, r.firstError())
	}
	refreshCtx, stopRefresh := context.WithCancel(ctx)
	var refWG sync.WaitGroup
	refWG.Add(1)
	go r.refresher(refreshCtx, held, &refWG)
	defer func() { stopRefresh(); refWG.Wait() }()

	// Settle, sampling every second; keep the first sample after a GC cycle
	// that ended while settling (heap in use is then close to live).
	skip := r.skipPIDs()
	o0, ot0 := otherTicks(skip), time.Now()
	var last memSample
	var postGC *memSample
	prevGC := r.probe.sample(ctx).gcCount
	for waited := time.Duration(0); waited < cfg.Settle && ctx.Err() == nil; waited += time.Second {
		sleepCtx(ctx, time.Second)
		last = r.probe.sample(ctx)
		if last.gcCount > prevGC && prevGC >= 0 && postGC == nil {
			s := last
			postGC = &s
		}
		prevGC = last.gcCount
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	idle.OtherCPU = otherPct(o0, otherTicks(skip), time.Since(ot0).Seconds())
	idle.Held = len(held)
	idle.FDsBefore, idle.FDsAfter = fds0, countFDs(r.probe.pid)
	idle.RSSSource = before.rssSource
	idle.RSSBefore, idle.RSSAfter = before.rss, last.rss
	idle.HeapAt = "settle-end"
	idle.HeapBefore, idle.HeapAfter = before.heapInuse, last.heapInuse
	if postGC != nil {
		idle.HeapAt, idle.HeapAfter = "post-gc", postGC.heapInuse
	}
	idle.GoroutinesBefore, idle.GoroutinesAfter = before.goroutines, last.goroutines
	idle.Errors = r.readErrs.Load() + r.ctlErrs.Load()
	res.FirstError = r.firstError()
	fmt.Fprintln(r.out, res.idleLine())

	if len(cfg.Rates) == 0 {
		return nil
	}
	socks := r.socketInodes()
	for _, payload := range cfg.Payloads {
		for _, rate := range cfg.Rates {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p := r.phase(ctx, held, payload, rate, socks)
			res.Phases = append(res.Phases, p)
			res.FirstError = r.firstError()
			fmt.Fprintln(r.out, res.phaseLine(p))
		}
	}
	return ctx.Err()
}

// connect sets up n allocations numbered base.. with cfg.Dials in flight
// and starts their readers; failed ones are nil.
func (r *turnRunner) connect(ctx context.Context, n, base int) []*turnAlloc {
	out := make([]*turnAlloc, n)
	openAll(ctx, n, r.cfg.Dials, giveUpAfter, func(i int) bool {
		a, err := r.allocate(base + i)
		if err != nil {
			r.noteErr(fmt.Errorf("allocation %d: %w", base+i, err))
			return false
		}
		out[i] = a
		r.readers.Add(1)
		go func() { defer r.readers.Done(); r.read(a) }()
		return true
	})
	return out
}

func countAllocs(as []*turnAlloc) int { return countSet(as) }

// release deallocates every allocation of as (Refresh with LIFETIME 0),
// sending again to those not confirmed, and closes the sockets.
func (r *turnRunner) release(as []*turnAlloc) {
	for _, a := range as {
		if a != nil {
			a.closing.Store(true)
		}
	}
	for try := 0; try < 3; try++ {
		n := 0
		for _, a := range as {
			if a == nil || a.released.Load() {
				continue
			}
			r.deallocate(a)
			if n++; n%64 == 0 {
				// about 10,000/s: a burst beyond the server's socket buffer is lost
				time.Sleep(6 * time.Millisecond)
			}
		}
		if n == 0 {
			break
		}
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if !slices.ContainsFunc(as, func(a *turnAlloc) bool { return a != nil && !a.released.Load() }) {
				break
			}
		}
	}
	left := 0
	for _, a := range as {
		if a != nil {
			if !a.released.Load() {
				left++
			}
			_ = a.conn.Close()
			<-a.done
		}
	}
	if left > 0 {
		r.logf("%d allocations not confirmed released (they expire with their lifetime)", left)
	}
}

// refresher renews every allocation and its channel at a third of the
// lifetime (pion's permissions last 5 minutes, channels 10).
func (r *turnRunner) refresher(ctx context.Context, as []*turnAlloc, wg *sync.WaitGroup) {
	defer wg.Done()
	every := min(r.cfg.Lifetime/3, 2*time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, a := range as {
			if ctx.Err() != nil {
				return
			}
			r.refresh(a)
			if i%128 == 127 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		r.logf("refreshed %d allocations", len(as))
	}
}

func (r *turnRunner) resetErrors() {
	for _, c := range []*atomic.Int64{&r.writeErrs, &r.readErrs, &r.badPackets, &r.misrouted, &r.ctlErrs} {
		c.Store(0)
	}
	r.clearErr()
}

func (r *turnRunner) skipPIDs() map[int]bool {
	skip := map[int]bool{0: true}
	for _, p := range []int{pidSelf(), r.probe.pid} {
		skip[p] = true
	}
	return skip
}

// waitIdle waits until every core is under cfg.WaitIdle % busy over one
// second, or cfg.WaitMax passed (timedOut). It returns how long it waited.
func (r *turnRunner) waitIdle(ctx context.Context, what string) (waited time.Duration, timedOut bool) {
	if r.cfg.WaitIdle <= 0 {
		return 0, false
	}
	start := time.Now()
	lastLog := time.Time{}
	for ctx.Err() == nil {
		a := coreTicks()
		sleepCtx(ctx, time.Second)
		busy, _, _ := coreUsage(a, coreTicks(), 1)
		if len(busy) == 0 || slices.Max(busy) < r.cfg.WaitIdle {
			if w := time.Since(start); w > 2*time.Second {
				r.logf("machine idle after %.0f s (cores %s%% busy)", w.Seconds(), pcts(busy))
			}
			return time.Since(start), false
		}
		if time.Since(start) > r.cfg.WaitMax {
			r.logf("machine still busy after %s (cores %s%% busy): measuring %s anyway", r.cfg.WaitMax, pcts(busy), what)
			return time.Since(start), true
		}
		if time.Since(lastLog) > 30*time.Second {
			r.logf("waiting for an idle machine before %s: cores %s%% busy (want each under %.0f%%)", what, pcts(busy), r.cfg.WaitIdle)
			lastLog = time.Now()
		}
		sleepCtx(ctx, 4*time.Second)
	}
	return time.Since(start), true
}
