package e2e

import (
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// browserLink is what one tab of the call demo sees of its link to the
// other.
type browserLink struct {
	Tab            string  `json:"tab"`
	From           string  `json:"from"`
	ConnectionType string  `json:"connectionType"` // the call demo's: direct, relayed
	FramesDecoded  float64 `json:"framesDecoded"`
	LocalType      string  `json:"localType"` // selected pair, from getStats
	RemoteType     string  `json:"remoteType"`
	Local          string  `json:"local"` // "TYPE ADDR:PORT PROTOCOL", for the log
	Remote         string  `json:"remote"`
}

// browserAgentResult is what TestPrivateBrowserAgent reports.
type browserAgentResult struct {
	Links          []browserLink `json:"links"`
	RelayedPackets float64       `json:"relayedPackets"` // switchboard_turn_relayed_packets_total
}

// TestPrivateHostRelayToRelayBrowsers: the "done" case. On the
// private host, with the default peer policy, two tabs of the call demo
// forced to relay (relay=1: rtcConfig {iceTransportPolicy: "relay"}) each
// decode the other's video over a relayed link, relay candidate to relay
// candidate.
func TestPrivateHostRelayToRelayBrowsers(t *testing.T) {
	testutil.RequireChromium(t)
	h := startPrivateHost(t)
	agent := startHelper(t, h.lab, "lan", "browser-agent", "TestPrivateBrowserAgent",
		"SWITCHBOARD_PRIVATE_BROWSER="+privateHTTP)
	var res browserAgentResult
	agent.result(t, 90*time.Second, &res)
	agent.finish(t, 30*time.Second)

	if len(res.Links) != 2 {
		t.Fatalf("%d links reported, want 2: %+v", len(res.Links), res.Links)
	}
	for _, l := range res.Links {
		t.Logf("%s decodes %s's video over a %s link: %v frames; local %s, remote %s",
			l.Tab, l.From, l.ConnectionType, l.FramesDecoded, l.Local, l.Remote)
		if l.ConnectionType != "relayed" || l.LocalType != "relay" || l.RemoteType != "relay" {
			t.Errorf("%s's link to %s: %s, selected pair %s/%s; want relayed, relay/relay",
				l.Tab, l.From, l.ConnectionType, l.LocalType, l.RemoteType)
		}
	}
	if res.RelayedPackets == 0 {
		t.Errorf("switchboard_turn_relayed_packets_total = 0: nothing went through the relay")
	}
}

// selectedPairJS resolves with the selected candidate pair of the call
// demo's link to the named peer.
func selectedPairJS(name string) string {
	return `(async () => { const p = ` + callPeer(name) + `; const pc = window.call.room.getConnection(p.peer);
		const stats = await pc.getStats(); let pair;
		stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
		const c = (id) => (pair && stats.get(id)) || {};
		const l = c(pair?.localCandidateId), r = c(pair?.remoteCandidateId);
		const str = (x) => x.candidateType + ' ' + x.address + ':' + x.port + ' ' + (x.relayProtocol ?? x.protocol);
		return { connectionType: p.connectionType, framesDecoded: p.framesDecoded,
			localType: l.candidateType ?? '', remoteType: r.candidateType ?? '', local: str(l), remote: str(r) }; })()`
}

// TestPrivateBrowserAgent runs Chromium for
// TestPrivateHostRelayToRelayBrowsers inside the namespace: chromedp talks
// to the browser over a DevTools port on the loopback of the namespace it
// runs in, so the driver has to run there too (LAB.md).
func TestPrivateBrowserAgent(t *testing.T) {
	base := os.Getenv("SWITCHBOARD_PRIVATE_BROWSER")
	if base == "" {
		t.Skip("run by TestPrivateHostRelayToRelayBrowsers inside a network namespace")
	}
	// First, so that its cleanup runs last: Chromium's helper processes
	// outlive the browser, and are reaped after it is gone.
	testutil.AdoptOrphans(t)
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // scrapeMetrics's
	browser := testutil.NewBrowser(t,
		// getUserMedia needs a secure context, which a page over http from
		// a lab address is not.
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", base),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-proxy-server", true))

	names := []string{"ann", "ben"}
	var pages []page
	for _, name := range names {
		q := url.Values{"room": {"private-call"}, "name": {name}, "autojoin": {"1"}, "relay": {"1"}}
		p := openPageAt(t, browser, base, name, "call", "/call.html", q)
		p.waitFor(t, "the call to be joined", `window.call.state === 'joined' && window.call.relayOnly`)
		pages = append(pages, p)
	}
	var res browserAgentResult
	for i, p := range pages {
		from := names[1-i]
		waitDecodingOver(t, p, from, "relayed")
		l := evalIn[browserLink](t, p.tab, "reading the selected pair", selectedPairJS(from))
		l.Tab, l.From = p.name, from
		res.Links = append(res.Links, l)
	}
	screenshot(t, pages[0], "call-private-relayed.png")
	checkClean(t, pages...)
	res.RelayedPackets = sumMetric(scrapeMetrics(t, base), "switchboard_turn_relayed_packets_total")

	reportResult(res)
	waitForQuit(t)
}
