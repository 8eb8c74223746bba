package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a log-linear latency histogram in microseconds: exact below 128 µs,
// then 64 buckets per power of two (under 1.6% error), up to about 2^40 µs.
// add is safe for concurrent use; reset and quantiles are not meant to race
// with add (the run pauses measuring around them).
type hist struct {
	b     [histBuckets]atomic.Uint64
	count atomic.Uint64
	sum   atomic.Uint64 // µs
	max   atomic.Uint64 // µs
}

const (
	histSub     = 64
	histBuckets = 2*histSub + 34*histSub
)

func histIndex(us uint64) int {
	if us < 2*histSub {
		return int(us)
	}
	e := bits.Len64(us) - 7 // us>>e is in [64, 128)
	i := 2*histSub + (e-1)*histSub + int(us>>uint(e)) - histSub
	return min(i, histBuckets-1)
}

// histMid is the middle of bucket i, in µs.
func histMid(i int) float64 {
	if i < 2*histSub {
		return float64(i) + 0.5
	}
	e := (i-2*histSub)/histSub + 1
	m := (i-2*histSub)%histSub + histSub
	return (float64(m) + 0.5) * float64(uint64(1)<<uint(e))
}

func (h *hist) add(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.b[histIndex(us)].Add(1)
	h.count.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

func (h *hist) reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
	h.count.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
}

// quantile returns the q-quantile (0 < q < 1), 0 when empty.
func (h *hist) quantile(q float64) time.Duration {
	var tot uint64
	var c [histBuckets]uint64
	for i := range h.b {
		c[i] = h.b[i].Load()
		tot += c[i]
	}
	if tot == 0 {
		return 0
	}
	want := uint64(q * float64(tot))
	var cum uint64
	for i, v := range c {
		cum += v
		if cum > want {
			return time.Duration(histMid(i) * float64(time.Microsecond))
		}
	}
	return time.Duration(h.max.Load()) * time.Microsecond
}

func (h *hist) maximum() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

func (h *hist) mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}
