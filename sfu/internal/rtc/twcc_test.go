package rtc

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// seqWriter records the transport-wide sequence numbers (extension id 5)
// of what it is given, as it is given: the header's extension storage is
// the DownTrack's and is reused at the next packet.
type seqWriter struct {
	mu   *sync.Mutex
	seqs *[]uint16
}

func (w seqWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	ext := h.GetExtension(5)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(ext) != 2 || len(h.Extensions) != 1 {
		*w.seqs = append(*w.seqs, 0xffff) // flagged below
		return 0, nil
	}
	*w.seqs = append(*w.seqs, binary.BigEndian.Uint16(ext))
	return h.MarshalSize() + len(p), nil
}
func (w seqWriter) Write(b []byte) (int, error) { return len(b), nil }

// Two down tracks of one subscriber PC, written concurrently, and a NACK
// answered on one of them share one transport-wide counter: every number
// from 0 up is used once, whatever the track.
func TestTransportSequenceAcrossTracks(t *testing.T) {
	var mu sync.Mutex
	var seqs []uint16
	w := seqWriter{&mu, &seqs}
	bw := &bandwidth{hist: newSendHistory(time.Now())}
	a, upA := newTestDownTWCC(t, w, bw, 5)
	b, _ := newTestDownTWCC(t, w, bw, 5)
	const n = 500
	var wg sync.WaitGroup
	for _, d := range []*DownTrack{a, b} {
		wg.Go(func() {
			now := time.Now()
			for i := range n {
				p := packet(uint16(i), uint32(i*3000))
				if d == a {
					raw, _ := p.Marshal()
					_ = upA.cache.Store(p.SequenceNumber, raw)
				}
				if err := d.WriteRTP(p, now); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	a.nack(&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{a.fwd.SequenceNumber})}, make([]byte, 1500), nil, 0xa)
	if len(seqs) != 2*n+1 {
		t.Fatalf("%d packets written, want %d", len(seqs), 2*n+1)
	}
	seen := make([]bool, len(seqs))
	for _, s := range seqs {
		if int(s) >= len(seen) || seen[s] {
			t.Fatalf("transport sequence number %d repeated or out of range (%d packets)", s, len(seqs))
		}
		seen[s] = true
	}
	if seqs[len(seqs)-1] != 2*n {
		t.Fatalf("the NACK's resend is numbered %d, want %d", seqs[len(seqs)-1], 2*n)
	}
}

// A transport-cc feedback (built by pion's recorder, as a pion
// subscriber sends it) gives the estimator the packets it acknowledges
// with their send times and sizes; the same feedback seen by a second
// down track's reader counts once.
func TestTransportFeedback(t *testing.T) {
	base := time.Now()
	bw := &bandwidth{hist: newSendHistory(base)}
	for i := range 100 { // 100 packets of 1,000 bytes, every 10 ms
		bw.hist.record(base.Add(time.Duration(i)*10*time.Millisecond), 1000)
	}
	rec := twcc.NewRecorder(1)
	for i := range 100 {
		if i == 50 {
			continue // lost
		}
		rec.Record(0x5555, uint16(i), int64(i*10_000+20_000)) // µs: 20 ms later
	}
	pkts := rec.BuildFeedbackPacket()
	var fb *rtcp.TransportLayerCC
	for _, p := range pkts {
		if c, ok := p.(*rtcp.TransportLayerCC); ok {
			fb = c
		}
	}
	if fb == nil {
		t.Fatalf("no transport-cc feedback in %v", pkts)
	}
	acks := bw.hist.acks(nil, fb)
	if len(acks) != 99 {
		t.Fatalf("%d packets acknowledged, want 99", len(acks))
	}
	for i, a := range acks {
		if a.Size != 1000 {
			t.Fatalf("ack %d: size %d", i, a.Size)
		}
		if i > 0 && a.Arrived-acks[i-1].Arrived != a.Sent-acks[i-1].Sent {
			t.Fatalf("ack %d: arrival delta %v, send delta %v", i, a.Arrived-acks[i-1].Arrived, a.Sent-acks[i-1].Sent)
		}
	}
	now := time.Now()
	bw.feedback(now, fb)
	bw.feedback(now, fb) // the same compound, another reader
	if bw.feedbacks != 1 {
		t.Fatalf("%d feedbacks counted, want 1", bw.feedbacks)
	}
	if a := bw.est.Delay().Acked(); a < 740e3 || a > 810e3 { // 800k less the lost packet
		t.Fatalf("acknowledged rate %v, want about 800k", a)
	}
	// The next feedback, and one from half a cycle of counts later.
	fb.FbPktCount++
	bw.feedback(now, fb)
	fb.FbPktCount += 128
	bw.feedback(now, fb)
	if bw.feedbacks != 3 {
		t.Fatalf("%d feedbacks counted, want 3", bw.feedbacks)
	}
}

// BenchmarkTransportFeedback is one feedback of 20 packets (100 ms of a
// 1.5 Mbit/s layer) from the wire: unmarshalled as pion's RTCP path does,
// then taken by the estimator.
func BenchmarkTransportFeedback(b *testing.B) {
	base := time.Now()
	bw := &bandwidth{hist: newSendHistory(base)}
	rec := twcc.NewRecorder(1)
	for i := range 20 {
		bw.hist.record(base.Add(time.Duration(i)*5*time.Millisecond), 1200)
		rec.Record(0x5555, uint16(i), int64(i*5_000+20_000))
	}
	raw, err := rtcp.Marshal(rec.BuildFeedbackPacket())
	if err != nil {
		b.Fatal(err)
	}
	now := base
	b.ReportAllocs()
	var n uint8
	for b.Loop() {
		pkts, err := rtcp.Unmarshal(raw)
		if err != nil {
			b.Fatal(err)
		}
		fb := pkts[0].(*rtcp.TransportLayerCC)
		fb.FbPktCount = n // each a new feedback
		n++
		now = now.Add(100 * time.Millisecond)
		bw.feedback(now, fb)
	}
}
