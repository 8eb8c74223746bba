package rtc

import "time"

// FanoutSampleEvery is how often an UpTrack times its fan-out: one packet
// in this many (a power of two), from just after it was read and parsed to
// the moment the write of its last copy (SRTP and system call included)
// returned: the in-server "packet in to last copy out".
const FanoutSampleEvery = 64

// Observer takes samples (a prometheus.Histogram fits; its Observe does
// not allocate).
type Observer interface{ Observe(float64) }

type nopObserver struct{}

func (nopObserver) Observe(float64) {}

// fanoutSampler times one packet in FanoutSampleEvery that was written to
// at least one DownTrack; it belongs to the UpTrack's reader goroutine.
type fanoutSampler struct {
	n   uint32
	obs Observer
}

// done is called after a packet's copies were written to downs
// DownTracks, start being when it was read.
func (f *fanoutSampler) done(start time.Time, downs int) {
	if downs == 0 {
		return
	}
	if f.n++; f.n&(FanoutSampleEvery-1) == 0 {
		f.obs.Observe(time.Since(start).Seconds())
	}
}
