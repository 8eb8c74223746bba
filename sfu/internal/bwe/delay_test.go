package bwe

import (
	"math/rand/v2"
	"testing"
	"time"
)

// path is a bottleneck: a queue drained at bps (0: no limit) and a
// propagation delay, with arrival times on a clock of the receiver's own
// (an hour ahead of the sender's) plus optional jitter.
type path struct {
	bps    float64
	jitter time.Duration
	rng    *rand.Rand
	free   time.Duration // when the queue is next empty, sender's clock
}

func (p *path) arrival(sent time.Duration, size int) time.Duration {
	start := max(sent, p.free)
	if p.bps > 0 {
		p.free = start + time.Duration(float64(size*8)/p.bps*float64(time.Second))
	} else {
		p.free = start
	}
	a := p.free + 20*time.Millisecond + time.Hour
	if p.jitter > 0 {
		a += time.Duration(p.rng.Int64N(int64(p.jitter)))
	}
	return a
}

// step is the detector's signal and the estimate after one feedback.
type step struct {
	u   Usage
	est float64
}

type arriver interface {
	arrival(sent time.Duration, size int) time.Duration
}

// stall is a path whose receiver reads every packet extra late.
type stall struct {
	*path
	extra time.Duration
}

func (s *stall) arrival(sent time.Duration, size int) time.Duration {
	return s.path.arrival(sent, size) + s.extra
}

// sim sends 1,000-byte packets at rate bits/s over p from sender time
// *clock for dur, with a feedback every 100 ms; it returns the steps.
func sim(d *Delay, p arriver, clock *time.Duration, rate float64, dur time.Duration) []step {
	const size = 1000
	gap := time.Duration(float64(size*8) / rate * float64(time.Second))
	end := *clock + dur
	var acks []Ack
	var seen []step
	next := *clock + 100*time.Millisecond
	for t := *clock; t < end; t += gap {
		acks = append(acks, Ack{Sent: t, Arrived: p.arrival(t, size), Size: size})
		if t >= next {
			d.Feedback(t0.Add(t), acks)
			seen = append(seen, step{d.Usage(), d.rate.est})
			acks, next = acks[:0], next+100*time.Millisecond
		}
	}
	if len(acks) > 0 {
		d.Feedback(t0.Add(end), acks)
		seen = append(seen, step{d.Usage(), d.rate.est})
	}
	*clock = end
	return seen
}

func count(us []step, u Usage) int {
	n := 0
	for _, x := range us {
		if x.u == u {
			n++
		}
	}
	return n
}

// Sent under the path's capacity, the delay is stable: never overuse,
// and the estimate stays unknown (no limit); the acknowledged rate is
// what is sent.
func TestDelayStableIsNoLimit(t *testing.T) {
	var d Delay
	var clock time.Duration
	seen := sim(&d, &path{bps: 1e6}, &clock, 500e3, 10*time.Second)
	if n := count(seen, Overuse); n > 0 {
		t.Fatalf("%d overuse signals on a stable path", n)
	}
	if bps, ok := d.Estimate(); ok {
		t.Fatalf("estimate %v on a stable path, want none", bps)
	}
	if a := d.Acked(); a < 480e3 || a > 520e3 {
		t.Fatalf("acknowledged rate %v, want about 500k", a)
	}
}

// Jitter of up to 10 ms that does not trend is not overuse.
func TestDelayJitterIsNotOveruse(t *testing.T) {
	var d Delay
	var clock time.Duration
	seen := sim(&d, &path{bps: 2e6, jitter: 10 * time.Millisecond, rng: rand.New(rand.NewPCG(1, 2))}, &clock, 500e3, 20*time.Second)
	if _, ok := d.Estimate(); ok || d.Decreases > 0 {
		t.Fatalf("jitter cut the estimate (%d overuse signals)", count(seen, Overuse))
	}
}

// A stall of the receiving host (every packet late by 20 ms for a
// moment, then back), or a slow drift of 20 ms, is not a queue: no cut.
func TestDelayStallIsNotOveruse(t *testing.T) {
	var d Delay
	var clock time.Duration
	p := &path{bps: 2e6}
	sim(&d, p, &clock, 1e6, 3*time.Second)
	for range 5 {
		late := &stall{path: p, extra: 20 * time.Millisecond}
		sim(&d, late, &clock, 1e6, 300*time.Millisecond)
		sim(&d, p, &clock, 1e6, 2*time.Second)
	}
	if _, ok := d.Estimate(); ok || d.Decreases > 0 {
		t.Fatalf("stalls of 20 ms cut the estimate %d times", d.Decreases)
	}
}

