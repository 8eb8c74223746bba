package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bench"
)

func runBenchSFU(args []string) error {
	fs := flag.NewFlagSet("bench sfu", flag.ContinueOnError)
	var (
		cfg     bench.SFUConfig
		subs    = fs.String("subscribers", "50,100,200", `video fan-out phases: subscriber counts, one phase (a fresh room) each; "none": no video phase`)
		talkers = fs.String("audio-talkers", "", "audio-room phases: talker counts (each publishes Opus and receives every other), e.g. 50")
		kbps    = fs.Int("video-kbps", 1500, "video bitrate of the top layer, kbit/s")
		common  = addCommonBenchFlags(fs, "stop after this long whatever happens (default: what the phases need, plus margin)")
	)
	fs.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8080/ws", "the server's signaling endpoint (loopback)")
	fs.IntVar(&cfg.PID, "pid", 0, "server PID for CPU and RSS from /proc (0: find from the URL's port, -1: none)")
	fs.StringVar(&cfg.MetricsURL, "metrics-url", "", `server /metrics URL (default: the --url's host + /metrics; "-": none)`)
	fs.StringVar(&cfg.Secret, "jwt-secret", "", "the server's HS256 secret: one token per participant [$SWITCHBOARD_JWT_SECRET] (none: tokens from a --dev server's /v1/dev/token)")
	fs.StringVar(&cfg.Token, "token", "", "one token for every participant instead (raise the server's --max-sessions-per-user)")
	fs.StringVar(&cfg.Label, "label", "switchboard", "server name in RESULT lines")
	fs.StringVar(&cfg.RoomPrefix, "room-prefix", "bench-", "room name prefix; the server must make these rooms sfu rooms (--room-modes 'bench-*=sfu')")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "video publishers in each fan-out room")
	fs.StringVar(&cfg.Codec, "codec", "h264", "video codec: h264 or vp8 (synthetic payloads, keyframes the SFU recognises)")
	fs.IntVar(&cfg.FPS, "fps", 30, "video frames per second")
	fs.DurationVar(&cfg.Keyframe, "keyframe-interval", 4*time.Second, "time between keyframes (5 times a delta frame's size)")
	fs.IntVar(&cfg.MaxPayload, "max-payload", 1200, "largest RTP payload, bytes")
	fs.BoolVar(&cfg.Audio, "audio", false, "video publishers also send Opus at 32 kbit/s")
	fs.BoolVar(&cfg.Simulcast, "simulcast", false, "publish three layers (8%, 27% and 100% of --video-kbps); subscribers get the top one")
	fs.Float64Var(&cfg.JoinRate, "join-rate", 10, "participants joining per second (LiveKit's lk joins 10/s; -1: as fast as possible)")
	fs.DurationVar(&cfg.Ready, "ready-wait", 0, "longest wait for every subscriber's first packets (default 30 s + the join time)")
	fs.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "per phase, after every subscriber receives, before measuring")
	fs.DurationVar(&cfg.Window, "window", 20*time.Second, "per phase, measured time")
	fs.DurationVar(&cfg.Drain, "drain", time.Second, "per phase, wait for late packets after the window")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `switchboard bench sfu: load a running Switchboard's SFU over loopback, one phase per
room size, each a fresh room: publishers sending synthetic H.264 or VP8 (and Opus) at a
realistic rate to S subscribers, or audio rooms where every talker hears every other.
Every participant is a pion client on its own WebSocket session. After a warm-up it
measures: receivers without a lost packet, loss, packets forwarded per second (the
server's switchboard_sfu_forwarded_packets_total), server CPU per forwarded packet, RSS
per subscriber, and latency from the publisher's write to the last subscriber's read.
Prints progress, one "RESULT key=value ..." line per phase (columns as the LiveKit
anchor's run-livekit.sh) and a summary.

  switchboard serve --dev --room-modes 'bench-*=sfu' --sfu-listen-ip 127.0.0.1 --turn=false \
      --peers-per-room 1000 --sfu-max-participants 1000 --sfu-max-publishers 100 &
  switchboard bench sfu --pid $! --subscribers 50,100,200
  switchboard bench sfu --pid $! --subscribers none --audio-talkers 10,25,50

RSS per subscriber is against the server's RSS before the first phase: run one size
per fresh server for memory figures.

`)
		fs.PrintDefaults()
	}
	if done, err := parseBenchFlags(fs, args); done || err != nil {
		return err
	}
	if cfg.Secret == "" && cfg.Token == "" {
		cfg.Secret = lookupEnv("SWITCHBOARD_JWT_SECRET")
	}
	cfg.Bitrate = *kbps * 1000
	var err error
	if *subs != "none" {
		if cfg.Subscribers, err = bench.ParseInts(*subs); err != nil {
			return err
		}
	}
	if cfg.Talkers, err = bench.ParseInts(*talkers); err != nil {
		return err
	}
	limit := common.timeout
	if limit <= 0 {
		limit = bench.SFUBudget(cfg)
	}
	ctx, done, err := common.start(limit)
	if err != nil {
		return err
	}
	defer done()
	res, err := bench.RunSFU(ctx, cfg, common.output())
	if err != nil {
		return err
	}
	if n := res.Errors(); n > 0 {
		return fmt.Errorf("bench sfu: %d errors (first: %s)", n, res.FirstError)
	}
	return nil
}
