//go:build linux && (amd64 || arm64)

package turn

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// stormShape is how many clients TestMassReconnect reconnects, their first
// requests spread over how long. TURN_STORM_CLIENTS and TURN_STORM_SPREAD
// (a duration, 0 for all at once) change them for measuring; the test
// asserts on whatever it runs with. 5,000 clients and their 5,000 relay
// sockets stay well under the 20,000 open files a process may have here.
func stormShape(t *testing.T) (clients int, spread time.Duration) {
	t.Helper()
	clients, spread = 5000, time.Second
	if v := os.Getenv("TURN_STORM_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TURN_STORM_CLIENTS=%q", v)
		}
		clients = n
	}
	if v := os.Getenv("TURN_STORM_SPREAD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("TURN_STORM_SPREAD=%q", v)
		}
		spread = d
	}
	return clients, spread
}

// After a restart (Close, then New on the same port), 5,000 clients that
// all had allocations allocate again within one second, and every one gets
// an allocation, retransmitting as clients do. The limits stay at their
// defaults: 20 unauthenticated replies a second per source IP (burst 40;
// the clients are spread over 500 addresses 127.1.x.y), 10 allocations per
// user (one user per client). The figures (time until all are allocated,
// retransmissions, control_queue drops) are logged, not asserted: run
//
//	go test -count=1 -v -run TestMassReconnect ./turn/
//	TURN_STORM_SPREAD=0 go test -count=1 -v -run TestMassReconnect ./turn/
func TestMassReconnect(t *testing.T) {
	n, spread := stormShape(t)
	const perIP = 10
	cs, err := openStormClients(n, perIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStormClients(cs) })
	defaults := func(c *Config) {
		c.UnauthRate = 0 // the default, 20/s
		c.NoTCP = true
	}

	old := startServer(t, defaults)
	if old.poller == nil {
		t.Fatal("no poller on the host's network")
	}
	addr := old.Addrs().UDP
	first := checkStorm(t, old, cs, storm(cs, addr, spread))
	closed := time.Now()
	old.closeEmpty(t, "udp")
	closing := time.Since(closed)

	ts := startServer(t, func(c *Config) {
		defaults(c)
		c.Port = int(addr.Port())
	})
	if ts.Addrs().UDP != addr {
		t.Fatalf("restarted on %v, want %v", ts.Addrs().UDP, addr)
	}
	if ts.series(t, "switchboard_turn_dropped_packets_total", "reason", "control_queue") == nil {
		t.Fatal("switchboard_turn_dropped_packets_total{reason=\"control_queue\"} is not exported")
	}
	again := checkStorm(t, ts, cs, storm(cs, addr, spread))
	t.Logf("first start: %s", first)
	t.Logf("Close with %d allocations: %v", n, closing.Round(time.Millisecond))
	t.Logf("after the restart: %s", again)
}

// checkStorm fails unless every client got an allocation of its own on ts,
// and describes the storm.
func checkStorm(t *testing.T, ts *testServer, cs []*stormClient, r stormResult) string {
	t.Helper()
	n := len(cs)
	if r.allocated != n {
		t.Fatalf("%d of %d clients allocated, %d failed: %v", r.allocated, n, r.failed, errors.Join(r.errs...))
	}
	relays := map[netip.AddrPort]bool{}
	for _, c := range cs {
		if relays[c.relay] {
			t.Fatalf("relay %v handed out twice", c.relay)
		}
		relays[c.relay] = true
	}
	ts.waitMetric(t, float64(n), "switchboard_turn_allocations", "transport", "udp")
	drops := func(reason string) float64 {
		return ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", reason)
	}
	return fmt.Sprintf("%d clients allocated in %v, %d retransmissions (at most %d by one client), control_queue drops %v, unauth_rate drops %v",
		n, r.elapsed.Round(time.Millisecond), r.retransmits, r.mostRetransmits, drops("control_queue"), drops("unauth_rate"))
}
