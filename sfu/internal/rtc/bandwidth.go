package rtc

import (
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu/internal/bwe"
)

// bandwidth is a subscriber PC's estimate, fed by the RTCP readers of its
// down tracks (REMB, receiver reports) and read by the room's
// housekeeping. Its mutex is a leaf, taken only off the forwarding path:
// once per RTCP compound, once per housekeeping tick.
type bandwidth struct {
	useREMB bool // set before the PC exists (PeerConfig.UseREMB)
	mu      sync.Mutex
	est     bwe.Estimator
}

func (b *bandwidth) remb(now time.Time, bps float32) {
	if !b.useREMB {
		return
	}
	b.mu.Lock()
	b.est.REMB(now, float64(bps))
	b.mu.Unlock()
}

func (b *bandwidth) loss(now time.Time, fraction uint8) {
	b.mu.Lock()
	b.est.Loss(now, float64(fraction)/256)
	b.mu.Unlock()
}

// Estimate is the subscriber's bandwidth estimate in bits/s; ok is false
// while none is known (no limit). Meaningful for a subscriber PC only.
func (p *Peer) Estimate(now time.Time) (bps uint64, ok bool) {
	p.bw.mu.Lock()
	defer p.bw.mu.Unlock()
	e, ok := p.bw.est.Estimate(now)
	return uint64(e), ok
}

// SetSending tells the estimator the rate the subscriber is sent now
// (bits/s): the estimate starts from it when loss is first reported with
// nothing else known.
func (p *Peer) SetSending(bps uint64) {
	p.bw.mu.Lock()
	p.bw.est.Sending(float64(bps))
	p.bw.mu.Unlock()
}
