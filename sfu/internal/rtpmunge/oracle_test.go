package rtpmunge

import (
	"time"

	"github.com/pion/rtp"
)

// feed gives the Munger hdr, packet i of source which, through Skip or
// Munge and checks the verdict against what the documented rules allow.
// The generator's extended numbers are the truth the Munger must agree with.
func (o *oracle) feed(which int, hdr rtp.Header, i int, skip bool) {
	t := o.t
	ext := o.src[which].exts[i]
	current := which == o.cur
	inOrder := current && o.synced && ext > o.newest
	if inOrder {
		o.enter(ext, hdr)
	}
	if skip {
		o.m.Skip(&hdr)
		if inOrder {
			if !o.fFwd { // else it keeps its number
				o.fSkipped = true
				o.closed, o.closedSince = o.closed+1, o.closedSince+1
			}
		}
		return
	}
	before := hdr
	if !o.m.Munge(&hdr, o.now) {
		if hdr.SSRC != before.SSRC || hdr.SequenceNumber != before.SequenceNumber || hdr.Timestamp != before.Timestamp {
			t.Fatalf("dropped packet %d of %#x: header changed to %+v", before.SequenceNumber, before.SSRC, hdr)
		}
		if inOrder {
			if !o.fSkipped {
				t.Fatalf("packet %d in order, of a frame not skipped, dropped", ext)
			}
			o.closed, o.closedSince = o.closed+1, o.closedSince+1
		}
		if prev, ok := o.byKey[key{o.epoch, ext}]; ok && current && o.newest-ext < Window && o.closed < history-1 {
			t.Fatalf("packet %d, forwarded as %d before, now dropped", ext, prev.out)
		}
		return
	}
	if !current || hdr.SSRC != out {
		t.Fatalf("forwarded packet %d of %#x (current source %d) as SSRC %#x", before.SequenceNumber, before.SSRC, o.cur, hdr.SSRC)
	}
	if inOrder && o.fSkipped {
		t.Fatalf("packet %d forwarded, the rest of a frame whose beginning was skipped", ext)
	}
	outExt := o.maxOut + int64(int16(hdr.SequenceNumber-uint16(o.maxOut)))
	k := key{o.epoch, ext}
	if prev, ok := o.byKey[k]; ok {
		if prev.out != outExt || prev.ts != hdr.Timestamp {
			t.Fatalf("packet %d forwarded again as %d ts %d, first as %d ts %d", ext, outExt, hdr.Timestamp, prev.out, prev.ts)
		}
		o.reverseJustSent(hdr.SequenceNumber, before.SequenceNumber)
		return
	}
	if other, ok := o.byOut[outExt]; ok && o.started {
		t.Fatalf("packet %v went out as %d, which packet %v had", k, outExt, other)
	}

	switch {
	case !o.synced:
		o.checkSwitch(outExt, hdr.Timestamp)
		o.synced, o.first, o.newest, o.headFwd, o.headOut = true, ext, ext, ext, outExt
		o.tsDelta = hdr.Timestamp - before.Timestamp
		o.fTS, o.fEnded, o.fFwd, o.fSkipped = before.Timestamp, before.Marker, true, false
		o.closed, o.closedSince = 0, 0
	case ext < o.first:
		t.Fatalf("packet %d from before the switch (first %d) forwarded", ext, o.first)
	case o.newest-ext >= Window:
		t.Fatalf("packet %d older than the window (newest %d) forwarded", ext, o.newest)
	case hdr.Timestamp-before.Timestamp != o.tsDelta:
		t.Fatalf("timestamp offset changed within a source: %d, then %d", o.tsDelta, hdr.Timestamp-before.Timestamp)
	case inOrder:
		// Lost packets and holes keep their numbers; closed skips do not.
		want := o.headOut + (ext - o.headFwd) - int64(o.closedSince)
		if outExt != want || outExt <= o.maxOut {
			t.Fatalf("packet %d after %d (out %d, %d skips closed) went out as %d, want %d (highest out %d)",
				ext, o.headFwd, o.headOut, o.closedSince, outExt, want, o.maxOut)
		}
		o.fFwd = true
		o.headFwd, o.headOut, o.closedSince = ext, outExt, 0
	}
	o.record(k, outExt, hdr.Timestamp)
	o.reverseJustSent(hdr.SequenceNumber, before.SequenceNumber)
}

// enter follows the frames of the current source's packets in order.
func (o *oracle) enter(ext int64, hdr rtp.Header) {
	o.newest = ext
	if o.fEnded || hdr.Timestamp != o.fTS {
		o.fTS, o.fFwd, o.fSkipped = hdr.Timestamp, false, false
	}
	o.fEnded = hdr.Marker
}

func (o *oracle) record(k key, outExt int64, ts uint32) {
	o.byKey[k] = sent{outExt, ts}
	o.byOut[outExt] = k
	if !o.started || outExt > o.maxOut {
		o.maxOut = outExt
	}
	if !o.started || int32(ts-o.maxTS) > 0 {
		o.maxTS, o.maxAt = ts, o.now
	}
	o.started = true
}

// checkSwitch checks the first packet forwarded after a switch.
func (o *oracle) checkSwitch(outExt int64, ts uint32) {
	if !o.started {
		return
	}
	if outExt != o.maxOut+1 {
		o.t.Fatalf("first packet after a switch went out as %d, the last one forwarded was %d", outExt, o.maxOut)
	}
	units := uint32(max(1, int64(o.now.Sub(o.maxAt)/time.Millisecond)*int64(o.clock)/1000))
	if ts != o.maxTS+units {
		o.t.Fatalf("first packet after a switch has timestamp %d, want %d + %d", ts, o.maxTS, units)
	}
	if _, _, ok := o.m.Reverse(uint16(o.maxOut)); ok {
		o.t.Fatalf("Reverse maps %d, sent before the switch", o.maxOut)
	}
}

func (o *oracle) reverseJustSent(outSeq, srcSeq uint16) {
	ssrc, src, ok := o.m.Reverse(outSeq)
	if !ok || ssrc != o.src[o.cur].ssrc || src != srcSeq {
		o.t.Fatalf("Reverse(%d) = %#x %d %v, want %#x %d", outSeq, ssrc, src, ok, o.src[o.cur].ssrc, srcSeq)
	}
}

// reverse checks that Reverse maps outExt to the packet that went out with
// it, if one of the current source did.
func (o *oracle) reverse(outExt int64) {
	ssrc, src, ok := o.m.Reverse(uint16(outExt))
	if !ok {
		return
	}
	if o.cur < 0 || ssrc != o.src[o.cur].ssrc {
		o.t.Fatalf("Reverse(%d) names SSRC %#x, not the current source", uint16(outExt), ssrc)
	}
	if back := uint16(o.newest) - src; back >= Window {
		o.t.Fatalf("Reverse(%d) = %d, %d behind the newest packet", uint16(outExt), src, back)
	}
	if k, sent := o.byOut[outExt]; sent && k.epoch == o.epoch && uint16(k.ext) != src {
		o.t.Fatalf("Reverse(%d) = %d, but packet %d went out with it", uint16(outExt), src, k.ext)
	}
}
