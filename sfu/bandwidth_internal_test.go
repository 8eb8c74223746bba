package sfu

import (
	"testing"
	"time"
)

// fitLayer: down at once, up only after the higher layer has fit with
// headroom for bwUpHold; paused when nothing fits; no limit without a
// budget.
func TestFitLayer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rates := []uint64{130_000, 290_000, 450_000} // low, medium, high
	d := &down{}
	if got := d.fitLayer(rates, 2, -1, t0); got != 2 || d.limited {
		t.Fatalf("no budget: layer %d, limited %v; want 2, false", got, d.limited)
	}
	d.budget = 350_000
	if got := d.fitLayer(rates, 2, 2, t0); got != 1 || !d.limited {
		t.Fatalf("budget 350k: layer %d, limited %v; want 1, true", got, d.limited)
	}
	d.budget = 100_000
	if got := d.fitLayer(rates, 2, 1, t0); got != -1 {
		t.Fatalf("budget 100k: layer %d, want paused", got)
	}
	d.bwPaused = true
	// Low fits, but without headroom: stays paused however long.
	d.budget = 140_000
	for s := 0; s < 5; s++ {
		if got := d.fitLayer(rates, 2, -1, t0.Add(time.Duration(s)*time.Second)); got != -1 {
			t.Fatalf("low fits without headroom: layer %d at %ds, want paused", got, s)
		}
	}
	// Everything fits with headroom: held for bwUpHold, then straight up.
	d.budget = 1_000_000
	now := t0.Add(10 * time.Second)
	if got := d.fitLayer(rates, 2, -1, now); got != -1 {
		t.Fatalf("moved up at once: layer %d", got)
	}
	if got := d.fitLayer(rates, 2, -1, now.Add(bwUpHold/2)); got != -1 {
		t.Fatalf("moved up before %v: layer %d", bwUpHold, got)
	}
	if got := d.fitLayer(rates, 2, -1, now.Add(bwUpHold)); got != 2 || d.limited {
		t.Fatalf("after %v: layer %d, limited %v; want 2, false", bwUpHold, got, d.limited)
	}
	d.bwPaused = false
	// Not held down: a higher layer wanted (the subscriber asked) is
	// taken at once when it fits.
	if got := d.fitLayer(rates, 1, 2, now); got != 1 {
		t.Fatalf("want medium: layer %d", got)
	}
	if got := d.fitLayer(rates, 2, 1, now); got != 2 {
		t.Fatalf("want high again, not limited: layer %d", got)
	}
	// A dip resets the hold.
	d.budget = 350_000
	d.fitLayer(rates, 2, 2, now) // down to medium
	d.budget = 1_000_000
	d.fitLayer(rates, 2, 1, now.Add(time.Second))
	d.budget = 350_000
	d.fitLayer(rates, 2, 1, now.Add(2*time.Second))
	d.budget = 1_000_000
	if got := d.fitLayer(rates, 2, 1, now.Add(3500*time.Millisecond)); got != 1 {
		t.Fatalf("moved up %v after a dip: layer %d", 1500*time.Millisecond, got)
	}
}
