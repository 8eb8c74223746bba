package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bench"
)

const benchUsage = `switchboard bench: load a running server on this host and measure it

  switchboard bench signaling [flags]   sessions held, signals relayed per second,
                                        relay latency, server memory per idle session
  switchboard bench turn [flags]        TURN allocations held, packets relayed per second,
                                        loss, latency, server memory per allocation
  switchboard bench sfu [flags]         SFU fan-out and audio rooms: lossless subscribers,
                                        CPU per forwarded packet, memory per subscriber,
                                        fan-out latency
  switchboard bench switch [flags]      an auto room switching between mesh and SFU:
                                        switch time p50/p99, longest media gap

Only loopback addresses (127.0.0.0/8) may be targets or sources.
`

func runBench(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(benchUsage)
		return nil
	}
	switch args[0] {
	case "signaling":
		return runBenchSignaling(args[1:])
	case "turn":
		return runBenchTURN(args[1:])
	case "sfu":
		return runBenchSFU(args[1:])
	case "switch":
		return runBenchSwitch(args[1:])
	}
	return fmt.Errorf("bench: unknown benchmark %q (want: signaling, turn, sfu, switch)", args[0])
}

func runBenchSignaling(args []string) error {
	fs := flag.NewFlagSet("bench signaling", flag.ContinueOnError)
	var (
		urls    listFlag = listFlag{"ws://127.0.0.1:8080/ws"}
		pids    listFlag
		mURLs   listFlag
		cfg     bench.Config
		sources = fs.String("sources", "127.0.0.2-127.0.0.5", "source addresses, a list of addresses and ranges (about 28,000 sessions each)")
		rates   = fs.String("rates", "10000,100000,0", `relay phases in order: R>0 offers R signals/s in total, 0 is closed loop; "none" measures idle memory only`)
		common  = addCommonBenchFlags(fs, "stop after this long whatever happens (default: what the phases need, plus margin)")
	)
	fs.Var(&urls, "url", "signaling endpoint(s), comma-separated; pairs of sessions go to each in turn")
	fs.Var(&pids, "pid", "server PID(s) for RSS and CPU from /proc, one per --url (0: find from the port, -1: none)")
	fs.Var(&mURLs, "metrics-url", `server /metrics URL(s), one per --url (default: the --url's host + /metrics; "-": none)`)
	fs.StringVar(&cfg.Secret, "jwt-secret", "", "the server's HS256 secret: one token per session [$SWITCHBOARD_JWT_SECRET]")
	fs.StringVar(&cfg.Token, "token", "", "one token for every session instead (raise the server's --max-sessions-per-user)")
	fs.IntVar(&cfg.Sessions, "sessions", 1000, "sessions to open, in rooms of two (at most the open-file limit minus 64)")
	fs.IntVar(&cfg.Dials, "dials", 64, "dials in flight while connecting")
	fs.IntVar(&cfg.Warm, "warm", 100, "sessions opened and closed before the memory baseline (-1: none)")
	fs.DurationVar(&cfg.Settle, "settle", 8*time.Second, "idle time after connecting before memory is read")
	fs.IntVar(&cfg.Window, "window", 8, "signals in flight per pair at most (closed loop: exactly)")
	fs.IntVar(&cfg.Payload, "payload", 200, "bytes of signal data (JSON shaped like an ICE candidate)")
	fs.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "per phase, time before measuring")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "per phase, measured time")
	fs.StringVar(&cfg.Label, "label", "switchboard", "server name in RESULT lines")
	fs.DurationVar(&cfg.Timeline, "timeline", 0, "print relayed signals and latency every interval while measuring (e.g. 1s: shows GC and ping stalls)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `switchboard bench signaling: open N sessions against a running server, hold them
idle and read the server's memory per idle session, then relay signals between
the two peers of every room, paced and closed loop. Prints progress, one
"RESULT key=value ..." line per measurement, and a summary; stops by itself.

  switchboard serve --listen 127.0.0.1:8080 --jwt-secret S --max-sessions 20000 --rate 1000 --burst 2000 &
  switchboard bench signaling --url ws://127.0.0.1:8080/ws --jwt-secret S --sessions 10000

Closed-loop phases send faster than the server's default --rate (100 frames/s per
session): raise it, or the run reports rate_limited errors. One generator process
holds at most its open-file limit of sessions; for more, run several, each with
its own --sources.

