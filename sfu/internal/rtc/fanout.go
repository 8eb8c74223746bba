package rtc

import (
	"time"

	"github.com/switchboard-rtc/switchboard/sfu/internal/conn"
)

// FanoutSampleEvery is how often an UpTrack times its fan-out: one packet
// in this many (a power of two), from just after it was read and parsed to
// the moment the write of its last copy (SRTP and system call included)
// returned: the in-server "packet in to last copy out".
const FanoutSampleEvery = 4

// Observer takes samples (a prometheus.Histogram fits; its Observe does
// not allocate).
type Observer interface{ Observe(float64) }

type nopObserver struct{}

func (nopObserver) Observe(float64) {}

// fanoutSampler times one packet in FanoutSampleEvery of those that went
// to at least one DownTrack; it belongs to the UpTrack's reader goroutine.
// A sampled packet that no DownTrack forwarded (a simulcast layer nobody
// gets, every subscriber paused) is not observed: its "fan-out" is a loop
// of skips and would pull the figures down.
type fanoutSampler struct {
	n   uint32
	obs Observer
}

// forwarder is a DownTrack that can say whether it forwards the layer
// with this SSRC now (*DownTrack does; any other counts as forwarding).
type forwarder interface{ forwards(ssrc uint32) bool }

func (d *DownTrack) forwards(ssrc uint32) bool { return d.cur.Load() == ssrc && !d.paused.Load() }

// done is called after a packet of the layer ssrc was handed to downs,
// start being when it was read.
func (f *fanoutSampler) done(start time.Time, downs []conn.DownTrack, ssrc uint32) {
	if len(downs) == 0 {
		return
	}
	if f.n++; f.n&(FanoutSampleEvery-1) != 0 {
		return
	}
	el := time.Since(start)
	for _, d := range downs {
		if fw, ok := d.(forwarder); !ok || fw.forwards(ssrc) {
			f.obs.Observe(el.Seconds())
			return
		}
	}
}
