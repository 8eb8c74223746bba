package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// The SDK tests drive /sdk/switchboard.js straight from the page (the
// server's "/", whose CSP allows the SDK and same-origin connections), with
// everything kept on window.sbt (see sdkJoinJS).

// sdkWait is how long a browser condition may take to come true. The
// machine is shared and tests run under -race: generous, but polled.
const sdkWait = 20 * time.Second

// sdkJoinJS is a JavaScript function (user, room, opts) that imports the
// SDK, connects as user with a dev token, joins room and, with
// opts.publish, publishes the fake camera and microphone (sbt.publish(),
// which a test can also call later). opts.rtcConfig goes to the Switchboard
// options, and so does every field of opts.sdk (pingInterval,
// reconnectionDelay, ...). It keeps its state on window.sbt and resolves with the own peer
// id. sbt.tracks records every 'track' event: peer, kind and track id.
const sdkJoinJS = `async (user, roomName, opts) => {
	const { Switchboard } = await import('/sdk/switchboard.js');
	const getToken = async () => {
		const res = await fetch('/v1/dev/token?' + new URLSearchParams({ user, name: user }), { cache: 'no-store' });
		if (!res.ok) throw new Error('dev token: HTTP ' + res.status);
		return (await res.json()).token;
	};
	const s = window.sbt = {
		user, received: [], tracks: [], events: [], errors: [], selves: [], reconnects: 0, connects: 0,
		sb: null, room: null, stream: null,
	};
	const sbOpts = { getToken };
	if (opts.rtcConfig) sbOpts.rtcConfig = opts.rtcConfig;
	if (opts.sdk) Object.assign(sbOpts, opts.sdk);
	const sb = s.sb = new Switchboard(sbOpts);
	sb.on('connect', () => { s.connects++; s.events.push('connect'); });
	sb.on('disconnect', (reason) => s.events.push('disconnect: ' + reason));
	sb.on('reconnect', (n) => { s.reconnects++; s.events.push('reconnect after ' + n); });
	sb.on('error', (e) => s.events.push('error: ' + e.code + ': ' + e.message));
	const room = s.room = await sb.join(roomName);
	s.selves.push(room.self);
	room.on('data', (peer, data) => s.received.push({ peer, data }));
	room.on('track', (peer, track) => s.tracks.push({ peer, kind: track.kind, id: track.id }));
	room.on('error', (e) => s.errors.push(String(e && e.message || e)));
	room.on('peer-state', (peer, state) => s.events.push('peer-state ' + peer + ' ' + state));
	s.publish = async () => {
		if (typeof room.publish !== 'function') throw new Error('this SDK has no Room.publish');
		s.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 15 }, audio: true });
		room.publish(s.stream);
		return true;
	};
	if (opts.publish) await s.publish();
	// videoFrom(peer) resolves once two getStats reads of the link to peer
	// show framesDecoded rising, or with the last reads after ms.
	s.videoFrom = async (peer, ms) => {
		const end = Date.now() + ms;
		let first = null, last = null;
		while (Date.now() < end) {
			last = await s.room.getStats(peer);
			const n = last && last.video ? last.video.framesDecoded : null;
			if (n !== null && n > 0) {
				if (first === null) first = n;
				else if (n > first) return { ok: true, first, last: n, connectionType: last.connectionType, local: last.local, remote: last.remote };
			}
			await new Promise((r) => setTimeout(r, 100));
		}
		return { ok: false, first, stats: last };
	};
	s.state = () => ({
		user, self: s.room && s.room.self, joined: s.room && s.room.joined, selves: s.selves,
		peers: s.room ? [...s.room.peers.values()] : [],
		received: s.received, tracks: s.tracks, events: s.events.slice(-30), errors: s.errors,
		reconnects: s.reconnects, connects: s.connects,
	});
	return room.self;
}`

// sdkTab is a tab driving the SDK directly.
type sdkTab struct {
	tab
	self string // own peer id, as of the last join
}