`)
		fs.PrintDefaults()
	}
	if done, err := parseBenchFlags(fs, args); done || err != nil {
		return err
	}
	if cfg.Secret == "" && cfg.Token == "" {
		cfg.Secret = lookupEnv("SWITCHBOARD_JWT_SECRET")
	}
	var err error
	if cfg.Sources, err = bench.ParseSources(*sources); err != nil {
		return err
	}
	if cfg.Rates, err = parseRates(*rates); err != nil {
		return err
	}
	if cfg.Targets, err = benchTargets(urls, pids, mURLs); err != nil {
		return err
	}
	limit := common.timeout
	if limit <= 0 {
		limit = bench.Budget(cfg)
	}
	ctx, done, err := common.start(limit)
	if err != nil {
		return err
	}
	defer done()
	w := common.output()
	res, err := bench.Run(ctx, cfg, w)
	if err != nil {
		return err // already says "bench: ..."
	}
	if n := res.Errors(); n > 0 {
		return fmt.Errorf("bench signaling: %d errors (first: %s)", n, res.FirstError)
	}
	return nil
}

func runBenchTURN(args []string) error {
	fs := flag.NewFlagSet("bench turn", flag.ContinueOnError)
	var (
		cfg      bench.TURNConfig
		server   = fs.String("server", "127.0.0.1:3478", "the TURN server's UDP address (loopback)")
		sources  = fs.String("sources", "127.0.0.2-127.0.0.5", "client source addresses, a list of addresses and ranges (about 28,000 allocations each)")
		peer     = fs.String("peer", "127.0.0.1", "address of the echo peer the relays send to (the server must allow it: --turn-allow-peers 127.0.0.0/8)")
		payloads = fs.String("payloads", "100,1200", "payload sizes in bytes; every relay phase runs at each")
		rates    = fs.String("rates", "50000,100000,0", `relay phases per payload, in order: R>0 offers R echo round trips/s in total (R/a: per allocation), 0 is closed loop; "none": idle memory only`)
		common   = addCommonBenchFlags(fs, "stop after this long whatever happens (default: what the phases need, plus margin and --wait-max)")
	)
	fs.StringVar(&cfg.Secret, "secret", "", "the server's TURN REST secret (--turn-secret, coturn's static-auth-secret) [$SWITCHBOARD_TURN_SECRET]")
	fs.IntVar(&cfg.PID, "pid", 0, "server PID for RSS, open files and CPU from /proc (0: find from the UDP port, -1: none)")
	fs.StringVar(&cfg.MetricsURL, "metrics-url", "", "server /metrics URL for Go heap and its own relayed-packet counters (default: none)")
	fs.StringVar(&cfg.Label, "label", "switchboard", "server name in RESULT lines")
	fs.IntVar(&cfg.Allocations, "allocations", 1000, "allocations to make and hold (one user and one client socket each; at most the open-file limit minus 64)")
	fs.IntVar(&cfg.Dials, "dials", 64, "allocations being set up at once")
	fs.IntVar(&cfg.Warm, "warm", 100, "allocations made and released before the memory baseline (-1: none)")
	fs.DurationVar(&cfg.Settle, "settle", 8*time.Second, "idle time after allocating before memory is read")
	fs.DurationVar(&cfg.Lifetime, "lifetime", 10*time.Minute, "allocation LIFETIME asked for; allocations and channels are refreshed at a third of it")
	fs.IntVar(&cfg.PeerSockets, "peer-sockets", 2, "SO_REUSEPORT sockets (one goroutine each) of the echo peer")
	fs.IntVar(&cfg.Active, "active", 100, "allocations sending in the relay phases (at most --allocations)")
	fs.IntVar(&cfg.Window, "window", 4, "closed loop: packets in flight per allocation")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "per phase, time before measuring")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "per phase, measured time")
	fs.Float64Var(&cfg.WaitIdle, "wait-idle", 15, "before each measurement, wait until every core is under this % busy (0: don't wait)")
	fs.DurationVar(&cfg.WaitMax, "wait-max", 30*time.Minute, "longest wait for an idle machine before measuring anyway (marked in RESULT lines)")
	fs.DurationVar(&cfg.Timeline, "timeline", 0, "print round trips and latency every interval while measuring (e.g. 1s)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `switchboard bench turn: make N TURN allocations (UDP, one user each) on a running
server, each with a channel to an echo peer of its own, hold them idle and read the
server's memory per allocation, then relay through --active of them at every
payload size and rate: packets relayed per second, Mbit/s, loss, round-trip latency,
CPU of the server and of this generator, kernel receive-buffer drops. Prints
progress, one "RESULT key=value ..." line per measurement, and a summary; stops by
itself and releases its allocations.

  switchboard serve --signaling=false --turn-secret S --turn-listen-ip 127.0.0.1 \
      --turn-allow-peers 127.0.0.0/8 --turn-max-allocations 19000 --log-level warn &
  switchboard bench turn --server 127.0.0.1:3478 --secret S --pid $! --allocations 10000

Works against any TURN server with coturn's REST credentials (--use-auth-secret).
One generator process holds at most its open-file limit of allocations; for more,
run several, each with its own --sources.

