package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// drainWait bounds the wait for signals still in flight after a phase.
const drainWait = 5 * time.Second

// runner is one Run.
type runner struct {
	cfg    Config
	out    io.Writer
	t0     time.Time // signal timestamps count from here (monotonic)
	runID  string
	tokTTL time.Duration
	client *http.Client
	probes []*probe

	loop      atomic.Bool // closed loop: readers answer every signal
	measuring atomic.Bool
	hist      hist
	tick      atomic.Pointer[hist] // per-interval histogram for Config.Timeline, nil without
	sent      atomic.Int64         // signals written, all phases
	received  atomic.Int64         // signals read, all phases
	delivered atomic.Int64         // signals read and timed while measuring
	skipped   atomic.Int64
	behind    atomic.Int64
	held      atomic.Int64
	readErrs  atomic.Int64
	writeErrs atomic.Int64
	errFrames atomic.Int64
	seqGaps   atomic.Int64
	readers   sync.WaitGroup

	errNote
}

func (r *runner) logf(format string, args ...any) { logf(r.out, format, args...) }

// token returns the hello token of session idx.
func (r *runner) token(idx int) string {
	if r.cfg.Token != "" {
		return r.cfg.Token
	}
	t, err := signaling.MintHS256([]byte(r.cfg.Secret), signaling.TokenSpec{
		User:  fmt.Sprintf("bench-%s-%d", r.runID, idx),
		Rooms: []string{"*"},
		TTL:   r.tokTTL,
	})
	if err != nil {
		return "" // the server then refuses the hello, and the dial error says so
	}
	return t
}

// Run opens cfg.Sessions sessions, measures the server's memory per idle
// session, runs the relay phases and closes everything; it writes progress
// and RESULT lines to out as it goes and a summary at the end. It returns
// early (with what it measured so far and ctx's error) when ctx ends.
func Run(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if lim := fileLimit(); lim > 0 && uint64(max(cfg.Sessions, cfg.Warm))+64 > lim {
		return Result{}, fmt.Errorf("%w: %d sessions, limit %d: run several generator processes (each with its own sources)",
			ErrFileLimit, cfg.Sessions, lim)
	}
	var id [4]byte
	rand.Read(id[:])
	r := &runner{
		cfg:    cfg,
		out:    out,
		t0:     time.Now(),
		runID:  hex.EncodeToString(id[:]),
		tokTTL: Budget(cfg) + time.Hour,
		client: newHTTPClient(),
	}
	defer r.client.CloseIdleConnections()
	var pids []int
	for _, t := range cfg.Targets {
		p := &probe{pid: t.PID, metrics: t.MetricsURL, client: r.client}
		if p.pid == 0 {
			p.pid = findPID(t.URL)
		}
		r.probes = append(r.probes, p)
		pids = append(pids, p.pid)
	}
	res := Result{Label: cfg.Label, Machine: machineInfo(pids)}
	err := r.run(ctx, &res)
	res.FirstError = r.firstError()
	res.WriteSummary(out)
	return res, err
}

