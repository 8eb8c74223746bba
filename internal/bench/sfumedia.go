package bench

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// This file makes the synthetic media: RTP payloads shaped like VP8, H.264
// or Opus (enough for the SFU's keyframe detection, not decodable), each
// ending in a trailer that the subscribers read.

// trailer is the last sfuTrailer bytes of every payload: the stream's
// number (u16), the packet's index in it (u32) and its send stamp (u64, ns
// since the run's start, monotonic: sender and receivers are this process).
const sfuTrailer = 14

func putTrailer(b []byte, stream uint16, idx uint32, stamp int64) {
	t := b[len(b)-sfuTrailer:]
	binary.BigEndian.PutUint16(t[0:2], stream)
	binary.BigEndian.PutUint32(t[2:6], idx)
	binary.BigEndian.PutUint64(t[6:14], uint64(stamp)) //nolint:gosec // positive
}

func readTrailer(b []byte) (stream uint16, idx uint32, stamp int64) {
	t := b[len(b)-sfuTrailer:]
	return binary.BigEndian.Uint16(t[0:2]), binary.BigEndian.Uint32(t[2:6]), int64(binary.BigEndian.Uint64(t[6:14])) //nolint:gosec // a stamp
}

// sfuStream is one RTP stream a publisher sends: a track, or one layer of
// a simulcast track. Subscribers read its packets' trailers.
type sfuStream struct {
	num   uint16
	owner int    // participant index of its publisher
	track int    // the track it is a layer of (layers of one track share it)
	kind  string // "video" or "audio"
	rid   string // simulcast layer, "" without

	next    uint32       // next packet index (the sending goroutine's)
	sentWin atomic.Int64 // packets sent whose stamp is in the window

	// last holds, per packet index (mod len), 1 + the latest arrival, in
	// µs after its send stamp, at any subscriber: the fan-out latency of
	// that packet to its last subscriber. Only packets of the window are
	// written; the ring holds more than a window's packets.
	last []atomic.Uint64
}

// noteArrival records that packet idx arrived us µs after it was sent.
func (s *sfuStream) noteArrival(idx uint32, us uint64) {
	slot := &s.last[int(idx)&(len(s.last)-1)]
	for {
		v := slot.Load()
		if us+1 <= v || slot.CompareAndSwap(v, us+1) {
			return
		}
	}
}

// ringFor is a power of two above the packets of pps over d, times two.
func ringFor(pps float64, d time.Duration) int {
	n := 1024
	for float64(n) < 2*pps*d.Seconds()+256 {
		n *= 2
	}
	return n
}

// videoFrames sizes the frames of one video stream: a keyframe is
// keyFactor times as large as a delta frame, and the average over a
// keyframe interval meets the bitrate.
type videoFrames struct {
	codec     string
	maxSize   int
	delta     int // bytes of a delta frame
	key       int // bytes of a keyframe
	keyEvery  int // frames from keyframe to keyframe (0: only the first)
	frame     int
	clockStep uint32
	force     bool // the next frame is a keyframe (a keyframe request came)
}

const keyFactor = 5

func newVideoFrames(codec string, bitrate, fps, maxPayload int, keyframe time.Duration) *videoFrames {
	f := &videoFrames{codec: codec, maxSize: maxPayload, clockStep: uint32(90000 / fps)} //nolint:gosec // fps <= 120
	f.keyEvery = int(keyframe.Seconds() * float64(fps))
	perSec := bitrate / 8
	if f.keyEvery > 0 {
		// keyEvery frames: one key of keyFactor deltas, keyEvery-1 deltas.
		f.delta = perSec * f.keyEvery / fps / (f.keyEvery - 1 + keyFactor)
	} else {
		f.delta = perSec / fps
	}
	f.delta = max(f.delta, sfuTrailer+4)
	f.key = f.delta * keyFactor
	return f
}

// pps is how many packets a second this stream sends, about.
func (f *videoFrames) pps(fps int) float64 {
	per := func(n int) float64 { return float64((n + f.maxSize - 3) / (f.maxSize - 2)) }
	if f.keyEvery <= 0 {
		return per(f.delta) * float64(fps)
	}
	return (per(f.key) + per(f.delta)*float64(f.keyEvery-1)) / float64(f.keyEvery) * float64(fps)
}

// nextFrame returns the next frame's packets' payloads (each at most
// maxSize, trailer space included; appended to bufs[:0]) and whether it
// is a keyframe. Payload headers: VP8 (RFC 7741) with S=1 on a frame's first
// packet, whose VP8 header's P bit says key (0) or not; H.264 FU-A
// (RFC 6184) of an IDR (type 5) or non-IDR (type 1) slice, or a single NAL
// unit when the frame fits one packet.
func (f *videoFrames) nextFrame(bufs [][]byte) ([][]byte, bool) {
	key := f.force || f.frame == 0 || (f.keyEvery > 0 && f.frame%f.keyEvery == 0)
	f.force = false
	f.frame++
	size := f.delta
	if key {
		size = f.key
	}
	hdr := 1 // VP8 descriptor
	if f.codec == "h264" {
		hdr = 2 // FU indicator and header
	}
	room := f.maxSize - hdr - sfuTrailer
	n := (size + room - 1) / room
	bufs = bufs[:0]
	for i := range n {
		body := min(room, size-i*room)
		b := make([]byte, hdr+max(body, 1)+sfuTrailer)
		f.header(b, key, i == 0, i == n-1, n == 1)
		bufs = append(bufs, b)
	}
	return bufs, key
}

func (f *videoFrames) header(b []byte, key, first, last, single bool) {
	if f.codec == "vp8" {
		if first {
			b[0] = 0x10 // S=1, partition 0
			if !key {
				b[1] = 0x01 // VP8 frame tag: P=1, an interframe
			} else {
				b[1], b[2], b[3], b[4], b[5] = 0x00, 0x00, 0x00, 0x9d, 0x01 // P=0, then the start code
			}
		}
		return
	}
	nal := byte(1)
	nri := byte(0x40)
	if key {
		nal, nri = 5, 0x60
	}
	if single {
		// One NAL unit: its header, then the slice; the second byte stays
		// slice data.
		b[0] = nri | nal
		return
	}
	b[0] = nri | 28 // FU-A indicator
	b[1] = nal
	if first {
		b[1] |= 0x80
	}
	if last {
		b[1] |= 0x40
	}
}

// opusPayload is one 20 ms Opus packet at 32 kbit/s: a TOC byte (config
// 15, SILK+CELT hybrid FB 20 ms, mono, one frame) and filler.
func opusPayload() []byte {
	b := make([]byte, opusBitrate/8*int(opusPacket/time.Millisecond)/1000)
	b[0] = 15 << 3
	return b
}
