package rtc

import (
	"bytes"
	"testing"
)

// vp8Desc builds a payload descriptor with a 15-bit (or 7-bit) picture id
// and a TL0PICIDX, then a byte of payload.
func vp8Desc(pic uint16, long bool, tl0 uint8) []byte {
	b := []byte{0x90, 0xc0} // X, S; I and L
	if long {
		b = append(b, 0x80|byte(pic>>8), byte(pic))
	} else {
		b = append(b, byte(pic)&0x7f)
	}
	return append(b, tl0, 0xaa)
}

func picOf(t *testing.T, b []byte) (uint16, uint8) {
	t.Helper()
	pic, long, tl0 := vp8Fields(b)
	if pic < 0 || tl0 < 0 {
		t.Fatalf("no fields in % x", b)
	}
	id := uint16(b[pic] & 0x7f)
	if long {
		id = id<<8 | uint16(b[pic+1])
	}
	return id, b[tl0]
}

// A switch to a layer whose picture ids and TL0PICIDX are behind (or
// ahead) continues the subscriber's sequence; retransmissions follow the
// current mapping without moving it; the shared payload is never written.
func TestVP8MungerContinuesAcrossSwitches(t *testing.T) {
	var m vp8Munger
	for _, tc := range []struct {
		pic     uint16
		tl0     uint8
		switchd bool
		advance bool
		want    uint16
		wantTL0 uint8
	}{
		{1000, 50, false, true, 1000, 50}, // first layer: as it is
		{1000, 50, false, true, 1000, 50}, // the same frame's next packet
		{1001, 50, false, true, 1001, 50},
		{7, 200, true, true, 1002, 51}, // switch to a layer far behind
		{8, 200, false, true, 1003, 51},
		{7, 200, false, false, 1002, 51}, // a retransmission of the switch frame
		{9, 201, false, true, 1004, 52},
		{32767, 3, true, true, 1005, 53}, // switch to a layer at the wrap
		{0, 4, false, true, 1006, 54},
	} {
		if tc.switchd {
			m.switched = true
		}
		in := vp8Desc(tc.pic, true, tc.tl0)
		orig := bytes.Clone(in)
		out := m.rewrite(in, tc.advance)
		if !bytes.Equal(in, orig) {
			t.Fatalf("the shared payload was written")
		}
		if pic, tl0 := picOf(t, out); pic != tc.want || tl0 != tc.wantTL0 {
			t.Fatalf("picture %d tl0 %d -> %d, %d; want %d, %d", tc.pic, tc.tl0, pic, tl0, tc.want, tc.wantTL0)
		}
		if out[len(out)-1] != 0xaa || len(out) != len(in) {
			t.Fatalf("payload changed: % x", out)
		}
	}

	// Before any switch nothing is rewritten: the payload itself goes out,
	// with no copy per packet and subscriber.
	var fresh vp8Munger
	first := vp8Desc(500, true, 9)
	if out := fresh.rewrite(first, true); &out[0] != &first[0] {
		t.Fatalf("a packet before any switch was copied")
	}

	// 7-bit picture ids wrap at 128.
	var s vp8Munger
	s.rewrite(vp8Desc(120, false, 0), true)
	s.switched = true
	if pic, _ := picOf(t, s.rewrite(vp8Desc(3, false, 0), true)); pic != 121 {
		t.Fatalf("7-bit switch: %d, want 121", pic)
	}
	// No extension byte: nothing to rewrite, the payload itself comes back.
	plain := []byte{0x10, 0x00, 0x01}
	if out := s.rewrite(plain, true); &out[0] != &plain[0] {
		t.Fatalf("a descriptor without picture id was copied")
	}
}

func FuzzVP8Fields(f *testing.F) {
	f.Add(vp8Desc(1000, true, 5))
	f.Add(vp8Desc(5, false, 5))
	f.Add([]byte{0x90, 0xc0})
	f.Add([]byte{0x90, 0xc0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m vp8Munger
		m.switched = true
		out := m.rewrite(b, true)
		if len(out) != len(b) {
			t.Fatalf("length %d -> %d", len(b), len(out))
		}
	})
}