`)
		fs.PrintDefaults()
	}
	if done, err := parseBenchFlags(fs, args); done || err != nil {
		return err
	}
	if cfg.Secret == "" {
		cfg.Secret = lookupEnv("SWITCHBOARD_TURN_SECRET")
	}
	var err error
	if cfg.Server, err = netip.ParseAddrPort(*server); err != nil {
		return fmt.Errorf("bench turn: --server %q: want IP:PORT", *server)
	}
	if cfg.Peer, err = netip.ParseAddr(*peer); err != nil {
		return fmt.Errorf("bench turn: --peer %q: want an IP address", *peer)
	}
	if cfg.Sources, err = bench.ParseSources(*sources); err != nil {
		return err
	}
	if cfg.Payloads, err = bench.ParseInts(*payloads); err != nil {
		return err
	}
	active := min(max(cfg.Active, 1), max(cfg.Allocations, 1))
	if cfg.Rates, err = bench.ParseTURNRates(*rates, active); err != nil {
		return err
	}
	limit := common.timeout
	if limit <= 0 {
		limit = bench.TURNBudget(cfg) + cfg.WaitMax*time.Duration(1+len(cfg.Rates)*len(cfg.Payloads))
	}
	ctx, done, err := common.start(limit)
	if err != nil {
		return err
	}
	defer done()
	w := common.output()
	res, err := bench.RunTURN(ctx, cfg, w)
	if err != nil {
		return err
	}
	if n := res.Errors(); n > 0 {
		return fmt.Errorf("bench turn: %d errors (first: %s)", n, res.FirstError)
	}
	return nil
}

// benchTargets zips --url, --pid and --metrics-url.
func benchTargets(urls, pids, mURLs []string) ([]bench.Target, error) {
	if len(urls) == 0 {
		return nil, errors.New("bench signaling: --url is required")
	}
	if len(pids) > len(urls) || len(mURLs) > len(urls) {
		return nil, errors.New("bench signaling: more --pid or --metrics-url values than --url values")
	}
	ts := make([]bench.Target, len(urls))
	for i, u := range urls {
		ts[i].URL = u
		if i < len(pids) {
			p, err := strconv.Atoi(pids[i])
			if err != nil || p < -1 {
				return nil, fmt.Errorf("bench signaling: --pid %q: want a process id, 0 or -1", pids[i])
			}
			ts[i].PID = p
		}
		if i < len(mURLs) {
			ts[i].MetricsURL = mURLs[i]
		}
	}
	return ts, nil
}

func parseRates(s string) ([]float64, error) {
	if s = strings.TrimSpace(s); s == "" || s == "none" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bench signaling: --rates %q: want non-negative numbers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// lineFilter drops progress lines ("# ...") when quiet.
type lineFilter struct {
	quiet bool
	out   *os.File
}

func (l *lineFilter) Write(p []byte) (int, error) {
	if l.quiet && strings.HasPrefix(string(p), "# ") {
		return len(p), nil
	}
	return l.out.Write(p)
}

// commonBenchFlags are the flags every benchmark has.
type commonBenchFlags struct {
	timeout time.Duration
	gcPct   int
	quiet   bool
	cpuProf string
}

// addCommonBenchFlags defines --timeout (with timeoutUsage), --gc-percent,
// --quiet and --cpuprofile on fs.
func addCommonBenchFlags(fs *flag.FlagSet, timeoutUsage string) *commonBenchFlags {
	c := &commonBenchFlags{}
	fs.DurationVar(&c.timeout, "timeout", 0, timeoutUsage)
	fs.IntVar(&c.gcPct, "gc-percent", 400, "GOGC of the generator itself (keeps its GC out of the way; -1 leaves it)")
	fs.BoolVar(&c.quiet, "quiet", false, "print only RESULT lines and the summary")
	fs.StringVar(&c.cpuProf, "cpuprofile", "", "write the generator's own CPU profile to this file (is the generator the bottleneck?)")
	return c
}

// parseBenchFlags parses args into fs; done is true after --help (nothing
// more to do). Positional arguments are an error.
func parseBenchFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, err
	}
	if fs.NArg() > 0 {
		return true, fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return false, nil
}

// start applies --gc-percent, and returns a context that ends on SIGINT,
// SIGTERM or after limit, with the --cpuprofile running; done stops both.
func (c *commonBenchFlags) start(limit time.Duration) (ctx context.Context, done func(), err error) {
	if c.gcPct != -1 {
		debug.SetGCPercent(c.gcPct)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, limit)
	done = func() { cancel(); stop() }
	if c.cpuProf != "" {
		f, err := os.Create(c.cpuProf)
		if err != nil {
			done()
			return nil, nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			done()
			return nil, nil, err
		}
		ctxDone := done
		done = func() { pprof.StopCPUProfile(); f.Close(); ctxDone() }
	}
	return ctx, done, nil
}

// output is where a benchmark writes: stdout, without progress lines with --quiet.
func (c *commonBenchFlags) output() *lineFilter { return &lineFilter{quiet: c.quiet, out: os.Stdout} }
