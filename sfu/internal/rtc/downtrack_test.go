package rtc

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/internal/conn"
	"github.com/switchboard-rtc/switchboard/sfu/internal/packetcache"
)

// fakeUp is an UpTrack with a cache and no network.
type fakeUp struct {
	cache     *packetcache.Cache
	keyframes int
	nacked    []uint16
}

func (f *fakeUp) ID() string                           { return "cam" }
func (f *fakeUp) Kind() string                         { return "video" }
func (f *fakeUp) MimeType() string                     { return webrtc.MimeTypeVP8 }
func (f *fakeUp) ClockRate() uint32                    { return 90000 }
func (f *fakeUp) SSRC() uint32                         { return 0xa }
func (f *fakeUp) RID() string                          { return "" }
func (f *fakeUp) AddDown(conn.DownTrack)               {}
func (f *fakeUp) RemoveDown(conn.DownTrack)            {}
func (f *fakeUp) Packet(seq uint16, b []byte) int      { return f.cache.Get(seq, b) }
func (f *fakeUp) NACK(s []uint16)                      { f.nacked = append(f.nacked, s...) }
func (f *fakeUp) RequestKeyframe() bool                { f.keyframes++; return true }
func (f *fakeUp) LimitBitrate(uint64)                  {}
func (f *fakeUp) Bitrate() uint64                      { return 0 }
func (f *fakeUp) LastPacket() time.Time                { return time.Time{} }
func (f *fakeUp) AudioLevel() (uint8, time.Time, bool) { return 0, time.Time{}, false }

// fakeWriter records what a DownTrack writes.
type fakeWriter struct{ hdrs []rtp.Header }

func (w *fakeWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.hdrs = append(w.hdrs, *h)
	return h.MarshalSize() + len(p), nil
}
func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

type fakeCtx struct {
	w    webrtc.TrackLocalWriter
	exts []webrtc.RTPHeaderExtensionParameter
}

func (c fakeCtx) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/vp8", ClockRate: 90000}, PayloadType: 98}}
}
func (c fakeCtx) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return c.exts }
func (c fakeCtx) SSRC() webrtc.SSRC                                      { return 0x5555 }
func (c fakeCtx) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c fakeCtx) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c fakeCtx) WriteStream() webrtc.TrackLocalWriter                   { return c.w }
func (c fakeCtx) ID() string                                             { return "x" }
func (c fakeCtx) RTCPReader() interceptor.RTCPReader                     { return nil }

// discard writes nowhere, for the allocation test and the benchmark.
type discard struct{}

func (discard) WriteRTP(h *rtp.Header, p []byte) (int, error) { return len(p), nil }
func (discard) Write(b []byte) (int, error)                   { return len(b), nil }

func newTestDown(t testing.TB, w webrtc.TrackLocalWriter) (*DownTrack, *fakeUp) {
	t.Helper()
	return newTestDownTWCC(t, w, &bandwidth{}, 0)
}

// newTestDownTWCC is newTestDown on the subscriber PC bw with the
// transport-wide sequence number negotiated as extension id twcc (0:
// not negotiated).
func newTestDownTWCC(t testing.TB, w webrtc.TrackLocalWriter, bw *bandwidth, twcc int) (*DownTrack, *fakeUp) {
	t.Helper()
	cache, err := packetcache.New(packetcache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	up := &fakeUp{cache: cache}
	d, err := newDownTrack(up, up.SSRC(), "pub:cam", "pub", &Counters{}, bw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := fakeCtx{w: w}
	if twcc != 0 {
		ctx.exts = []webrtc.RTPHeaderExtensionParameter{{URI: AudioLevelURI, ID: 1}, {URI: TransportCCURI, ID: twcc}}
	}
	c, err := d.Bind(ctx)
	if err != nil || c.PayloadType != 98 {
		t.Fatalf("bind: %v %v", c, err)
	}
	return d, up
}

func packet(seq uint16, ts uint32) *rtp.Packet {
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 0xa, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: true}, Payload: []byte{1, 2, 3, 4}}
	_ = p.Header.SetExtension(3, []byte{0x7f})
	return p
}

// A DownTrack writes the subscriber's SSRC and payload type, no foreign
// header extensions, and numbers without gaps across a pause; resuming
// asks for a keyframe.
func TestDownTrackRewrites(t *testing.T) {
	w := &fakeWriter{}
	d, up := newTestDown(t, w)
	now := time.Now()
	seq, ts := uint16(65530), uint32(1000)
	write := func(n int) {
		for range n {
			if err := d.WriteRTP(packet(seq, ts), now); err != nil {
				t.Fatal(err)
			}
			seq++
			ts += 3000
			now = now.Add(33 * time.Millisecond)
		}
	}
	write(5)
	d.SetPaused(true)
	write(5)
	d.SetPaused(false)
	write(5)
	if len(w.hdrs) != 10 {
		t.Fatalf("wrote %d packets, want 10", len(w.hdrs))
	}
	if up.keyframes != 1 {
		t.Fatalf("%d keyframe requests on resume, want 1", up.keyframes)
	}
	for i, h := range w.hdrs {
		if h.SSRC != 0x5555 || h.PayloadType != 98 || h.Extension || len(h.Extensions) != 0 {
			t.Fatalf("packet %d: %+v", i, h)
		}
		if i > 0 && h.SequenceNumber != w.hdrs[i-1].SequenceNumber+1 {
			t.Fatalf("gap at %d: %d after %d", i, h.SequenceNumber, w.hdrs[i-1].SequenceNumber)
		}
	}
}

// A NACK is answered from the cache with the number the subscriber knows;
// a packet the cache lacks is asked of the publisher.
func TestDownTrackNACK(t *testing.T) {
	w := &fakeWriter{}
	d, up := newTestDown(t, w)
	now := time.Now()
	for i := range 10 {
		p := packet(uint16(500+i), uint32(i*3000))
		b, _ := p.Marshal()
		if i != 7 { // 7 never reached the cache
			_ = up.cache.Store(p.SequenceNumber, b)
		}
		_ = d.WriteRTP(p, now)
	}
	lost := w.hdrs[3].SequenceNumber
	missing := w.hdrs[7].SequenceNumber
	w.hdrs = nil
	misses := d.nack(&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{lost, missing})}, make([]byte, 1500), nil, 0xa)
	if len(w.hdrs) != 1 || w.hdrs[0].SequenceNumber != lost || w.hdrs[0].SSRC != 0x5555 {
		t.Fatalf("resent %+v, want the packet numbered %d", w.hdrs, lost)
	}
	if len(misses) != 1 || misses[0] != 507 {
		t.Fatalf("misses %v, want source 507", misses)
	}
}

// The forwarding path allocates nothing per packet, transport-wide
// sequence number included.
func TestWriteRTPAllocations(t *testing.T) {
	d, _ := newTestDownTWCC(t, discard{}, &bandwidth{hist: newSendHistory(time.Now())}, 3)
	p := packet(1, 0)
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		p.SequenceNumber++
		p.Timestamp += 3000
		_ = d.WriteRTP(p, now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

func BenchmarkDownTrackWriteRTP(b *testing.B) {
	d, _ := newTestDownTWCC(b, discard{}, &bandwidth{hist: newSendHistory(time.Now())}, 3)
	p := packet(1, 0)
	p.Payload = make([]byte, 1200)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p.SequenceNumber++
		p.Timestamp += 3000
		_ = d.WriteRTP(p, now)
	}
}
