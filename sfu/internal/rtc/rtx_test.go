package rtc

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// rtxCtx is fakeCtx with video/rtx negotiated for the VP8 payload type
// 98, on the RTX SSRC 0x7777.
type rtxCtx struct{ fakeCtx }

func (c rtxCtx) CodecParameters() []webrtc.RTPCodecParameters {
	return append(c.fakeCtx.CodecParameters(),
		webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/rtx", ClockRate: 90000, SDPFmtpLine: "apt=97"}, PayloadType: 96},
		webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/rtx", ClockRate: 90000, SDPFmtpLine: "apt=98"}, PayloadType: 99})
}
func (c rtxCtx) SSRCRetransmission() webrtc.SSRC { return 0x7777 }

// payloadWriter records what a DownTrack writes, payloads included.
type payloadWriter struct {
	hdrs     []rtp.Header
	payloads [][]byte
}

func (w *payloadWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.hdrs = append(w.hdrs, *h)
	w.payloads = append(w.payloads, append([]byte(nil), p...))
	return h.MarshalSize() + len(p), nil
}
func (w *payloadWriter) Write(b []byte) (int, error) { return len(b), nil }

// A subscriber that negotiated RTX gets a NACKed packet on its RTX SSRC
// with the RTX payload type, the RTX stream's own consecutive numbers
// and the number it knows (OSN) before the original payload, numbered
// for transport-cc like any other packet.
func TestDownTrackNACKRTX(t *testing.T) {
	w := &payloadWriter{}
	d, up := newTestDown(t, w)
	bw := &bandwidth{hist: newSendHistory(time.Now())}
	d.bw = bw
	if _, err := d.Bind(rtxCtx{fakeCtx{w: w, exts: []webrtc.RTPHeaderExtensionParameter{{URI: TransportCCURI, ID: 5}}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 10 {
		p := packet(uint16(500+i), uint32(i*3000))
		p.Payload = []byte{0x10, byte(i), 0xaa, 0xbb}
		b, _ := p.Marshal()
		_ = up.cache.Store(p.SequenceNumber, b)
		_ = d.WriteRTP(p, now)
	}
	want := []uint16{w.hdrs[3].SequenceNumber, w.hdrs[6].SequenceNumber}
	w.hdrs, w.payloads = nil, nil
	misses := d.nack(&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(want)}, make([]byte, 1500), nil, 0xa)
	if len(misses) != 0 || len(w.hdrs) != 2 {
		t.Fatalf("resent %d packets, misses %v", len(w.hdrs), misses)
	}
	for i, h := range w.hdrs {
		p := w.payloads[i]
		if h.SSRC != 0x7777 || h.PayloadType != 99 {
			t.Fatalf("resend %d on SSRC %#x payload type %d, want 0x7777 and 99", i, h.SSRC, h.PayloadType)
		}
		if i > 0 && h.SequenceNumber != w.hdrs[i-1].SequenceNumber+1 {
			t.Fatalf("RTX numbers %d then %d", w.hdrs[i-1].SequenceNumber, h.SequenceNumber)
		}
		if len(p) != 6 || binary.BigEndian.Uint16(p) != want[i] || p[2] != 0x10 || p[3] != byte(3+3*i) || p[5] != 0xbb {
			t.Fatalf("resend %d payload %x, want OSN %d then the packet's", i, p, want[i])
		}
		if h.Timestamp != uint32((3+3*i)*3000) {
			t.Fatalf("resend %d timestamp %d", i, h.Timestamp)
		}
		if len(h.GetExtension(5)) != 2 {
			t.Fatalf("resend %d without its transport-wide number: %+v", i, h.Extensions)
		}
	}
	// The forwarded stream goes on on the media SSRC.
	w.hdrs = nil
	_ = d.WriteRTP(packet(510, 30000), now)
	if len(w.hdrs) != 1 || w.hdrs[0].SSRC != 0x5555 || w.hdrs[0].PayloadType != 98 {
		t.Fatalf("forwarded %+v", w.hdrs)
	}
}

// Answering a NACK with RTX allocates nothing per packet once the RTX
// buffer is made (the first resend), as the forwarding path.
func TestNACKRTXAllocations(t *testing.T) {
	d, up := newTestDown(t, discard{})
	if _, err := d.Bind(rtxCtx{fakeCtx{w: discard{}}}); err != nil {
		t.Fatal(err)
	}
	p := packet(100, 0)
	b, _ := p.Marshal()
	_ = up.cache.Store(100, b)
	_ = d.WriteRTP(p, time.Now())
	n := &rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{d.fwd.SequenceNumber})}
	buf := make([]byte, 1500)
	misses := make([]uint16, 0, 16)
	d.nack(n, buf, misses, 0xa)
	allocs := testing.AllocsPerRun(200, func() { d.nack(n, buf, misses, 0xa) })
	if allocs != 0 {
		t.Fatalf("%v allocations per RTX resend", allocs)
	}
}

func TestRTXPayloadType(t *testing.T) {
	rtx := func(pt webrtc.PayloadType, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/rtx", SDPFmtpLine: fmtp}, PayloadType: pt}
	}
	codecs := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/VP8", SDPFmtpLine: "apt=96"}, PayloadType: 120}, // not RTX
		rtx(97, "apt=96"), rtx(103, "rtx-time=3000; APT=102"), rtx(105, "apt=1040"), rtx(107, "apt"),
	}
	for _, c := range []struct {
		pt, want webrtc.PayloadType
		ok       bool
	}{{96, 97, true}, {102, 103, true}, {104, 0, false}, {1, 0, false}} {
		if got, ok := rtxPayloadType(codecs, c.pt); got != c.want || ok != c.ok {
			t.Errorf("rtxPayloadType(%d) = %d %v, want %d %v", c.pt, got, ok, c.want, c.ok)
		}
	}
}

