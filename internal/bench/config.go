package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Target is one server under test.
type Target struct {
	// URL is the signaling endpoint, ws://127.0.0.1:PORT/ws.
	URL string
	// PID is the server's process id, for VmRSS and CPU time from /proc.
	// 0 finds it from the listening port (when this host can see it);
	// -1 never reads /proc (RSS then comes from /metrics, CPU is not reported).
	PID int
	// MetricsURL is the server's Prometheus endpoint (default: the URL's
	// host with /metrics); "-" reads no metrics.
	MetricsURL string
}

// Config configures Run. Zero fields take the default written next to them.
type Config struct {
	Targets []Target // servers; each pair of sessions goes to one of them in turn (required)

	Secret string // HS256 secret: a token per session, user bench-RUN-IDX, rooms ["*"]
	Token  string // or one token for every session (mind the server's per-user limit)

	Sessions int           // sessions to open (default 1000); odd counts leave one unpaired
	Sources  []netip.Addr  // source addresses (default 127.0.0.2 .. 127.0.0.5)
	Dials    int           // dials in flight while connecting (default 64)
	Warm     int           // sessions opened and closed before the memory baseline (default 100; -1: none)
	Settle   time.Duration // idle time after connecting before memory is read (default 8 s)

	// Rates lists the relay phases, in order: R > 0 offers R signals/s in
	// total, spread evenly over the sessions; 0 is closed loop (Window signals
	// in flight per pair). Empty: idle measurement only.
	Rates    []float64
	Window   int           // signals in flight per pair (default 8); paced sends beyond it are skipped and counted
	Payload  int           // bytes of signal data, JSON (default 200, like an ICE candidate)
	Warmup   time.Duration // per phase, before measuring (default 3 s)
	Duration time.Duration // measured time per phase (default 10 s)

	Label string // server name in RESULT lines (default "switchboard")

	// Timeline prints, every Timeline while a phase is measured, what was
	// relayed in that interval and its latency (to see GC cycles, ping
	// bursts and other periodic stalls); 0: none.
	Timeline time.Duration
}

func (c Config) withDefaults() Config {
	if c.Sessions == 0 {
		c.Sessions = 1000
	}
	connectDefaults(&c.Sources, &c.Dials, &c.Warm, &c.Settle)
	if c.Window == 0 {
		c.Window = 8
	}
	if c.Payload == 0 {
		c.Payload = 200
	}
	if c.Warmup == 0 {
		c.Warmup = 3 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Label == "" {
		c.Label = "switchboard"
	}
	c.Targets = append([]Target(nil), c.Targets...)
	for i := range c.Targets {
		if c.Targets[i].MetricsURL == "" {
			c.Targets[i].MetricsURL = metricsURLFor(c.Targets[i].URL)
		}
	}
	return c
}

func (c Config) validate() error {
	bad := badConfig
	if len(c.Targets) == 0 {
		return bad("no target URL")
	}
	for _, t := range c.Targets {
		if err := checkURL(t.URL, "ws"); err != nil {
			return err
		}
		if t.MetricsURL != "-" {
			if err := checkURL(t.MetricsURL, "http"); err != nil {
				return err
			}
		}
	}
	if err := checkSources(c.Sources); err != nil {
		return err
	}
	if (c.Secret == "") == (c.Token == "") {
		return bad("give a JWT secret or a token (one of them)")
	}
	if c.Sessions < 1 || c.Dials < 1 {
		return bad("sessions and dials must be positive")
	}
	if c.Window < 2 {
		return bad("window %d: at least 2 (one signal each way)", c.Window)
	}
	if c.Payload < 16 || c.Payload > 60<<10 {
		return bad("payload %d bytes: want 16 to 61440", c.Payload)
	}
	if err := checkRates(c.Rates); err != nil {
		return err
	}
	if c.Warmup < 0 || c.Duration <= 0 || c.Settle < 0 || c.Timeline < 0 {
		return bad("durations must be positive")
	}
	return checkSourcePorts(c.Sessions+c.Warm, len(c.Sources), "sessions")
}

// Budget is how long Run takes at most with cfg (connecting, settling, every
// phase and the drains between them), with margin: a caller can bound Run
// with it.
func Budget(cfg Config) time.Duration {
	c := cfg.withDefaults()
	d := 2*time.Minute + c.Settle + 5*time.Second // connect and warm-up (generous), settle, close
	for range c.Rates {
		d += c.Warmup + c.Duration + drainWait + time.Second
	}
	return d
}

// isLoopback reports whether a is in 127.0.0.0/8 (IPv4-mapped forms included).
func isLoopback(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() && a.As4()[0] == 127
}

// checkURL accepts scheme://127.x.y.z:port/... (or localhost, read as 127.0.0.1).
func checkURL(raw, scheme string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrBadConfig, raw, err)
	}
	if u.Scheme != scheme {
		return fmt.Errorf("%w: %q: want a %s:// URL", ErrBadConfig, raw, scheme)
	}
	if _, err := loopbackHost(u.Hostname()); err != nil {
		return fmt.Errorf("%w: %q", err, raw)
	}
	return nil
}

// loopbackHost parses a URL's host name into a loopback address.
func loopbackHost(h string) (netip.Addr, error) {
	if strings.EqualFold(h, "localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil || !isLoopback(a) {
		return netip.Addr{}, fmt.Errorf("%w: host %q", ErrNotLoopback, h)
	}
	return a.Unmap(), nil
}

// loopbackDial is a DialContext that dials through d to loopback hosts
// only.
func loopbackDial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if _, err := loopbackHost(host); err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, addr)
	}
}

// metricsURLFor turns ws://HOST:PORT/ws into http://HOST:PORT/metrics.
func metricsURLFor(ws string) string {
	u, err := url.Parse(ws)
	if err != nil {
		return ""
	}
	return "http://" + u.Host + "/metrics"
}

// ParseSources parses "127.0.0.2-127.0.0.5,127.0.0.9" (addresses and
// inclusive ranges) into addresses, all of them loopback.
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("%w: source %q", ErrBadConfig, part)
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("%w: source %q", ErrBadConfig, part)
			}
		}
		if !isLoopback(a) || !isLoopback(b) {
			return nil, fmt.Errorf("%w: source %q", ErrNotLoopback, part)
		}
		a, b = a.Unmap(), b.Unmap()
		if b.Less(a) {
			return nil, fmt.Errorf("%w: source range %q runs backwards", ErrBadConfig, part)
		}
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if len(out) > 1<<16 {
				return nil, fmt.Errorf("%w: more than 65536 source addresses", ErrBadConfig)
			}
			if x == b {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no source address", ErrBadConfig)
	}
	return out, nil
}
