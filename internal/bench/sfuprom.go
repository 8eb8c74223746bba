package bench

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// promHist is a Prometheus histogram read from a scrape: cumulative counts
// by upper bound, sorted.
type promHist struct {
	le         []float64
	cum        []float64
	sum, count float64
}

func (h promHist) minus(o promHist) promHist {
	if len(h.le) == 0 || len(o.le) != len(h.le) {
		return promHist{}
	}
	d := promHist{le: h.le, cum: make([]float64, len(h.cum)), sum: h.sum - o.sum, count: h.count - o.count}
	for i := range h.cum {
		d.cum[i] = h.cum[i] - o.cum[i]
	}
	return d
}

// quantile interpolates the q-quantile linearly inside its bucket; -1
// when empty.
func (h promHist) quantile(q float64) float64 {
	if h.count <= 0 || len(h.le) == 0 {
		return -1
	}
	want := q * h.count
	lo, prev := 0.0, 0.0
	for i, le := range h.le {
		if h.cum[i] >= want {
			if math.IsInf(le, 1) {
				return lo // beyond the last bound: its lower edge
			}
			if h.cum[i] == prev {
				return le
			}
			return lo + (le-lo)*(want-prev)/(h.cum[i]-prev)
		}
		lo, prev = le, h.cum[i]
	}
	return lo
}

const (
	promFwdPackets = "switchboard_sfu_forwarded_packets_total"
	promFwdBytes   = "switchboard_sfu_forwarded_bytes_total"
	promNACKs      = "switchboard_sfu_nacks_received_total"
	promPLIs       = "switchboard_sfu_plis_received_total"
	promFanout     = "switchboard_sfu_fanout_seconds"
)

// parseSFUCounters reads the SFU's counters and fan-out histogram from a
// Prometheus text exposition.
func parseSFUCounters(text string) sfuCounters {
	c := sfuCounters{-1, -1, -1, -1, promHist{}}
	type bucket struct{ le, n float64 }
	var buckets []bucket
	for _, l := range strings.Split(text, "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		name := l[:i]
		switch name {
		case promFwdPackets:
			c.fwdPackets = int64(v)
		case promFwdBytes:
			c.fwdBytes = int64(v)
		case promNACKs:
			c.nacks = int64(v)
		case promPLIs:
			c.plis = int64(v)
		case promFanout + "_sum":
			c.fanout.sum = v
		case promFanout + "_count":
			c.fanout.count = v
		}
		if rest, ok := strings.CutPrefix(name, promFanout+`_bucket{le="`); ok {
			le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
			if err == nil {
				buckets = append(buckets, bucket{le, v})
			}
		}
	}
	sort.Slice(buckets, func(a, b int) bool { return buckets[a].le < buckets[b].le })
	for _, b := range buckets {
		c.fanout.le = append(c.fanout.le, b.le)
		c.fanout.cum = append(c.fanout.cum, b.n)
	}
	return c
}
