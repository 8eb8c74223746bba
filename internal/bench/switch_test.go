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

func TestSwitchConfig(t *testing.T) {
	for _, cfg := range []SwitchConfig{
		{URL: "ws://10.0.0.1:8080/ws"},
		{URL: "ws://127.0.0.1:8080/ws", MeshMax: 1},
		{URL: "ws://127.0.0.1:8080/ws", Switches: -1},
	} {
		if err := cfg.withDefaults().validate(); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	if q := quantile([]time.Duration{5, 1, 4, 2, 3}, 0.5); q != 3 {
		t.Errorf("p50 %v, want 3", q)
	}
	if q := quantile([]time.Duration{5, 1, 4, 2, 3}, 0.99); q != 5 {
		t.Errorf("p99 %v, want 5", q)
	}
}

// TestRunSwitchAgainstServer runs the benchmark end to end against an
// in-process server with auto rooms (a mesh of at most 3, back after
// 300 ms): two switches each way, every one settled, no peer failed. A
// functional test, not a timed one.
func TestRunSwitchAgainstServer(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{RoomModes: signaling.RoomModes{
		Default: signaling.ModeAuto, MeshMax: 3, MeshHold: 300 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := RunSwitch(ctx, SwitchConfig{URL: srv.WSURL, Secret: srv.Secret, MeshMax: 3, Hold: 300 * time.Millisecond, Switches: 2}, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("RunSwitch: %v", err)
	}
	if n := res.Errors(); n != 0 {
		t.Errorf("%d errors, first: %s", n, res.FirstError)
	}
	for _, d := range []SwitchDir{res.ToSFU, res.ToMesh} {
		if len(d.Times) != 2 || d.Settled != 2 || len(d.Gaps) != 2 || d.Failed != 0 {
			t.Errorf("%s: %d times, %d settled, %d gaps, %d failed", d.Direction, len(d.Times), d.Settled, len(d.Gaps), d.Failed)
		}
		for _, x := range d.Times {
			if x <= 0 || x > 30*time.Second {
				t.Errorf("%s: a switch time of %v", d.Direction, x)
			}
		}
		for _, x := range d.Gaps {
			if x < 0 || x > 30*time.Second {
				t.Errorf("%s: a gap of %v", d.Direction, x)
			}
		}
	}
	if res.ToSFU.Size != 4 || res.ToMesh.Size != 2 {
		t.Errorf("sizes %d and %d, want 4 and 2", res.ToSFU.Size, res.ToMesh.Size)
	}
	if !strings.Contains(out.String(), "RESULT server=switchboard bench=switch direction=to_sfu size=4 switches=2") {
		t.Errorf("no RESULT line for to_sfu")
	}

	// A room that is not auto never switches: the run says so.
	mesh := testutil.StartServer(t, testutil.Options{})
	_, err = RunSwitch(ctx, SwitchConfig{URL: mesh.WSURL, Secret: mesh.Secret, MeshMax: 2, Switches: 1, Settle: 3 * time.Second}, &out)
	if !errors.Is(err, ErrNotAuto) {
		t.Errorf("a mesh server: %v, want ErrNotAuto", err)
	}
}
