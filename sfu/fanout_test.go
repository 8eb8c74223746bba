package sfu_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
	"github.com/switchboard-rtc/switchboard/sfu/internal/udpbatch"
)

// fanoutSamples is switchboard_sfu_fanout_seconds's count and sum.
func fanoutSamples(t *testing.T, reg *prometheus.Registry) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "switchboard_sfu_fanout_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// The fan-out histogram gets about one sample per rtc.FanoutSampleEvery
// forwarded packets of a track, each a short positive time.
func TestFanoutHistogram(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/fanout"
	for i := range 2 {
		newPeer(t, s, room, fmt.Sprintf("sub%d", i), peerOpts{})
	}
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(5*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "three fan-out samples", 30*time.Second, func() bool {
		n, _ := fanoutSamples(t, reg)
		return n >= 3
	})
	n, sum := fanoutSamples(t, reg)
	if sent := video.sent(); uint64(sent) < n*rtc.FanoutSampleEvery {
		t.Fatalf("%d samples for %d packets sent: more than one in %d", n, sent, rtc.FanoutSampleEvery)
	}
	if sum <= 0 || sum/float64(n) > 1 {
		t.Fatalf("%d samples summing to %v s", n, sum)
	}
	// The copies left through the batched socket, at most MaxBatch per call.
	sent, batches := counter(t, reg, "switchboard_sfu_udp_batched_datagrams_total"), counter(t, reg, "switchboard_sfu_udp_batches_total")
	if sent == 0 || batches == 0 || sent > batches*udpbatch.MaxBatch {
		t.Fatalf("%v datagrams in %v batches", sent, batches)
	}
}
