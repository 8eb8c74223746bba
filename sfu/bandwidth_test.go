package sfu_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// sendRTCP makes p's subscriber PC send what pkts returns (nothing when
// nil) every 200 ms, as a browser sends its feedback, until the test
// ends.
func sendRTCP(t *testing.T, p *peer, pkts func() []rtcp.Packet) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if ps := pkts(); ps != nil {
				_ = p.c.SubPC().WriteRTCP(ps)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// bandwidthCall has "hi" and "slow" subscribe to "pub"'s simulcast track
// "cam", its layers about 130, 290 and 450 kbit/s with headers (50
// packets a second), until both get the high layer; the layers flow until
// the test ends. o are the peers' options: hi's, slow's, pub's.
func bandwidthCall(t *testing.T, room string, cfg sfu.Config, o ...peerOpts) (reg *prometheus.Registry, sc simulcast, hi, slow *peer, h, l *recv) {
	t.Helper()
	o = append(o, make([]peerOpts, 3)...)
	s, reg := newSFU(t, cfg)
	hi = newPeer(t, s, room, "hi", o[0])
	slow = newPeer(t, s, room, "slow", o[1])
	pub := newPeer(t, s, room, "pub", o[2])
	sc = publishSimulcast(t, pub)
	sc.sizes = []int{300, 700, 1100}
	stop := make(chan struct{})
	done := sc.pump(stop)
	t.Cleanup(func() { close(stop); <-done })
	eventually(t, "both on the high layer", 30*time.Second, func() bool {
		h, l = hi.track("pub:cam"), slow.track("pub:cam")
		return h != nil && l != nil && h.layerCount(2) > 50 && l.layerCount(2) > 50
	})
	return reg, sc, hi, slow, h, l
}

// A subscriber whose REMB says it cannot keep up is moved down a layer,
// then paused when not even the low layer fits, then back up when its
// REMB rises, with no gap in its sequence numbers; another subscriber of
// the same publisher stays on the high layer and gets every packet.
func TestSimulcastBandwidth(t *testing.T) {
	reg, sc, _, slow, h, l := bandwidthCall(t, "ns/simulcast-bwe", sfu.Config{UseREMB: true})
	hiLow, hiMedium := h.layerCount(0), h.layerCount(1)
	n0 := sc.sent.Load()
	var remb atomic.Uint64
	ssrc := uint32(l.track.Remote.SSRC())
	sendRTCP(t, slow, func() []rtcp.Packet {
		if b := remb.Load(); b > 0 {
			return []rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: float32(b), SSRCs: []uint32{ssrc}}}
		}
		return nil
	})

	remb.Store(350_000) // medium fits, high does not
	m1 := l.layerCount(1)
	eventually(t, "slow moved down to medium", 20*time.Second, func() bool { return l.layerCount(1) > m1+20 })
	eventually(t, "layer message medium", 10*time.Second, func() bool {
		ly, ok := slow.lastLayer("pub:cam")
		return ok && ly.Layer == "medium" && !ly.Paused
	})
	if counter(t, reg, "switchboard_sfu_estimated_bandwidth_bps") == 0 {
		t.Fatal("no estimate observed")
	}

	remb.Store(60_000) // not even low fits
	eventually(t, "slow paused for bandwidth", 20*time.Second, func() bool {
		ly, ok := slow.lastLayer("pub:cam")
		return ok && ly.Layer == "none" && ly.Paused
	})
	if got := counter(t, reg, "switchboard_sfu_subscribers_paused_bandwidth"); got != 1 {
		t.Fatalf("subscribers_paused_bandwidth = %v, want 1", got)
	}
	if got := counter(t, reg, "switchboard_sfu_subscribers_paused"); got != 0 {
		t.Fatalf("subscribers_paused (stalled publishers) = %v, want 0", got)
	}
	total := func() int { return l.layerCount(0) + l.layerCount(1) + l.layerCount(2) }
	time.Sleep(300 * time.Millisecond) // what was in flight
	paused := total()
	time.Sleep(time.Second)
	if got := total(); got != paused {
		t.Fatalf("slow got %d packets while paused", got-paused)
	}

	remb.Store(2_000_000) // everything fits again
	m2 := l.layerCount(2)
	eventually(t, "slow back on high", 20*time.Second, func() bool { return l.layerCount(2) > m2+20 })
	eventually(t, "layer message high", 10*time.Second, func() bool {
		ly, ok := slow.lastLayer("pub:cam")
		return ok && ly.Layer == "high" && !ly.Paused
	})
	if got := counter(t, reg, "switchboard_sfu_subscribers_paused_bandwidth"); got != 0 {
		t.Fatalf("subscribers_paused_bandwidth = %v after resuming, want 0", got)
	}
	if seq, gap := l.seqGap(); gap {
		t.Fatalf("slow: sequence gap after %d across the switches", seq)
	}

	// hi: untouched, every high packet from before the first REMB to now.
	keptHigh(t, sc, h, n0, hiLow, hiMedium)
}

// keptHigh checks that h, a subscriber no limit applied to, gets every
// high-layer packet sc wrote from number n0 up to now, with no gap in its
// sequence numbers, and no packet of another layer beyond the lo and mid
// it had at n0.
func keptHigh(t *testing.T, sc simulcast, h *recv, n0 uint32, lo, mid int) {
	t.Helper()
	n1 := sc.sent.Load()
	missing := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		m := 0
		for n := n0; n < n1; n++ {
			if !h.frames[2<<24|n] {
				m++
			}
		}
		return m
	}
	eventually(t, fmt.Sprintf("hi to get all %d high packets written", n1-n0), 10*time.Second, func() bool { return missing() == 0 })
	if h.layerCount(0) != lo || h.layerCount(1) != mid {
		t.Fatalf("hi got other layers: %v", h.layers)
	}
	if seq, gap := h.seqGap(); gap {
		t.Fatalf("hi: sequence gap after %d", seq)
	}
}

// A subscriber whose receiver reports say it loses half its packets is
// moved down, then paused (the loss-based estimate, started from what it
// is sent, is cut at each report); the other subscriber stays on high.
func TestSimulcastBandwidthLoss(t *testing.T) {
	reg, _, _, slow, h, l := bandwidthCall(t, "ns/simulcast-loss", sfu.Config{})
	hiLow, hiMedium := h.layerCount(0), h.layerCount(1)
	ssrc := uint32(l.track.Remote.SSRC())
	sendRTCP(t, slow, func() []rtcp.Packet {
		return []rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: ssrc, FractionLost: 128}}}}
	})

	eventually(t, "slow moved off high", 20*time.Second, func() bool {
		ly, ok := slow.lastLayer("pub:cam")
		return ok && ly.Layer != "high"
	})
	eventually(t, "slow paused for bandwidth", 20*time.Second, func() bool {
		ly, ok := slow.lastLayer("pub:cam")
		return ok && ly.Layer == "none" && ly.Paused
	})
	if got := counter(t, reg, "switchboard_sfu_subscribers_paused_bandwidth"); got != 1 {
		t.Fatalf("subscribers_paused_bandwidth = %v, want 1", got)
	}
	if seq, gap := l.seqGap(); gap {
		t.Fatalf("slow: sequence gap after %d", seq)
	}
	m2 := h.layerCount(2)
	eventually(t, "hi still on high", 10*time.Second, func() bool { return h.layerCount(2) > m2+20 })
	if h.layerCount(0) != hiLow || h.layerCount(1) != hiMedium {
		t.Fatalf("hi got other layers: %v", h.layers)
	}
}
