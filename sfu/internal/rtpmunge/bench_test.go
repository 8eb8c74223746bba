package rtpmunge

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// stream feeds m packets of a 90 kHz source with SSRC a, ten packets a
// frame, the frames 33 ms apart; every skipEvery-th frame (if not 0) is
// skipped whole. It returns the number of the next packet.
func stream(m *Munger, seq uint16, n, skipEvery int) uint16 {
	hdr := rtp.Header{SSRC: a}
	for i := range n {
		frame := int(seq) / 10
		hdr.SSRC, hdr.SequenceNumber, hdr.Timestamp = a, seq, uint32(frame)*3000
		hdr.Marker = seq%10 == 9
		now := t0.Add(time.Duration(i/10) * 33 * time.Millisecond)
		if skipEvery != 0 && frame%skipEvery == 0 {
			m.Skip(&hdr)
		} else {
			m.Munge(&hdr, now)
		}
		seq++
	}
	return seq
}

func TestNoAllocs(t *testing.T) {
	m := New(out)
	if err := m.Switch(a, 90000); err != nil {
		t.Fatal(err)
	}
	seq := uint16(0)
	if n := testing.AllocsPerRun(100, func() { seq = stream(m, seq, 30, 2) }); n != 0 {
		t.Errorf("Munge and Skip: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		hdr := rtp.Header{SSRC: a, SequenceNumber: seq - 25, Timestamp: 1}
		m.Munge(&hdr, t0)
		m.Reverse(seq - 5)
	}); n != 0 {
		t.Errorf("a late packet and Reverse: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = m.Switch(b, 90000) }); n != 0 {
		t.Errorf("Switch: %v allocations", n)
	}
}

// BenchmarkMunge is the common case: packets in order, all forwarded.
func BenchmarkMunge(b *testing.B) {
	m := New(out)
	_ = m.Switch(a, 90000)
	hdr := rtp.Header{SSRC: a}
	seq := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		hdr.SSRC, hdr.SequenceNumber, hdr.Timestamp = a, seq, uint32(seq/10)*3000
		m.Munge(&hdr, t0)
		seq++
	}
}

// BenchmarkMungeSkipping forwards one frame in two (a temporal layer
// dropped): every skipped frame starts a mapping segment.
func BenchmarkMungeSkipping(b *testing.B) {
	m := New(out)
	_ = m.Switch(a, 90000)
	seq := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		seq = stream(m, seq, 20, 2)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20), "ns/packet")
}

// BenchmarkMungeLate is a late packet or retransmission near the end of the
// window: about 50 mapping segments are passed before its own.
func BenchmarkMungeLate(b *testing.B) {
	m := New(out)
	_ = m.Switch(a, 90000)
	seq := stream(m, 0, 10*2*history, 2)
	old := seq - 990 // in a forwarded frame
	b.ReportAllocs()
	for b.Loop() {
		hdr := rtp.Header{SSRC: a, SequenceNumber: old, Timestamp: uint32(old/10) * 3000}
		if !m.Munge(&hdr, t0) {
			b.Fatal("dropped")
		}
	}
}

// BenchmarkReverse maps the last 500 numbers sent back, over about 50
// mapping segments.
func BenchmarkReverse(b *testing.B) {
	m := New(out)
	_ = m.Switch(a, 90000)
	seq := stream(m, 0, 10*2*history, 2)
	last := rtp.Header{SSRC: a, SequenceNumber: seq, Timestamp: uint32(seq/10) * 3000}
	if !m.Munge(&last, t0) {
		b.Fatal("dropped")
	}
	b.ReportAllocs()
	i := uint16(0)
	for b.Loop() {
		i++
		if _, _, ok := m.Reverse(last.SequenceNumber - i%500); !ok {
			b.Fatal("not found")
		}
	}
}
