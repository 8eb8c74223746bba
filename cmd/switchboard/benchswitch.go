package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bench"
)

func runBenchSwitch(args []string) error {
	fs := flag.NewFlagSet("bench switch", flag.ContinueOnError)
	var (
		cfg    bench.SwitchConfig
		common = addCommonBenchFlags(fs, "stop after this long whatever happens (default: what the switches need, plus margin)")
	)
	fs.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8080/ws", "the server's signaling endpoint (loopback)")
	fs.StringVar(&cfg.Secret, "jwt-secret", "", "the server's HS256 secret: one token per participant [$SWITCHBOARD_JWT_SECRET] (none: tokens from a --dev server's /v1/dev/token)")
	fs.StringVar(&cfg.Token, "token", "", "one token for every participant instead (raise the server's --max-sessions-per-user)")
	fs.StringVar(&cfg.Label, "label", "switchboard", "server name in RESULT lines")
	fs.StringVar(&cfg.RoomPrefix, "room-prefix", "switch-", "room name prefix; the server must make these rooms auto rooms")
	fs.IntVar(&cfg.MeshMax, "mesh-max", 4, "the server's --mesh-max: the room grows from it to one more (to the SFU) and shrinks to one less (back)")
	fs.DurationVar(&cfg.Hold, "mesh-hold", 10*time.Second, "the server's --mesh-hold")
	fs.IntVar(&cfg.Switches, "switches", 5, "times the room goes to the SFU and back")
	fs.DurationVar(&cfg.PacketEvery, "packet-interval", 20*time.Millisecond, "each participant's video packet interval (every packet a VP8 keyframe)")
	fs.DurationVar(&cfg.Settle, "settle", 30*time.Second, "longest wait for a room to settle on a path (plus --mesh-hold on the way back)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `switchboard bench switch: switch an auto room between the mesh and the SFU on a running
Switchboard over loopback and time it. Participants are Go clients of the auto-room
contract (internal/roomclient), each publishing synthetic video and receiving every
other's. The room grows from --mesh-max to one more (everyone moves to the SFU), then
two leave (after --mesh-hold everyone moves back to a mesh), --switches times. For each
direction: the time from the first participant's mode frame to the last participant's
media from every other on the new path (p50/p99), and the longest media gap any
subscriber saw. Rooms of 5 and 10 are runs against servers with --mesh-max 4 and 9:

  switchboard serve --dev --room-mode-default auto --mesh-max 4 --mesh-hold 1s \
      --sfu-listen-ip 127.0.0.1 --turn=false &
  switchboard bench switch --mesh-max 4 --mesh-hold 1s

`)
		fs.PrintDefaults()
	}
	if done, err := parseBenchFlags(fs, args); done || err != nil {
		return err
	}
	if cfg.Secret == "" && cfg.Token == "" {
		cfg.Secret = lookupEnv("SWITCHBOARD_JWT_SECRET")
	}
	limit := common.timeout
	if limit <= 0 {
		limit = bench.SwitchBudget(cfg)
	}
	ctx, done, err := common.start(limit)
	if err != nil {
		return err
	}
	defer done()
	res, err := bench.RunSwitch(ctx, cfg, common.output())
	if err != nil {
		return err
	}
	if n := res.Errors(); n > 0 {
		return fmt.Errorf("bench switch: %d errors (first: %s)", n, res.FirstError)
	}
	return nil
}
