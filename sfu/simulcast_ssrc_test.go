//go:build !race

// pion v4.2.26 itself races when a known RID comes with a new SSRC: its
// receiveForRid replaces the track's read stream while the track is being
// read (rtpreceiver.go:582 against readRTP, 544), with no lock, so this
// test cannot run under -race. It runs in a plain `go test`.

package sfu_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// ssrcChanger is an interceptor (nearest the network) that, once on, gives
// each packet of the low layer a new SSRC: pion then fires OnTrack again
// for the same track, once per new SSRC.
type ssrcChanger struct {
	interceptor.NoOp
	ridID atomic.Uint32 // the rid extension's id; 0: off
	next  atomic.Uint32
}

func (c *ssrcChanger) NewInterceptor(string) (interceptor.Interceptor, error) { return c, nil }

func (c *ssrcChanger) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if id := uint8(c.ridID.Load()); id != 0 && string(h.GetExtension(id)) == "low" && c.next.Load() < 30 {
			h.SSRC = 0x5000_0000 + c.next.Add(1)
		}
		return w.Write(h, payload, a)
	})
}

// pion's repeated OnTrack for a layer whose SSRC changed is ignored: no
// new UpTrack (each cost a 762 KiB cache and two goroutines), no layer
// added, no error to the publisher; the other layers go on.
func TestSimulcastNewSSRCIgnored(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/newssrc"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	changer := &ssrcChanger{}
	pub := newPeer(t, s, room, "pub", peerOpts{before: []interceptor.Factory{changer}})
	sc := publishSimulcast(t, pub)
	stop := make(chan struct{})
	done := sc.pump(stop)
	defer func() { close(stop); <-done }()
	eventually(t, "three layers", 30*time.Second, func() bool { return sfu.TrackEntries(s, room) == 3 })
	eventually(t, "video at the subscriber", 30*time.Second, func() bool {
		r := sub.track("pub:cam")
		return r != nil && r.layerCount(2) > 5
	})
	changer.ridID.Store(uint32(sc.hdr.RIDID))
	eventually(t, "the new SSRCs sent", 30*time.Second, func() bool { return changer.next.Load() >= 30 })
	eventually(t, "packets of new SSRCs read", 20*time.Second, func() bool {
		return counter(t, reg, "switchboard_sfu_bad_rtp_total") > 0
	})
	if n := sfu.TrackEntries(s, room); n != 3 {
		t.Fatalf("%d layers in the room after new SSRCs, want 3", n)
	}
	if n := pub.errorCount(); n != 0 {
		t.Fatalf("the publisher got %d errors", n)
	}
	n := sub.track("pub:cam").layerCount(2)
	eventually(t, "the high layer still forwarded", 20*time.Second, func() bool {
		return sub.track("pub:cam").layerCount(2) > n+10
	})
}
