package bwe

import (
	"time"
)

// The delay-based estimate (draft-ietf-rmcat-gcc section 5, with the
// trendline filter libwebrtc uses in place of the draft's Kalman filter):
// acknowledged packets are grouped by send time (5 ms bursts); each
// group's arrival-time delta minus its send-time delta feeds a trendline
// whose slope, against an adaptive threshold, says overuse, underuse or
// normal (trendline.go); an AIMD rate controller turns that into bits/s
// (aimd.go).
const (
	burst = 5 * time.Millisecond // packets sent within it form one group
	// AckedWindow is the least span of arrival times the acknowledged rate
	// is measured over.
	AckedWindow = 500 * time.Millisecond
	// FeedbackFresh: transport-cc feedback older than this no longer
	// caps the estimate (nothing is sent to the subscriber, or it stopped
	// sending feedback); the next feedback starts the delay-based
	// estimate again from unknown.
	FeedbackFresh = 2 * time.Second
	// resetGap: a jump of arrival against send times this large is a
	// reset of the receiver's clock or a long gap, not delay.
	resetGap = 3 * time.Second
)

// Ack is one packet a transport-cc feedback acknowledges: its send time
// on the sender's clock, its arrival time on the receiver's, its size in
// bytes.
type Ack struct {
	Sent, Arrived time.Duration
	Size          int
}

type group struct {
	firstSent, lastSent, lastArrived time.Duration
	n                                int
}

// Delay is the delay-based estimate. The zero value knows nothing: the
// estimate is unknown (no limit) until a first overuse sets it from the
// acknowledged rate (see aimd for how it moves from there).
type Delay struct {
	cur, prev group
	trend     trendline
	rate      aimd
	// the acknowledged rate
	winStart time.Duration
	winBytes int
	winInit  bool
	acked    float64 // bits/s; 0: not measured yet
	lastFb   time.Time
	// Decreases counts the cuts overuse made, across restarts.
	Decreases uint64
}

// Feedback records the packets one transport-cc feedback acknowledges
// (in the order the receiver lists them) and updates the estimate.
func (d *Delay) Feedback(now time.Time, acks []Ack) {
	if !d.lastFb.IsZero() && now.Sub(d.lastFb) > FeedbackFresh {
		*d = Delay{Decreases: d.Decreases} // stale: start again
	}
	d.lastFb = now
	for _, a := range acks {
		d.packet(a)
	}
	if d.rate.update(now, d.trend.usage, d.acked) {
		d.Decreases++
	}
}

// Fresh reports whether feedback came at most FeedbackFresh before now.
func (d *Delay) Fresh(now time.Time) bool {
	return !d.lastFb.IsZero() && now.Sub(d.lastFb) <= FeedbackFresh
}

// Estimate is the delay-based estimate in bits/s; ok is false while
// unknown.
func (d *Delay) Estimate() (bps float64, ok bool) { return d.rate.est, d.rate.est > 0 }

// Acked is the acknowledged rate in bits/s (0: not measured yet).
func (d *Delay) Acked() float64 { return d.acked }

// Usage is the detector's latest signal.
func (d *Delay) Usage() Usage { return d.trend.usage }

func (d *Delay) packet(a Ack) {
	d.measure(a)
	switch {
	case d.cur.n == 0:
		d.cur = group{firstSent: a.Sent, lastSent: a.Sent, lastArrived: a.Arrived, n: 1}
		return
	case a.Sent < d.cur.firstSent:
		return // reordered from an older group
	case a.Sent-d.cur.firstSent <= burst:
		d.cur.lastSent = max(d.cur.lastSent, a.Sent)
		d.cur.lastArrived = max(d.cur.lastArrived, a.Arrived)
		d.cur.n++
		return
	}
	// a starts a new group: cur is complete, compare it with the one
	// before.
	if d.prev.n > 0 {
		sendDelta := d.cur.lastSent - d.prev.lastSent
		arrivalDelta := d.cur.lastArrived - d.prev.lastArrived
		if v := arrivalDelta - sendDelta; v > resetGap || v < -resetGap {
			d.trend.reset()
		} else {
			d.trend.add(ms(v), d.cur.lastArrived, sendDelta)
		}
	}
	d.prev = d.cur
	d.cur = group{firstSent: a.Sent, lastSent: a.Sent, lastArrived: a.Arrived, n: 1}
}

func ms(t time.Duration) float64 { return float64(t) / float64(time.Millisecond) }

// measure adds a to the acknowledged rate's window.
func (d *Delay) measure(a Ack) {
	if !d.winInit {
		d.winStart, d.winInit = a.Arrived, true
	}
	span := a.Arrived - d.winStart
	switch {
	case span < -resetGap:
		d.winStart, d.winBytes = a.Arrived, a.Size
	case span >= AckedWindow:
		d.acked = float64(d.winBytes*8) / span.Seconds()
		d.winStart, d.winBytes = a.Arrived, a.Size
	default:
		d.winBytes += a.Size
	}
}
