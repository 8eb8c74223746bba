package bwe

import (
	"math"
	"time"
)

const (
	beta = 0.85 // an overuse cuts the estimate to beta times the acknowledged rate
	// growth per second far from the link's capacity, and near it (one
	// packet of 1,200 bytes per response time of about 200 ms)
	growth       = 1.08
	additiveRate = 1200 * 8 / 0.2
	capAlpha     = 0.05 // the capacity average's weight of a new sample
	maxEstimate  = 100e6
)

// aimd is GCC's rate controller (draft-ietf-rmcat-gcc 5.5): overuse cuts
// the estimate to beta times the acknowledged rate (at most once per
// DecreaseInterval), underuse holds it, a normal trend grows it, by 8% a
// second, or additively (about 48 kbit/s a second) while the acknowledged
// rate stays within the capacity measured at past overuses. Unlike the
// draft it does not cap the estimate at 1.5 times the acknowledged rate:
// a subscriber is sent whole layers, so what it acknowledges is what the
// layers chosen take, not what fits, and with no probing the estimate
// could then never rise to the next layer.
type aimd struct {
	est        float64 // bits/s; 0: unknown until the first overuse
	increasing bool    // the Increase state; else Hold (Decrease passes at once)
	lastAt     time.Time
	lastDown   time.Time
	capAvg     float64 // bits/s; 0: unknown
	capVar     float64 // its variance, normalised by capAvg (kbit/s)
}

// update applies the detector's signal at now and reports whether it cut
// the estimate.
func (r *aimd) update(now time.Time, u Usage, acked float64) bool {
	var dt time.Duration
	if !r.lastAt.IsZero() {
		dt = min(max(now.Sub(r.lastAt), 0), time.Second)
	}
	r.lastAt = now
	switch u {
	case Overuse:
		r.increasing = false
		if acked <= 0 || (!r.lastDown.IsZero() && now.Sub(r.lastDown) < DecreaseInterval) {
			return false
		}
		if r.capAvg > 0 && acked > r.capUpper() {
			r.capAvg = 0
		}
		r.capacity(acked)
		next := beta * acked
		if r.est > 0 && next > r.est {
			next = r.est // a cut never raises it
		}
		r.est = max(next, Min)
		r.lastDown = now
		return true
	case Underuse:
		r.increasing = false
	case Normal:
		if r.est == 0 {
			return false
		}
		if !r.increasing {
			r.increasing = true // Hold -> Increase: growth from the next update
			return false
		}
		if r.capAvg > 0 && acked > r.capUpper() {
			r.capAvg = 0 // more got through than the capacity said: search again
		}
		if r.capAvg > 0 {
			r.est += additiveRate * dt.Seconds()
		} else {
			r.est *= math.Pow(growth, dt.Seconds())
		}
		r.est = min(r.est, maxEstimate)
	}
	return false
}

// capacity adds a sample of the link's capacity: the acknowledged rate at
// an overuse.
func (r *aimd) capacity(acked float64) {
	if r.capAvg == 0 {
		r.capAvg, r.capVar = acked, 0.4
		return
	}
	r.capAvg = (1-capAlpha)*r.capAvg + capAlpha*acked
	e := (r.capAvg - acked) / 1000
	r.capVar = (1-capAlpha)*r.capVar + capAlpha*e*e/max(r.capAvg/1000, 1)
	r.capVar = min(max(r.capVar, 0.4), 2.5)
}

// capUpper is the capacity plus three deviations.
func (r *aimd) capUpper() float64 {
	return r.capAvg + 3*math.Sqrt(r.capVar*r.capAvg/1000)*1000
}
