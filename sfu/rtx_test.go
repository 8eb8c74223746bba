package sfu_test

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// recvCounts reads what r counted of index idx: on the media SSRC, as
// RTX, the RTX payload's length, and the sequence numbers of idx-1, idx
// and idx+1 (0 where missing).
func recvCounts(r *recv, idx uint32) (plain, rtx, rtxLen int, seqs [3]uint16, ok [3]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range 3 {
		seqs[i], ok[i] = r.seqOff[idx+uint32(i)-1]
	}
	return r.plain[idx], r.rtx[idx], r.rtxLen[idx], seqs, ok
}

// dropOne puts sub (with subOpts) and pub (with pubOpts, publishing VP8
// track "cam", written every 20 ms until the test ends) in room and, once
// sub gets the video, has the dropper whose from and dropped are given
// drop a packet five ahead. It returns sub's track, the source and the
// index dropped.
func dropOne(t *testing.T, s *sfu.SFU, room string, subOpts, pubOpts peerOpts, from *atomic.Uint32, dropped *atomic.Int64) (*recv, *source, uint32) {
	t.Helper()
	from.Store(1 << 30)
	dropped.Store(-1)
	sub := newPeer(t, s, room, "sub", subOpts)
	pub := newPeer(t, s, room, "pub", pubOpts)
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	t.Cleanup(func() { close(stop); <-done })
	eventually(t, "video at the subscriber", 30*time.Second, hasPackets(sub, "pub:cam", 5))
	from.Store(video.sent() + 5)
	eventually(t, "a packet dropped", 20*time.Second, func() bool { return dropped.Load() >= 0 })
	return sub.track("pub:cam"), video, uint32(dropped.Load())
}

// A subscriber that negotiated RTX (pion's, as Chromium does) and lost a
// packet gets it back on its RTX SSRC, with the sequence number it knows
// (pion unwraps it: the OSN is right if the numbers are continuous) and
// the whole payload; one that did not negotiate RTX gets it on the media
// SSRC, as before RTX.
func TestRTXToSubscriber(t *testing.T) {
	for _, c := range []struct {
		name  string
		noRTX bool
	}{{"rtx", false}, {"no rtx", true}} {
		t.Run(c.name, func(t *testing.T) {
			s, reg := newSFU(t, sfu.Config{})
			d := &dropper{}
			r, video, lost := dropOne(t, s, "ns/rtx-sub", peerOpts{before: []interceptor.Factory{d}, noRTX: c.noRTX}, peerOpts{}, &d.from, &d.dropped)
			eventually(t, "the lost packet and the next one", 20*time.Second, func() bool {
				plain, rtx, _, _, ok := recvCounts(r, lost)
				return plain+rtx > 0 && ok[2]
			})
			plain, rtx, n, seqs, ok := recvCounts(r, lost)
			if !ok[0] || seqs[1] != seqs[0]+1 || seqs[2] != seqs[1]+1 {
				t.Fatalf("sequence numbers around the lost packet: %v (%v)", seqs, ok)
			}
			sent := counter(t, reg, "switchboard_sfu_rtx_sent_total")
			answered := counter(t, reg, "switchboard_sfu_nacks_answered_total")
			if c.noRTX {
				if rtx != 0 || plain == 0 || sent != 0 || answered < 1 {
					t.Fatalf("without RTX: %d plain, %d RTX; rtx_sent_total %v, nacks_answered_total %v", plain, rtx, sent, answered)
				}
				return
			}
			if rtx == 0 || n != video.size || sent < 1 || answered < sent {
				t.Fatalf("with RTX: %d plain, %d RTX of %d bytes (want %d); rtx_sent_total %v, nacks_answered_total %v",
					plain, rtx, n, video.size, sent, answered)
			}
		})
	}
}

// sendDropper is a publisher's interceptor nearest the network: it drops
// the first original video packet whose index is at least from, once,
// so that the server NACKs it and pion's responder resends it as RTX.
// With garbage set, the RTX stream also carries, before each real RTX
// packet, an empty one, a one-byte one, and a packet the server has
// already, with an unknown payload type and with the RTX one; and every
// real one twice: the server must drop all but one copy, and go on.
type sendDropper struct {
	interceptor.NoOp
	garbage bool
	from    atomic.Uint32
	dropped atomic.Int64 // the index dropped, -1 before
	rtx     atomic.Int64 // RTX packets seen

	mu      sync.Mutex
	lastSeq uint16 // the last original's sequence number
	next    uint16 // the RTX stream's numbers, when garbage
	started bool
}

