package turn

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzParseChannelData: whatever a client sends, the parser either refuses
// it or returns a payload inside it of exactly the length its header says,
// on a number whose first two bits are 01.
func FuzzParseChannelData(f *testing.F) {
	for _, seed := range [][]byte{
		nil,
		{0x40},
		{0x40, 0x00, 0x00, 0x00},
		{0x40, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0x00},
		{0x7f, 0xff, 0x00, 0x02, 'h', 'i'},
		{0x40, 0x01, 0xff, 0xff, 'x'},
		{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42}, // a STUN header
		{0x80, 0x00, 0x00, 0x00},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		num, payload, ok := parseChannelData(b)
		if !ok {
			if payload != nil || num != 0 {
				t.Fatalf("refused, but returned %#x %q", num, payload)
			}
			return
		}
		if num&0xC000 != 0x4000 {
			t.Fatalf("channel number %#x", num)
		}
		if len(payload) != int(binary.BigEndian.Uint16(b[2:])) || !bytes.Equal(payload, b[4:4+len(payload)]) {
			t.Fatalf("payload %d bytes of %d", len(payload), len(b))
		}
	})
}
