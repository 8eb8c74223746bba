package sfu_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu"
)

func hasPackets(p *peer, id string, n int) func() bool {
	return func() bool {
		r := p.track(id)
		return r != nil && len(r.received()) >= n
	}
}

func (p *peer) isEnded(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended[id]
}

// A publisher leaving ends its tracks at every subscriber (a new offer
// without them), and the subscriber PC keeps working for the next one.
func TestPublisherLeaveEndsTracks(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/leave"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video, audio := publish(t, pub, "video", "cam"), publish(t, pub, "audio", "mic")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video, audio)
	eventually(t, "both tracks", 30*time.Second, func() bool { return hasPackets(sub, "pub:cam", 1)() && hasPackets(sub, "pub:mic", 1)() })
	close(stop)
	<-done
	pub.leave()
	eventually(t, "the tracks ended", 20*time.Second, func() bool {
		return sub.isEnded("pub:cam") && sub.isEnded("pub:mic") && len(sub.c.Tracks()) == 0
	})
	eventually(t, "no tracks on the server", 10*time.Second, func() bool {
		return counter(t, reg, "switchboard_sfu_tracks") == 0 && counter(t, reg, "switchboard_sfu_participants") == 1
	})

	pub2 := newPeer(t, s, room, "pub2", peerOpts{})
	v2 := publish(t, pub2, "video", "cam")
	stop = make(chan struct{})
	done = pump(20*time.Millisecond, stop, v2)
	defer func() { close(stop); <-done }()
	eventually(t, "the next publisher's track", 30*time.Second, hasPackets(sub, "pub2:cam", 5))
	// The server reuses the removed video's m-line: the SDP does not grow.
	if n := len(sub.c.SubPC().GetTransceivers()); n != 2 {
		t.Fatalf("%d transceivers at the subscriber after churn, want 2", n)
	}
}

// A publisher that unpublishes one track: the subscribers' offer drops it,
// the other track keeps flowing.
func TestUnpublishEndsTrack(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/unpub"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	audio := publish(t, pub, "audio", "mic")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video, audio)
	defer func() { close(stop); <-done }()
	eventually(t, "both tracks", 30*time.Second, func() bool { return hasPackets(sub, "pub:cam", 1)() && hasPackets(sub, "pub:mic", 1)() })
	eventually(t, "the publisher's offer answered", 10*time.Second, func() bool {
		return pub.c.PubPC().SignalingState().String() == "stable"
	})
	var sender = pub.c.PubPC().GetSenders()[0]
	if err := pub.c.Unpublish(sender); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the video track ended", 20*time.Second, func() bool {
		_, ok := sub.c.Tracks()["pub:cam"]
		return sub.isEnded("pub:cam") && !ok
	})
	n := len(sub.track("pub:mic").received())
	eventually(t, "audio still flowing", 20*time.Second, hasPackets(sub, "pub:mic", n+10))
}

// Bad JSON, bad SDP, malformed RTCP and UDP garbage from one client leave
// the others receiving.
func TestBadInputIsolated(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sfu.New(sfu.Config{UDP: conn, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const room = "ns/bad"
	good := newPeer(t, s, room, "good", peerOpts{})
	bad := newPeer(t, s, room, "bad", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "video at both", 30*time.Second, func() bool { return hasPackets(good, "pub:cam", 1)() && hasPackets(bad, "pub:cam", 1)() })

	for _, c := range []struct {
		msg  string
		want error
	}{
		{`{"kind":`, sfu.ErrBadMessage},
		{`{"kind":"dance"}`, sfu.ErrBadMessage},
		{`{"kind":"offer","pc":"pub","sdp":"v=0\r\nthis is not SDP"}`, sfu.ErrBadSDP},
		{`{"kind":"answer","pc":"sub","sdp":"v=0"}`, sfu.ErrBadMessage}, // no offer outstanding
		{`{"kind":"candidate","pc":"sub","candidate":{"candidate":"candidate:garbage"}}`, sfu.ErrBadMessage},
		{`{"kind":"size","track":"nope","width":1,"height":1}`, sfu.ErrNotFound},
	} {
		if err := s.Message(room, "bad", []byte(c.msg)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.msg, err, c.want)
		}
	}
	eventually(t, "error messages to the bad client", 10*time.Second, func() bool {
		bad.mu.Lock()
		defer bad.mu.Unlock()
		return len(bad.errors) == 6 && strings.HasPrefix(bad.errors[2], "bad_sdp: ")
	})
	good.mu.Lock()
	if len(good.errors) != 0 {
		t.Errorf("the good client got errors: %v", good.errors)
	}
	good.mu.Unlock()
	ssrc := uint32(bad.track("pub:cam").track.Remote.SSRC())
	for range 20 {
		_ = bad.c.SubPC().WriteRTCP([]rtcp.Packet{&rtcp.RawPacket{0x81, 0xcd, 0x00, 0x01, 0xde, 0xad}})
		_ = bad.c.SubPC().WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 0xffff}}}})
	}
	junk, err := net.Dial("udp4", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	for i := range 50 {
		_, _ = junk.Write([]byte{0x80, byte(i), 0xff, 0x00, 1, 2, 3})
	}
	n := len(good.track("pub:cam").received())
	eventually(t, "video still flowing to the good subscriber", 20*time.Second, hasPackets(good, "pub:cam", n+20))
	m := len(bad.track("pub:cam").received())
	eventually(t, "video still flowing to the bad one", 20*time.Second, hasPackets(bad, "pub:cam", m+20))
}

// A publisher candidate may come before the first publisher offer (pion
// sends candidates while the offer is being sent): kept, within a bound.
func TestCandidateBeforeOffer(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	if err := s.Join("ns/early", "a", func([]byte) bool { return true }); err != nil {
		t.Fatal(err)
	}
	defer s.Leave("ns/early", "a")
	msg := []byte(`{"kind":"candidate","pc":"pub","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`)
	for i := range 32 {
		if err := s.Message("ns/early", "a", msg); err != nil {
			t.Fatalf("candidate %d before the offer: %v", i, err)
		}
	}
	if err := s.Message("ns/early", "a", msg); !errors.Is(err, sfu.ErrLimit) {
		t.Fatalf("the 33rd: %v, want ErrLimit", err)
	}
}

// Leaving while Join makes the subscriber PC closes that PC (it used to be
// left open: the leak check at the end of the tests sees its goroutines).
func TestLeaveDuringJoin(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/racejoin"
	sfu.SetStartHook(func() { s.Leave(room, "x") })
	defer sfu.SetStartHook(nil)
	if err := s.Join(room, "x", func([]byte) bool { return true }); !errors.Is(err, sfu.ErrClosed) {
		t.Fatalf("join with a leave in the middle: %v, want ErrClosed", err)
	}
	sfu.SetStartHook(nil)
	// The room is usable and the id free again.
	if err := s.Join(room, "x", func([]byte) bool { return true }); err != nil {
		t.Fatal(err)
	}
	s.Leave(room, "x")
}
