package rtc

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu/internal/conn"
)

type countObserver struct {
	n   int
	neg bool
}

func (c *countObserver) Observe(v float64) {
	c.n++
	c.neg = c.neg || v < 0
}

// One packet in FanoutSampleEvery that went to a subscriber is timed;
// packets that went to none are not counted at all, and a sampled packet
// of a layer no DownTrack forwards is not observed.
func TestFanoutSampler(t *testing.T) {
	obs := &countObserver{}
	f := fanoutSampler{obs: obs}
	start := time.Now()
	on := &DownTrack{}
	on.cur.Store(7)
	off := &DownTrack{}
	off.cur.Store(8)
	for range 3 * FanoutSampleEvery {
		f.done(start, []conn.DownTrack{off, on}, 7)
		f.done(start, nil, 7)
	}
	if obs.n != 3 || obs.neg {
		t.Fatalf("%d samples (negative: %v), want 3", obs.n, obs.neg)
	}
	on.paused.Store(true)
	for range 3 * FanoutSampleEvery {
		f.done(start, []conn.DownTrack{off, on}, 7)
	}
	if obs.n != 3 {
		t.Fatalf("%d samples of a layer nobody gets, want none", obs.n-3)
	}
}

// Sampling into a Prometheus histogram allocates nothing on the forwarding
// path.
func TestFanoutSamplerAllocations(t *testing.T) {
	f := fanoutSampler{obs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16)})}
	start := time.Now()
	d := &DownTrack{}
	d.cur.Store(7)
	downs := []conn.DownTrack{d}
	if a := testing.AllocsPerRun(10*FanoutSampleEvery, func() { f.done(start, downs, 7) }); a != 0 {
		t.Fatalf("%v allocations per packet", a)
	}
}
