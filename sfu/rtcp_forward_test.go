package sfu_test

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
)

// dropper is an interceptor (placed nearest the network) that drops the
// first video packet whose payload index is at least from, once: the
// NACK generator behind it sees a loss.
type dropper struct {
	interceptor.NoOp
	from    atomic.Uint32
	dropped atomic.Int64 // the index dropped, -1 before
}

func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if info.MimeType != "video/VP8" {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, a, err := r.Read(b, a)
			if err != nil {
				return n, a, err
			}
			var h rtp.Header
			off, err := h.Unmarshal(b[:n])
			if err == nil && n-off >= 4 && d.dropped.Load() < 0 {
				if idx := binary.BigEndian.Uint32(b[off:n]); idx >= d.from.Load() && d.dropped.CompareAndSwap(-1, int64(idx)) {
					continue // lost on the way
				}
			}
			return n, a, nil
		}
	})
}

// A packet lost on a subscriber's side is resent by the SFU from its cache
// when the subscriber NACKs it; the publisher is not asked.
func TestNACKAnsweredFromCache(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/nack"
	d := &dropper{}
	d.from.Store(1 << 30)
	d.dropped.Store(-1)
	sub := newPeer(t, s, room, "sub", peerOpts{before: []interceptor.Factory{d}})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "video at the subscriber", 30*time.Second, func() bool {
		r := sub.track("pub:cam")
		return r != nil && len(r.received()) > 5
	})
	d.from.Store(video.sent() + 5)
	eventually(t, "a packet dropped", 20*time.Second, func() bool { return d.dropped.Load() >= 0 })
	lost := uint32(d.dropped.Load())
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := sub.track("pub:cam").received()[lost]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("packet %d never recovered: nacks received %v, answered %v", lost,
				counter(t, reg, "switchboard_sfu_nacks_received_total"), counter(t, reg, "switchboard_sfu_nacks_answered_total"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := counter(t, reg, "switchboard_sfu_nacks_answered_total"); got < 1 {
		t.Fatalf("nacks_answered_total = %v, want at least 1", got)
	}
	// A real loss between publisher and server would be asked of the
	// publisher (not in the cache): not an error, but worth seeing.
	if got := counter(t, reg, "switchboard_sfu_nacks_forwarded_total"); got != 0 {
		t.Logf("nacks_forwarded_total = %v (losses before the SFU)", got)
	}
}

// Keyframe requests from many subscribers reach the publisher at most about
// once per 500 ms.
// A keyframe request that comes within the interval of the last one is
// deferred, not dropped: the publisher gets it once the interval is over.
func TestKeyframeRequestDeferred(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	sub, pub := videoCall(t, s, "ns/pli-later", peerOpts{})
	plis := func() int {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.plis
	}
	// The keyframe asked for the new subscriber, then one interval more, so
	// that the next request goes out at once.
	eventually(t, "the new subscriber's keyframe request", 10*time.Second, func() bool { return plis() >= 1 })
	time.Sleep(rtc.KeyframeInterval + 200*time.Millisecond)
	before := plis()
	ssrc := uint32(sub.track("pub:cam").track.Remote.SSRC())
	for range 2 { // the second within the interval of the first
		if err := sub.c.SubPC().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	eventually(t, "both keyframe requests at the publisher", 10*time.Second, func() bool { return plis() >= before+2 })
	time.Sleep(700 * time.Millisecond)
	if got := plis() - before; got != 2 {
		t.Fatalf("publisher got %d keyframe requests, want 2 (the second deferred)", got)
	}
}

func TestKeyframeRequestsRateLimited(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/pli"
	var subs []*peer
	for _, id := range []string{"s1", "s2", "s3", "s4", "s5"} {
		subs = append(subs, newPeer(t, s, room, id, peerOpts{}))
	}
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "video at every subscriber", 30*time.Second, func() bool {
		for _, p := range subs {
			if r := p.track("pub:cam"); r == nil || len(r.received()) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(600 * time.Millisecond) // past the keyframe asked for the new subscribers
	pub.mu.Lock()
	before := pub.plis
	pub.mu.Unlock()
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		for _, p := range subs {
			ssrc := uint32(p.track("pub:cam").track.Remote.SSRC())
			_ = p.c.SubPC().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	eventually(t, "a keyframe request at the publisher", 10*time.Second, func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.plis > before
	})
	time.Sleep(300 * time.Millisecond)
	pub.mu.Lock()
	got := pub.plis - before
	pub.mu.Unlock()
	if max := int(elapsed/(500*time.Millisecond)) + 2; got > max {
		t.Fatalf("publisher got %d keyframe requests in %v, want at most %d", got, elapsed, max)
	}
	if recv := counter(t, reg, "switchboard_sfu_plis_received_total"); recv < 50 {
		t.Fatalf("plis_received_total = %v, want many", recv)
	}
}

// The publisher is told its bitrate limit with REMB, shared among its
// video tracks.
func TestREMBLimitsPublisher(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{MaxBitratePerPublisher: 1_000_000})
	const room = "ns/remb"
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "a REMB of 1 Mbit/s", 30*time.Second, func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.remb > 900_000 && pub.remb <= 1_000_000
	})
}
