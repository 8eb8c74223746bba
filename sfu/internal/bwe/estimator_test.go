package bwe

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func estimate(t *testing.T, e *Estimator, now time.Time) float64 {
	t.Helper()
	bps, ok := e.Estimate(now)
	if !ok {
		t.Fatalf("no estimate at %v", now.Sub(t0))
	}
	return bps
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, b) }

func TestUnknownUntilASignal(t *testing.T) {
	var e Estimator
	if _, ok := e.Estimate(t0); ok {
		t.Fatal("a new estimator has an estimate")
	}
	// Low or middling loss with nothing to start from: still no limit.
	e.Loss(at(0), 0)
	e.Loss(at(1000), 0.05)
	if _, ok := e.Estimate(at(1000)); ok {
		t.Fatal("loss under 10% set an estimate from nothing")
	}
	// High loss with nothing known, not even what is sent: no limit.
	e.Loss(at(2000), 0.5)
	if _, ok := e.Estimate(at(2000)); ok {
		t.Fatal("high loss set an estimate with no base")
	}
}

// A subscriber paused for bandwidth is sent nothing, so its receiver
// stops reporting: the loss-based estimate is then forgotten rather than
// kept for good, and the next reports start from scratch.
func TestLossEstimateForgottenWhenReportsStop(t *testing.T) {
	var e Estimator
	e.Sending(1_000_000)
	e.Loss(at(0), 0.5)
	if got := estimate(t, &e, at(0)); !near(got, 750_000) {
		t.Fatalf("estimate %v after 50%% loss from 1 Mbit/s, want 750k", got)
	}
	e.Loss(at(1000), 0) // reports go on: kept, and grown
	if got := estimate(t, &e, at(1000).Add(LossFresh)); !near(got, 810_000) {
		t.Fatalf("estimate %v while reports are fresh, want 810k", got)
	}
	if _, ok := e.Estimate(at(1001).Add(LossFresh)); ok {
		t.Fatal("the loss-based estimate outlived its reports")
	}
	// Reports again: low loss leaves it unknown, high loss starts again
	// from what is sent.
	e.Loss(at(20_000), 0)
	if _, ok := e.Estimate(at(20_000)); ok {
		t.Fatal("low loss after the gap set an estimate")
	}
	e.Loss(at(21_000), 0.2)
	if got := estimate(t, &e, at(21_000)); !near(got, 900_000) {
		t.Fatalf("estimate %v after 20%% loss, want 900k from what is sent", got)
	}
}

func TestREMBCaps(t *testing.T) {
	var e Estimator
	e.REMB(at(0), 300_000)
	if got := estimate(t, &e, at(0)); got != 300_000 {
		t.Fatalf("estimate %v, want the REMB", got)
	}
	e.REMB(at(100), 2_000_000)
	if got := estimate(t, &e, at(100)); got != 2_000_000 {
		t.Fatalf("estimate %v, want the latest REMB", got)
	}
	// A stale REMB caps nothing.
	if _, ok := e.Estimate(at(100).Add(REMBFresh)); ok {
		t.Fatal("a stale REMB still limits")
	}
	e.REMB(at(200), 0) // ignored
	if got := estimate(t, &e, at(200)); got != 2_000_000 {
		t.Fatalf("a zero REMB changed the estimate to %v", got)
	}
}

func TestLossCutsAndGrows(t *testing.T) {
	var e Estimator
	e.Sending(1_000_000)
	e.Loss(at(0), 0.20) // starts from what is sent, cut by 10%
	if got := estimate(t, &e, at(0)); !near(got, 900_000) {
		t.Fatalf("after 20%% loss: %v, want 900000", got)
	}
	e.Loss(at(100), 0.20) // within DecreaseInterval: the same loss seen again
	if got := estimate(t, &e, at(100)); !near(got, 900_000) {
		t.Fatalf("a second cut within %v: %v", DecreaseInterval, got)
	}
	e.Loss(at(400), 0.40)
	if got := estimate(t, &e, at(400)); !near(got, 720_000) {
		t.Fatalf("after 40%% loss: %v, want 720000", got)
	}
	e.Loss(at(1000), 0.05) // between 2% and 10%: holds
	if got := estimate(t, &e, at(1000)); !near(got, 720_000) {
		t.Fatalf("5%% loss changed the estimate: %v", got)
	}
	e.Loss(at(1100), 0.01)
	e.Loss(at(1200), 0.01) // within IncreaseInterval: once only
	if got := estimate(t, &e, at(1200)); !near(got, 720_000*1.08) {
		t.Fatalf("after low loss: %v, want %v", got, 720_000*1.08)
	}
	e.Loss(at(1700), 0)
	if got := estimate(t, &e, at(1700)); !near(got, 720_000*1.08*1.08) {
		t.Fatalf("after a second increase: %v", got)
	}
}

// Reports far apart (a receiver of audio alone reports every 5 s) grow
// the estimate by 8% a second of the span, up to 5 s of it.
func TestLossGrowsWithTheSpan(t *testing.T) {
	var e Estimator
	e.Sending(100_000)
	e.Loss(at(0), 0.5)
	e.Loss(at(5000), 0)
	want := 75_000 * math.Pow(1.08, 5)
	if got := estimate(t, &e, at(5000)); !near(got, want) {
		t.Fatalf("after a report 5 s later: %v, want %v", got, want)
	}
	e.Loss(at(14_000), 0) // 9 s: counted as 5
	want *= math.Pow(1.08, 5)
	if got := estimate(t, &e, at(14_000)); !near(got, want) {
		t.Fatalf("after a report 9 s later: %v, want %v", got, want)
	}
}

func TestLossFloor(t *testing.T) {
	var e Estimator
	e.Sending(100_000)
	for i := 0; i < 100; i++ {
		e.Loss(at(i*1000), 1)
	}
	if got := estimate(t, &e, at(100_000)); got != Min {
		t.Fatalf("estimate %v after total loss, want the floor %v", got, Min)
	}
}

func TestLossUnderREMB(t *testing.T) {
	var e Estimator
	e.REMB(at(0), 500_000)
	e.Loss(at(0), 0.5) // starts from the fresh REMB: 500k * 0.75
	if got := estimate(t, &e, at(0)); !near(got, 375_000) {
		t.Fatalf("estimate %v, want 375000", got)
	}
	// Growth stops at the REMB and goes on from it, not above.
	for i := 1; i <= 20; i++ {
		e.REMB(at(i*1000), 500_000)
		e.Loss(at(i*1000), 0)
	}
	if got := estimate(t, &e, at(20_000)); got != 500_000 {
		t.Fatalf("estimate %v, want capped at the REMB", got)
	}
	// Once the REMB is stale, the loss-based estimate goes on alone from
	// where the cap left it.
	later := at(20_000).Add(REMBFresh)
	if got := estimate(t, &e, later); got != 500_000 {
		t.Fatalf("estimate %v after the REMB went stale, want 500000", got)
	}
	// A lower REMB caps a higher loss-based estimate.
	e.REMB(later, 200_000)
	if got := estimate(t, &e, later); got != 200_000 {
		t.Fatalf("estimate %v, want the REMB 200000", got)
	}
}
