// Package bwe estimates how many bits per second a subscriber can take,
// from the feedback its receiver sends: transport-cc feedback, the loss in
// receiver reports, REMB. It is pure: the caller feeds it (time, signal)
// and reads the estimate; it takes no lock and starts no goroutine.
//
// The estimate is the least of three (draft-ietf-rmcat-gcc): the
// delay-based one (section 5, Delay: the trend of the delay transport-cc
// feedback shows), the loss-based one (section 6: over 10% lost, cut by
// half the loss; under 2%, grown by 8%, at most once per
// IncreaseInterval; in between held) and a fresh REMB.
package bwe

import (
	"math"
	"time"
)

const (
	// IncreaseInterval is the least time between two increases of the
	// loss-based estimate (GCC grows it once per report; receivers report
	// about once a second, but one report reaches each down track).
	IncreaseInterval = 500 * time.Millisecond
	// DecreaseInterval is the least time between two cuts: one compound
	// report reaches every down track of the subscriber, and a loss seen
	// on several tracks is one loss, not several.
	DecreaseInterval = 300 * time.Millisecond
	// REMBFresh: a REMB older than this no longer caps the estimate (a
	// receiver that uses REMB sends one at least every second or so).
	REMBFresh = 5 * time.Second
	// Min is the floor of the loss-based estimate: multiplicative cuts
	// never reach zero, and growth from it stays possible.
	Min = 16_000
	// LossFresh: with no receiver report for this long the loss-based
	// estimate is forgotten (unknown again). Reports come only while
	// something is sent: a subscriber whose every stream was paused for
	// bandwidth would otherwise stay paused for good, its estimate never
	// growing for want of reports. Forgotten, it is sent what it wants
	// again, which is the probe: if the link still cannot take it, loss
	// and delay set a limit within a report or two. Longer than the
	// interval between a receiver's reports on an audio-only stream
	// (libwebrtc's is 5 s).
	LossFresh = 10 * time.Second
)

// Estimator is one subscriber's bandwidth estimate. The zero value knows
// nothing: Estimate reports no limit until a first signal sets one.
type Estimator struct {
	loss     float64   // loss-based estimate, bits/s; 0: unknown
	lossAt   time.Time // the latest receiver report
	lastUp   time.Time
	lastDown time.Time
	remb     float64 // the latest REMB, bits/s
	rembAt   time.Time
	sending  float64 // the rate sent to the subscriber, bits/s; 0: unknown
	delay    Delay
}

// Feedback records the packets one transport-cc feedback acknowledges
// (Delay.Feedback).
func (e *Estimator) Feedback(now time.Time, acks []Ack) {
	e.delay.Feedback(now, acks)
}

// Delay is the delay-based part, for its state (read only).
func (e *Estimator) Delay() *Delay { return &e.delay }

// delayEstimate is the delay-based estimate while its feedback is fresh.
func (e *Estimator) delayEstimate(now time.Time) (float64, bool) {
	if !e.delay.Fresh(now) {
		return 0, false
	}
	return e.delay.Estimate()
}

// REMB records a receiver's estimated maximum bitrate.
func (e *Estimator) REMB(now time.Time, bps float64) {
	if bps <= 0 {
		return
	}
	e.remb, e.rembAt = bps, now
}

// Sending records the rate the subscriber is sent now: the base the
// loss-based estimate starts from when loss is first seen with nothing
// else known.
func (e *Estimator) Sending(bps float64) {
	e.sending = bps
}

// Loss records the fraction of packets lost (0..1) that a receiver report
// gives.
func (e *Estimator) Loss(now time.Time, fraction float64) {
	e.forgetStale(now)
	span := now.Sub(e.lossAt) // since the previous report
	e.lossAt = now
	if e.loss == 0 {
		// Nothing to grow or cut from yet: start from the rate the
		// subscriber acknowledges (transport-cc), else the REMB, else what
		// is sent, but only once loss matters; low loss with nothing
		// known leaves the estimate unknown (no limit).
		if fraction <= 0.10 {
			return
		}
		switch {
		case e.delay.Fresh(now) && e.delay.Acked() > 0:
			e.loss = e.delay.Acked()
		case e.rembFresh(now):
			e.loss = e.remb
		case e.sending > 0:
			e.loss = e.sending
		default:
			return
		}
	}
	switch {
	case fraction > 0.10:
		if now.Sub(e.lastDown) < DecreaseInterval {
			return
		}
		e.loss = max(e.loss*(1-0.5*fraction), Min)
		e.lastDown = now
	case fraction < 0.02:
		if now.Sub(e.lastUp) < IncreaseInterval {
			return
		}
		// 8% per report, and per second of a longer span between
		// reports (at most 5 s of it): a receiver of audio alone reports
		// every 5 s, and a subscriber paused for bandwidth may get
		// nothing else while it waits to come back.
		e.loss *= math.Pow(1.08, min(max(span.Seconds(), 1), 5))
		e.lastUp = now
	}
	// Growth above a fresh REMB or the delay-based estimate means nothing
	// and would jump at once when that goes: it goes on from the cap.
	if e.rembFresh(now) && e.loss > e.remb {
		e.loss = e.remb
	}
	if d, ok := e.delayEstimate(now); ok && e.loss > d {
		e.loss = max(d, Min)
	}
}

// Estimate returns the estimate at now, in bits/s; ok is false while
// nothing limits it.
func (e *Estimator) Estimate(now time.Time) (bps float64, ok bool) {
	e.forgetStale(now)
	bps, ok = e.loss, e.loss > 0
	if d, dok := e.delayEstimate(now); dok && (!ok || d < bps) {
		bps, ok = d, true
	}
	if e.rembFresh(now) && (!ok || e.remb < bps) {
		bps, ok = e.remb, true
	}
	return bps, ok
}

// forgetStale forgets the loss-based estimate once receiver reports have
// stopped for LossFresh.
func (e *Estimator) forgetStale(now time.Time) {
	if e.loss > 0 && now.Sub(e.lossAt) > LossFresh {
		e.loss = 0
	}
}

func (e *Estimator) rembFresh(now time.Time) bool {
	return e.remb > 0 && now.Sub(e.rembAt) < REMBFresh
}
