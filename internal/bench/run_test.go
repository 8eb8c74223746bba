package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// TestRunAgainstServer drives the real server with a few dozen sessions: a
// functional test (every phase relays, nothing fails), not a timed one.
func TestRunAgainstServer(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{Signaling: signaling.Config{Rate: 1e5, Burst: 1e5}})
	cfg := Config{
		Targets:  []Target{{URL: srv.WSURL}},
		Secret:   srv.Secret,
		Sessions: 40,
		Warm:     4,
		Settle:   time.Second,
		Rates:    []float64{400, 0},
		Warmup:   200 * time.Millisecond,
		Duration: time.Second,
		Timeline: 500 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := Run(ctx, cfg, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Idle.Held != 40 || res.Idle.DialFailures != 0 {
		t.Errorf("held %d sessions (%d dial failures), want 40 (0)", res.Idle.Held, res.Idle.DialFailures)
	}
	if n := res.Errors(); n != 0 {
		t.Errorf("%d errors, first: %s", n, res.FirstError)
	}
	if res.Idle.RSSAfter <= 0 || res.Idle.HeapAfter <= 0 || res.Idle.HeapAt == "" {
		t.Errorf("memory not read: %+v", res.Idle)
	}
	if len(res.Phases) != 2 {
		t.Fatalf("%d phases, want 2", len(res.Phases))
	}
	for _, p := range res.Phases {
		if p.Sessions != 40 || p.Delivered == 0 || p.P50 <= 0 || p.P99 < p.P50 {
			t.Errorf("%s: %d sessions, %d signals relayed, p50 %v, p99 %v", p.Mode, p.Sessions, p.Delivered, p.P50, p.P99)
		}
	}
	if got := res.Phases[0].PerSec(); got < 200 || got > 600 {
		t.Errorf("paced at 400/s relayed %.0f/s", got)
	}
	for _, want := range []string{"RESULT server=switchboard mode=idle sessions=40 held=40", "mode=relay-paced", "mode=relay-sat", "# t=  0.5s relayed="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestRunRefusesServerErrors: a server that refuses the token makes every
// dial fail and Run says why.
func TestRunRefusesBadToken(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{})
	cfg := Config{Targets: []Target{{URL: srv.WSURL}}, Secret: "not-the-secret", Sessions: 2, Warm: -1, Settle: time.Millisecond}
	var out strings.Builder
	_, err := Run(context.Background(), cfg, &out)
	if !errors.Is(err, ErrNoSessions) || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("Run: %v, want ErrNoSessions with unauthorized", err)
	}
}

func TestConfigRefusesNonLoopback(t *testing.T) {
	for _, c := range []Config{
		{Targets: []Target{{URL: "ws://192.0.2.2:8080/ws"}}, Secret: "s"},
		{Targets: []Target{{URL: "ws://example.com/ws"}}, Secret: "s"},
		{Targets: []Target{{URL: "ws://[::1]:8080/ws"}}, Secret: "s"},
		{Targets: []Target{{URL: "ws://127.0.0.1:8080/ws", MetricsURL: "http://10.0.0.1/metrics"}}, Secret: "s"},
	} {
		if err := c.withDefaults().validate(); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%+v: %v, want ErrNotLoopback", c.Targets, err)
		}
	}
	if _, err := ParseSources("127.0.0.2,192.0.2.2"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("ParseSources with 192.0.2.2: %v", err)
	}
	ok := Config{Targets: []Target{{URL: "ws://localhost:8080/ws"}}, Secret: "s"}
	if err := ok.withDefaults().validate(); err != nil {
		t.Errorf("localhost: %v", err)
	}
}

func TestParseSources(t *testing.T) {
	got, err := ParseSources("127.0.0.254-127.0.1.1, 127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, a := range got {
		s = append(s, a.String())
	}
	if want := "127.0.0.254 127.0.0.255 127.0.1.0 127.0.1.1 127.0.0.9"; strings.Join(s, " ") != want {
		t.Errorf("got %v, want %s", s, want)
	}
	if _, err := ParseSources("127.0.0.5-127.0.0.2"); err == nil {
		t.Error("backwards range accepted")
	}
}
