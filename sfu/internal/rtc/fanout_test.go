package rtc

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type countObserver struct {
	n   int
	neg bool
}

func (c *countObserver) Observe(v float64) {
	c.n++
	c.neg = c.neg || v < 0
}

// One packet in FanoutSampleEvery that reached a subscriber is timed;
// packets that reached none are not counted at all.
func TestFanoutSampler(t *testing.T) {
	obs := &countObserver{}
	f := fanoutSampler{obs: obs}
	start := time.Now()
	for range 3 * FanoutSampleEvery {
		f.done(start, 2)
		f.done(start, 0)
	}
	if obs.n != 3 || obs.neg {
		t.Fatalf("%d samples (negative: %v), want 3", obs.n, obs.neg)
	}
}

// Sampling into a Prometheus histogram allocates nothing on the forwarding
// path.
func TestFanoutSamplerAllocations(t *testing.T) {
	f := fanoutSampler{obs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16)})}
	start := time.Now()
	if a := testing.AllocsPerRun(10*FanoutSampleEvery, func() { f.done(start, 1) }); a != 0 {
		t.Fatalf("%v allocations per packet", a)
	}
}
