package sfu

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeMessage: any input is either refused with ErrBadMessage or
// gives a message whose required fields are there.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"kind":"offer","pc":"pub","sdp":"v=0\r\n"}`,
		`{"kind":"answer","pc":"sub","sdp":"v=0\r\n"}`,
		`{"kind":"candidate","pc":"sub","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"kind":"candidate","pc":"pub","candidate":null}`,
		`{"kind":"quality","peer":"a","quality":"low"}`,
		`{"kind":"size","track":"a:cam","width":0,"height":0}`,
		`{"kind":"size","track":"a:cam","width":-1,"height":0}`,
		`{"kind":"offer","pc":"sub","sdp":"x"}`,
		`{"kind":7}`, `[]`, `null`, ``, `{"kind":"offer"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		switch m.Kind {
		case "offer", "answer":
			if m.SDP == "" || (m.PC != pcPub && m.PC != pcSub) {
				t.Fatalf("accepted %+v", m)
			}
		case "candidate":
			if m.PC != pcPub && m.PC != pcSub {
				t.Fatalf("accepted %+v", m)
			}
		case "quality":
			if m.Peer == "" {
				t.Fatalf("accepted %+v", m)
			}
		case "size":
			if m.Track == "" || m.Width < 0 || m.Height < 0 {
				t.Fatalf("accepted %+v", m)
			}
		default:
			t.Fatalf("accepted kind %q", m.Kind)
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}

// FuzzDecodeEnvelope: an accepted envelope re-encodes to the same bytes
// (with the peer in the header), and the rules of the spec hold.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte{0, 0, 'h', 'i'}, 100)
	f.Add([]byte{1, 0, '{', '}'}, 100)
	f.Add([]byte{3, 1, 'b', 'x'}, 100)
	f.Add([]byte{2, 0, 'x'}, 100)
	f.Add([]byte{1, 5, 'a'}, 100)
	f.Add([]byte{0x80, 0}, 100)
	f.Add([]byte{0, 0, 1, 2, 3, 4}, 2)
	f.Add([]byte{}, 0)
	// Auto rooms' sequenced messages and fences.
	f.Add([]byte{5, 0, 0, 0, 0, 7, '{', '}'}, 2)
	f.Add([]byte{4 | 8 | 2, 1, 'b', 0, 0, 0, 9}, 0)
	f.Add([]byte{4, 0, 0, 0}, 100)
	f.Add([]byte{8, 0, 0, 0, 0, 1}, 100)
	f.Add([]byte{4 | 8, 0, 0, 0, 0, 1, 'x'}, 100)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 {
			max = -max
		}
		e, err := decodeEnvelope(b, max)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v", err)
			}
			return
		}
		app := len(e.payload)
		if e.flags&flagSeq != 0 {
			app -= seqBytes
		}
		if app > max || app < 0 || (e.flags&flagDirected != 0) != (e.peer != "") || e.flags&^15 != 0 ||
			e.flags&flagFence != 0 && (e.flags&flagSeq == 0 || app != 0) {
			t.Fatalf("accepted %+v (max %d)", e, max)
		}
		if out := encodeEnvelope(e.flags, e.peer, e.payload); !bytes.Equal(out, b) {
			t.Fatalf("re-encoded %x, read %x", out, b)
		}
	})
}
