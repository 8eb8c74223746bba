package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// runSFU runs cfg, logs its output and fails the test on an error.
func runSFU(t *testing.T, cfg SFUConfig) (SFUResult, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := RunSFU(ctx, cfg, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("RunSFU: %v", err)
	}
	return res, out.String()
}

// TestRunSFUAgainstServer runs the benchmark end to end against an
// in-process server whose bench-* rooms are sfu rooms: one H.264 publisher
// with Opus and three subscribers, then an audio room of three talkers. A
// functional test (every receiver lossless, every RESULT column there,
// numbers that make sense), not a timed one.
func TestRunSFUAgainstServer(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{RoomModes: signaling.RoomModes{
		Rules: []signaling.RoomModeRule{{Pattern: "bench-*", Mode: signaling.ModeSFU}},
	}})
	cfg := SFUConfig{
		URL:         srv.WSURL,
		PID:         os.Getpid(), // the server runs in this process
		Secret:      srv.Secret,
		Subscribers: []int{3},
		Talkers:     []int{3},
		Audio:       true,
		JoinRate:    -1,
		Warmup:      time.Second,
		Window:      3 * time.Second,
	}
	res, out := runSFU(t, cfg)
	if n := res.Errors(); n != 0 {
		t.Errorf("%d errors, first: %s", n, res.FirstError)
	}
	if len(res.Phases) != 2 {
		t.Fatalf("%d phases, want 2", len(res.Phases))
	}
	v, a := res.Phases[0], res.Phases[1]
	if v.Mode != "video-fanout" || v.N != 3 || v.Lossless != 3 || v.Ready != 3 || v.Received == 0 || v.Received != v.Expected {
		t.Errorf("video: %s n=%d lossless %d ready %d, received %d of %d", v.Mode, v.N, v.Lossless, v.Ready, v.Received, v.Expected)
	}
	// 1.5 Mbit/s at up to 1,200 bytes is about 160 packets/s plus 50 of
	// Opus, to each of three subscribers: about 630 forwarded a second.
	if pps := v.OutPPS(); pps < 300 || pps > 1200 {
		t.Errorf("video: %.0f forwarded packets/s, want about 630", pps)
	}
	if v.UsPerPacket() <= 0 || v.RSS <= 0 || v.LastP50 <= 0 || v.LastP99 < v.LastP50 || v.CopyP50 <= 0 || v.LastP50 < v.CopyP50 {
		t.Errorf("video: µs/packet %.2f, RSS %d, last copy p50 %v p99 %v, any copy p50 %v",
			v.UsPerPacket(), v.RSS, v.LastP50, v.LastP99, v.CopyP50)
	}
	// The server's own fan-out histogram (one packet in 64) is read.
	if p50, p99, n := v.serverFanout(); n == 0 || p50 <= 0 || p99 < p50 {
		t.Errorf("video: server fan-out p50 %.3f ms p99 %.3f ms over %d samples", p50, p99, n)
	}
	if v.Forwarded != 6 || a.Forwarded != 6 || v.CPUPerStream() <= 0 {
		t.Errorf("forwarded tracks: video %d (want 3 subscribers x 2), audio %d (want 3 x 2), CPU per stream %.4f",
			v.Forwarded, a.Forwarded, v.CPUPerStream())
	}
	if a.Mode != "audio" || a.N != 3 || a.Lossless != 3 || a.Received == 0 {
		t.Errorf("audio: %s n=%d lossless %d, received %d of %d", a.Mode, a.N, a.Lossless, a.Received, a.Expected)
	}
	// Three talkers at 50 packets/s, each to two others.
	if pps := a.OutPPS(); pps < 150 || pps > 450 {
		t.Errorf("audio: %.0f forwarded packets/s, want about 300", pps)
	}
	for _, want := range []string{
		"RESULT server=switchboard mode=video-fanout n=3 ", "RESULT server=switchboard mode=audio n=3 ",
		" lossless=3 ", "server_cpu_pct=", "gen_cpu_pct=", "server_rss_mib=", "out_pkts_per_s=", "us_per_pkt=",
		"loss_pct=0.000 ", "fwd_latency_ms_p50=", "fwd_latency_ms_p99=", "rss_per_sub_mib=", "server_udp_drops=", "gen_udp_drops=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestRunSFUSimulcastVP8: a VP8 simulcast publisher; every subscriber gets
// the high layer without loss. The switch up waits for a keyframe of it:
// the publisher answers the SFU's request at once, but the SFU drops a
// request within 500 ms of the last one, so the warm-up outlasts a
// keyframe interval.
func TestRunSFUSimulcastVP8(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{RoomModes: signaling.RoomModes{
		Rules: []signaling.RoomModeRule{{Pattern: "bench-*", Mode: signaling.ModeSFU}},
	}})
	cfg := SFUConfig{URL: srv.WSURL, PID: -1, Secret: srv.Secret, Subscribers: []int{2}, Codec: "vp8", Simulcast: true,
		Keyframe: time.Second, JoinRate: -1, Warmup: 1500 * time.Millisecond, Window: 2 * time.Second}
	res, _ := runSFU(t, cfg)
	if p := res.Phases[0]; p.Lossless != 2 || p.OnTop != 2 || p.Streams != 3 || p.Received == 0 {
		t.Errorf("lossless %d, on the top layer %d, streams %d, received %d of %d", p.Lossless, p.OnTop, p.Streams, p.Received, p.Expected)
	}
}

// TestRunSFUMeshRoom: a server that makes the rooms meshes is refused
// with ErrNotSFU rather than measured.
func TestRunSFUMeshRoom(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{})
	cfg := SFUConfig{URL: srv.WSURL, PID: -1, Secret: srv.Secret, Subscribers: []int{1}, JoinRate: -1,
		Ready: 2 * time.Second, Warmup: time.Millisecond, Window: 100 * time.Millisecond}
	_, err := RunSFU(context.Background(), cfg, &strings.Builder{})
	if !errors.Is(err, ErrNotSFU) || !strings.Contains(err.Error(), "--room-modes 'bench-*=sfu'") {
		t.Fatalf("RunSFU: %v, want ErrNotSFU naming --room-modes", err)
	}
}

func TestSFUConfigRefuses(t *testing.T) {
	for _, c := range []SFUConfig{
		{URL: "ws://10.0.0.1:8080/ws", Subscribers: []int{1}},
		{URL: "ws://127.0.0.1:8080/ws", MetricsURL: "http://192.0.2.1/metrics", Subscribers: []int{1}},
	} {
		if err := c.withDefaults().validate(); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%+v: %v, want ErrNotLoopback", c, err)
		}
	}
	for _, c := range []SFUConfig{
		{URL: "ws://127.0.0.1:8080/ws"},
		{URL: "ws://127.0.0.1:8080/ws", Subscribers: []int{0}},
		{URL: "ws://127.0.0.1:8080/ws", Talkers: []int{1}},
		{URL: "ws://127.0.0.1:8080/ws", Subscribers: []int{1}, Codec: "av1"},
		{URL: "ws://127.0.0.1:8080/ws", Subscribers: []int{1}, MaxPayload: 2000},
	} {
		if err := c.withDefaults().validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v, want ErrBadConfig", c, err)
		}
	}
}
