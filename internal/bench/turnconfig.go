package bench

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TURNConfig configures RunTURN. Zero fields take the default written next
// to them.
type TURNConfig struct {
	Server netip.AddrPort // the TURN server's UDP address, loopback (required)
	Secret string         // TURN REST API secret (coturn's static-auth-secret; required)

	// PID is the server's process id, for VmRSS, open files and CPU time
	// from /proc; 0 finds it from the UDP port, -1 reads nothing.
	PID int
	// MetricsURL is the server's Prometheus endpoint (Go heap, goroutines and
	// the server's own count of relayed packets); "" reads none.
	MetricsURL string
	Label      string // server name in RESULT lines (default "switchboard")

	Allocations int           // allocations held idle for the memory reading (default 1000)
	Sources     []netip.Addr  // client source addresses (default 127.0.0.2 .. 127.0.0.5)
	Dials       int           // allocations being set up at once (default 64)
	Warm        int           // allocations made and released before the memory baseline (default 100; -1: none)
	Settle      time.Duration // idle time after allocating before memory is read (default 8 s)
	Lifetime    time.Duration // LIFETIME asked for (default 10 min); allocations and channels are refreshed at a third of it

	// Peer is the echo peer's address (default 127.0.0.1; the server must
	// allow relaying to it: --turn-allow-peers 127.0.0.0/8). PeerSockets is
	// how many SO_REUSEPORT sockets (one goroutine each) it reads with
	// (default 2).
	Peer        netip.Addr
	PeerSockets int

	// Relay phases: every payload size in Payloads (default 100 and 1200
	// bytes) is run at every rate in Rates, in order. A rate R > 0 offers R
	// echo round trips per second in total (client -> relay -> peer -> relay
	// -> client: two relayed packets each), spread evenly over Active
	// allocations; 0 is closed loop (Window packets in flight per
	// allocation). Empty Rates: idle measurement only.
	Payloads []int
	Rates    []float64
	Active   int           // allocations sending in the relay phases (default 100; at most Allocations)
	Window   int           // closed loop: packets in flight per allocation (default 4)
	Warmup   time.Duration // per phase, before measuring (default 2 s)
	Duration time.Duration // measured time per phase (default 10 s)

	// WaitIdle makes every measurement wait (up to WaitMax, default 30 min)
	// until each core is under WaitIdle % busy over a second, so that other
	// work on the machine does not skew it; 0 does not wait.
	WaitIdle float64
	WaitMax  time.Duration

	// Timeline prints, every Timeline while a phase is measured, the round
	// trips completed in that interval and their latency; 0: none.
	Timeline time.Duration
}

func (c TURNConfig) withDefaults() TURNConfig {
	if c.Label == "" {
		c.Label = "switchboard"
	}
	if c.Allocations == 0 {
		c.Allocations = 1000
	}
	connectDefaults(&c.Sources, &c.Dials, &c.Warm, &c.Settle)
	if c.Lifetime == 0 {
		c.Lifetime = 10 * time.Minute
	}
	if !c.Peer.IsValid() {
		c.Peer = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if c.PeerSockets == 0 {
		c.PeerSockets = 2
	}
	if len(c.Payloads) == 0 {
		c.Payloads = []int{100, 1200}
	}
	if c.Active == 0 {
		c.Active = 100
	}
	c.Active = min(c.Active, c.Allocations)
	if c.Window == 0 {
		c.Window = 4
	}
	if c.Warmup == 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.WaitMax == 0 {
		c.WaitMax = 30 * time.Minute
	}
	return c
}

// turnMinPayload holds the send time (8 bytes) and the allocation index (4).
const turnMinPayload = 12

func (c TURNConfig) validate() error {
	bad := badConfig
	if !c.Server.IsValid() || c.Server.Port() == 0 {
		return bad("no TURN server address")
	}
	if !isLoopback(c.Server.Addr()) {
		return fmt.Errorf("%w: server %s", ErrNotLoopback, c.Server)
	}
	if !isLoopback(c.Peer) {
		return fmt.Errorf("%w: peer %s", ErrNotLoopback, c.Peer)
	}
	if err := checkSources(c.Sources); err != nil {
		return err
	}
	if c.MetricsURL != "" {
		if err := checkURL(c.MetricsURL, "http"); err != nil {
			return err
		}
	}
	if c.Secret == "" {
		return bad("no TURN secret")
	}
	if c.Allocations < 1 || c.Dials < 1 || c.Active < 1 || c.PeerSockets < 1 {
		return bad("allocations, dials, active allocations and peer sockets must be positive")
	}
	if c.Window < 1 {
		return bad("window %d: at least 1", c.Window)
	}
	for _, p := range c.Payloads {
		if p < turnMinPayload || p > 1400 {
			return bad("payload %d bytes: want %d to 1400", p, turnMinPayload)
		}
	}
	if err := checkRates(c.Rates); err != nil {
		return err
	}
	if c.Warmup < 0 || c.Duration <= 0 || c.Settle < 0 || c.Timeline < 0 || c.Lifetime < time.Minute || c.WaitIdle < 0 {
		return bad("durations must be positive (lifetime at least a minute)")
	}
	// Every allocation holds one client socket.
	return checkSourcePorts(c.Allocations+c.Warm, len(c.Sources), "allocations")
}

// TURNBudget is how long RunTURN takes at most with cfg, with margin: a
// caller can bound it with this (waits for an idle machine not included).
func TURNBudget(cfg TURNConfig) time.Duration {
	c := cfg.withDefaults()
	d := 2*time.Minute + c.Settle + 10*time.Second
	for range len(c.Rates) * len(c.Payloads) {
		d += c.Warmup + c.Duration + turnDrainWait + 2*time.Second
	}
	return d
}

// ParseTURNRates parses "50000,100000,1000/a,0": round trips per second in
// total, or per allocation with the suffix "/a" (multiplied by active).
func ParseTURNRates(s string, active int) ([]float64, error) {
	if s = strings.TrimSpace(s); s == "" || s == "none" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		per := strings.HasSuffix(f, "/a")
		v, err := strconv.ParseFloat(strings.TrimSuffix(f, "/a"), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%w: rates %q: want non-negative numbers, optionally ending in /a (per allocation)", ErrBadConfig, s)
		}
		if per {
			v *= float64(active)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseInts parses "100,1200".
func ParseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not a whole number", ErrBadConfig, f)
		}
		out = append(out, v)
	}
	return out, nil
}