func (d *sendDropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *sendDropper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType != "video/VP8" {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		switch {
		case h.SSRC == info.SSRC:
			d.mu.Lock()
			d.lastSeq = h.SequenceNumber
			d.mu.Unlock()
			if len(p) >= 4 && d.dropped.Load() < 0 {
				if idx := binary.BigEndian.Uint32(p); idx >= d.from.Load() && d.dropped.CompareAndSwap(-1, int64(idx)) {
					return len(p), nil // lost on the way
				}
			}
		case info.SSRCRetransmission != 0 && h.SSRC == info.SSRCRetransmission:
			d.rtx.Add(1)
			if d.garbage {
				return d.writeGarbage(h, p, a, w)
			}
		}
		return w.Write(h, p, a)
	})
}

func (d *sendDropper) writeGarbage(h *rtp.Header, p []byte, a interceptor.Attributes, w interceptor.RTPWriter) (int, error) {
	d.mu.Lock()
	if !d.started {
		d.next, d.started = h.SequenceNumber, true
	}
	old := d.lastSeq - 3 // arrived: a copy of it is a duplicate
	d.mu.Unlock()
	write := func(pt uint8, payload []byte) {
		c := *h
		d.mu.Lock()
		c.SequenceNumber = d.next
		d.next++
		d.mu.Unlock()
		c.PayloadType = pt
		_, _ = w.Write(&c, payload, a)
	}
	osn := make([]byte, 2, 2+len(p))
	binary.BigEndian.PutUint16(osn, old)
	write(h.PayloadType, nil)
	write(h.PayloadType, []byte{1})
	copied := append(osn, p[min(2, len(p)):]...)
	write(77, copied) // pion drops it before the SFU sees it: fine too
	write(h.PayloadType, copied)
	write(h.PayloadType, p)
	write(h.PayloadType, p)
	return len(p), nil
}

// noNACKs is a subscriber's interceptor that sends no NACK.
type noNACKs struct{ interceptor.NoOp }

func (n *noNACKs) NewInterceptor(string) (interceptor.Interceptor, error) { return n, nil }

func (*noNACKs) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		var kept []rtcp.Packet
		for _, p := range pkts {
			if _, nack := p.(*rtcp.TransportLayerNack); !nack {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			return 0, nil
		}
		return w.Write(kept, a)
	})
}

// A publisher that resends on its RTX SSRC (pion's responder, as
// Chromium does) has a packet the server lost on the way in unwrapped
// and forwarded once, in its place; garbage on its RTX stream (too short,
// an unknown payload type, copies) changes nothing for its subscribers.
func TestRTXFromPublisher(t *testing.T) {
	for _, c := range []struct {
		name    string
		garbage bool
	}{{"rtx", false}, {"garbage", true}} {
		t.Run(c.name, func(t *testing.T) {
			s, reg := newSFU(t, sfu.Config{})
			d := &sendDropper{garbage: c.garbage}
			// The subscriber sends no NACK (what the publisher is asked
			// for is the server's doing) and, having an interceptor, has
			// no SRTP replay protection: a copy the server forwarded
			// would reach it.
			r, video, lost := dropOne(t, s, "ns/rtx-pub", peerOpts{before: []interceptor.Factory{&noNACKs{}}}, peerOpts{before: []interceptor.Factory{d}}, &d.from, &d.dropped)
			eventually(t, "the lost packet at the subscriber", 20*time.Second, func() bool {
				plain, _, _, _, ok := recvCounts(r, lost)
				return plain > 0 && ok[2]
			})
			// Later packets flow, and copies had time to come.
			after := video.sent()
			eventually(t, "packets after the loss", 20*time.Second, func() bool {
				_, _, _, _, ok := recvCounts(r, after+1)
				return ok[1]
			})
			plain, _, _, seqs, _ := recvCounts(r, lost)
			if plain != 1 || seqs[1] != seqs[0]+1 || seqs[2] != seqs[1]+1 {
				t.Fatalf("the lost packet forwarded %d times on the media SSRC, numbers %v", plain, seqs)
			}
			nacks := counter(t, reg, "switchboard_sfu_publisher_nacks_total")
			repaired := counter(t, reg, "switchboard_sfu_rtx_received_total")
			dupes := counter(t, reg, "switchboard_sfu_duplicate_packets_total")
			if d.rtx.Load() < 1 || nacks < 1 || repaired < 1 {
				t.Fatalf("%d RTX packets sent; publisher_nacks_total %v, rtx_received_total %v", d.rtx.Load(), nacks, repaired)
			}
			if c.garbage && dupes < 2 {
				t.Fatalf("duplicate_packets_total %v, want the old packet and the second copy (%d RTX packets sent, rtx_received_total %v, publisher_nacks_total %v, bad_rtp_total %v)",
					dupes, d.rtx.Load(), repaired, nacks, counter(t, reg, "switchboard_sfu_bad_rtp_total"))
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			for idx, n := range r.plain {
				if n != 1 || idx > video.sent() {
					t.Fatalf("packet %d forwarded %d times (of %d sent)", idx, n, video.sent())
				}
			}
		})
	}
}
