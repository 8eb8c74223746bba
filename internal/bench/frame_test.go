package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.quantile(c.q)
		if d := got - c.want; d < -c.want/50 || d > c.want/50 {
			t.Errorf("q%v = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	if h.maximum() != time.Second {
		t.Errorf("max %v", h.maximum())
	}
	for us := uint64(0); us < 1<<22; us = us*3/2 + 1 { // buckets are monotonic and cover the value
		i := histIndex(us)
		if mid := histMid(i); mid < float64(us)*0.98-1 || mid > float64(us)*1.02+1 {
			t.Fatalf("%d µs -> bucket %d, middle %.1f", us, i, mid)
		}
	}
	h.reset()
	if h.quantile(0.5) != 0 {
		t.Error("reset histogram not empty")
	}
}

func TestSignalFrame(t *testing.T) {
	r := &runner{cfg: Config{Payload: 200}, t0: time.Now().Add(-time.Hour)}
	a := &session{room: "bench-x-0", peer: "A"}
	b := &session{room: "bench-x-0", peer: "B"}
	for _, size := range []int{16, 60, 200, 1000} {
		r.cfg.Payload = size
		f := r.appendSignal(nil, a, b)
		var v struct {
			Type, Room, To string
			Data           json.RawMessage
		}
		if err := json.Unmarshal(f, &v); err != nil {
			t.Fatalf("payload %d: %v: %s", size, err, f)
		}
		if v.Type != "signal" || v.Room != a.room || v.To != "B" {
			t.Errorf("frame %s", f)
		}
		if size >= 60 && len(v.Data) != size {
			t.Errorf("payload %d: data is %d bytes: %s", size, len(v.Data), v.Data)
		}
		// what the server relays: same data, from and seq added
		relayed := `{"type":"signal","room":"bench-x-0","from":"A","data":` + string(v.Data) + `,"seq":42}`
		if ts := stamp([]byte(relayed)); time.Duration(ts) < time.Hour || time.Duration(ts) > time.Hour+time.Minute {
			t.Errorf("stamp %d", ts)
		}
		if seq, ok := frameSeq([]byte(relayed)); !ok || seq != 42 {
			t.Errorf("seq %d %v", seq, ok)
		}
	}
	if _, ok := frameSeq([]byte(`{"type":"welcome","peer":"x"}`)); ok {
		t.Error("seq found in welcome")
	}
	if strings.Contains(candidate, `"`) {
		t.Error("candidate needs escaping")
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader("# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 12\n" +
		"go_memstats_heap_inuse_bytes 4.194304e+06\nswitchboard_signaling_frames_in_total{type=\"join\"} 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m["go_goroutines"] != 12 || m["go_memstats_heap_inuse_bytes"] != 4194304 || len(m) != 2 {
		t.Errorf("got %v", m)
	}
}
