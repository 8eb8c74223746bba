package e2e

import (
	"crypto/rand"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// TestRelayOnlyThroughEmbeddedTURN: two tabs with rtcConfig {
// iceTransportPolicy: 'relay' } may use relay candidates only, so they meet
// through the server's embedded TURN server, with nothing but the
// iceServers of the welcome frame, with the default peer policy: their
// relay addresses are on loopback, which the policy refuses as peers except
// where a live allocation of the same server is.
func TestRelayOnlyThroughEmbeddedTURN(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, TURN: &turn.Config{}})
	room := "relay-" + rand.Text()[:8]

	tabs := []*sdkTab{
		openSDKTab(t, browser, srv.URL, "alice"),
		openSDKTab(t, browser, srv.URL, "bob"),
	}
	opts := map[string]any{"publish": true, "rtcConfig": map[string]any{"iceTransportPolicy": "relay"}}
	for _, tb := range tabs {
		tb.joinSDK(t, room, opts)
		// The welcome carried the TURN server, with credentials.
		if !evalIn[bool](t, tb.tab, "reading iceServers", `window.sbt.sb.iceServers.some((s) =>
			[].concat(s.urls).some((u) => u.startsWith('turn:')) && !!s.username && !!s.credential)`) {
			t.Fatalf("%s: no TURN server with credentials in iceServers: %s", tb.name, describeIn(tb.tab, `window.sbt.sb.iceServers`))
		}
	}
	for _, tb := range tabs {
		tb.poll(t, "a relayed link to the other", `window.sbt.room.peers.size === 1 &&
			[...window.sbt.room.peers.values()].every((p) => p.state === 'connected' && p.connectionType === 'relayed')`)
	}

	exchangeData(t, tabs, "relayed")

	for i, tb := range tabs {
		other := tabs[1-i]
		v := tb.videoFrom(t, other.self, other.name)
		t.Logf("%s decodes %s's video through TURN: framesDecoded %v then %v; local %s, remote %s",
			tb.name, other.name, v.First, v.Last, v.Local, v.Remote)
		if v.ConnectionType != "relayed" {
			t.Errorf("%s: getStats(%s).connectionType = %q, want relayed", tb.name, other.name, v.ConnectionType)
		}
		// Only relay candidates may be used at this end.
		if !evalIn[bool](t, tb.tab, "reading stats", `window.sbt.room.getStats(`+jsString(other.self)+`).then((s) =>
			!!s && !!s.local && s.local.type === 'relay')`) {
			t.Errorf("%s: the selected pair's local candidate is not a relay one: %s", tb.name, v.Local)
		}
	}

	// The server relayed it: allocations (at least one per tab) and packets
	// both ways.
	m := scrapeMetrics(t, srv.URL)
	if n := sumMetric(m, "switchboard_turn_allocations"); n < 2 {
		t.Errorf("switchboard_turn_allocations = %v, want at least 2 (one per tab)", n)
	}
	if n := sumMetric(m, "switchboard_turn_allocations_created_total"); n < 2 {
		t.Errorf("switchboard_turn_allocations_created_total = %v, want at least 2", n)
	}
	if n := sumMetric(m, "switchboard_turn_relayed_packets_total"); n == 0 {
		t.Errorf("switchboard_turn_relayed_packets_total = 0: nothing went through the relay")
	}
	t.Logf("TURN: %v allocations, %v relayed packets, %v relayed bytes, %v permissions refused",
		sumMetric(m, "switchboard_turn_allocations"), sumMetric(m, "switchboard_turn_relayed_packets_total"),
		sumMetric(m, "switchboard_turn_relayed_bytes_total"), sumMetric(m, "switchboard_turn_permissions_refused_total"))

	for _, tb := range tabs {
		if errs := evalIn[[]string](t, tb.tab, "reading room errors", `window.sbt.errors`); len(errs) > 0 {
			t.Errorf("%s: room errors: %q", tb.name, errs)
		}
		noConsoleErrors(t, tb.tab)
	}
}
