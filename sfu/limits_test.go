package sfu_test

import (
	"errors"
	"testing"
	"time"

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