// FuzzRTXPayloadType: a client's answer chooses the fmtp line.
func FuzzRTXPayloadType(f *testing.F) {
	for _, s := range []string{"apt=96", "apt=96;rtx-time=3000", "APT = 96", "apt=", ";;=", "apt=96=97", "apt=-1"} {
		f.Add(s, uint8(96))
	}
	f.Fuzz(func(t *testing.T, fmtp string, pt uint8) {
		codecs := []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/rtx", SDPFmtpLine: fmtp}, PayloadType: 33}}
		if got, ok := rtxPayloadType(codecs, webrtc.PayloadType(pt)); ok && got != 33 || !ok && got != 0 {
			t.Fatalf("%q: %d %v", fmtp, got, ok)
		}
	})
}

// recorder is an interceptor that records the SSRCs written through it.
type recorder struct {
	interceptor.NoOp
	ssrcs []uint32
}

func (r *recorder) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }
func (r *recorder) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		r.ssrcs = append(r.ssrcs, h.SSRC)
		return w.Write(h, p, a)
	})
}

// The sender-report interceptor sees the media stream's packets, not its
// RTX packets; both reach the network.
func TestReportsWithoutRTX(t *testing.T) {
	rec := &recorder{}
	i, err := reportsWithoutRTX{rec}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	w := interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		out = append(out, h.SSRC)
		return len(p), nil
	})
	withRTX := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 1, SSRCRetransmission: 2}, w)
	plain := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 3}, w)
	for _, s := range []struct {
		w    interceptor.RTPWriter
		ssrc uint32
	}{{withRTX, 1}, {withRTX, 2}, {withRTX, 1}, {plain, 3}} {
		if _, err := s.w.Write(&rtp.Header{SSRC: s.ssrc}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if want := []uint32{1, 1, 3}; len(rec.ssrcs) != 3 || rec.ssrcs[0] != 1 || rec.ssrcs[1] != 1 || rec.ssrcs[2] != 3 {
		t.Fatalf("reports saw %v, want %v", rec.ssrcs, want)
	}
	if len(out) != 4 {
		t.Fatalf("%d packets written, want 4", len(out))
	}
}