// openSDKTab opens the server's "/" in a new tab, for joinSDK.
func openSDKTab(t *testing.T, browser context.Context, base, name string) *sdkTab {
	t.Helper()
	tb := &sdkTab{tab: tab{name: name, ctx: testutil.NewTab(t, browser)}}
	tb.do(t, "opening the page", chromedp.Navigate(base+"/"))
	return tb
}

// joinSDK runs sdkJoinJS in the tab.
func (tb *sdkTab) joinSDK(t *testing.T, room string, opts map[string]any) {
	t.Helper()
	o, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	tb.self = evalIn[string](t, tb.tab, "joining "+room, "("+sdkJoinJS+")("+jsString(tb.name)+", "+jsString(room)+", "+string(o)+")")
	if tb.self == "" {
		t.Fatalf("%s: joined with no peer id", tb.name)
	}
}

// poll waits for a predicate on window.sbt, showing sbt's state on failure.
func (tb *sdkTab) poll(t *testing.T, what, predicate string) {
	t.Helper()
	pollIn(t, tb.tab, what, predicate, `window.sbt && window.sbt.state ? window.sbt.state() : null`)
}

// evalIn evaluates js in the tab (awaiting it when it is a promise) and
// returns its value.
func evalIn[T any](t *testing.T, tb tab, what, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, sdkWait+5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
	return v
}

// pollIn polls a JavaScript predicate in the tab until it is truthy; when
// it does not become so in time, the test fails with the value of diag.
func pollIn(t *testing.T, tb tab, what, predicate, diag string) {
	t.Helper()
	if err := pollJS(tb.ctx, sdkWait, predicate); err != nil {
		t.Fatalf("%s: waiting for %s: %v\nstate: %s", tb.name, what, err, describeIn(tb, diag))
	}
}

