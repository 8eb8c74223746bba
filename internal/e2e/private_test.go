package e2e

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// Issue 13: a host whose only address is private. Switchboard's TURN
// refuses private peers by default, and on such a host the relay address
// of every allocation is private too, so two clients relaying through the
// same server could not reach each other's relay address. These tests run
// the built binary on such a host with the default peer policy and check
// that relay to relay works there, while every other port on the host
// stays out of reach through the relay.
//
// The host is one namespace, "lan" (every client runs in it too):
//
//	lan: lo 127.0.0.1, eth0 10.77.0.1/24 (eth0's veth peer eth1 stays in
//	     lan, without an address)
//	     switchboard serve --dev: signaling :8080, TURN :3478, on every address
//
// eth0 is half of a veth pair because the kernel here has no dummy
// interface type; its peer keeps it up with a carrier, so it is an
// ordinary interface that Chromium and the TURN server enumerate.
const (
	privateIP   = "10.77.0.1"
	privateHTTP = "http://" + privateIP + ":8080"
	privateWS   = "ws://" + privateIP + ":8080/ws"
	privateTURN = privateIP + ":3478"
)

// privateHost is the lab of these tests: the namespace "lan", with
// switchboard running in it.
type privateHost struct {
	lab *testutil.NetnsLab
	srv *testutil.Process
}

// startPrivateHost makes the namespace and starts the server in it with
// the defaults. It shows the server's log when the test fails.
func startPrivateHost(t *testing.T) *privateHost {
	t.Helper()
	lab := testutil.NewNetnsLab(t)
	lab.Namespace("lan")
	lab.IP("lan", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
	lab.IP("lan", "addr", "add", privateIP+"/24", "dev", "eth0")
	lab.IP("lan", "link", "set", "eth0", "up")
	lab.IP("lan", "link", "set", "eth1", "up")

	// --dev only because the call demo fetches its tokens from
	// /v1/dev/token; dev mode changes nothing in TURN (internal/server uses
	// it for that endpoint and a warning only). No --turn-allow-peers,
	// --turn-listen-ip or --turn-public-ip: the peer policy and the relay
	// address are the defaults. The secrets come from the environment, as
	// in production, so that tokens and TURN credentials can be made here;
	// every other SWITCHBOARD_ variable is left out, so nothing from the
	// test's environment can change a default.
	h := &privateHost{lab: lab}
	cmd := lab.Command("lan", buildSwitchboard(t), "serve", "--dev")
	cmd.Env = append(withoutSwitchboardEnv(os.Environ()),
		"SWITCHBOARD_JWT_SECRET="+testutil.TestSecret,
		"SWITCHBOARD_TURN_SECRET="+testutil.TestTURNSecret)
	h.srv = testutil.StartProcess(t, cmd)
	t.Cleanup(func() { // before the server stops: cleanups run last first
		if t.Failed() {
			t.Logf("server log:\n%s", h.srv.Output())
			h.logCounters(t)
		}
	})
	if _, err := h.srv.WaitOutput(regexp.MustCompile(`switchboard listening.*websocket=ws://`), 15*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, h.srv.Output())
	}
	// Listening on every address, the server relays on the host's first
	// address that is not loopback: the private one.
	if !regexp.MustCompile(`TURN server listening.*relay_address=` + regexp.QuoteMeta(privateIP) + `\b`).MatchString(h.srv.Output()) {
		t.Fatalf("the TURN server does not relay on %s:\n%s", privateIP, h.srv.Output())
	}
	return h
}

// withoutSwitchboardEnv drops the SWITCHBOARD_ variables from env.
func withoutSwitchboardEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			out = append(out, kv)
		}
	}
	return out
}

// TestPrivateHostRelayToRelayPion: two pion peers on the private host,
// both forced to relay (ICETransportPolicyRelay), connect relay to relay
// through the embedded TURN server with the default peer policy, and
// exchange data-channel messages both ways.
func TestPrivateHostRelayToRelayPion(t *testing.T) {
	h := startPrivateHost(t)
	results := runPeerPair(t, h.lab, [2]string{"lan", "lan"}, privateWS, "private-pion", netnsRelayEnv)
	for _, r := range results {
		t.Logf("%s: %s, %d messages; gathered %q", r.Name, r.Pair, r.Received, r.Gathered)
		if r.Error != "" {
			t.Errorf("%s: %s", r.Name, r.Error)
		}
		if r.Received != netnsMessages {
			t.Errorf("%s received %d messages, want %d", r.Name, r.Received, netnsMessages)
		}
		wantURL := "turn:" + privateTURN + "?transport=udp"
		if !contains(r.ICEURLs, wantURL) {
			t.Errorf("%s's welcome iceServers: urls %q, want %s", r.Name, r.ICEURLs, wantURL)
		}
		// Relay candidates only, all on the private address.
		if len(r.Gathered) == 0 {
			t.Errorf("%s gathered no candidates", r.Name)
		}
		for _, g := range r.Gathered {
			if !strings.HasPrefix(g, "relay "+privateIP+":") {
				t.Errorf("%s gathered %q, want relay candidates on %s only", r.Name, g, privateIP)
			}
		}
		if r.LocalType != "relay" || r.RemoteType != "relay" {
			t.Errorf("%s selected %s (%s/%s), want relay/relay", r.Name, r.Pair, r.LocalType, r.RemoteType)
		}
	}
}

// logCounters logs the server's refused/dropped counters and how much it
// relayed, read from inside the namespace: why a relay failed.
func (h *privateHost) logCounters(t *testing.T) {
	helper := startHelper(t, h.lab, "lan", "metrics", "TestPrivateMetricsHelper", "SWITCHBOARD_PRIVATE_METRICS="+privateHTTP)
	var m map[string]float64
	helper.result(t, 15*time.Second, &m)
	helper.finish(t, 5*time.Second)
	t.Logf("server counters: %v", m)
}

// TestPrivateMetricsHelper reads the counters for logCounters.
func TestPrivateMetricsHelper(t *testing.T) {
	base := os.Getenv("SWITCHBOARD_PRIVATE_METRICS")
	if base == "" {
		t.Skip("run by privateHost.logCounters inside a network namespace")
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // scrapeMetrics's
	out := map[string]float64{}
	for k, v := range scrapeMetrics(t, base) {
		for _, name := range append(refusalSeries, "switchboard_turn_relayed_packets_total", "switchboard_turn_allocations_created_total") {
			if k == name || strings.HasPrefix(k, name+"{") {
				out[k] = v
			}
		}
	}
	reportResult(out)
	waitForQuit(t)
}
