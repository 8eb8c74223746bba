package rtpmunge

import (
	"time"

	"github.com/pion/rtp"
)

// Window is how far, in sequence numbers, a packet may lag behind the newest
// one of its source and still be forwarded (a reordered packet or a
// retransmission); Reverse answers for the same span of outgoing numbers.
const Window = 1024

// Munger rewrites the packets of one forwarded track for one subscriber.
// The zero value is not usable: call New. See the package documentation for
// the rules and the concurrency contract.
type Munger struct {
	ssrc uint32 // the subscriber's outgoing SSRC

	// What the subscriber has been sent.
	started bool      // any packet forwarded at all
	lastOut uint64    // highest extended outgoing sequence number forwarded
	lastTS  uint32    // latest outgoing timestamp forwarded
	lastAt  time.Time // when lastTS was forwarded

	// The current source.
	switched bool   // Switch was called
	src      uint32 // its SSRC
	clock    uint32 // its clock rate, Hz
	synced   bool   // its first packet was forwarded: segs and tsOffset are set
	tsOffset uint32 // outgoing timestamp = source timestamp - tsOffset
	highest  uint64 // extended number of its newest packet taken in order
	segs     segments

	frame frame
}

// frame is what the Munger knows of the source frame that the newest packet
// taken in order belongs to. A frame is a run of packets with one
// timestamp; a packet with the marker bit ends it.
type frame struct {
	ts        uint32
	started   bool // a packet of it was seen
	ended     bool // the newest packet of it had the marker bit
	forwarded bool // one of its packets was forwarded
	skipped   bool // its first packets were skipped and their numbers reused
}

// enter makes hdr's frame the current one, starting a new one unless hdr
// continues the current frame.
func (f *frame) enter(hdr *rtp.Header) {
	if !f.started || f.ended || hdr.Timestamp != f.ts {
		*f = frame{ts: hdr.Timestamp, started: true}
	}
	f.ended = hdr.Marker
}

// New returns a Munger whose packets go out with SSRC ssrc. It forwards
// nothing until the first Switch.
func New(ssrc uint32) *Munger {
	return &Munger{ssrc: ssrc}
}

// Switch makes the source with SSRC ssrc and the given clock rate (Hz) the
// one forwarded from now on; it may be the same SSRC as before, which starts
// a new mapping all the same. The first packet Munge forwards after it goes
// out with the sequence number after the last one forwarded, and the last
// timestamp forwarded plus the wall time elapsed since, in clock units, at
// least 1. Packets of the source older than that first one are dropped.
func (m *Munger) Switch(ssrc, clockRate uint32) error {
	if clockRate == 0 {
		return ErrBadClockRate
	}
	m.switched, m.src, m.clock, m.synced = true, ssrc, clockRate, false
	m.frame = frame{}
	return nil
}

// Munge rewrites the SSRC, sequence number and timestamp of hdr, a packet of
// the current source received at now, and reports whether to forward it.
// When it returns false it leaves hdr unchanged: the packet is of another
// source, older than the switch or than Window, a retransmission of a packet
// that was skipped, or the rest of a frame whose beginning was skipped
// (which is then skipped as well).
func (m *Munger) Munge(hdr *rtp.Header, now time.Time) bool {
	if !m.switched || hdr.SSRC != m.src {
		return false
	}
	if m.synced {
		if ext := m.extend(hdr.SequenceNumber); ext <= m.highest {
			return m.late(hdr, ext, now)
		}
	}
	m.frame.enter(hdr)
	if m.frame.skipped {
		m.closeGap(hdr)
		return false
	}
	if !m.synced {
		m.sync(hdr, now)
	}
	m.frame.forwarded = true
	m.highest = m.extend(hdr.SequenceNumber)
	last := m.segs.last()
	m.emit(hdr, last.out+(m.highest-last.src), now)
	return true
}

// Skip takes note of hdr, a packet of the current source that is
// deliberately not forwarded, so that it leaves no gap in the outgoing
// sequence numbers where that is safe: when it starts a frame, or continues
// a frame whose packets were all skipped so far (the rest of that frame is
// then skipped by Munge too). A packet skipped in the middle of a frame
// that was partly forwarded keeps its number: the subscriber sees a loss
// there, as it would on the network, and can ask for it with a NACK. A
// packet older than the newest one taken keeps its number too.
func (m *Munger) Skip(hdr *rtp.Header) {
	if !m.switched || hdr.SSRC != m.src {
		return
	}
	if m.synced && m.extend(hdr.SequenceNumber) <= m.highest {
		return
	}
	m.frame.enter(hdr)
	if m.frame.forwarded {
		m.highest = m.extend(hdr.SequenceNumber)
		return
	}
	m.frame.skipped = true
	m.closeGap(hdr)
}

