package sfu_test

import (
	"encoding/binary"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

func (r *recv) layerCount(l byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.layers[l]
}

// seqGap returns a hole in the outgoing numbers seen, if any.
func (r *recv) seqGap() (uint16, bool) {
	r.mu.Lock()
	seqs := make([]uint16, 0, len(r.seqs))
	for s := range r.seqs {
		seqs = append(seqs, s)
	}
	r.mu.Unlock()
	slices.Sort(seqs)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			return seqs[i-1], true
		}
	}
	return 0, false
}

// simulcast is a published simulcast track: its layers and the mid and
// rid header extensions the test writes.
type simulcast struct {
	layers []*webrtc.TrackLocalStaticRTP
	rids   []string
	hdr    sfuclient.SimulcastHeader
	off    *atomic.Uint32 // layers not sent, a bit per layer
	sizes  []int          // payload bytes by layer (at least 8), if set
	sent   *atomic.Uint32 // packets written per layer so far (pump)
}

// publishSimulcast publishes track "cam" as three layers, low, medium and
// high, and waits for the answer.
func publishSimulcast(t *testing.T, pub *peer) simulcast {
	t.Helper()
	sc := simulcast{rids: []string{"low", "medium", "high"}, off: new(atomic.Uint32), sent: new(atomic.Uint32)}
	var tl []webrtc.TrackLocal
	for _, rid := range sc.rids {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", pub.id, webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		sc.layers = append(sc.layers, tr)
		tl = append(tl, tr)
	}
	sender, err := pub.c.PublishSimulcast(tl...)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the publisher's offer answered", 20*time.Second, func() bool {
		return pub.c.PubPC().SignalingState() == webrtc.SignalingStateStable
	})
	if sc.hdr, err = pub.c.SimulcastHeader(sender); err != nil {
		t.Fatal(err)
	}
	return sc
}

// write sends packet n of every layer (payload 0x10, keyframe flag,
// layer, 0, n), a keyframe every 10.
func (sc simulcast) write(n uint32) {
	for i, tr := range sc.layers {
		if sc.off.Load()&(1<<i) != 0 {
			continue
		}
		kf := byte(1)
		if n%10 == 0 {
			kf = 0
		}
		h := rtp.Header{Version: 2, SequenceNumber: uint16(1000*i) + uint16(n), Timestamp: 3000 * n, Marker: true}
		sc.hdr.Set(&h, sc.rids[i])
		size := 8
		if i < len(sc.sizes) {
			size = max(size, sc.sizes[i])
		}
		payload := make([]byte, size)
		payload[0], payload[1], payload[2] = 0x10, kf, byte(i)
		binary.BigEndian.PutUint32(payload[4:], n)
		_ = tr.WriteRTP(&rtp.Packet{Header: h, Payload: payload})
	}
}

// pump writes the layers' packets every 20 ms until stop is closed.
func (sc simulcast) pump(stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint32(0); ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sc.write(n)
			sc.sent.Store(n + 1)
		}
	}()
	return done
}

// A simulcast publisher (low, medium, high): a subscriber asking for low
// gets low, one that asks nothing gets high, and a switch up happens at a
// keyframe with no gap in the sequence numbers.
func TestSimulcastLayers(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/simulcast"
	hi := newPeer(t, s, room, "hi", peerOpts{})
	lo := newPeer(t, s, room, "lo", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	if err := lo.c.SetQuality("pub", "low"); err != nil { // pub must be in the room
		t.Fatal(err)
	}
	sc := publishSimulcast(t, pub)
	stop := make(chan struct{})
	done := sc.pump(stop)
	defer func() { close(stop); <-done }()

	eventually(t, "hi on the high layer, lo on the low one", 30*time.Second, func() bool {
		h, l := hi.track("pub:cam"), lo.track("pub:cam")
		return h != nil && l != nil && h.layerCount(2) > 20 && l.layerCount(0) > 20
	})
	l := lo.track("pub:cam")
	m0, m2 := l.layerCount(1), l.layerCount(2)
	time.Sleep(500 * time.Millisecond)
	if l.layerCount(1) != m0 || l.layerCount(2) != m2 {
		t.Fatalf("lo still gets other layers: %v", l.layers)
	}
	if err := lo.c.SetQuality("pub", "high"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lo switched up", 20*time.Second, func() bool { return l.layerCount(2) > m2+20 })
	eventually(t, "layer message high", 10*time.Second, func() bool {
		ly, ok := lo.lastLayer("pub:cam")
		return ok && ly.Layer == "high" && !ly.Paused
	})
	if seq, gap := l.seqGap(); gap {
		t.Fatalf("sequence gap after %d across the switches", seq)
	}
	if got := counter(t, reg, "switchboard_sfu_layer_switches_total"); got < 2 {
		t.Fatalf("layer_switches_total = %v", got)
	}
	if got := counter(t, reg, "switchboard_sfu_tracks"); got != 1 {
		t.Fatalf("tracks = %v, want 1 for three layers", got)
	}
}

// A browser stops its top simulcast layer when its uplink estimate or its
// CPU runs short: a subscriber on that layer moves to the best layer still
// flowing, without a gap in its sequence numbers, and back up when the
// layer flows again; the lower layers, paused at the publisher while
// nobody watched them, are resumed for it.
func TestSimulcastLayerStops(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/simulcast-stop"
	hi := newPeer(t, s, room, "hi", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	sc := publishSimulcast(t, pub)
	stop := make(chan struct{})
	done := sc.pump(stop)
	defer func() { close(stop); <-done }()

	eventually(t, "hi on the high layer", 30*time.Second, func() bool {
		h := hi.track("pub:cam")
		return h != nil && h.layerCount(2) > 20
	})
	h := hi.track("pub:cam")
	// Nobody watches low and medium: the SFU pauses them at the publisher,
	// and must resume them when the layer it wants stops.
	eventually(t, "low and medium paused at the publisher", 20*time.Second, inactiveAre(pub, "low", "medium"))
	sc.off.Store(1 << 2) // the high layer stops
	m1 := h.layerCount(1)
	eventually(t, "hi moved to medium", 20*time.Second, func() bool { return h.layerCount(1) > m1+20 })
	eventually(t, "layer message medium", 10*time.Second, func() bool {
		ly, ok := hi.lastLayer("pub:cam")
		return ok && ly.Layer == "medium" && !ly.Paused
	})
	sc.off.Store(1<<2 | 1<<1) // medium stops too
	m0 := h.layerCount(0)
	eventually(t, "hi moved to low", 20*time.Second, func() bool { return h.layerCount(0) > m0+20 })
	sc.off.Store(0) // every layer again
	m2 := h.layerCount(2)
	eventually(t, "hi back on high", 20*time.Second, func() bool { return h.layerCount(2) > m2+20 })
	if seq, gap := h.seqGap(); gap {
		t.Fatalf("sequence gap after %d across the switches", seq)
	}
}
