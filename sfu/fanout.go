package sfu

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
)

// newFanoutHistogram is switchboard_sfu_fanout_seconds: for one forwarded
// packet in rtc.FanoutSampleEvery, the time from its arrival (read and
// parsed) to the return of the write of its last copy to a subscriber.
// Buckets from 25 µs to about 0.8 s, doubling.
func newFanoutHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "switchboard_sfu_fanout_seconds",
		Help: fmt.Sprintf("Time from a packet's arrival to the write of its last copy to a subscriber (one packet in %d sampled).",
			rtc.FanoutSampleEvery),
		Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16),
	})
}
