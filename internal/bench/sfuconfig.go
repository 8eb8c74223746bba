package bench

import (
	"fmt"
	"strings"
	"time"
)

// SFUConfig configures RunSFU. Zero fields take the default written next
// to them.
type SFUConfig struct {
	// URL is the signaling endpoint, ws://127.0.0.1:PORT/ws (required).
	URL string
	// PID is the server's process id (CPU time and VmRSS from /proc); 0
	// finds it from the URL's port, -1 reads nothing.
	PID int
	// MetricsURL is the server's /metrics (default: the URL's host +
	// /metrics; "-": none). Forwarded packets come from there.
	MetricsURL string
	// Secret mints a token per participant (HS256, every room); else
	// Token is used for all; else tokens come from the server's
	// /v1/dev/token (serve --dev).
	Secret, Token string
	Label         string // server name in RESULT lines (default "switchboard")
	RoomPrefix    string // rooms are RoomPrefix+run+"-n"+size; the server must make them sfu rooms (default "bench-")

	// Video fan-out phases: Publishers publish video to every size in
	// Subscribers (one phase each, a fresh room and fresh participants).
	Subscribers []int
	Publishers  int           // video publishers (default 1)
	Codec       string        // "vp8" or "h264" (default "h264", as the LiveKit anchor)
	Bitrate     int           // video bit/s of the top layer (default 1,500,000)
	FPS         int           // frames per second (default 30)
	Keyframe    time.Duration // keyframe interval (default 4 s: keyint 120 at 30 fps)
	MaxPayload  int           // RTP payload bytes at most (default 1,200)
	Audio       bool          // publishers also send Opus at 32 kbit/s
	Simulcast   bool          // three layers (low 8%, medium 27%, high 100% of Bitrate); subscribers get high

	// Audio-room phases: for each size P in Talkers, P participants each
	// publish Opus and receive the P-1 others.
	Talkers []int

	JoinRate float64       // participants joining per second (default 10, as lk; <0: unthrottled)
	Ready    time.Duration // longest wait for every subscriber's first packets (default 30 s + size/JoinRate)
	Warmup   time.Duration // after every subscriber receives, before measuring (default 5 s)
	Window   time.Duration // measured time (default 20 s)
	Drain    time.Duration // after the window, for late packets (default 1 s)
}

// SFU media constants.
const (
	opusBitrate = 32000
	opusPacket  = 20 * time.Millisecond
	sfuMaxSize  = 1200
)

// orDefault sets *p to v when it is the zero value.
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func (c SFUConfig) withDefaults() SFUConfig {
	orDefault(&c.Label, "switchboard")
	orDefault(&c.RoomPrefix, "bench-")
	orDefault(&c.MetricsURL, metricsURLFor(c.URL))
	orDefault(&c.Publishers, 1)
	orDefault(&c.Codec, "h264")
	c.Codec = strings.ToLower(c.Codec)
	orDefault(&c.Bitrate, 1_500_000)
	orDefault(&c.FPS, 30)
	orDefault(&c.Keyframe, 4*time.Second)
	orDefault(&c.MaxPayload, sfuMaxSize)
	orDefault(&c.JoinRate, 10)
	orDefault(&c.Warmup, 5*time.Second)
	orDefault(&c.Window, 20*time.Second)
	orDefault(&c.Drain, time.Second)
	return c
}

func (c SFUConfig) validate() error {
	if err := checkURL(c.URL, "ws"); err != nil {
		return err
	}
	if c.MetricsURL != "-" {
		if err := checkURL(c.MetricsURL, "http"); err != nil {
			return err
		}
	}
	if len(c.Subscribers) == 0 && len(c.Talkers) == 0 {
		return badConfig("no phase: give subscriber counts or audio talker counts")
	}
	for _, n := range append(append([]int{}, c.Subscribers...), c.Talkers...) {
		if n < 1 {
			return badConfig("phase size %d: at least 1", n)
		}
	}
	for _, n := range c.Talkers {
		if n < 2 {
			return badConfig("an audio room of %d: at least 2 talkers", n)
		}
	}
	if c.Codec != "vp8" && c.Codec != "h264" {
		return badConfig("codec %q: want vp8 or h264", c.Codec)
	}
	if c.Publishers < 1 || c.Bitrate < 10000 || c.FPS < 1 || c.FPS > 120 || c.Keyframe < 0 {
		return badConfig("publishers, bitrate (10 kbit/s or more), fps (1 to 120) and keyframe interval must make sense")
	}
	if c.MaxPayload < 100 || c.MaxPayload > sfuMaxSize {
		return badConfig("max payload %d: want 100 to %d bytes", c.MaxPayload, sfuMaxSize)
	}
	if c.Warmup < 0 || c.Window <= 0 || c.Drain < 0 || c.Ready < 0 {
		return badConfig("durations must be positive")
	}
	return nil
}

// participants is the largest number of participants a phase holds.
func (c SFUConfig) participants() int {
	n := 0
	for _, s := range c.Subscribers {
		n = max(n, s+c.Publishers)
	}
	for _, p := range c.Talkers {
		n = max(n, p)
	}
	return n
}

// readyWait is how long a phase of n participants waits for them all to
// receive.
func (c SFUConfig) readyWait(n int) time.Duration {
	if c.Ready > 0 {
		return c.Ready
	}
	d := 30 * time.Second
	if c.JoinRate > 0 {
		d += time.Duration(float64(n) / c.JoinRate * float64(time.Second))
	}
	return d
}

// SFUBudget is how long RunSFU takes at most with cfg, with margin.
func SFUBudget(cfg SFUConfig) time.Duration {
	c := cfg.withDefaults()
	d := time.Minute
	for _, n := range append(append([]int{}, c.Subscribers...), c.Talkers...) {
		d += c.readyWait(n+c.Publishers)*2 + c.Warmup + c.Window + c.Drain + sfuCloseWait + 10*time.Second
	}
	return d
}

// videoLoad describes the load of one video phase.
func (c SFUConfig) videoLoad() string {
	s := fmt.Sprintf("%d %s publisher(s) at %.0f kbit/s, %d fps, keyframe every %s", c.Publishers, c.Codec,
		float64(c.Bitrate)/1000, c.FPS, c.Keyframe)
	if c.Simulcast {
		s += ", simulcast 3 layers"
	}
	if c.Audio {
		s += ", Opus 32 kbit/s"
	}
	return s
}
