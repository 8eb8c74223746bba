package sfu_test

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/switchboard-rtc/switchboard/sfu"
)

func (p *peer) pliCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plis
}

// Malformed RTCP from a subscriber and from a publisher is counted and
// dropped: the subscriber's keyframe requests still reach the publisher
// afterwards (pion's ReadRTCP used to end the loop at the first one).
func TestMalformedRTCPKeepsLoops(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	sub, pub := videoCall(t, s, "ns/badrtcp", peerOpts{})
	// A transport-wide feedback too short to parse, to the track's SSRC:
	// pion's SRTCP session hands it to that stream whole.
	junk := func(ssrc uint32) []rtcp.Packet {
		return []rtcp.Packet{&rtcp.RawPacket{0x8f, 205, 0, 3, 0, 0, 0, 1, byte(ssrc >> 24), byte(ssrc >> 16), byte(ssrc >> 8), byte(ssrc), 0, 0, 0, 0}}
	}
	ssrc := uint32(sub.track("pub:cam").track.Remote.SSRC())
	pubSSRC := uint32(pub.c.PubPC().GetSenders()[0].GetParameters().Encodings[0].SSRC)
	for range 5 {
		if err := sub.c.SubPC().WriteRTCP(junk(ssrc)); err != nil {
			t.Fatal(err)
		}
		if err := pub.c.PubPC().WriteRTCP(junk(pubSSRC)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "bad RTCP counted", 10*time.Second, func() bool {
		return counter(t, reg, "switchboard_sfu_bad_rtcp_total") >= 10
	})
	before := pub.pliCount()
	eventually(t, "a keyframe request after the junk", 20*time.Second, func() bool {
		_ = sub.c.SubPC().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		return pub.pliCount() > before
	})
}

// inflater is an interceptor (nearest the network) that makes a packet
// whose payload starts with 0xbb 3,000 bytes long.
type inflater struct{ interceptor.NoOp }

func (f *inflater) NewInterceptor(string) (interceptor.Interceptor, error) { return f, nil }

func (f *inflater) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if len(payload) > 0 && payload[0] == 0xbb {
			payload = append(payload, make([]byte, 3000-len(payload))...)
		}
		return w.Write(h, payload, a)
	})
}

// An RTP packet larger than the server's buffer (1,500 bytes) is dropped;
// the track goes on. With pion's receive MTU (1,460) its DTLS/SRTP mux
// drops such a datagram first (it logs "short buffer"); the UpTrack's own
// io.ErrShortBuffer handling (count, go on; it used to end the track) is
// there for a larger MTU.
func TestOversizedRTPKeepsTrack(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/bigrtp"
	sub := newPeer(t, s, room, "sub", peerOpts{})
	pub := newPeer(t, s, room, "pub", peerOpts{before: []interceptor.Factory{&inflater{}}})
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	eventually(t, "video", 30*time.Second, hasPackets(sub, "pub:cam", 5))
	close(stop)
	<-done
	for range 3 {
		big := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: video.seq, Timestamp: video.ts, Marker: true}, Payload: []byte{0xbb, 1, 2, 3}}
		video.seq++
		if err := video.track.WriteRTP(big); err != nil {
			t.Fatal(err)
		}
	}
	n := len(sub.track("pub:cam").received())
	stop = make(chan struct{})
	done = pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "video after the big packets", 20*time.Second, hasPackets(sub, "pub:cam", n+20))
}
