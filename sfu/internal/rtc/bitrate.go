package rtc

import (
	"sync"
	"sync/atomic"
	"time"
)

// meterSlots samples make an UpTrack's bitrate: at the housekeeping
// period (250 ms), about the last second.
const meterSlots = 4

// meter turns the bytes an UpTrack counts into a bitrate over its last
// few samples. The reader only adds to an atomic counter; Sample, off the
// forwarding path, takes and resets it.
type meter struct {
	mu    sync.Mutex
	bytes [meterSlots]uint64
	dur   [meterSlots]time.Duration
	i     int
	last  time.Time
	bps   atomic.Uint64
}

// Sample takes the bytes received since the last Sample into the track's
// bitrate: call it periodically (the room's housekeeping does, every
// 250 ms).
func (u *UpTrack) Sample(now time.Time) {
	u.rate.sample(now, u.bytes.Swap(0))
}

// Bitrate is the bits per second received over about the last second (as
// of the last Sample); 0 before the first two samples.
func (u *UpTrack) Bitrate() uint64 { return u.rate.bps.Load() }

func (m *meter) sample(now time.Time, n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last.IsZero() {
		m.last = now // the bytes so far span an unknown time
		return
	}
	m.bytes[m.i], m.dur[m.i] = n, now.Sub(m.last)
	m.i = (m.i + 1) % meterSlots
	m.last = now
	var b uint64
	var d time.Duration
	for j := range meterSlots {
		b, d = b+m.bytes[j], d+m.dur[j]
	}
	if d > 0 {
		m.bps.Store(b * 8 * uint64(time.Second) / uint64(d))
	}
}
