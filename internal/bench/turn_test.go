package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/turn"
)

func startTURN(t *testing.T) *turn.Server {
	t.Helper()
	srv, err := turn.New(turn.Config{
		Secret:     []byte("bench-secret"),
		ListenIP:   netip.MustParseAddr("127.0.0.1"),
		Port:       -1,
		NoTCP:      true,
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestRunTURNAgainstServer drives an in-process TURN server with a few
// allocations through every kind of phase: a functional test (everything
// relays, nothing fails, every RESULT field is there), not a timed one.
func TestRunTURNAgainstServer(t *testing.T) {
	srv := startTURN(t)
	cfg := TURNConfig{
		Server:      srv.Addrs().UDP,
		Secret:      "bench-secret",
		PID:         os.Getpid(), // the server runs in this process
		Allocations: 12,
		Warm:        -1,
		Settle:      time.Second,
		Payloads:    []int{100, 1200},
		Rates:       []float64{2000, 0},
		Active:      6,
		Warmup:      100 * time.Millisecond,
		Duration:    600 * time.Millisecond,
		Timeline:    300 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := RunTURN(ctx, cfg, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("RunTURN: %v", err)
	}
	if res.Idle.Held != 12 || res.Idle.Failures != 0 {
		t.Errorf("held %d allocations (%d failed), want 12 (0)", res.Idle.Held, res.Idle.Failures)
	}
	if n := res.Errors(); n != 0 {
		t.Errorf("%d errors, first: %s", n, res.FirstError)
	}
	if res.Idle.RSSAfter <= 0 || res.Idle.FDsAfter-res.Idle.FDsBefore < 12 {
		t.Errorf("memory or files not read: %+v", res.Idle)
	}
	if len(res.Phases) != 4 {
		t.Fatalf("%d phases, want 4", len(res.Phases))
	}
	for _, p := range res.Phases {
		if p.Active != 6 || p.Delivered == 0 || p.AtPeer < p.Delivered || p.Sent < p.AtPeer || p.P50 <= 0 || p.P99 < p.P50 {
			t.Errorf("%s %d B: %d allocations, sent %d, at peer %d, back %d, p50 %v, p99 %v",
				p.Mode, p.Payload, p.Active, p.Sent, p.AtPeer, p.Delivered, p.P50, p.P99)
		}
	}
	if got := res.Phases[0].RoundTrips(); got < 1000 || got > 3000 {
		t.Errorf("paced at 2000/s: %.0f round trips/s", got)
	}
	for _, want := range []string{
		"RESULT server=switchboard mode=idle allocations=12 held=12 alloc_fails=0",
		"kib_per_allocation=", "server_fds_per_allocation=",
		"mode=relay-paced payload_bytes=100 allocations=6 offered_rt_per_s=2000",
		"mode=relay-sat payload_bytes=1200 allocations=6 window_per_allocation=4",
		"relay_pps=", "mbit_s=", "loss_pct=", "p99_ms=", "server_cpu_pct=", "gen_cpu_pct=", "other_procs_cpu_pct=", "drops_server=",
		"# t=  0.3s round_trips=",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Everything was released: the server holds no allocation.
	if fds := countFDs(os.Getpid()); fds > res.Idle.FDsBefore+2 {
		t.Errorf("%d open files after the run, %d before allocating: allocations left behind?", fds, res.Idle.FDsBefore)
	}
}

// TestRunTURNWrongSecret: every allocation fails with 401 and RunTURN says so.
func TestRunTURNWrongSecret(t *testing.T) {
	srv := startTURN(t)
	cfg := TURNConfig{Server: srv.Addrs().UDP, Secret: "not-the-secret", PID: -1, Allocations: 2, Warm: -1, Settle: time.Millisecond}
	_, err := RunTURN(context.Background(), cfg, io.Discard)
	if !errors.Is(err, ErrNoSessions) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("RunTURN: %v, want ErrNoSessions with 401", err)
	}
}

func TestTURNConfigRefusesNonLoopback(t *testing.T) {
	for _, c := range []TURNConfig{
		{Server: netip.MustParseAddrPort("192.0.2.2:3478"), Secret: "s"},
		{Server: netip.MustParseAddrPort("127.0.0.1:3478"), Secret: "s", Peer: netip.MustParseAddr("10.0.0.1")},
		{Server: netip.MustParseAddrPort("127.0.0.1:3478"), Secret: "s", Sources: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		{Server: netip.MustParseAddrPort("127.0.0.1:3478"), Secret: "s", MetricsURL: "http://10.0.0.1/metrics"},
	} {
		if err := c.withDefaults().validate(); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%+v: %v, want ErrNotLoopback", c, err)
		}
	}
}

func TestParseTURNRates(t *testing.T) {
	got, err := ParseTURNRates("50000, 1000/a,0", 100)
	if err != nil || len(got) != 3 || got[0] != 50000 || got[1] != 100000 || got[2] != 0 {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParseTURNRates("-1", 1); err == nil {
		t.Error("negative rate accepted")
	}
	if got, _ := ParseTURNRates("none", 1); got != nil {
		t.Errorf("none: %v", got)
	}
}