// describeIn returns the value of diag in the tab as indented JSON, for
// failure messages.
func describeIn(tb tab, diag string) string {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(`+diag+`, null, 2)`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// scrapeMetrics reads the server's /metrics: series (name with its labels
// as written, `name{label="v"}`) to value.
func scrapeMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", res.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading /metrics: %v", err)
	}
	return out
}

// sumMetric adds up every series of a metric (all label values).
func sumMetric(m map[string]float64, name string) float64 {
	var sum float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// noConsoleErrors fails the test for errors and uncaught exceptions in the
// tabs' consoles.
func noConsoleErrors(t *testing.T, tabs ...tab) {
	t.Helper()
	for _, tb := range tabs {
		if errs := testutil.Console(tb.ctx).Errors(); len(errs) > 0 {
			t.Errorf("%s: console errors:\n%s", tb.name, strings.Join(errs, "\n"))
		}
	}
}

// videoResult is what sbt.videoFrom resolves with.
type videoResult struct {
	OK             bool            `json:"ok"`
	First          float64         `json:"first"`
	Last           float64         `json:"last"`
	ConnectionType string          `json:"connectionType"`
	Local          json.RawMessage `json:"local"`
	Remote         json.RawMessage `json:"remote"`
	Stats          json.RawMessage `json:"stats"`
}

// videoFrom checks that the tab decodes video from peer: framesDecoded
// rises between two getStats reads.
func (tb *sdkTab) videoFrom(t *testing.T, peer, peerName string) videoResult {
	t.Helper()
	ms := strconv.Itoa(int(sdkWait / time.Millisecond))
	v := evalIn[videoResult](t, tb.tab, "reading stats", `window.sbt.videoFrom(`+jsString(peer)+`, `+ms+`)`)
	if !v.OK {
		t.Fatalf("%s decodes no video from %s: framesDecoded %v, last stats %s\nstate: %s",
			tb.name, peerName, v.First, v.Stats, describeIn(tb.tab, `window.sbt.state()`))
	}
	return v
}

// exchangeData has every tab send one message to every other tab with
// sendTo, and waits for each to arrive from the right peer.
func exchangeData(t *testing.T, tabs []*sdkTab, tag string) {
	t.Helper()
	for _, from := range tabs {
		for _, to := range tabs {
			if from == to {
				continue
			}
			msg := tag + " " + from.name + " to " + to.name
			ok := evalIn[bool](t, from.tab, "sending to "+to.name,
				`window.sbt.room.sendTo(`+jsString(to.self)+`, { text: `+jsString(msg)+` })`)
			if !ok {
				t.Fatalf("%s: sendTo(%s) returned false: its data channel is not open\nstate: %s",
					from.name, to.name, describeIn(from.tab, `window.sbt.state()`))
			}
		}
	}
	for _, to := range tabs {
		for _, from := range tabs {
			if from == to {
				continue
			}
			msg := tag + " " + from.name + " to " + to.name
			to.poll(t, "the message from "+from.name, `window.sbt.received.some((m) =>
				m.peer === `+jsString(from.self)+` && m.data && m.data.text === `+jsString(msg)+`)`)
		}
	}
}

// TestSDKMediaMesh: three tabs join one room, then all publish the fake
// camera and microphone at once (each tab's publish is started before any
// is waited for, so the renegotiations cross). Every pair gets a data
// channel that carries messages both ways, every tab decodes every other
// tab's video, each live remote track was announced by a 'track' event,
// and on one host the links are direct.
func TestSDKMediaMesh(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	room := "media-" + rand.Text()[:8]

	var tabs []*sdkTab
	for _, name := range []string{"ann", "ben", "cat"} {
		tabs = append(tabs, openSDKTab(t, browser, srv.URL, name))
	}
	for _, tb := range tabs {
		tb.joinSDK(t, room, map[string]any{})
	}
	// Start every publish, then wait for them all.
	for _, tb := range tabs {
		evalIn[bool](t, tb.tab, "starting to publish", `(window.sbt.publishing = window.sbt.publish(), true)`)
	}
	for _, tb := range tabs {
		if !evalIn[bool](t, tb.tab, "publishing", `window.sbt.publishing`) {
			t.Fatalf("%s: publish did not resolve true", tb.name)
		}
	}
	for _, tb := range tabs {
		tb.poll(t, "links to both others", `window.sbt.room.peers.size === 2 &&
			[...window.sbt.room.peers.values()].every((p) => p.state === 'connected')`)
	}

	exchangeData(t, tabs, "hello")

	for _, tb := range tabs {
		for _, other := range tabs {
			if other == tb {
				continue
			}
			v := tb.videoFrom(t, other.self, other.name)
			t.Logf("%s decodes %s's video: framesDecoded %v then %v, %s", tb.name, other.name, v.First, v.Last, v.ConnectionType)
			if v.ConnectionType != "direct" {
				t.Errorf("%s: getStats(%s).connectionType = %q, want direct (local %s, remote %s)",
					tb.name, other.name, v.ConnectionType, v.Local, v.Remote)
			}
			peer := jsString(other.self)
			// The live tracks of the peer's stream are ones a 'track' event announced.
			tb.poll(t, other.name+"'s tracks and connection type", `(() => {
				const s = window.sbt, p = s.room.peers.get(`+peer+`), st = s.room.remoteStream(`+peer+`);
				const announced = (tr) => s.tracks.some((e) => e.peer === `+peer+` && e.kind === tr.kind && e.id === tr.id);
				const live = (trs) => trs.filter((tr) => tr.readyState === 'live');
				return p && p.connectionType === 'direct' && st &&
					live(st.getVideoTracks()).length > 0 && live(st.getVideoTracks()).every(announced) &&
					live(st.getAudioTracks()).length > 0 && live(st.getAudioTracks()).every(announced);
			})()`)
		}
	}

	for _, tb := range tabs {
		if errs := evalIn[[]string](t, tb.tab, "reading room errors", `window.sbt.errors`); len(errs) > 0 {
			t.Errorf("%s: room errors: %q", tb.name, errs)
		}
		noConsoleErrors(t, tb.tab)
	}
}

// pollUntil calls cond every 50 ms until it is true or d has passed, and
// reports whether it became true.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// evalScreenshot takes a PNG of the whole page in the tab.
func evalScreenshot(t *testing.T, tb tab) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	return png
}
