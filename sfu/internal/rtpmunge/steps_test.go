package rtpmunge

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The table tests are sequences of steps run against one Munger whose
// outgoing SSRC is out.
const (
	out = 0x5eed
	a   = 0xaaaa // sources
	b   = 0xbbbb
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type stepKind int

const (
	kPacket  stepKind = iota // Munge, then check the verdict and the result
	kSkip                    // Skip
	kSwitch                  // Switch to ssrc at clock 90 kHz
	kAt                      // set the clock to t0 + ms
	kReverse                 // Reverse(seq), then check the answer
)

type step struct {
	kind   stepKind
	ssrc   uint32
	seq    uint16
	ts     uint32
	marker bool
	ms     int

	fwd    bool   // kPacket: forwarded; kReverse: found
	outSeq uint16 // kPacket: outgoing number; kReverse: source number
	outTS  uint32 // kPacket: outgoing timestamp
}

func pkt(ssrc uint32, seq uint16, ts uint32) step {
	return step{kind: kPacket, ssrc: ssrc, seq: seq, ts: ts}
}

// end is pkt with the marker bit: the last packet of a frame.
func end(ssrc uint32, seq uint16, ts uint32) step {
	return step{kind: kPacket, ssrc: ssrc, seq: seq, ts: ts, marker: true}
}

// skip is a Skip of the packet s describes.
func skip(s step) step { s.kind = kSkip; return s }

func (s step) to(seq uint16, ts uint32) step {
	s.fwd, s.outSeq, s.outTS = true, seq, ts
	return s
}

// same expects the packet to go out unchanged but for the SSRC.
func (s step) same() step { return s.to(s.seq, s.ts) }

func (s step) drop() step { s.fwd = false; return s }

func sw(ssrc uint32) step { return step{kind: kSwitch, ssrc: ssrc} }
func at(ms int) step      { return step{kind: kAt, ms: ms} }

func rev(seq uint16) step { return step{kind: kReverse, seq: seq} }

func (s step) is(src uint16) step { s.fwd, s.outSeq = true, src; return s }

func run(t *testing.T, steps []step) {
	t.Helper()
	m := New(out)
	now := t0
	for i, s := range steps {
		switch s.kind {
		case kAt:
			now = t0.Add(time.Duration(s.ms) * time.Millisecond)
		case kSwitch:
			if err := m.Switch(s.ssrc, 90000); err != nil {
				t.Fatal(err)
			}
		case kSkip:
			m.Skip(&rtp.Header{SSRC: s.ssrc, SequenceNumber: s.seq, Timestamp: s.ts, Marker: s.marker})
		case kReverse:
			ssrc, src, ok := m.Reverse(s.seq)
			switch {
			case ok != s.fwd:
				t.Errorf("step %d: Reverse(%d) found %v (%d), want %v", i, s.seq, ok, src, s.fwd)
			case ok && (src != s.outSeq || ssrc != m.src):
				t.Errorf("step %d: Reverse(%d) = %#x %d, want %#x %d", i, s.seq, ssrc, src, m.src, s.outSeq)
			}
		case kPacket:
			hdr := rtp.Header{SSRC: s.ssrc, SequenceNumber: s.seq, Timestamp: s.ts, Marker: s.marker}
			ok := m.Munge(&hdr, now)
			switch {
			case ok != s.fwd:
				t.Errorf("step %d: Munge(seq %d ts %d) forwarded %v (as %d ts %d), want %v",
					i, s.seq, s.ts, ok, hdr.SequenceNumber, hdr.Timestamp, s.fwd)
			case ok && (hdr.SSRC != out || hdr.SequenceNumber != s.outSeq || hdr.Timestamp != s.outTS):
				t.Errorf("step %d: Munge(seq %d ts %d) = ssrc %#x seq %d ts %d, want seq %d ts %d",
					i, s.seq, s.ts, hdr.SSRC, hdr.SequenceNumber, hdr.Timestamp, s.outSeq, s.outTS)
			case !ok && (hdr.SSRC != s.ssrc || hdr.SequenceNumber != s.seq || hdr.Timestamp != s.ts):
				t.Errorf("step %d: Munge dropped the packet but changed its header", i)
			}
		}
	}
}

type table []struct {
	name  string
	steps []step
}

func (tt table) run(t *testing.T) {
	t.Helper()
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.steps) })
	}
}
