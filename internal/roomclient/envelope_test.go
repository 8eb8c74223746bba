package roomclient

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want Envelope
		err  bool
	}{
		{"plain broadcast", []byte{1, 0, 'h', 'i'}, Envelope{Flags: 1, Payload: []byte("hi")}, false},
		{"sequenced directed", []byte{7, 1, 'p', 0, 0, 1, 2, 'x'}, Envelope{Flags: 7, Peer: "p", Seq: 258, Payload: []byte("x")}, false},
		{"fence", []byte{12, 0, 0, 0, 0, 9}, Envelope{Flags: 12, Seq: 9, Payload: []byte{}}, false},
		{"directed fence on the SFU", []byte{14, 2, 'a', 'b', 0, 0, 0, 0}, Envelope{Flags: 14, Peer: "ab", Payload: []byte{}}, false},
		{"too short", []byte{1}, Envelope{}, true},
		{"peer cut", []byte{0, 3, 'a'}, Envelope{}, true},
		{"unknown flag", []byte{16, 0}, Envelope{}, true},
		{"seq cut", []byte{4, 0, 1, 2, 3}, Envelope{}, true},
		{"fence without seq", []byte{8, 0}, Envelope{}, true},
		{"fence with payload", []byte{12, 0, 0, 0, 0, 1, 'x'}, Envelope{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnvelope(tc.in)
			if tc.err {
				if !errors.Is(err, ErrEnvelope) {
					t.Fatalf("want ErrEnvelope, got %v (%+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Flags != tc.want.Flags || got.Peer != tc.want.Peer || got.Seq != tc.want.Seq || !bytes.Equal(got.Payload, tc.want.Payload) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAppendEnvelope(t *testing.T) {
	b := AppendEnvelope(nil, FlagFence|FlagDirected, "peer", 42, nil)
	if want := []byte{14, 4, 'p', 'e', 'e', 'r', 0, 0, 0, 42}; !bytes.Equal(b, want) {
		t.Fatalf("fence %v, want %v", b, want)
	}
	b = AppendEnvelope(nil, FlagText, "", 0, []byte("hi"))
	if want := []byte{1, 0, 'h', 'i'}; !bytes.Equal(b, want) {
		t.Fatalf("unsequenced %v, want %v", b, want)
	}
}

// FuzzParseEnvelope: the parser never panics on what a peer or the SFU
// sends, whatever it accepts is well-formed, and what AppendEnvelope
// writes reads back the same. The seeds (real envelopes of both paths)
// run as a normal test.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 0, 1, '{', '}'}, byte(FlagText), "", uint32(1), []byte("{}"))
	f.Add([]byte{7, 22, 'q', '3', 'V', '0', 'b', 'W', 'J', '2', 'd', 'F', 'h', '4', 'T', 'k', 'Q', '1', 'c', '1', 'p', 'Q', 'a', 'A', 0, 0, 0, 3, 'h', 'i'},
		byte(FlagDirected), "q3V0bWJ2dFh4TkQ1c1pQaA", uint32(3), []byte("hi"))
	f.Add([]byte{12, 0, 0, 0, 0, 7}, byte(FlagFence), "", uint32(7), []byte(nil))
	f.Add([]byte{14, 1, 'b', 0, 0, 0, 0}, byte(FlagFence|FlagDirected), "b", uint32(0), []byte(nil))
	f.Add([]byte{3, 1, 'a', 'x'}, byte(FlagText), "a", uint32(0), []byte("x"))
	f.Add([]byte{0xff, 0xff}, byte(0), "", uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, in []byte, flags byte, peer string, seq uint32, payload []byte) {
		if e, err := ParseEnvelope(in); err == nil {
			if e.Flags&^knownFlags != 0 || (e.Fence() && (!e.Sequenced() || len(e.Payload) > 0)) {
				t.Fatalf("accepted %x as %+v", in, e)
			}
		}
		flags &= knownFlags
		if len(peer) > 255 || flags&FlagFence != 0 && len(payload) > 0 {
			return
		}
		b := AppendEnvelope(nil, flags, peer, seq, payload)
		e, err := ParseEnvelope(b)
		if err != nil || e.Peer != peer || e.Seq != seq || !bytes.Equal(e.Payload, payload) {
			t.Fatalf("round trip of %#x %q %d %x gave %+v, %v", flags, peer, seq, payload, e, err)
		}
	})
}
