package bench

import (
	"context"
	"sync"
	"time"
)

// paceShards is how many goroutines send in a paced phase.
const paceShards = 8

// maxBehind is how far a pacer may fall behind its schedule before it drops
// the sends it missed (counted as "behind") instead of bursting them.
const maxBehind = 50 * time.Millisecond

// phase runs one relay phase over the live pairs of ss: rate > 0 paces
// rate signals/s in total, rate == 0 keeps Window signals in flight per pair.
func (r *runner) phase(ctx context.Context, ss []*session, rate float64) Phase {
	cfg := &r.cfg
	per := int32(cfg.Window / 2)
	var live []*session
	for _, s := range ss {
		if s == nil || !s.alive.Load() {
			continue
		}
		if p := s.partner.Load(); p != nil && p.alive.Load() {
			s.inflight.Store(0)
			live = append(live, s)
		}
	}
	res := Phase{Mode: "relay-sat", Offered: rate, Window: 2 * int(per), Payload: cfg.Payload, Sessions: len(live)}
	if rate > 0 {
		res.Mode = "relay-paced"
	}
	if len(live) == 0 {
		r.logf("%s: no live pair", res.Mode)
		return res
	}
	r.logf("%s: %d sessions, offered %.0f/s (0: closed loop), warm-up %s, measuring %s", res.Mode, len(live), rate, cfg.Warmup, cfg.Duration)

	// errors count over the whole phase, warm-up and drain included
	re0, we0, ef0, sg0 := r.readErrs.Load(), r.writeErrs.Load(), r.errFrames.Load(), r.seqGaps.Load()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if rate > 0 {
		for _, shard := range shards(live, paceShards) {
			wg.Add(1)
			go r.pace(shard, rate*float64(len(shard))/float64(len(live)), per, stop, &wg)
		}
	} else {
		r.loop.Store(true)
		r.kick(live, per)
	}

	sleepCtx(ctx, cfg.Warmup)
	r.hist.reset()
	r.delivered.Store(0)
	r.skipped.Store(0)
	r.behind.Store(0)
	sent0 := r.sent.Load()
	cpu := startCPUWindow(r.skipPIDs(), r.serverTicks)
	r.measuring.Store(true)
	if cfg.Timeline > 0 {
		r.timeline(ctx, cfg.Duration)
	} else {
		sleepCtx(ctx, cfg.Duration)
	}
	r.measuring.Store(false)
	u := cpu.stop()
	res.Elapsed = u.Elapsed
	res.Sent = r.sent.Load() - sent0
	res.Delivered = r.delivered.Load()
	res.Skipped, res.Behind = r.skipped.Load(), r.behind.Load()
	res.P50, res.P99, res.P999 = r.hist.quantile(0.5), r.hist.quantile(0.99), r.hist.quantile(0.999)
	res.Mean, res.Max = r.hist.mean(), r.hist.maximum()
	res.ServerCPU, res.GenCPU, res.OtherCPU = u.ServerCPU, u.GenCPU, u.OtherCPU
	res.CoreBusy, res.SoftIRQ, res.Steal = u.CoreBusy, u.SoftIRQ, u.Steal

	close(stop)
	r.loop.Store(false)
	wg.Wait()
	for end := time.Now().Add(drainWait); r.received.Load() < r.sent.Load() && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	res.ReadErrors = r.readErrs.Load() - re0
	res.WriteErrors = r.writeErrs.Load() - we0
	res.ErrorFrames = r.errFrames.Load() - ef0
	res.SeqGaps = r.seqGaps.Load() - sg0
	res.Held = r.held.Load()
	res.RSS = r.sampleAll(ctx).rss
	return res
}

// serverTicks sums the servers' CPU ticks, -1 if any is unknown.
func (r *runner) serverTicks() int64 {
	var t int64
	for _, p := range r.probes {
		v := p.cpuTicks()
		if v < 0 {
			return -1
		}
		t += v
	}
	return t
}

// pace sends rate signals/s round-robin over shard, skipping a session whose
// window is full, until stop is closed.
func (r *runner) pace(shard []*session, rate float64, per int32, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	behind := func(k int64) {
		if r.measuring.Load() {
			r.behind.Add(k)
		}
	}
	paceRoundRobin(len(shard), rate, 500*time.Microsecond, stop, behind, func(i int) {
		s := shard[i]
		p := s.partner.Load()
		if !s.alive.Load() || p == nil || s.inflight.Load() >= per {
			if r.measuring.Load() {
				r.skipped.Add(1)
			}
			return
		}
		r.send(s, p)
	})
}

// kick starts a closed-loop phase: every session sends per signals to its
// partner; from then on each reader answers every signal it gets.
func (r *runner) kick(live []*session, per int32) {
	var wg sync.WaitGroup
	n := min(paceShards, len(live))
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(live); i += n {
				s := live[i]
				for range per {
					if p := s.partner.Load(); p != nil {
						r.send(s, p)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// timeline waits d, printing every cfg.Timeline the signals relayed in the
// interval and their latency.
func (r *runner) timeline(ctx context.Context, d time.Duration) {
	runTimeline(ctx, r.out, &r.tick, r.cfg.Timeline, d, "relayed")
}
