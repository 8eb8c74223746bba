package bench

import (
	"math"
	"testing"
	"time"
)

// isKeyframeStart mirrors sfu/internal/rtc.IsKeyframeStart (not importable
// from here) for the payloads this generator makes.
func isKeyframeStart(codec string, b []byte) bool {
	if codec == "vp8" {
		return b[0]&0x10 != 0 && b[0]&0x07 == 0 && b[1]&0x01 == 0
	}
	switch b[0] & 0x1f {
	case 5, 7:
		return true
	case 28:
		return b[1]&0x80 != 0 && b[1]&0x1f == 5
	}
	return false
}

// Frames meet the bitrate, packets stay under the payload limit, and
// exactly the first packet of each keyframe looks like a keyframe start.
func TestVideoFrames(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		f := newVideoFrames(codec, 1_500_000, 30, 1200, 2*time.Second)
		var bytes, packets, keys, starts int
		var bufs [][]byte
		for range 30 * 4 { // four seconds
			var key bool
			bufs, key = f.nextFrame(bufs)
			if key {
				keys++
			}
			for i, b := range bufs {
				if len(b) > 1200 || len(b) < sfuTrailer+2 {
					t.Fatalf("%s: a %d-byte payload", codec, len(b))
				}
				if isKeyframeStart(codec, b) {
					starts++
					if !key || i != 0 {
						t.Fatalf("%s: packet %d of a frame (key %v) looks like a keyframe start", codec, i, key)
					}
				}
				bytes += len(b)
				packets++
			}
		}
		if keys != 2 || starts != 2 {
			t.Errorf("%s: %d keyframes, %d keyframe starts in 4 s, want 2", codec, keys, starts)
		}
		if kbps := float64(bytes) * 8 / 4 / 1000; math.Abs(kbps-1500) > 100 {
			t.Errorf("%s: %.0f kbit/s, want about 1500", codec, kbps)
		}
		if pps := float64(packets) / 4; math.Abs(pps-f.pps(30)) > 0.1*pps {
			t.Errorf("%s: %.0f packets/s, pps() says %.0f", codec, pps, f.pps(30))
		}
	}
}

func TestTrailer(t *testing.T) {
	b := make([]byte, 40)
	putTrailer(b, 7, 1<<31+5, 123456789)
	if s, i, st := readTrailer(b); s != 7 || i != 1<<31+5 || st != 123456789 {
		t.Fatalf("got %d %d %d", s, i, st)
	}
}

func TestParseSFUCounters(t *testing.T) {
	c := parseSFUCounters(`# HELP x
switchboard_sfu_forwarded_packets_total 1000
switchboard_sfu_forwarded_bytes_total 1.2e+06
switchboard_sfu_fanout_seconds_bucket{le="0.001"} 50
switchboard_sfu_fanout_seconds_bucket{le="0.0005"} 10
switchboard_sfu_fanout_seconds_bucket{le="+Inf"} 100
switchboard_sfu_fanout_seconds_sum 0.2
switchboard_sfu_fanout_seconds_count 100
`)
	if c.fwdPackets != 1000 || c.fwdBytes != 1_200_000 || c.nacks != -1 || c.fanout.count != 100 {
		t.Fatalf("%+v", c)
	}
	if q := c.fanout.quantile(0.5); q != 0.001 {
		t.Errorf("p50 %v, want 0.001 (the top of the bucket holding it)", q)
	}
	if q := c.fanout.quantile(0.3); math.Abs(q-0.00075) > 1e-9 {
		t.Errorf("p30 %v, want 0.00075 (interpolated)", q)
	}
	if q := c.fanout.quantile(0.99); q != 0.001 {
		t.Errorf("p99 %v: beyond the last bound reads as that bound", q)
	}
	d := c.minus(c)
	if d.fwdPackets != 0 || d.fanout.count != 0 || d.fanout.quantile(0.5) != -1 {
		t.Errorf("minus: %+v", d)
	}
}
