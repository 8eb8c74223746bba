package sfu_test

import (
	"slices"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// pumpSimulcast publishes pub's simulcast track "cam" and writes its
// layers until the test ends.
func pumpSimulcast(t *testing.T, pub *peer) simulcast {
	t.Helper()
	sc := publishSimulcast(t, pub)
	stop := make(chan struct{})
	done := sc.pump(stop)
	t.Cleanup(func() { close(stop); <-done })
	return sc
}

// inactiveAre: the last "layers" message pub got for "cam" pauses these
// layers and no other.
func inactiveAre(pub *peer, rids ...string) func() bool {
	return func() bool {
		l, ok := pub.c.LastLayers("cam")
		if !ok {
			return false
		}
		got := slices.Sorted(slices.Values(l.Inactive))
		return slices.Equal(got, slices.Sorted(slices.Values(rids))) && len(l.Active)+len(l.Inactive) == 3
	}
}

// notReceived: the SFU receives none of these layers of pub's "cam".
func notReceived(s *sfu.SFU, room string, rids ...string) func() bool {
	return func() bool {
		for _, rid := range rids {
			if bps, ok := sfu.LayerBitrate(s, room, "pub", "cam", rid); !ok || bps > 0 {
				return false
			}
		}
		return true
	}
}

// A subscriber asking for low: the publisher is asked to pause medium and
// high, and stops sending them; asking for high resumes high, and the
// subscriber moves to it with no gap in its sequence numbers; hiding the
// video pauses every layer (and is no stall), showing it resumes high.
func TestDynacastPausesUnwatchedLayers(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{StallTimeout: 500 * time.Millisecond})
	const room = "ns/dynacast"
	lo := newPeer(t, s, room, "lo", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	if err := lo.c.SetQuality("pub", "low"); err != nil {
		t.Fatal(err)
	}
	pumpSimulcast(t, pub)

	var l *recv
	eventually(t, "lo on the low layer", 30*time.Second, func() bool {
		l = lo.track("pub:cam")
		return l != nil && l.layerCount(0) > 20
	})
	eventually(t, "the publisher asked to pause medium and high", 20*time.Second, inactiveAre(pub, "medium", "high"))
	if ls, _ := pub.c.LastLayers("cam"); !slices.Equal(ls.Active, []string{"low"}) {
		t.Fatalf("active = %v, want [low]", ls.Active)
	}
	eventually(t, "no medium or high packet reaching the server", 10*time.Second, notReceived(s, room, "medium", "high"))
	if got := counter(t, reg, "switchboard_sfu_layers_paused"); got != 2 {
		t.Fatalf("layers_paused = %v, want 2", got)
	}
	n0 := l.layerCount(0)
	eventually(t, "lo still on low", 10*time.Second, func() bool { return l.layerCount(0) > n0+20 })

	m2 := l.layerCount(2)
	if err := lo.c.SetQuality("pub", "high"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lo on high", 20*time.Second, func() bool { return l.layerCount(2) > m2+20 })
	eventually(t, "layer message high", 10*time.Second, func() bool {
		ly, ok := lo.lastLayer("pub:cam")
		return ok && ly.Layer == "high" && !ly.Paused
	})
	if seq, gap := l.seqGap(); gap {
		t.Fatalf("sequence gap after %d across the switch", seq)
	}
	eventually(t, "low and medium paused once lo is on high", 20*time.Second, inactiveAre(pub, "low", "medium"))

	if err := lo.c.SetSize("pub:cam", 0, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every layer paused", 20*time.Second, inactiveAre(pub, "low", "medium", "high"))
	eventually(t, "nothing reaching the server", 10*time.Second, notReceived(s, room, "low", "medium", "high"))
	if got := counter(t, reg, "switchboard_sfu_layers_paused"); got != 3 {
		t.Fatalf("layers_paused = %v, want 3", got)
	}
	time.Sleep(2 * 500 * time.Millisecond) // a stall, were the pause taken for one, would be told by now
	if got := counter(t, reg, "switchboard_sfu_subscribers_paused"); got != 0 {
		t.Fatalf("subscribers_paused = %v with every layer paused for want of viewers, want 0", got)
	}

	m2 = l.layerCount(2)
	if err := lo.c.SetSize("pub:cam", 1280, 720); err != nil {
		t.Fatal(err)
	}
	eventually(t, "high resumed", 10*time.Second, func() bool {
		ls, ok := pub.c.LastLayers("cam")
		return ok && slices.Contains(ls.Active, "high")
	})
	eventually(t, "lo gets high again", 20*time.Second, func() bool { return l.layerCount(2) > m2+20 })
	eventually(t, "layer message high after the pause", 10*time.Second, func() bool {
		ly, ok := lo.lastLayer("pub:cam")
		return ok && ly.Layer == "high" && !ly.Paused
	})
	if seq, gap := l.seqGap(); gap {
		t.Fatalf("sequence gap after %d across the pause", seq)
	}
}

// The only subscriber leaves: every layer is paused; a subscriber who
// joins later gets the track all the same.
func TestDynacastNobodyWatching(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/dynacast-alone"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	pumpSimulcast(t, pub)
	eventually(t, "sub on high", 30*time.Second, func() bool {
		h := sub.track("pub:cam")
		return h != nil && h.layerCount(2) > 20
	})

	sub.leave()
	eventually(t, "every layer paused", 20*time.Second, inactiveAre(pub, "low", "medium", "high"))
	eventually(t, "nothing reaching the server", 10*time.Second, notReceived(s, room, "low", "medium", "high"))
	if got := counter(t, reg, "switchboard_sfu_layers_paused"); got != 3 {
		t.Fatalf("layers_paused = %v, want 3", got)
	}

	late := newPeer(t, s, room, "late", peerOpts{})
	eventually(t, "late on high", 30*time.Second, func() bool {
		h := late.track("pub:cam")
		return h != nil && h.layerCount(2) > 20
	})
	if seq, gap := late.track("pub:cam").seqGap(); gap {
		t.Fatalf("late: sequence gap after %d", seq)
	}
}

// Two subscribers, one on low and one on high: only the medium layer,
// which nobody watches, is paused; the one on high gets every packet.
func TestDynacastTwoSubscribers(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/dynacast-two"
	hi := newPeer(t, s, room, "hi", peerOpts{})
	lo := newPeer(t, s, room, "lo", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{})
	if err := lo.c.SetQuality("pub", "low"); err != nil {
		t.Fatal(err)
	}
	sc := pumpSimulcast(t, pub)
	var h, l *recv
	eventually(t, "hi on high, lo on low", 30*time.Second, func() bool {
		h, l = hi.track("pub:cam"), lo.track("pub:cam")
		return h != nil && l != nil && h.layerCount(2) > 20 && l.layerCount(0) > 20
	})
	hiLow, hiMedium := h.layerCount(0), h.layerCount(1)
	n0 := sc.sent.Load()

	eventually(t, "medium paused, alone", 20*time.Second, inactiveAre(pub, "medium"))
	eventually(t, "no medium packet reaching the server", 10*time.Second, notReceived(s, room, "medium"))
	if got := counter(t, reg, "switchboard_sfu_layers_paused"); got != 1 {
		t.Fatalf("layers_paused = %v, want 1", got)
	}
	n1 := l.layerCount(0)
	eventually(t, "lo still on low", 10*time.Second, func() bool { return l.layerCount(0) > n1+20 })
	keptHigh(t, sc, h, n0, hiLow, hiMedium)
	if seq, gap := l.seqGap(); gap {
		t.Fatalf("lo: sequence gap after %d", seq)
	}
}
