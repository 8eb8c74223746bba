package rtc

import "testing"

func TestIsKeyframeStart(t *testing.T) {
	for _, c := range []struct {
		mime    string
		payload []byte
		want    bool
	}{
		{"video/VP8", []byte{0x10, 0x00}, true},                   // S=1, PID 0, P=0
		{"video/VP8", []byte{0x10, 0x01}, false},                  // interframe
		{"video/VP8", []byte{0x00, 0x00}, false},                  // not a partition start
		{"video/VP8", []byte{0x11, 0x00}, false},                  // PID 1
		{"video/VP8", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true}, // X, I with a 15-bit picture id
		{"video/VP8", []byte{0x90, 0xc0, 0x12, 0x34, 0x00}, true}, // X, I (7 bits), L
		{"video/VP8", []byte{0x90, 0x80}, false},                  // cut short
		{"video/VP8", []byte{}, false},
		{"video/H264", []byte{0x65}, true},                         // IDR
		{"video/H264", []byte{0x67}, true},                         // SPS
		{"video/H264", []byte{0x41}, false},                        // non-IDR slice
		{"video/H264", []byte{0x78, 0x00, 0x02, 0x67, 0x42}, true}, // STAP-A with an SPS
		{"video/H264", []byte{0x7c, 0x85}, true},                   // FU-A start of an IDR
		{"video/H264", []byte{0x7c, 0x05}, false},                  // FU-A middle
		{"audio/opus", []byte{0x10, 0x00}, false},
	} {
		if got := IsKeyframeStart(c.mime, c.payload); got != c.want {
			t.Errorf("%s %x: %v, want %v", c.mime, c.payload, got, c.want)
		}
	}
}

// FuzzIsKeyframeStart: publishers' payloads never make it panic.
func FuzzIsKeyframeStart(f *testing.F) {
	f.Add([]byte{0x90, 0xe0, 0xff, 0xff, 0xff, 0x00}, true)
	f.Add([]byte{0x78, 0xff, 0xff, 0x65}, false)
	f.Add([]byte{0x7c}, false)
	f.Fuzz(func(_ *testing.T, b []byte, vp8 bool) {
		mime := "video/H264"
		if vp8 {
			mime = "video/VP8"
		}
		IsKeyframeStart(mime, b)
	})
}
