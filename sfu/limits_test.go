package sfu_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// Every limit refuses with ErrLimit and leaves the rest working.
func TestLimits(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{MaxRooms: 1, MaxParticipantsPerRoom: 2, MaxPublishersPerRoom: 1, MaxTracksPerPublisher: 1})
	a := newPeer(t, s, "ns/one", "a", peerOpts{})
	b := newPeer(t, s, "ns/one", "b", peerOpts{})
	if err := s.Join("ns/two", "x", func([]byte) bool { return true }); !errors.Is(err, sfu.ErrLimit) {
		t.Fatalf("second room: %v, want ErrLimit", err)
	}
	if err := s.Join("ns/one", "c", func([]byte) bool { return true }); !errors.Is(err, sfu.ErrLimit) {
		t.Fatalf("third participant: %v, want ErrLimit", err)
	}
	if err := s.Join("ns/one", "a", func([]byte) bool { return true }); !errors.Is(err, sfu.ErrExists) {
		t.Fatalf("joining twice: %v, want ErrExists", err)
	}
	publish(t, a, "video", "cam")
	eventually(t, "a's offer answered", 10*time.Second, func() bool { return a.c.PubPC().SignalingState().String() == "stable" })
	mic := newSource(t, a.id, "audio", "mic")
	if _, err := a.c.Publish(mic.track); !errors.Is(err, sfu.ErrLimit) {
		t.Fatalf("second track: %v, want ErrLimit", err)
	}
	cam := newSource(t, b.id, "video", "cam")
	if _, err := b.c.Publish(cam.track); !errors.Is(err, sfu.ErrLimit) {
		t.Fatalf("second publisher: %v, want ErrLimit", err)
	}
	if err := s.Message("ns/one", "zed", []byte(`{"kind":"size","track":"a:cam","width":0,"height":0}`)); !errors.Is(err, sfu.ErrNotFound) {
		t.Fatalf("message from a stranger: %v, want ErrNotFound", err)
	}
	b.leave()
	a.leave()
	if err := s.Join("ns/two", "x", func([]byte) bool { return true }); err != nil {
		t.Fatalf("a room after the first emptied: %v", err)
	}
	s.Leave("ns/two", "x")
}

// The server-wide track limit refuses the track over it with an error
// message to its publisher; the track under it is forwarded.
func TestServerTrackLimit(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{MaxTracks: 1})
	const room = "ns/tracks"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video, audio := publish(t, pub, "video", "cam"), publish(t, pub, "audio", "mic")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video, audio)
	defer func() { close(stop); <-done }()
	eventually(t, "an error for the second track", 30*time.Second, func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return len(pub.errors) == 1
	})
	if got := counter(t, reg, "switchboard_sfu_tracks"); got != 1 {
		t.Fatalf("tracks = %v, want 1", got)
	}
	eventually(t, "one track forwarded", 20*time.Second, func() bool {
		return len(sub.c.Tracks()) == 1
	})
}

// A publisher's place is taken only by an offer that is answered, and
// given back when its offer sends nothing any more.
func TestPublisherPlaceReleased(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{MaxPublishersPerRoom: 1})
	const room = "ns/places"
	a := newPeer(t, s, room, "a", peerOpts{})
	b := newPeer(t, s, room, "b", peerOpts{})
	// Parses, sends video, but WebRTC refuses it (no ICE, no fingerprint).
	bad := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
	msg, _ := json.Marshal(map[string]string{"kind": "offer", "pc": "pub", "sdp": bad})
	for range 3 {
		if err := s.Message(room, "a", msg); !errors.Is(err, sfu.ErrBadSDP) {
			t.Fatalf("a's bad offer: %v, want ErrBadSDP", err)
		}
	}
	sender, err := b.c.Publish(newSource(t, b.id, "video", "cam").track)
	if err != nil {
		t.Fatalf("b publishing after a's refused offers: %v", err)
	}
	eventually(t, "b's offer answered", 20*time.Second, func() bool {
		return b.c.PubPC().SignalingState() == webrtc.SignalingStateStable
	})
	if _, err := a.c.Publish(newSource(t, a.id, "video", "cam").track); !errors.Is(err, sfu.ErrLimit) {
		t.Fatalf("a while b publishes: %v, want ErrLimit", err)
	}
	if err := b.c.Unpublish(sender); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's last offer answered", 20*time.Second, func() bool {
		return b.c.PubPC().SignalingState() == webrtc.SignalingStateStable
	})
	// (a's client is left with its refused offer: another participant.)
	c := newPeer(t, s, room, "c", peerOpts{})
	if _, err := c.c.Publish(newSource(t, c.id, "video", "cam").track); err != nil {
		t.Fatalf("c once b sends nothing: %v", err)
	}
}
