package sfuclient

import (
	"bytes"
	"testing"
)

// FuzzDecodeEnvelope: the client never panics on what the server sends,
// and what it sends (encodeEnvelope) reads back the same.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte{3, 1, 'a', 'x'}, "b", []byte("payload"), true)
	f.Add([]byte{0, 0}, "", []byte{}, false)
	f.Add([]byte{1, 200, 'a'}, "peer", []byte{1}, false)
	f.Fuzz(func(t *testing.T, in []byte, to string, payload []byte, text bool) {
		decodeEnvelope(in, true)
		if len(to) > 255 {
			return
		}
		d, ok := decodeEnvelope(encodeEnvelope(to, payload, text), false)
		if !ok || d.From != to || !bytes.Equal(d.Payload, payload) || d.Text != text || d.Directed != (to != "") {
			t.Fatalf("round trip of %q %x %v gave %+v", to, payload, text, d)
		}
	})
}
