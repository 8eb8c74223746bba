package sfu_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

type sfuclientLayer = sfuclient.Layer

func (p *peer) lastLayer(track string) (sfuclientLayer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.layers) - 1; i >= 0; i-- {
		if p.layers[i].Track == track {
			return p.layers[i], true
		}
	}
	return sfuclientLayer{}, false
}

// A publisher that stops sending is reported paused to its subscribers,
// and resumed when packets come back.
func TestStalledPublisherPaused(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{StallTimeout: 500 * time.Millisecond})
	const room = "ns/stall"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	eventually(t, "video", 30*time.Second, hasPackets(sub, "pub:cam", 5))
	close(stop)
	<-done
	eventually(t, "layer paused", 20*time.Second, func() bool {
		l, ok := sub.lastLayer("pub:cam")
		return ok && l.Paused && l.Peer == "pub" && l.Layer == "none"
	})
	if got := counter(t, reg, "switchboard_sfu_subscribers_paused"); got != 1 {
		t.Fatalf("subscribers_paused = %v, want 1", got)
	}
	stop = make(chan struct{})
	done = pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "layer resumed", 20*time.Second, func() bool {
		l, ok := sub.lastLayer("pub:cam")
		return ok && !l.Paused && l.Layer == "high"
	})
	if got := counter(t, reg, "switchboard_sfu_subscribers_paused"); got != 0 {
		t.Fatalf("subscribers_paused = %v, want 0", got)
	}
}

// A subscriber that shows a video at 0x0 gets none of it until it shows it
// again.
func TestSizeZeroPausesVideo(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	sub, _ := videoCall(t, s, "ns/size", peerOpts{})
	if err := sub.c.SetSize("pub:cam", 0, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "layer none", 10*time.Second, func() bool {
		l, ok := sub.lastLayer("pub:cam")
		return ok && l.Paused
	})
	time.Sleep(300 * time.Millisecond)
	n := len(sub.track("pub:cam").received())
	time.Sleep(500 * time.Millisecond)
	if m := len(sub.track("pub:cam").received()); m > n+2 {
		t.Fatalf("got %d packets while hidden", m-n)
	}
	if err := sub.c.SetSize("pub:cam", 640, 360); err != nil {
		t.Fatal(err)
	}
	eventually(t, "video again", 20*time.Second, hasPackets(sub, "pub:cam", n+10))
	// The munger closed the gap: still no hole in the numbers.
	got := sub.track("pub:cam").received()
	seqs := make([]uint16, 0, len(got))
	for _, q := range got {
		seqs = append(seqs, q)
	}
	slices.Sort(seqs)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence gap %d -> %d across the pause", seqs[i-1], seqs[i])
		}
	}
}

// Audio levels make the publisher an active speaker, announced to the
// room; silence takes it away.
func TestSpeakers(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/speak"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	audio := newSource(t, pub.id, "audio", "mic")
	sender, err := pub.c.Publish(audio.track)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the publisher's offer answered", 10*time.Second, func() bool {
		return pub.c.PubPC().SignalingState() == webrtc.SignalingStateStable
	})
	var id uint8
	for _, x := range sender.GetParameters().HeaderExtensions {
		if x.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
			id = uint8(x.ID)
		}
	}
	if id == 0 {
		t.Fatal("audio level extension not negotiated")
	}
	var level atomic.Uint32
	level.Store(20)
	audio.ext = func(h *rtp.Header) { _ = h.SetExtension(id, []byte{0x80 | byte(level.Load())}) }
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, audio)
	defer func() { close(stop); <-done }()
	lastSpeakers := func() ([]string, bool) {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		if len(sub.speakers) == 0 {
			return nil, false
		}
		return sub.speakers[len(sub.speakers)-1], true
	}
	eventually(t, "pub speaking", 30*time.Second, func() bool {
		l, ok := lastSpeakers()
		return ok && slices.Equal(l, []string{"pub"})
	})
	level.Store(127)
	eventually(t, "nobody speaking", 20*time.Second, func() bool {
		l, ok := lastSpeakers()
		return ok && len(l) == 0
	})
	sub.mu.Lock()
	n := len(sub.speakers)
	sub.mu.Unlock()
	time.Sleep(700 * time.Millisecond)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.speakers) != n {
		t.Fatalf("speakers sent again without a change: %v", sub.speakers[n-1:])
	}
}
