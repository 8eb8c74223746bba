package e2e

import (
	"crypto/rand"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// autoHold is the --mesh-hold of TestAutoCallSwitches: short, so that the
// way back to the mesh does not keep the test waiting.
const autoHold = 2 * time.Second

// autoModes makes every room named auto-* an auto room of at most 4 in a
// mesh, as --room-modes 'auto-*=auto' --mesh-max 4 --mesh-hold 2s do.
var autoModes = signaling.RoomModes{Rules: []signaling.RoomModeRule{{Pattern: "auto-*", Mode: signaling.ModeAuto}},
	MeshMax: 4, MeshHold: autoHold}

// openAutoCall opens the call page for name in an auto room and waits
// until it has joined it in mode.
func openAutoCall(t *testing.T, p page, mode string) {
	t.Helper()
	p.waitFor(t, "the auto room to be joined", `window.call.state === 'joined' && window.call.auto && window.call.room.auto &&
		window.call.room.mode === `+jsString(mode)+` && document.getElementById('room-mode').textContent.startsWith('Auto')`)
}

// autoRecorder is the JavaScript that records, per sender, the numbers of
// the {n} messages a tab receives (window.rx), and the stream of each peer
// as it is now (window.kept), to compare later.
const autoRecorder = `(() => {
	window.rx = {};
	window.call.room.on('data', (from, d) => { if (d && typeof d.n === 'number') (window.rx[from] ??= []).push(d.n); });
	window.kept = new Map([...window.call.room.peers.keys()].map((id) => [id, window.call.room.remoteStream(id)]));
	return true;
})()`

// autoSender starts sending {n: 1, 2, ...} with room.send every 20 ms,
// counting on from window.sent.
const autoSender = `(() => {
	window.sent ??= 0;
	window.sendTimer = setInterval(() => { window.sent++; window.call.room.send({ n: window.sent }); }, 20);
	return true;
})()`

// autoGaps starts timing, for each peer tile's <video>, the longest time
// between two frames it presents (requestVideoFrameCallback), from now on:
// what a person watching would see freeze.
const autoGaps = `(() => {
	window.gaps ??= {};
	for (const tile of document.querySelectorAll('.tile[data-peer]')) {
		const id = tile.dataset.peer;
		const v = tile.querySelector('video');
		if (!id || !v || typeof v.requestVideoFrameCallback !== 'function') continue;
		const fresh = !window.gaps[id];
		const g = (window.gaps[id] ??= { frames: 0 });
		g.last = performance.now();
		g.max = 0;
		if (!fresh) continue;
		const cb = (now) => { g.max = Math.max(g.max, now - g.last); g.last = now; g.frames++; v.requestVideoFrameCallback(cb); };
		v.requestVideoFrameCallback(cb);
	}
	return true;
})()`

// autoKept is true when every peer the tab recorded in window.kept and
// still sees has the same MediaStream, which its tile shows.
const autoKept = `[...window.kept].every(([id, s]) => !window.call.room.peers.has(id) ||
	(window.call.room.remoteStream(id) === s && document.querySelector('.tile[data-peer="' + id + '"] video').srcObject === s))`

// TestAutoCallSwitches is issue 16's browser test: four tabs in an auto room
// form a mesh and decode each other's video over direct links; the fifth
// tab's arrival moves the room to the SFU, and every tab then decodes every
// other tab's video through the server, keeping the MediaStream of each
// peer it had; two tabs close, and after --mesh-hold the three left go back
// to a mesh and keep decoding, still with the same streams. Numbered
// room.send messages that two tabs send all along arrive at the others
// exactly once and in order, across both switches.
//
// Five tabs decoding four videos each, twice over while a switch runs, load
// this 2-core machine: 320 px at 15 fps, no microphone, no GPU process (see
// TestSFUCallSixTabs).
func TestAutoCallSwitches(t *testing.T) {
	browser := testutil.NewBrowser(t, chromedp.Flag("disable-gpu", true))
	srv := testutil.StartServer(t, testutil.Options{Dev: true, RoomModes: autoModes})
	room := "auto-" + rand.Text()[:8]
	small := url.Values{"width": {"320"}, "fps": {"15"}, "mic": {"0"}}
	open := func(name string) page {
		q := url.Values{"room": {room}, "name": {name}, "autojoin": {"1"}}
		for k, v := range small {
			q[k] = v
		}
		return openPage(t, browser, srv, name, "call", "/call.html", q)
	}
	names := []string{"alice", "bob", "cat", "dan"}
	var pages []page
	for _, name := range names {
		p := open(name)
		openAutoCall(t, p, "mesh")
		pages = append(pages, p)
	}
	decodeAll(t, pages, "direct")
	for _, p := range pages {
		eval[bool](t, p, autoRecorder)
		eval[bool](t, p, autoGaps)
	}
	senders := pages[:2]
	for _, p := range senders {
		eval[bool](t, p, autoSender)
	}

	// The fifth: the room moves to the SFU before she is in.
	start := time.Now()
	eve := open("eve")
	openAutoCall(t, eve, "sfu")
	joined := eval[float64](t, eve, `Date.now()`) // the others got the mode frame just before
	for _, p := range pages {
		p.waitForWithin(t, 20*time.Second, "the switch to the SFU", `window.call.room.mode === 'sfu' &&
			window.call.switches.some((s) => s.mode === 'sfu' && s.failed.length === 0)`)
	}
	t.Logf("every tab moved to the SFU %v after the fifth opened", time.Since(start).Round(time.Millisecond))
	for _, p := range pages {
		took := time.Duration(eval[float64](t, p, `window.call.switches.at(-1).at`)-joined) * time.Millisecond
		t.Logf("%s finished the switch about %v after the fifth joined", p.name, took.Round(time.Millisecond))
	}
	// The notice is up for a few seconds.
	pages[0].waitFor(t, "the notice of the switch", `!document.getElementById('mode-notice').hidden &&
		document.getElementById('mode-notice').textContent.startsWith('Moved to the server')`)
	screenshot(t, pages[0], "auto-sfu.png")
	pages = append(pages, eve)
	decodeAll(t, pages, "sfu")
	for _, p := range pages[:4] {
		if !eval[bool](t, p, autoKept) {
			t.Errorf("%s: a peer's MediaStream changed across the switch to the SFU", p.name)
		}
	}
	checkNumbers(t, pages[:4], senders)
	checkGaps(t, pages[:4], "the switch to the SFU")
	for _, p := range pages {
		eval[bool](t, p, autoGaps)
	}

	// dan and eve close their tabs; after the hold the room is a mesh again.
	for _, p := range pages[3:] {
		p.do(t, "closing the tab", chromedp.Navigate("about:blank"))
	}
	pages = pages[:3]
	for _, p := range senders {
		eval[bool](t, p, autoSender)
	}
	start = time.Now()
	for _, p := range pages {
		p.waitForWithin(t, autoHold+20*time.Second, "the switch back to the mesh", `window.call.peers.length === 2 && window.call.room.mode === 'mesh' &&
			window.call.switches.some((s) => s.mode === 'mesh' && s.failed.length === 0) && !window.call.room.getPublishConnection()`)
	}
	t.Logf("every tab back on the mesh %v after two closed (hold %v)", time.Since(start).Round(time.Millisecond), autoHold)
	pages[0].waitFor(t, "the notice of the switch back", `!document.getElementById('mode-notice').hidden &&
		document.getElementById('mode-notice').textContent.startsWith('Back to peer-to-peer')`)
	screenshot(t, pages[0], "auto-mesh.png")
	decodeAll(t, pages, "direct")
	for _, p := range pages {
		if !eval[bool](t, p, autoKept) {
			t.Errorf("%s: a peer's MediaStream changed across the switches", p.name)
		}
	}
	checkNumbers(t, pages, senders)
	checkGaps(t, pages, "the switch back to the mesh")
	checkClean(t, pages...)
}

// autoMaxGap bounds the longest a tile's video may stand still across a
// switch: far above a keyframe interval, to catch a video that froze
// rather than measure (this machine's two cores run five tabs).
const autoMaxGap = 3 * time.Second

// checkGaps logs the longest time each page's peer tiles went without a new
// frame since autoGaps started, and fails for one over autoMaxGap.
func checkGaps(t *testing.T, pages []page, during string) {
	t.Helper()
	for _, p := range pages {
		gaps := eval[map[string]struct{ Max, Frames float64 }](t, p, `Object.fromEntries(Object.entries(window.gaps).filter(([id]) =>
			window.call.room.peers.has(id)).map(([id, g]) => [window.call.room.peers.get(id).name, { max: Math.max(g.max, performance.now() - g.last), frames: g.frames }]))`)
		for name, g := range gaps {
			gap := time.Duration(g.Max) * time.Millisecond
			t.Logf("%s: %s's video: longest gap %v across %s (%v frames shown)", p.name, name, gap.Round(time.Millisecond), during, g.Frames)
			if g.Frames > 0 && gap > autoMaxGap {
				t.Errorf("%s: %s's video stood still for %v across %s", p.name, name, gap.Round(time.Millisecond), during)
			}
		}
	}
}

// decodeAll waits until every page decodes every other page's video over
// connection type conn.
func decodeAll(t *testing.T, pages []page, conn string) {
	t.Helper()
	for _, p := range pages {
		for _, other := range pages {
			if other.name != p.name {
				waitDecodingOver(t, p, other.name, conn)
			}
		}
	}
}

// checkNumbers stops the senders' loops and checks that every other page
// got each sender's numbers exactly once and in order: 1 to what it sent.
func checkNumbers(t *testing.T, pages, senders []page) {
	t.Helper()
	for _, s := range senders {
		sent := eval[float64](t, s, `(clearInterval(window.sendTimer), window.sent)`)
		id := eval[string](t, s, `window.call.peerId`)
		want := `window.rx[` + jsString(id) + `] ?? []`
		for _, p := range pages {
			if p.name == s.name {
				continue
			}
			p.waitFor(t, "all of "+s.name+"'s "+strconv.Itoa(int(sent))+" messages", `(`+want+`).length >= `+jsNumber(sent))
			if !eval[bool](t, p, `(`+want+`).every((n, i) => n === i + 1) && (`+want+`).length === `+jsNumber(sent)) {
				t.Errorf("%s: %s's messages not 1..%v exactly once in order: %s", p.name, s.name, sent,
					eval[string](t, p, `JSON.stringify(`+want+`)`))
			}
		}
	}
}
