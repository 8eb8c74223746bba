package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// pumpLayers publishes track "cam" of p in the layers rids and writes
// packet n of each every 20 ms (a keyframe every 10, the packet index
// n<<2 | layer in the last 4 bytes) until the test ends.
func pumpLayers(t *testing.T, p *sfuPeer, rids ...string) {
	t.Helper()
	var layers []*webrtc.TrackLocalStaticRTP
	var tl []webrtc.TrackLocal
	for _, rid := range rids {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", p.id, webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		layers, tl = append(layers, tr), append(tl, tr)
	}
	sender, err := p.c.PublishSimulcast(tl...)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, p.name+"'s offer answered", 20*time.Second, func() bool {
		pc := p.c.PubPC()
		return pc.SignalingState() == webrtc.SignalingStateStable && pc.RemoteDescription() != nil
	})
	hdr, err := p.c.SimulcastHeader(sender)
	if err != nil {
		t.Fatal(err)
	}
	write := func(n uint32) {
		for i, tr := range layers {
			payload := make([]byte, 12)
			payload[0], payload[1], payload[2] = 0x10, 1, byte(i)
			if n%10 == 0 {
				payload[1] = 0 // a keyframe
			}
			binary.BigEndian.PutUint32(payload[8:], n<<2|uint32(i))                                                    //nolint:gosec // i < 3
			h := rtp.Header{Version: 2, SequenceNumber: uint16(1000*i) + uint16(n), Timestamp: 3000 * n, Marker: true} //nolint:gosec // wraps
			hdr.Set(&h, rids[i])
			_ = tr.WriteRTP(&rtp.Packet{Header: h, Payload: payload})
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var n uint32
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				write(n)
				n++
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// TestSFULayersPausedThroughSignaling: a pion publisher of three simulcast
// layers and a subscriber that asks for low, both through the WebSocket
// signaling service: the publisher gets the SFU's "layers" message in an
// sfu frame, pausing medium and high (switchboard_sfu_layers_paused 2 on
// the server's /metrics), while the subscriber keeps receiving; asking
// for high makes it active again.
func TestSFULayersPausedThroughSignaling(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{RoomModes: sfuModes})
	room := "big-" + rand.Text()[:8]
	pub := newSFUPeer(t, srv, "pub", room)
	sub := newSFUPeer(t, srv, "sub", room)
	if err := sub.c.SetQuality(pub.id, "low"); err != nil {
		t.Fatal(err)
	}
	pumpLayers(t, pub, "low", "medium", "high")
	track := pub.id + ":cam"
	waitUntil(t, "sub receiving", 30*time.Second, func() bool { return len(sub.received(track)) > 20 })
	waitUntil(t, "pub asked to pause medium and high", 20*time.Second, func() bool {
		l, ok := pub.c.LastLayers("cam")
		return ok && slices.Equal(slices.Sorted(slices.Values(l.Inactive)), []string{"high", "medium"}) && slices.Equal(l.Active, []string{"low"})
	})
	waitUntil(t, "layers_paused 2 on /metrics", 10*time.Second, func() bool {
		return sumMetric(scrapeMetrics(t, srv.URL), "switchboard_sfu_layers_paused") == 2
	})
	n := len(sub.received(track))
	waitUntil(t, "sub still receiving", 10*time.Second, func() bool { return len(sub.received(track)) > n+20 })

	if err := sub.c.SetQuality(pub.id, "high"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "pub asked to send high again", 10*time.Second, func() bool {
		l, ok := pub.c.LastLayers("cam")
		return ok && slices.Contains(l.Active, "high")
	})
	n = len(sub.received(track))
	waitUntil(t, "sub receiving on", 10*time.Second, func() bool { return len(sub.received(track)) > n+20 })
}
