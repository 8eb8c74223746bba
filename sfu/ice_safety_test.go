package sfu_test

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu"
)

func candidateMsg(pc, cand string) []byte {
	return []byte(fmt.Sprintf(`{"kind":"candidate","pc":%q,"candidate":{"candidate":%q,"sdpMid":"0","sdpMLineIndex":0}}`, pc, cand))
}

func (p *peer) errorCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.errors)
}

// A client's passive TCP candidate never makes the SFU connect to that
// address (no server-side request forgery through ICE-TCP), on either PC.
func TestNoDialToClientTCPCandidates(t *testing.T) {
	s := newSFUWithTCP(t)
	// The "internal service" a client would like the server to reach.
	victim, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var dialed atomic.Int32
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := victim.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	defer func() { victim.Close(); <-accepted }()

	const room = "ns/ssrf"
	pub := newPeer(t, s, room, "pub", peerOpts{})
	publish(t, pub, "video", "cam")
	eventually(t, "the publisher's offer answered", 20*time.Second, func() bool {
		return pub.c.PubPC().SignalingState() == webrtc.SignalingStateStable
	})
	waitData(t, pub)
	port := victim.Addr().(*net.TCPAddr).Port
	for _, pc := range []string{"pub", "sub"} {
		c := fmt.Sprintf("candidate:1 1 tcp 1518280447 127.0.0.1 %d typ host tcptype passive", port)
		if err := s.Message(room, "pub", candidateMsg(pc, c)); err != nil {
			t.Fatalf("%s: a passive TCP candidate refused: %v", pc, err)
		}
	}
	// pion dials a passive candidate as soon as it is added; give it far
	// more than that.
	time.Sleep(2 * time.Second)
	if n := dialed.Load(); n != 0 {
		t.Fatalf("the SFU connected %d times to a client's TCP candidate", n)
	}
}

// A PC takes at most 32 distinct remote candidates: the one over is
// refused with ErrLimit and an error message, repeats are free, mDNS names
// are taken (and ignored: the SFU does not resolve them), and the
// participant goes on.
func TestRemoteCandidateLimit(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/cands"
	a := newPeer(t, s, room, "a", peerOpts{})
	b := newPeer(t, s, room, "b", peerOpts{})
	waitData(t, a, b)
	var refused error
	sent := 0
	for i := 0; i < 40 && refused == nil; i++ {
		c := fmt.Sprintf("candidate:%d 1 udp 2122260223 169.254.7.%d 9 typ host", i, i+1)
		if i%4 == 0 {
			c = fmt.Sprintf("candidate:%d 1 udp 2122260223 %08x-0000-4000-8000-000000000000.local 9 typ host", i, i)
		}
		if err := s.Message(room, "a", candidateMsg("sub", c)); err != nil {
			refused = err
			break
		}
		sent++
		// A repeat costs nothing.
		if err := s.Message(room, "a", candidateMsg("sub", c)); err != nil {
			t.Fatalf("a repeated candidate: %v", err)
		}
	}
	if !errors.Is(refused, sfu.ErrLimit) {
		t.Fatalf("after %d candidates: %v, want ErrLimit", sent, refused)
	}
	if sent > 32 {
		t.Fatalf("%d candidates taken, at most 32", sent)
	}
	eventually(t, "an error message", 10*time.Second, func() bool { return a.errorCount() > 0 })
	if err := s.Message(room, "a", candidateMsg("sub", "candidate:x 1 udp 1 not-an-address 9 typ host")); !errors.Is(err, sfu.ErrBadMessage) && !errors.Is(err, sfu.ErrLimit) {
		t.Fatalf("a malformed candidate: %v", err)
	}
	// a still relays data.
	if err := a.c.SendData("", []byte("still here"), true, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b gets a's data", 10*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.data) == 1
	})
}
