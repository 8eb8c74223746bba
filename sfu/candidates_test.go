package sfu_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// Subscriber candidates that come before the client's answer are checked
// as they come (a malformed one is refused then, the 33rd with ErrLimit),
// and the answer that follows is applied whatever: the client gets the
// next offer. (A bad queued candidate used to fail the answer after it was
// applied, leaving the SFU waiting for an answer for ever.)
func TestSubCandidatesBeforeAnswer(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/subcands"
	x := newPeer(t, s, room, "x", peerOpts{noJoin: true})
	held := newQueue()
	if err := s.Join(room, "x", held.push); err != nil {
		t.Fatal(err)
	}
	offer, ok := held.pop()
	if !ok {
		t.Fatal("no offer")
	}
	if err := s.Message(room, "x", candidateMsg("sub", "candidate:garbage")); !errors.Is(err, sfu.ErrBadMessage) {
		t.Fatalf("a malformed candidate before the answer: %v, want ErrBadMessage", err)
	}
	var refused error
	for i := 0; i < 40 && refused == nil; i++ {
		refused = s.Message(room, "x", candidateMsg("sub", fmt.Sprintf("candidate:%d 1 udp 2122260223 169.254.9.%d 9 typ host", i, i+1)))
		if refused != nil && i != 32 {
			t.Fatalf("candidate %d refused: %v", i, refused)
		}
	}
	if !errors.Is(refused, sfu.ErrLimit) {
		t.Fatalf("the 33rd candidate before the answer: %v, want ErrLimit", refused)
	}
	// Now the client answers (and takes every later message as it comes).
	x.in.push(offer)
	fwd := make(chan struct{})
	go func() {
		defer close(fwd)
		for {
			m, ok := held.pop()
			if !ok {
				return
			}
			x.in.push(m)
		}
	}()
	defer func() { held.close(); <-fwd }()
	waitData(t, x)
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "the next offer's track at x", 30*time.Second, hasPackets(x, "pub:cam", 5))
}
