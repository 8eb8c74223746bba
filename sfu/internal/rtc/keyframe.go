package rtc

import "strings"

// IsKeyframeStart reports whether payload (of the given codec) is the
// first packet of a keyframe: where a subscriber can switch to a layer.
// VP8 and H.264 are understood; other codecs never are.
func IsKeyframeStart(mime string, payload []byte) bool {
	switch {
	case strings.EqualFold(mime, "video/VP8"):
		return vp8Keyframe(payload)
	case strings.EqualFold(mime, "video/H264"):
		return h264Keyframe(payload)
	}
	return false
}

// vp8Keyframe: RFC 7741 payload descriptor with S=1 and PID=0, then a VP8
// payload header whose P bit is 0.
func vp8Keyframe(b []byte) bool {
	if len(b) < 1 || b[0]&0x10 == 0 || b[0]&0x07 != 0 {
		return false
	}
	i := 1
	if b[0]&0x80 != 0 { // X: extension byte
		if len(b) < 2 {
			return false
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // I: picture id
			if len(b) <= i {
				return false
			}
			if b[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	return len(b) > i && b[i]&0x01 == 0
}

// h264Keyframe: an IDR slice or SPS, alone, in a STAP-A, or starting a
// FU-A.
func h264Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	switch t := b[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A
		for i := 1; i+2 < len(b); {
			n := int(b[i])<<8 | int(b[i+1])
			if i+2 >= len(b) {
				break
			}
			if nt := b[i+2] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += 2 + n
		}
	case 28: // FU-A
		return len(b) > 1 && b[1]&0x80 != 0 && (b[1]&0x1f == 5 || b[1]&0x1f == 7)
	}
	return false
}
