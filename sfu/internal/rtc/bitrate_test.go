package rtc

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestMeter(t *testing.T) {
	var m meter
	t0 := time.Unix(1000, 0)
	m.sample(t0, 99_999) // the first sample only starts the clock
	if got := m.bps.Load(); got != 0 {
		t.Fatalf("bitrate %d after one sample", got)
	}
	// 2500 bytes per 250 ms: 80 kbit/s.
	for i := 1; i <= 6; i++ {
		m.sample(t0.Add(time.Duration(i)*250*time.Millisecond), 2500)
	}
	if got := m.bps.Load(); got != 80_000 {
		t.Fatalf("bitrate %d, want 80000", got)
	}
	// The window is about a second: a stop shows within four samples.
	for i := 7; i <= 10; i++ {
		m.sample(t0.Add(time.Duration(i)*250*time.Millisecond), 0)
	}
	if got := m.bps.Load(); got != 0 {
		t.Fatalf("bitrate %d a second after the track stopped", got)
	}
}

// A subscriber's receiver report feeds the estimator with the loss of the
// down track's own SSRC (fakeCtx binds 0x5555), not another track's.
func TestReceiverReportFeedsEstimate(t *testing.T) {
	d, _ := newTestDown(t, discard{})
	d.bw.est.Sending(1_000_000)
	d.receiverReport(&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 0x1234, FractionLost: 255}}})
	if _, ok := d.bw.est.Estimate(time.Now()); ok {
		t.Fatal("another track's loss fed the estimate")
	}
	d.receiverReport(&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 0x5555, FractionLost: 128}}})
	if bps, ok := d.bw.est.Estimate(time.Now()); !ok || bps != 750_000 {
		t.Fatalf("estimate %v %v after 50%% loss from 1 Mbit/s, want 750000", bps, ok)
	}
	d.bw.remb(time.Now(), 200_000)
	if bps, _ := d.bw.est.Estimate(time.Now()); bps != 750_000 {
		t.Fatalf("estimate %v after a REMB with REMB off, want 750000 still", bps)
	}
	d.bw.useREMB = true
	d.bw.remb(time.Now(), 200_000)
	if bps, _ := d.bw.est.Estimate(time.Now()); bps != 200_000 {
		t.Fatalf("estimate %v after a REMB of 200000", bps)
	}
}
