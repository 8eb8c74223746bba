package rtc

import (
	"sync"
	"time"

	"github.com/pion/rtcp"

	"github.com/switchboard-rtc/switchboard/sfu/internal/bwe"
)

// bandwidth is a subscriber PC's estimate, fed by the RTCP readers of its
// down tracks (transport-cc feedback, REMB, receiver reports) and read by
// the room's housekeeping. Its mutex is a leaf, taken only off the
// forwarding path: once per RTCP compound, once per housekeeping tick.
type bandwidth struct {
	useREMB bool         // set before the PC exists (PeerConfig.UseREMB)
	hist    *sendHistory // a subscriber PC's, set before it exists; nil: none
	mu      sync.Mutex
	est     bwe.Estimator
	acks    []bwe.Ack // scratch for one feedback
	// The feedback counts seen lately: a compound reaches the reader of
	// each SSRC it names, and each feedback must count once.
	fbSeen    [256]bool
	fbSender  uint32
	feedbacks uint64 // feedbacks taken
}

// feedback feeds the estimator the packets a transport-cc feedback
// acknowledges, once per feedback however many readers see it, and
// reports whether the delay-based estimate was cut.
func (b *bandwidth) feedback(now time.Time, p *rtcp.TransportLayerCC) (cut bool) {
	if b.hist == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.SenderSSRC != b.fbSender {
		b.fbSender, b.fbSeen = p.SenderSSRC, [256]bool{}
	}
	if b.fbSeen[p.FbPktCount] {
		return false
	}
	// Forget the count half a cycle ahead, so that it counts when it
	// comes round again.
	b.fbSeen[p.FbPktCount], b.fbSeen[p.FbPktCount+128] = true, false
	b.feedbacks++
	b.acks = b.hist.acks(b.acks[:0], p)
	n := b.est.Delay().Decreases
	b.est.Feedback(now, b.acks)
	return b.est.Delay().Decreases > n
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

// EstimateParts returns the loss-based and delay-based parts of the
// estimate in bits/s (0: unknown), for logs.
func (p *Peer) EstimateParts(now time.Time) (loss, delay uint64) {
	p.bw.mu.Lock()
	defer p.bw.mu.Unlock()
	l, d := p.bw.est.Parts(now)
	return uint64(l), uint64(d)
}

// SetSending tells the estimator the rate the subscriber is sent now
// (bits/s): the estimate starts from it when loss is first reported with
// nothing else known.
func (p *Peer) SetSending(bps uint64) {
	p.bw.mu.Lock()
	p.bw.est.Sending(float64(bps))
	p.bw.mu.Unlock()
}