// Sent over the capacity, the queue and so the delay grow with no loss:
// overuse within a second or two, and the estimate is cut to 0.85 times
// the acknowledged rate (the capacity, or what was sent before when that
// is still in the window the rate is measured over).
func TestDelayGrowthIsOveruse(t *testing.T) {
	var d Delay
	var clock time.Duration
	p := &path{bps: 300e3}
	sim(&d, p, &clock, 250e3, 2*time.Second) // fits
	if d.Decreases > 0 {
		t.Fatal("overuse while it fits")
	}
	seen := sim(&d, p, &clock, 450e3, 2*time.Second)
	if count(seen, Overuse) == 0 || d.Decreases == 0 {
		t.Fatalf("no overuse from a growing queue: %v", seen)
	}
	bps, ok := d.Estimate()
	if !ok || bps < 0.85*250e3*0.97 || bps > 0.85*300e3*1.03 {
		t.Fatalf("estimate %v (%v), want 0.85 x 250k to 300k", bps, ok)
	}
}

// overused returns a Delay that has seen 3 s of 450 kbit/s through a
// 300 kbit/s bottleneck (a cut), with the path and the sender's clock.
func overused(t *testing.T) (*Delay, *path, *time.Duration) {
	t.Helper()
	d, p, clock := &Delay{}, &path{bps: 300e3}, new(time.Duration)
	sim(d, p, clock, 450e3, 3*time.Second)
	if _, ok := d.Estimate(); !ok {
		t.Fatal("no cut")
	}
	return d, p, clock
}

// After a cut, while the queue drains the delay falls (underuse): the
// estimate holds while it does; then, the delay stable again, it grows.
func TestDelayDrainHoldsThenGrows(t *testing.T) {
	d, p, clock := overused(t)
	// Far under the capacity, the queue drains quickly.
	seen := sim(d, p, clock, 100e3, 1500*time.Millisecond)
	if count(seen, Underuse) == 0 {
		t.Fatalf("no underuse while the queue drains: %v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].u == Underuse && seen[i].est > seen[i-1].est {
			t.Fatalf("estimate grew from %v to %v on underuse", seen[i-1].est, seen[i].est)
		}
	}
	before, _ := d.Estimate()
	// The trend of a slow stream (12.5 packets a second) takes a few
	// seconds to come back to normal; near the capacity measured at the
	// cut growth is additive, some 48 kbit/s a second.
	sim(d, p, clock, 100e3, 10*time.Second)
	after, _ := d.Estimate()
	if after <= before+150e3 || after > before+480e3 {
		t.Fatalf("estimate %v -> %v in 10 s of stable delay, want 150k to 480k more", before, after)
	}
}

// Far from any capacity measured (the acknowledged rate went past it),
// growth is multiplicative: 8% a second.
func TestDelayGrowsMultiplicativelyPastCapacity(t *testing.T) {
	d, p, clock := overused(t)
	sim(d, p, clock, 100e3, 2*time.Second) // drain
	p.bps = 5e6                            // the bottleneck is gone
	sim(d, p, clock, 1e6, 2*time.Second)   // acknowledged far above the capacity
	before, _ := d.Estimate()
	sim(d, p, clock, 1e6, 5*time.Second)
	after, _ := d.Estimate()
	if r := after / before; r < 1.35 || r > 1.55 {
		t.Fatalf("estimate x%.2f in 5 s, want about 1.08^5 = 1.47", r)
	}
}

// Feedback that stops for longer than FeedbackFresh no longer counts,
// and the next one starts from unknown.
func TestDelayStale(t *testing.T) {
	var e Estimator
	var clock time.Duration
	sim(&e.delay, &path{bps: 300e3}, &clock, 450e3, 3*time.Second)
	now := t0.Add(clock)
	if _, ok := e.Estimate(now); !ok {
		t.Fatal("no estimate after overuse")
	}
	if _, ok := e.Estimate(now.Add(FeedbackFresh + time.Millisecond)); ok {
		t.Fatal("stale feedback still caps the estimate")
	}
	e.Feedback(now.Add(3*time.Second), nil)
	if _, ok := e.delay.Estimate(); ok {
		t.Fatal("the delay-based estimate survived a gap in the feedback")
	}
	if e.delay.Decreases == 0 {
		t.Fatal("the count of decreases was lost")
	}
}

// The estimate is the least of the delay-based, loss-based and REMB
// ones; loss first seen starts from the acknowledged rate.
func TestEstimateIsTheLeast(t *testing.T) {
	var e Estimator
	var clock time.Duration
	sim(&e.delay, &path{bps: 1e6}, &clock, 600e3, 2*time.Second)
	now := t0.Add(clock)
	e.Sending(2e6) // a worse guess than the acknowledged rate
	e.Loss(now, 0.2)
	if got := estimate(t, &e, now); got < 0.9*0.9*600e3 || got > 1.1*0.9*600e3 {
		t.Fatalf("loss-based %v, want 0.9 x the acknowledged 600k", got)
	}
	sim(&e.delay, &path{bps: 300e3}, &clock, 600e3, 3*time.Second)
	now = t0.Add(clock)
	d, ok := e.delay.Estimate()
	if !ok {
		t.Fatal("no delay-based estimate")
	}
	if got := estimate(t, &e, now); got != d {
		t.Fatalf("estimate %v, want the delay-based %v", got, d)
	}
	e.REMB(now, d/2)
	if got := estimate(t, &e, now); got != d/2 {
		t.Fatalf("estimate %v, want the REMB %v", got, d/2)
	}
}
