package rtc

// vp8Munger keeps a subscriber's VP8 picture ids and TL0PICIDX continuous
// across simulcast layer switches (RFC 7741 payload descriptor). Each layer
// numbers its pictures on its own: without the rewrite, a switch to a
// layer whose picture id is behind the last one forwarded makes a
// browser's VP8 reference finder take every later frame for an old one,
// and the video freezes although packets keep coming. Owned by the
// DownTrack, under its mutex.
type vp8Munger struct {
	started  bool
	switched bool   // the next packet starts a new layer: recompute the offsets
	picOff   uint16 // added to the picture id (mod 2^15, or 2^7 for short ids)
	tl0Off   uint8
	lastPic  uint16 // the last picture id sent
	lastTL0  uint8
	hasTL0   bool
	fwd, re  [1500]byte // rewritten copies: forwarded packets (under the DownTrack's mutex while written), retransmissions (the RTCP reader's)
}

// vp8Fields locates the picture id and TL0PICIDX in a VP8 payload
// descriptor: pic is the offset of the picture id (-1: none), long whether
// it is 15 bits, tl0 the offset of TL0PICIDX (-1: none).
func vp8Fields(b []byte) (pic int, long bool, tl0 int) {
	pic, tl0 = -1, -1
	if len(b) < 2 || b[0]&0x80 == 0 { // no X byte: nothing to rewrite
		return
	}
	x := b[1]
	i := 2
	if x&0x80 != 0 { // I
		if len(b) <= i {
			return -1, false, -1
		}
		pic = i
		if b[i]&0x80 != 0 {
			long = true
			i++
		}
		i++
	}
	if x&0x40 != 0 { // L
		if len(b) <= i {
			return -1, false, -1
		}
		tl0 = i
	}
	return
}

// rewrite returns payload with its picture id and TL0PICIDX moved onto the
// subscriber's sequence; payload itself is left as it is (it is shared by
// every subscriber). advance is false for a retransmission, which must not
// move the sequence on.
func (m *vp8Munger) rewrite(payload []byte, advance bool) []byte {
	pic, long, tl0 := vp8Fields(payload)
	if pic < 0 && tl0 < 0 || len(payload) > len(m.fwd) {
		return payload
	}
	var id, mod uint16
	if pic >= 0 {
		if long {
			id, mod = uint16(payload[pic]&0x7f)<<8|uint16(payload[pic+1]), 1<<15
		} else {
			id, mod = uint16(payload[pic]&0x7f), 1<<7
		}
	}
	if advance && m.switched && m.started {
		if pic >= 0 {
			m.picOff = (m.lastPic + 1 - id) % mod
		}
		if tl0 >= 0 && m.hasTL0 {
			m.tl0Off = m.lastTL0 + 1 - payload[tl0]
		}
	}
	if advance {
		m.switched, m.started = false, true
	}
	if m.picOff == 0 && m.tl0Off == 0 { // no switch yet: note where the numbers are, copy nothing
		if advance && pic >= 0 {
			m.lastPic = id
		}
		if advance && tl0 >= 0 {
			m.lastTL0, m.hasTL0 = payload[tl0], true
		}
		return payload
	}
	out := m.re[:len(payload)]
	if advance {
		out = m.fwd[:len(payload)]
	}
	copy(out, payload)
	if pic >= 0 {
		id = (id + m.picOff) % mod
		if long {
			out[pic] = 0x80 | byte(id>>8)
			out[pic+1] = byte(id)
		} else {
			out[pic] = byte(id) & 0x7f
		}
		if advance {
			m.lastPic = id
		}
	}
	if tl0 >= 0 {
		out[tl0] = payload[tl0] + m.tl0Off
		if advance {
			m.lastTL0, m.hasTL0 = out[tl0], true
		}
	}
	return out
}
