package e2e

import (
	"context"
	"crypto/rand"
	"net/url"
	"strconv"

	"github.com/chromedp/chromedp"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/turn"
)

// sfuModes makes every room named big-* an sfu room, as
// --room-modes 'big-*=sfu' does.
var sfuModes = signaling.RoomModes{Rules: []signaling.RoomModeRule{{Pattern: "big-*", Mode: signaling.ModeSFU}}}

// openSFUCall opens the call page for name in room and waits until it has
// joined an sfu room.
func openSFUCall(t *testing.T, browser context.Context, srv *testutil.Server, name, room string, extra url.Values) page {
	t.Helper()
	q := url.Values{"room": {room}, "name": {name}, "autojoin": {"1"}}
	for k, v := range extra {
		q[k] = v
	}
	p := openPage(t, browser, srv, name, "call", "/call.html", q)
	p.waitFor(t, "the sfu room to be joined", `window.call.state === 'joined' && window.call.mode === 'sfu' &&
		document.body.dataset.mode === 'sfu'`)
	return p
}

// TestSFUCallFourTabs is issue 15's browser test: four tabs in an sfu room
// each decode every other tab's fake-camera video through the server (the
// tiles say "sfu"), each uploading one stream; room.send reaches every
// other tab through the SFU's data channels.
//
// The tabs send 320 px video at 15 fps, below the SDK's simulcast
// threshold: four tabs each encoding three layers of 1280 px and decoding
// three streams starve a 2-core machine (docs/sfu.md, "Not yet"), and even
// at 480 px, late in a CI run, a starved tab's transport-cc feedback showed
// its queue growing, so the server paused every video to it for bandwidth
// and brought them back only after the test's wait (the server's debug log
// says so: "video paused for bandwidth", all delay-based). Simulcast in
// Chromium is TestSFUSimulcastLow's.
func TestSFUCallFourTabs(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, RoomModes: sfuModes})
	room := "big-" + rand.Text()[:8]
	names := []string{"alice", "bob", "cat", "dan"}
	var pages []page
	for _, name := range names {
		pages = append(pages, openSFUCall(t, browser, srv, name, room, url.Values{"width": {"320"}, "fps": {"15"}}))
	}
	for _, p := range pages {
		for _, other := range names {
			if other != p.name {
				waitDecodingOver(t, p, other, "sfu")
			}
		}
	}
	screenshot(t, pages[0], "sfu-four.png")

	// Each tab uploads one stream (a camera and a microphone track), whatever
	// the number of others: the server receives eight tracks.
	if got := sumMetric(scrapeMetrics(t, srv.URL), "switchboard_sfu_tracks"); got != 8 {
		t.Errorf("the SFU receives %v tracks, want 8 (one stream per tab)", got)
	}

	// room.send through the SFU: every tab hears every other once.
	for _, p := range pages {
		eval[bool](t, p, `(window.got = [], window.call.room.on('data', (from, d) => { if (d && d.hello) window.got.push(from + ':' + d.hello); }), true)`)
	}
	for _, p := range pages {
		if n := eval[float64](t, p, `window.call.room.send({hello: `+jsString(p.name)+`})`); n != 3 {
			t.Fatalf("%s: room.send reached %v peers, want 3", p.name, n)
		}
	}
	for _, p := range pages {
		p.waitFor(t, "a message from each other tab", `window.got.length === 3 &&
			new Set(window.got.map((s) => s.split(':')[1])).size === 3 && !window.got.some((s) => s.endsWith(':' + `+jsString(p.name)+`))`)
	}

	checkClean(t, pages...)
}

// TestSFUCallSixTabs is issue 15's "done when", tried as a user would: six
// tabs in room big-<random> of a server with big-*=sfu each decode every
// other tab's fake-camera video through the server (the tiles say "sfu"),
// each uploading one stream; room.send reaches every other tab through
// the SFU's data channels.
//
// Six tabs overload this 2-core machine unless they are light: measured
// during a run, Chromium's audio service took 20% of a core, its GPU
// process 20%, its browser process 19% and each renderer 13 to 19%, and
// calls timed out with round trips of one to four seconds on loopback. So
// the tabs send 320 px at 15 fps with no microphone (TestSFUCallFourTabs
// has the audio), and the browser composites without its GPU process.
func TestSFUCallSixTabs(t *testing.T) {
	browser := testutil.NewBrowser(t, chromedp.Flag("disable-gpu", true))
	srv := testutil.StartServer(t, testutil.Options{Dev: true, RoomModes: sfuModes})
	room := "big-" + rand.Text()[:8]
	names := []string{"alice", "bob", "cat", "dan", "eve", "fay"}
	var pages []page
	for _, name := range names {
		pages = append(pages, openSFUCall(t, browser, srv, name, room, url.Values{"width": {"320"}, "fps": {"15"}, "mic": {"0"}}))
	}
	for _, p := range pages {
		for _, other := range names {
			if other != p.name {
				waitDecodingOver(t, p, other, "sfu")
			}
		}
	}
	screenshot(t, pages[0], "sfu-six.png")

	// Each tab uploads one stream (its camera), whatever the number of
	// others: the server receives one track per tab.
	if got, want := sumMetric(scrapeMetrics(t, srv.URL), "switchboard_sfu_tracks"), float64(len(names)); got != want {
		t.Errorf("the SFU receives %v tracks, want %v (one stream per tab)", got, want)
	}

	// room.send through the SFU: every tab hears every other once.
	others := len(names) - 1
	for _, p := range pages {
		eval[bool](t, p, `(window.got = [], window.call.room.on('data', (from, d) => { if (d && d.hello) window.got.push(from + ':' + d.hello); }), true)`)
	}
	for _, p := range pages {
		if n := eval[float64](t, p, `window.call.room.send({hello: `+jsString(p.name)+`})`); int(n) != others {
			t.Fatalf("%s: room.send reached %v peers, want %d", p.name, n, others)
		}
	}
	for _, p := range pages {
		p.waitFor(t, "a message from each other tab", `window.got.length === `+strconv.Itoa(others)+` &&
			new Set(window.got.map((s) => s.split(':')[1])).size === `+strconv.Itoa(others)+` && !window.got.some((s) => s.endsWith(':' + `+jsString(p.name)+`))`)
	}

	checkClean(t, pages...)
}

// TestSFUCallRelayed: a tab that may only relay (iceTransportPolicy
// 'relay') reaches the SFU through the embedded TURN server with its
// default peer policy (the SFU's port on the server's own address is
// allowed, nothing else there is), and both tabs decode each other.
func TestSFUCallRelayed(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, RoomModes: sfuModes, TURN: &turn.Config{}})
	room := "big-" + rand.Text()[:8]
	small := url.Values{"width": {"480"}} // one layer: see TestSFUCallSixTabs
	ann := openSFUCall(t, browser, srv, "ann", room, url.Values{"relay": {"1"}, "width": {"480"}})
	ben := openSFUCall(t, browser, srv, "ben", room, small)
	waitDecodingOver(t, ann, "ben", "sfu")
	waitDecodingOver(t, ben, "ann", "sfu")
	ann.waitFor(t, "the tile to say the server is reached through TURN", `(() => { const p = `+callPeer("ben")+`;
		return !!p && p.relayedToServer && document.querySelector('.tile[data-peer="' + p.peer + '"] .conn').textContent === 'Via SFU (TURN)'; })()`)
	if ok := eval[bool](t, ben, callPeer("ann")+`?.relayedToServer === false`); !ok {
		t.Errorf("ben: his path to the server is not relayed: %s", ben.dump(t))
	}
	checkClean(t, ann, ben)
}