// Reverse maps the sequence number of a packet the subscriber asks for (in
// a NACK) back to the SSRC and sequence number of the current source's
// packet that went out, or would go out, with it. It returns false for a
// number sent before the last Switch, one not yet sent, or one older than
// Window. A number may map to a packet that never arrived or that was
// skipped in the middle of a frame: the caller looks it up in the source's
// cache and, if it is there, sends it through Munge, which gives it the
// number asked for.
func (m *Munger) Reverse(seq uint16) (ssrc uint32, srcSeq uint16, ok bool) {
	if !m.synced {
		return 0, 0, false
	}
	last := m.segs.last()
	next := last.out + (m.highest + 1 - last.src) // the number of the next packet
	back := uint16(next) - seq
	if back == 0 || back > Window {
		return 0, 0, false
	}
	src, ok := m.segs.src(next - uint64(back))
	if !ok || m.highest-src >= Window {
		return 0, 0, false
	}
	return m.src, uint16(src), true
}

// late rewrites hdr, a packet of the current source no newer than the
// newest one taken: it keeps the number it had, or the hole it left.
func (m *Munger) late(hdr *rtp.Header, ext uint64, now time.Time) bool {
	if m.highest-ext >= Window {
		return false
	}
	out, ok := m.segs.out(ext)
	if !ok {
		return false
	}
	m.emit(hdr, out, now)
	return true
}

// closeGap skips hdr, the newest packet of the current source, so that the
// next packet takes its number. Before the source's first packet is
// forwarded there is nothing to close.
func (m *Munger) closeGap(hdr *rtp.Header) {
	if !m.synced {
		return
	}
	ext := m.extend(hdr.SequenceNumber)
	last := m.segs.last()
	if last.src == m.highest+1 && ext == last.src {
		// Contiguous with the skips that started the last segment.
		last.src++
		last.skip++
	} else {
		m.segs.push(segment{src: ext + 1, out: last.out + (ext - last.src), skip: 1})
	}
	m.highest = ext
}

// sync sets the mapping of the current source from hdr, its first packet
// forwarded.
func (m *Munger) sync(hdr *rtp.Header, now time.Time) {
	src := uint64(1)<<32 | uint64(hdr.SequenceNumber)
	out, ts := src, hdr.Timestamp // the very first source goes out unchanged
	if m.started {
		out = m.lastOut + 1
		ts = m.lastTS + m.elapsed(now)
	}
	m.tsOffset = hdr.Timestamp - ts
	m.segs.reset(segment{src: src, out: out})
	m.highest = src - 1
	m.synced = true
}

// elapsed returns the time from the last timestamp forwarded to now in
// units of the current clock, at least 1 (wrapping after 2^32 units, as RTP
// timestamps do).
func (m *Munger) elapsed(now time.Time) uint32 {
	d := now.Sub(m.lastAt)
	if d <= 0 {
		return 1
	}
	clock := uint64(m.clock)
	units := uint64(d/time.Second)*clock + uint64(d%time.Second)*clock/uint64(time.Second)
	if uint32(units) == 0 {
		return 1
	}
	return uint32(units)
}

// extend returns the extended number of source sequence number seq: the one
// nearest to the newest taken.
func (m *Munger) extend(seq uint16) uint64 {
	d := seq - uint16(m.highest)
	if d < 1<<15 {
		return m.highest + uint64(d)
	}
	return m.highest - uint64(-d)
}

// emit rewrites hdr to go out with extended number out.
func (m *Munger) emit(hdr *rtp.Header, out uint64, now time.Time) {
	hdr.SSRC = m.ssrc
	hdr.SequenceNumber = uint16(out)
	hdr.Timestamp -= m.tsOffset
	if !m.started || out > m.lastOut {
		m.lastOut = out
	}
	if !m.started || int32(hdr.Timestamp-m.lastTS) > 0 {
		m.lastTS, m.lastAt = hdr.Timestamp, now
	}
	m.started = true
}
