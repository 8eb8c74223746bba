package rtpmunge

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// FuzzMunge decodes its input as a sequence of operations on one Munger
// (packets of three sources, in order, lost, late, retransmitted or
// skipped; switches; time passing; NACK look-ups) and checks, after each,
// what a Munger guarantees whatever it is fed:
//
//  1. It never panics; a dropped packet's header is left as it was; a
//     forwarded one carries the outgoing SSRC and is of the current source,
//     from after the switch, and less than Window behind the newest one.
//  2. No duplicates: two different source packets never get the same
//     outgoing number, and the same packet forwarded again (retransmission)
//     gets the same number and timestamp.
//  3. Order and gaps: a packet of the current source newer than every one
//     taken since the switch is dropped exactly when its frame's beginning
//     was skipped; forwarded, it gets a number above every number forwarded
//     before, namely the previous such packet's plus the source numbers
//     between them, less those skipped with their gap closed (skips at a
//     frame boundary and the rest of their frame). Lost packets and packets
//     skipped in the middle of a forwarded frame keep their numbers.
//     A packet forwarded once is forwarded again, the same, while it stays
//     inside the window and fewer skips than the history holds have passed.
//  4. Switch: the first packet forwarded after one gets the last number
//     forwarded plus 1, and the latest timestamp forwarded plus the elapsed
//     wall time in clock units (at least 1); within a source, outgoing
//     timestamp minus source timestamp stays the same.
//  5. Reverse maps a number just forwarded back to its source packet, maps
//     the previous source's numbers to nothing, never names a packet Munge
//     would drop as too old, and never a packet other than the one that
//     went out with that number.
func FuzzMunge(f *testing.F) {
	for _, seed := range seeds() {
		f.Add(seed)
	}
	r := rand.New(rand.NewPCG(15, 1))
	for range 4 {
		seed := make([]byte, 600)
		for i := range seed {
			seed[i] = byte(r.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		newOracle(t).run(data)
	})
}

// Operations as run decodes them, for the seeds. An operation's first byte
// is its kind (low 3 bits); a packet is of the current source when bits 5
// and 6 are clear, else of source (byte>>3)%3.
func fwd(gap, flags byte) []byte { return []byte{0, gap, flags} } // a packet, Munge
func skp(gap, flags byte) []byte { return []byte{2, gap, flags} } // a packet, Skip
func late(back byte) []byte      { return []byte{3, back} }       // packet len-1-back*8 again
func lateSkip(back byte) []byte  { return []byte{0x83, back} }
func switchTo(src byte) []byte   { return []byte{4 | src<<3} } // 90 kHz
func wait(ms byte) []byte        { return []byte{5, ms} }
func reverse(back byte) []byte   { return []byte{6, back} }
func other(src, gap byte) []byte { return []byte{0x60 | src<<3, gap, 0x81} }

const (
	newFrame = 1    // flags: a new timestamp
	lastPkt  = 0x80 // flags: the marker bit
)

// seeds returns inputs that reach every rule: skips of whole frames and in
// the middle of one, losses, late packets inside and outside the window,
// more skips than the history holds, switches with and without time passing.
func seeds() [][]byte {
	var steady, far, many []byte
	steady = append(steady, switchTo(0)...)
	for k := range 40 {
		steady = append(steady, wait(33)...)
		steady = append(steady, fwd(0, newFrame)...)
		switch k % 5 {
		case 0: // padding after the frame's end, skipped
			steady = append(steady, fwd(0, lastPkt)...)
			steady = append(steady, skp(0, 0)...)
		case 1: // a whole frame skipped
			steady = append(steady, fwd(0, lastPkt)...)
			steady = append(steady, skp(0, newFrame)...)
			steady = append(steady, fwd(0, lastPkt)...) // dropped: its beginning was skipped
		case 2: // cut in the middle, then a loss
			steady = append(steady, skp(0, 0)...)
			steady = append(steady, fwd(210, lastPkt)...)
			steady = append(steady, late(1)...)
		case 3:
			steady = append(steady, other(1, 0)...)
			steady = append(steady, switchTo(byte(k/5%3))...)
			steady = append(steady, fwd(0, newFrame|lastPkt)...)
		case 4:
			steady = append(steady, lateSkip(0)...)
			steady = append(steady, reverse(3)...)
			steady = append(steady, fwd(0, lastPkt)...)
			steady = append(steady, late(0)...)
		}
	}
	far = append(far, switchTo(1)...)
	for range 10 {
		far = append(far, fwd(0, newFrame|lastPkt)...)
	}
	far = append(far, fwd(245, newFrame|lastPkt)...) // over 1,000 ahead
	far = append(far, late(1)...)                    // now too old
	far = append(far, fwd(255, newFrame)...)         // 30,000 ahead
	far = append(far, reverse(2)...)
	many = append(many, switchTo(2)...)
	for range history + 4 {
		many = append(many, fwd(0, newFrame|lastPkt)...)
		many = append(many, skp(0, newFrame|lastPkt)...)
	}
	for back := range byte(20) {
		many = append(many, late(back)...)
		many = append(many, reverse(back*3)...)
	}
	// A pause longer than the window: Reverse must not name packets from
	// before it, though their outgoing numbers are close.
	pause := append(switchTo(0), fwd(0, newFrame|lastPkt)...)
	pause = append(pause, skp(0, newFrame)...)
	for range Window + 10 {
		pause = append(pause, skp(0, 0)...)
	}
	pause = append(pause, fwd(0, newFrame)...)
	pause = append(pause, reverse(1)...)
	pause = append(pause, late(0)...)
	return [][]byte{{}, steady, far, many, pause}
}

// source generates the packets of one publisher's track.
type source struct {
	ssrc   uint32
	ext    int64  // extended number of its newest packet
	ts     uint32 // timestamp of its current frame
	marker bool   // its newest packet ended a frame
	sent   []rtp.Header
	exts   []int64
}

type key struct {
	epoch int
	ext   int64
}

type sent struct {
	out int64
	ts  uint32
}

// oracle feeds a Munger and checks its answers.
type oracle struct {
	t   *testing.T
	m   *Munger
	src [3]source
	now time.Time

	cur, clock  int    // current source and clock rate
	epoch       int    // switches so far
	synced      bool   // a packet was forwarded since the switch
	first       int64  // extended number of that packet
	newest      int64  // newest extended number taken in order since then
	headFwd     int64  // newest extended number forwarded since then
	headOut     int64  // its outgoing number
	tsDelta     uint32 // outgoing minus source timestamp since then
	closed      int    // skips that closed a gap since then
	closedSince int    // the same, since headFwd

	// The frame of the newest packet taken in order.
	fTS                    uint32
	fEnded, fFwd, fSkipped bool

	started bool
	maxOut  int64 // highest outgoing number, unwrapped
	maxTS   uint32
	maxAt   time.Time
	byKey   map[key]sent
	byOut   map[int64]key
}

func newOracle(t *testing.T) *oracle {
	o := &oracle{t: t, m: New(out), now: t0, cur: -1, maxOut: 1 << 40,
		byKey: map[key]sent{}, byOut: map[int64]key{}}
	for i := range o.src {
		o.src[i] = source{ssrc: uint32(0x100 + i), ext: 1<<20 + 65500 - int64(i)*20000, ts: 0xffff0000 * uint32(i)}
	}
	return o
}

func (o *oracle) run(data []byte) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	for len(data) > 0 && len(o.byKey) < 5000 {
		op := next()
		which := int(op>>3) % 3
		if op&0x60 == 0 && o.cur >= 0 {
			which = o.cur // most packets are of the current source
		}
		switch op % 8 {
		case 0, 1, 2:
			hdr := o.src[which].generate(next(), next())
			o.feed(which, hdr, len(o.src[which].exts)-1, op%8 == 2)
		case 3: // late or retransmitted
			s := &o.src[which]
			if len(s.sent) == 0 {
				continue
			}
			i := len(s.sent) - 1 - int(next())*8%len(s.sent)
			if s.ext-s.exts[i] < 30000 {
				o.feed(which, s.sent[i], i, op&0x80 != 0)
			}
		case 4:
			o.cur, o.clock = which, []int{90000, 48000}[op>>7]
			if err := o.m.Switch(o.src[which].ssrc, uint32(o.clock)); err != nil {
				o.t.Fatal(err)
			}
			o.epoch++
			o.synced = false
		case 5:
			o.now = o.now.Add(time.Duration(next()) * time.Millisecond)
		case 6:
			o.reverse(o.maxOut - int64(next()))
		case 7:
			o.now = o.now.Add(-time.Millisecond) // a clock that goes back a little
		}
	}
}

// generate returns the source's next packet: sometimes after a gap of lost
// packets, sometimes with a new timestamp.
func (s *source) generate(gap, flags byte) rtp.Header {
	switch {
	case gap < 200:
		s.ext++
	case gap < 240:
		s.ext += 2 + int64(gap%4)
	case gap < 252:
		s.ext += 100 + int64(gap)*4
	default:
		s.ext += 30000
	}
	if flags&1 != 0 { // else the same frame, or padding after its end
		s.ts += 1 + uint32(flags>>1)*700
	}
	s.marker = flags&0x80 != 0
	hdr := rtp.Header{SSRC: s.ssrc, SequenceNumber: uint16(s.ext), Timestamp: s.ts, Marker: s.marker}
	s.sent = append(s.sent, hdr)
	s.exts = append(s.exts, s.ext)
	return hdr
}
