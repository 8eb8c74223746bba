package sfu_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// A participant that joins gets the server's offer with the two data
// channels, and they open over the one UDP port.
func TestJoinOpensDataChannels(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	a := newPeer(t, s, "ns/r", "a", peerOpts{})
	waitData(t, a)
	if got := counter(t, reg, "switchboard_sfu_participants"); got != 1 {
		t.Fatalf("participants = %v, want 1", got)
	}
	a.leave()
	if got := counter(t, reg, "switchboard_sfu_participants"); got != 0 {
		t.Fatalf("participants after leave = %v, want 0", got)
	}
}

// checkContinuous asserts that a subscriber got every packet from the
// first it received up to last, with sequence numbers one apart.
func checkContinuous(t *testing.T, who string, r *recv, last uint32) {
	t.Helper()
	got := r.received()
	idx := make([]uint32, 0, len(got))
	for i := range got {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	if len(idx) == 0 {
		t.Fatalf("%s: nothing received", who)
	}
	first := idx[0]
	if want := int(last - first + 1); len(idx) != want || idx[len(idx)-1] != last {
		t.Fatalf("%s: got %d packets from %d to %d, want %d up to %d", who, len(idx), first, idx[len(idx)-1], want, last)
	}
	base := got[first]
	for _, i := range idx {
		if want := base + uint16(i-first); got[i] != want {
			t.Fatalf("%s: packet %d has sequence number %d, want %d (gap)", who, i, got[i], want)
		}
	}
}

// One publisher (VP8-like video and Opus), ten subscribers: every
// subscriber gets every packet sent after it started receiving, with
// continuous sequence numbers, up to the last one.
func TestOnePublisherTenSubscribers(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/big"
	var subs []*peer
	for i := range 10 {
		subs = append(subs, newPeer(t, s, room, fmt.Sprintf("sub%d", i), peerOpts{}))
	}
	pub := newPeer(t, s, room, "pub", peerOpts{})
	video := publish(t, pub, "video", "cam")
	audio := publish(t, pub, "audio", "mic")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video, audio)
	ids := []string{"pub:cam", "pub:mic"}
	eventually(t, "every subscriber receiving both tracks", 30*time.Second, func() bool {
		for _, p := range subs {
			for _, id := range ids {
				if r := p.track(id); r == nil || len(r.received()) == 0 {
					return false
				}
			}
		}
		return true
	})
	time.Sleep(1 * time.Second) // a second more of steady traffic to everyone
	close(stop)
	<-done
	lastV, lastA := video.sent()-1, audio.sent()-1
	eventually(t, "the last packets", 20*time.Second, func() bool {
		for _, p := range subs {
			for i, id := range ids {
				last := []uint32{lastV, lastA}[i]
				if _, ok := p.track(id).received()[last]; !ok {
					return false
				}
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // late retransmissions, if any
	for _, p := range subs {
		checkContinuous(t, p.id+" video", p.track("pub:cam"), lastV)
		checkContinuous(t, p.id+" audio", p.track("pub:mic"), lastA)
		info := p.c.Tracks()["pub:cam"]
		if info.Peer != "pub" || info.Kind != "video" || info.Stream != "pub" {
			t.Fatalf("%s: offer's track info %+v", p.id, info)
		}
		if got := p.track("pub:cam").track.Remote.StreamID(); got != "pub" {
			t.Fatalf("%s: stream id %q, want the publisher's peer id", p.id, got)
		}
	}
	if got := counter(t, reg, "switchboard_sfu_forwarded_packets_total"); got < 10*2*20 {
		t.Fatalf("forwarded_packets_total = %v", got)
	}
	if got := counter(t, reg, "switchboard_sfu_tracks"); got != 2 {
		t.Fatalf("tracks = %v, want 2", got)
	}
}