func (r *runner) run(ctx context.Context, res *Result) error {
	cfg := &r.cfg
	logMachine(r.out, res.Machine)
	for i, t := range cfg.Targets {
		r.logf("target %d: %s pid=%d metrics=%s", i, t.URL, r.probes[i].pid, t.MetricsURL)
	}

	if cfg.Warm > 0 {
		w := r.connect(ctx, cfg.Warm, cfg.Sessions)
		r.pair(w)
		sleepCtx(ctx, time.Second)
		closeAll(w)
		r.waitHeld(0, 5*time.Second)
		r.logf("warm-up: %d sessions opened and closed", count(w))
		sleepCtx(ctx, 2*time.Second)
		r.resetErrors()
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	idle := &res.Idle
	idle.Sessions, idle.Sources = cfg.Sessions, len(cfg.Sources)
	before := r.sampleAll(ctx)
	t := time.Now()
	ss := r.connect(ctx, cfg.Sessions, 0)
	defer func() {
		closeAll(ss)
		r.readers.Wait()
	}()
	idle.Connect = time.Since(t)
	idle.DialFailures = cfg.Sessions - count(ss)
	r.pair(ss)
	r.logf("connected %d of %d sessions in %.1f s", count(ss), cfg.Sessions, idle.Connect.Seconds())
	if count(ss) == 0 {
		return fmt.Errorf("%w: %s", ErrNoSessions, r.firstError())
	}

	// Settle: sample every second; keep, per target, the first sample after a
	// GC cycle that ended while settling (heap in use is then close to live).
	skip := r.skipPIDs()
	o0, ot0 := otherTicks(skip), time.Now()
	last := make([]memSample, len(r.probes))
	postGC := make([]*memSample, len(r.probes))
	prevGC := make([]int64, len(r.probes))
	for i, p := range r.probes {
		prevGC[i] = p.sample(ctx).gcCount
	}
	for waited := time.Duration(0); waited < cfg.Settle && ctx.Err() == nil; waited += time.Second {
		sleepCtx(ctx, time.Second)
		for i, p := range r.probes {
			last[i] = p.sample(ctx)
			if last[i].gcCount > prevGC[i] && prevGC[i] >= 0 {
				s := last[i]
				postGC[i] = &s
			}
			prevGC[i] = last[i].gcCount
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	idle.OtherCPU = otherPct(o0, otherTicks(skip), time.Since(ot0).Seconds())
	idle.Held = int(r.held.Load())
	idle.ReadErrors = r.readErrs.Load()
	after := sumSamples(last)
	heapAt := "post-gc"
	for i := range last {
		if postGC[i] != nil {
			last[i].heapInuse = postGC[i].heapInuse
		} else {
			heapAt = "settle-end"
		}
	}
	idle.RSSSource = before.rssSource
	idle.RSSBefore, idle.RSSAfter = before.rss, after.rss
	idle.HeapAt = heapAt
	idle.HeapBefore, idle.HeapAfter = before.heapInuse, sumSamples(last).heapInuse
	idle.StackBefore, idle.StackAfter = before.stackInuse, after.stackInuse
	idle.GoroutinesBefore, idle.GoroutinesAfter = before.goroutines, after.goroutines
	fmt.Fprintln(r.out, res.idleLine())

	for _, rate := range cfg.Rates {
		if ctx.Err() != nil {
			break
		}
		p := r.phase(ctx, ss, rate)
		res.Phases = append(res.Phases, p)
		res.FirstError = r.firstError()
		fmt.Fprintln(r.out, res.phaseLine(p))
	}
	return ctx.Err()
}

// giveUpAfter failed dials (sessions, allocations) without a single success
// end the connect phase (a wrong secret or address fails every one the same
// way).
const giveUpAfter = 200

// connect opens n sessions numbered base.. with cfg.Dials in flight and
// starts their readers; failed ones are nil.
func (r *runner) connect(ctx context.Context, n, base int) []*session {
	out := make([]*session, n)
	openAll(ctx, n, r.cfg.Dials, giveUpAfter, func(i int) bool {
		s, err := r.dial(ctx, base+i)
		if err != nil {
			r.noteErr(fmt.Errorf("session %d: %w", base+i, err))
			return false
		}
		s.alive.Store(true)
		r.held.Add(1)
		out[i] = s
		r.readers.Add(1)
		go r.read(s)
		return true
	})
	return out
}

// pair makes 2k and 2k+1 partners when both are open.
func (r *runner) pair(ss []*session) {
	for i := 0; i+1 < len(ss); i += 2 {
		if ss[i] != nil && ss[i+1] != nil {
			ss[i].partner.Store(ss[i+1])
			ss[i+1].partner.Store(ss[i])
		}
	}
}

func count(ss []*session) int { return countSet(ss) }

// waitHeld waits until at most n sessions are open or d passes.
func (r *runner) waitHeld(n int64, d time.Duration) {
	for end := time.Now().Add(d); r.held.Load() > n && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *runner) resetErrors() {
	r.readErrs.Store(0)
	r.writeErrs.Store(0)
	r.errFrames.Store(0)
	r.seqGaps.Store(0)
	r.clearErr()
}

func (r *runner) skipPIDs() map[int]bool {
	skip := map[int]bool{os.Getpid(): true}
	for _, p := range r.probes {
		skip[p.pid] = true
	}
	return skip
}

// sampleAll sums the targets' samples.
func (r *runner) sampleAll(ctx context.Context) memSample {
	ss := make([]memSample, len(r.probes))
	for i, p := range r.probes {
		ss[i] = p.sample(ctx)
	}
	return sumSamples(ss)
}

// sumSamples adds samples field by field; a field unknown in any is unknown.
func sumSamples(ss []memSample) memSample {
	var t memSample
	var src []string
	add := func(dst *int64, v int64) {
		if *dst < 0 || v < 0 {
			*dst = -1
			return
		}
		*dst += v
	}
	for _, s := range ss {
		add(&t.rss, s.rss)
		add(&t.heapInuse, s.heapInuse)
		add(&t.heapAlloc, s.heapAlloc)
		add(&t.stackInuse, s.stackInuse)
		add(&t.goroutines, s.goroutines)
		add(&t.gcCount, s.gcCount)
		if s.rssSource != "" && (len(src) == 0 || src[len(src)-1] != s.rssSource) {
			src = append(src, s.rssSource)
		}
	}
	t.rssSource = strings.Join(src, "+")
	return t
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
