package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// Session resume in real Chromium (docs/sdk.md, "Connections that
// survive"): a call whose signaling connection goes away, through a
// FaultProxy that cuts it or through DevTools' offline emulation, while its
// media keeps flowing peer to peer.
//
// Tab A is the one whose signaling is cut, tab B stays connected. Both
// publish the fake camera. Over the signaling server each side sends
// numbered room.broadcast messages while A is away: B's reach the server at
// once and must be kept and replayed to A; A's wait in the SDK's queue and
// go out after the reconnect.

// resumeSDK are A's SDK options: reconnection attempts at most a second
// apart, so that the reconnect follows soon after the network is back.
func resumeSDK(extra map[string]any) map[string]any {
	o := map[string]any{"reconnectionDelay": 200, "reconnectionDelayMax": 1000}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// resumeWatchJS records, on window.sbt after the join, what a resume test
// asserts on: sbt.log has the connection's events (connect, reconnect with
// resumed and resumeError's code, disconnect, error) and the room's
// (peer-joined, peer-left, joined); sbt.bcast every broadcast received
// ({peer, text}); sbt.sent every broadcast sent with sbt.bc and how its
// promise ended. sbt.frames(peer) reads framesDecoded of the video from
// peer (-1 without), and sbt.pcs keeps each link's RTCPeerConnection, so a
// test can tell a link kept from a link rebuilt.
const resumeWatchJS = `(() => {
	const s = window.sbt, sb = s.sb, room = s.room;
	const log = s.log = [], t0 = Date.now();
	const add = (e) => log.push({ ms: Date.now() - t0, ...e });
	const code = (e) => (e ? e.code : null);
	sb.on('connect', (info) => add({ ev: 'connect', id: sb.id, resumed: info.resumed, resumeError: code(info.resumeError) }));
	sb.on('reconnect', (n, info) => add({ ev: 'reconnect', attempts: n, id: sb.id, resumed: info.resumed, resumeError: code(info.resumeError) }));
	sb.on('disconnect', (reason, d) => add({ ev: 'disconnect', reason, code: d && d.code, lastSeq: sb.lastSeq }));
	sb.on('error', (e) => add({ ev: 'error', code: e.code, message: e.message }));
	room.on('peer-joined', (p) => add({ ev: 'peer-joined', peer: p.peer }));
	room.on('peer-left', (p) => add({ ev: 'peer-left', peer: p.peer }));
	room.on('joined', (info) => add({ ev: 'joined', self: room.self, rejoin: info.rejoin, sameSession: info.sameSession, resumed: !!info.resumed }));
	s.bcast = [];
	room.on('broadcast', (peer, data) => s.bcast.push({ ms: Date.now() - t0, peer, text: data && data.text }));
	s.sent = [];
	s.bc = (text) => {
		const e = { text, state: 'pending', connected: sb.connected };
		s.sent.push(e);
		room.broadcast({ text }).then(() => { e.state = 'ok'; }, (err) => { e.state = 'rejected: ' + (err && err.code || err); });
		return true;
	};
	s.frames = async (peer) => {
		const st = await room.getStats(peer);
		return st && st.video ? st.video.framesDecoded : -1;
	};
	s.pcs = new Map([...room.peers.keys()].map((p) => [p, room.getConnection(p)]));
	s.samePC = (peer) => !!s.pcs.get(peer) && s.pcs.get(peer) === room.getConnection(peer);
	s.rstate = () => ({
		id: sb.id, connected: sb.connected, resumed: sb.resumed, resumeError: code(sb.resumeError), lastSeq: sb.lastSeq,
		self: room.self, joined: room.joined, peers: [...room.peers.values()],
		log, bcast: s.bcast, sent: s.sent, sockets: window.sbtSockets || null,
	});
	return true;
})()`

// recordSocketsJS replaces the page's WebSocket (before the SDK makes one)
// with one that records, in window.sbtSockets, for each socket: whether it
// opened, the close event it got (code, reason, clean), the hello it sent
// (token left out), its first frame (the welcome, token left out), how many
// frames it delivered and the highest seq among them. The SDK drops its
// handlers from a socket it gives up on; these listeners stay, so they also
// see what a frozen socket delivers once it thaws.
const recordSocketsJS = `(() => {
	const Base = window.WebSocket, socks = window.sbtSockets = [], t0 = Date.now();
	const strip = (text) => String(text).replace(/"(token|resume)":"[^"]*"/g, '"$1":"..."');
	window.WebSocket = class extends Base {
		constructor(...args) {
			super(...args);
			const r = this._rec = { n: socks.length + 1, ms: Date.now() - t0, opened: false, hello: null, first: null, frames: 0, maxSeq: 0, lastFrameMs: null, close: null };
			socks.push(r);
			this.addEventListener('open', () => { r.opened = true; });
			this.addEventListener('message', (e) => {
				if (r.first === null) r.first = strip(e.data);
				r.frames++;
				r.lastFrameMs = Date.now() - t0;
				try { const f = JSON.parse(e.data); if (typeof f.seq === 'number' && f.seq > r.maxSeq) r.maxSeq = f.seq; } catch {}
			});
			this.addEventListener('close', (e) => { r.close = { ms: Date.now() - t0, code: e.code, reason: e.reason, clean: e.wasClean }; });
		}
		send(data) {
			if (this._rec.hello === null && typeof data === 'string' && data.includes('"hello"')) this._rec.hello = strip(data);
			return super.send(data);
		}
	};
	return true;
})()`

// resumeEvent is one entry of sbt.log.
type resumeEvent struct {
	MS          float64 `json:"ms"`
	Ev          string  `json:"ev"`
	ID          string  `json:"id"`
	Peer        string  `json:"peer"`
	Self        string  `json:"self"`
	Resumed     *bool   `json:"resumed"`
	ResumeError *string `json:"resumeError"`
	Reason      string  `json:"reason"`
	Code        any     `json:"code"`
	Message     string  `json:"message"`
	LastSeq     *int    `json:"lastSeq"`
	Rejoin      *bool   `json:"rejoin"`
	SameSession *bool   `json:"sameSession"`
}

func (e resumeEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.0fms %s", e.MS, e.Ev)
	for _, kv := range [][2]string{{"id", e.ID}, {"peer", e.Peer}, {"self", e.Self}, {"reason", e.Reason}, {"message", e.Message}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	for _, kv := range []struct {
		k string
		v *bool
	}{{"resumed", e.Resumed}, {"rejoin", e.Rejoin}, {"sameSession", e.SameSession}} {
		if kv.v != nil {
			fmt.Fprintf(&b, " %s=%v", kv.k, *kv.v)
		}
	}
	if e.ResumeError != nil {
		fmt.Fprintf(&b, " resumeError=%s", *e.ResumeError)
	}
	if e.Code != nil {
		fmt.Fprintf(&b, " code=%v", e.Code)
	}
	if e.LastSeq != nil {
		fmt.Fprintf(&b, " lastSeq=%d", *e.LastSeq)
	}
	return b.String()
}

// resumeLog reads the tab's sbt.log.
func (tb *sdkTab) resumeLog(t *testing.T) []resumeEvent {
	t.Helper()
	return evalIn[[]resumeEvent](t, tb.tab, "reading the event log", `window.sbt.log`)
}

// logString formats a log for failure messages.
func logString(log []resumeEvent) string {
	var b strings.Builder
	for _, e := range log {
		b.WriteString("\n\t")
		b.WriteString(e.String())
	}
	if len(log) == 0 {
		b.WriteString(" (empty)")
	}
	return b.String()
}

// rpoll waits for a predicate on window.sbt, showing the resume state on failure.
func (tb *sdkTab) rpoll(t *testing.T, what, predicate string) {
	t.Helper()
	pollIn(t, tb.tab, what, predicate, `window.sbt && window.sbt.rstate ? window.sbt.rstate() : null`)
}

// bc broadcasts {text} through the signaling server without waiting for it
// (sbt.sent records how it ends).
func (tb *sdkTab) bc(t *testing.T, text string) {
	t.Helper()
	evalIn[bool](t, tb.tab, "broadcasting "+text, `window.sbt.bc(`+jsString(text)+`)`)
}

// broadcastsFrom is the text of every broadcast the tab received from peer, in order.
func (tb *sdkTab) broadcastsFrom(t *testing.T, peer string) []string {
	t.Helper()
	return evalIn[[]string](t, tb.tab, "reading broadcasts",
		`window.sbt.bcast.filter((m) => m.peer === `+jsString(peer)+`).map((m) => String(m.text))`)
}

// sentStates is how each broadcast of sbt.bc ended: "ok", "pending" or "rejected: code".
func (tb *sdkTab) sentStates(t *testing.T) []string {
	t.Helper()
	return evalIn[[]string](t, tb.tab, "reading sent broadcasts", `window.sbt.sent.map((e) => e.text + ': ' + e.state)`)
}

// framesFrom is the tab's framesDecoded of the video from peer (-1 without video).
func (tb *sdkTab) framesFrom(t *testing.T, peer string) float64 {
	t.Helper()
	return evalIn[float64](t, tb.tab, "reading framesDecoded", `window.sbt.frames(`+jsString(peer)+`)`)
}

// mediaFlow watches both directions of a call's video: each check wants
// framesDecoded to have risen on both sides since the check before.
type mediaFlow struct {
	tabs [2]*sdkTab
	last [2]float64
}

func newMediaFlow(t *testing.T, a, b *sdkTab) *mediaFlow {
	t.Helper()
	m := &mediaFlow{tabs: [2]*sdkTab{a, b}}
	for i, tb := range m.tabs {
		m.last[i] = tb.framesFrom(t, m.tabs[1-i].self)
	}
	return m
}

func (m *mediaFlow) check(t *testing.T, when string) {
	t.Helper()
	for i, tb := range m.tabs {
		other := m.tabs[1-i]
		n := tb.framesFrom(t, other.self)
		if n <= m.last[i] {
			t.Errorf("%s: %s's video from %s stalled %s: framesDecoded %v, %v before", when, tb.name, other.name, when, n, m.last[i])
		}
		m.last[i] = n
	}
}

// startResumeCall opens tab A ("alice") at aBase (the FaultProxy, or the
// server) with A's SDK options sdk, and tab B ("bob") at the server; both
// join room and publish the fake camera, and the call is up: a connected
// link each way and video decoding both ways. Then the resume recorders
// (resumeWatchJS) start, and one broadcast each way shows that signaling
// carries them. With sockets, A's page records its WebSockets
// (recordSocketsJS).
func startResumeCall(t *testing.T, browser context.Context, aBase, bBase, room string, sdk map[string]any, sockets bool) (a, b *sdkTab) {
	t.Helper()
	a = openSDKTab(t, browser, aBase, "alice")
	b = openSDKTab(t, browser, bBase, "bob")
	if sockets {
		evalIn[bool](t, a.tab, "recording WebSockets", recordSocketsJS)
	}
	a.joinSDK(t, room, map[string]any{"publish": true, "sdk": sdk})
	b.joinSDK(t, room, map[string]any{"publish": true})
	for _, tb := range []*sdkTab{a, b} {
		tb.poll(t, "a connected link", `window.sbt.room.peers.size === 1 &&
			[...window.sbt.room.peers.values()].every((p) => p.state === 'connected')`)
	}
	a.videoFrom(t, b.self, b.name)
	b.videoFrom(t, a.self, a.name)
	for _, tb := range []*sdkTab{a, b} {
		evalIn[bool](t, tb.tab, "starting the recorders", resumeWatchJS)
	}
	a.bc(t, "a2b before")
	b.bc(t, "b2a before")
	b.rpoll(t, "alice's first broadcast", `window.sbt.bcast.some((m) => m.text === 'a2b before')`)
	a.rpoll(t, "bob's first broadcast", `window.sbt.bcast.some((m) => m.text === 'b2a before')`)
	return a, b
}

// sendDuringOutage is the clock of an outage: for d from now, every
// msgEvery each side broadcasts the next numbered message ("a2b 1",
// "b2a 1", ...), and every second both directions of video must have
// advanced. It returns how many messages each side sent.
func sendDuringOutage(t *testing.T, a, b *sdkTab, media *mediaFlow, d, msgEvery time.Duration, when string) int {
	t.Helper()
	start := time.Now()
	lastCheck := start
	n := 0
	for next := start; next.Before(start.Add(d)); next = next.Add(msgEvery) {
		time.Sleep(time.Until(next))
		n++
		b.bc(t, "b2a "+strconv.Itoa(n))
		a.bc(t, "a2b "+strconv.Itoa(n))
		if time.Since(lastCheck) >= time.Second {
			media.check(t, when)
			lastCheck = time.Now()
		}
	}
	time.Sleep(time.Until(start.Add(d)))
	media.check(t, when)
	return n
}

// numbered is the messages a side sends in a resume test, in order:
// before, 1..n, after.
func numbered(prefix string, n int) []string {
	out := []string{prefix + " before"}
	for i := 1; i <= n; i++ {
		out = append(out, prefix+" "+strconv.Itoa(i))
	}
	return append(out, prefix+" after")
}

// checkMessagesAfterResume sends one more broadcast each way ("after"),
// waits for it at the other side and then wants each side to have received
// exactly the other's numbered messages, each once, in order (the "after"
// message goes behind every earlier one on the same connection, so any
// duplicate would be in by then), and every broadcast sent to have been
// accepted by the server.
func checkMessagesAfterResume(t *testing.T, a, b *sdkTab, n int) {
	t.Helper()
	a.bc(t, "a2b after")
	b.bc(t, "b2a after")
	b.rpoll(t, "alice's last broadcast", `window.sbt.bcast.some((m) => m.peer === `+jsString(a.self)+` && m.text === 'a2b after')`)
	a.rpoll(t, "bob's last broadcast", `window.sbt.bcast.some((m) => m.peer === `+jsString(b.self)+` && m.text === 'b2a after')`)
	for _, c := range []struct {
		to, from *sdkTab
		prefix   string
	}{{a, b, "b2a"}, {b, a, "a2b"}} {
		got, want := c.to.broadcastsFrom(t, c.from.self), numbered(c.prefix, n)
		if !slices.Equal(got, want) {
			t.Errorf("%s received from %s:\n\t%q\nwant each once, in order:\n\t%q", c.to.name, c.from.name, got, want)
		}
	}
	for _, tb := range []*sdkTab{a, b} {
		tb.rpoll(t, "every broadcast accepted", `window.sbt.sent.every((e) => e.state === 'ok')`)
	}
}

// checkNoRoomChange fails the test for any peer-joined or peer-left in the
// tab's log: the room looks as it did before the outage.
func checkNoRoomChange(t *testing.T, tb *sdkTab, log []resumeEvent) {
	t.Helper()
	for _, e := range log {
		if e.Ev == "peer-joined" || e.Ev == "peer-left" {
			t.Errorf("%s saw the room change: %s\nlog:%s", tb.name, e, logString(log))
		}
	}
}

// checkResumed wants A reconnected once with the session resumed: the same
// peer id in sb.id and room.self, one "reconnect" with resumed true and no
// resumeError, and the room's "joined" with {rejoin, sameSession, resumed}.
// Otherwise the test stops at once, showing what both tabs saw: nothing
// later can pass without the session.
func checkResumed(t *testing.T, a, b *sdkTab, oldSelf string) []resumeEvent {
	t.Helper()
	a.rpoll(t, "a reconnection and the room joined", `(() => {
		const s = window.sbt;
		return s.sb.connected && s.room.joined && s.log.some((e) => e.ev === 'reconnect') &&
			s.log.some((e) => e.ev === 'joined');
	})()`)
	log := a.resumeLog(t)
	var reconnects, joins []resumeEvent
	for _, e := range log {
		switch e.Ev {
		case "reconnect":
			reconnects = append(reconnects, e)
		case "joined":
			joins = append(joins, e)
		}
	}
	var problems []string
	if len(reconnects) != 1 || !isTrue(reconnects[0].Resumed) || reconnects[0].ResumeError != nil || reconnects[0].ID != oldSelf {
		problems = append(problems, fmt.Sprintf("want one reconnect with resumed true, no resumeError, peer id %s", oldSelf))
	}
	if len(joins) != 1 || !isTrue(joins[0].Rejoin) || !isTrue(joins[0].SameSession) || !isTrue(joins[0].Resumed) || joins[0].Self != oldSelf {
		problems = append(problems, fmt.Sprintf("want one joined {rejoin, sameSession, resumed} as %s", oldSelf))
	}
	if self := evalIn[string](t, a.tab, "reading the peer id", `window.sbt.room.self === window.sbt.sb.id ? window.sbt.room.self : 'differs: ' + window.sbt.room.self + ' / ' + window.sbt.sb.id`); self != oldSelf {
		problems = append(problems, fmt.Sprintf("peer id after the reconnect %q, want %q as before", self, oldSelf))
	}
	if len(problems) > 0 {
		list := func(tb *sdkTab, what, js string) string {
			return strings.Join(evalIn[[]string](t, tb.tab, what, js), "\n\t")
		}
		received := `window.sbt.bcast.map((m) => m.ms + 'ms from ' + m.peer + ': ' + m.text)`
		t.Fatalf("%s did not resume its session: %s\n%s's log:%s\n%s's log:%s\n%s received:\n\t%s\n%s received:\n\t%s\n%s sent:\n\t%s\n%s's WebSockets:\n\t%s",
			a.name, strings.Join(problems, "; "),
			a.name, logString(log), b.name, logString(b.resumeLog(t)),
			a.name, list(a, "reading broadcasts", received),
			b.name, list(b, "reading broadcasts", received),
			a.name, strings.Join(a.sentStates(t), "\n\t"),
			a.name, list(a, "reading WebSockets", `(window.sbtSockets || []).map((s) => '#' + s.n + ' at ' + s.ms + 'ms: opened ' + s.opened +
				', ' + s.frames + ' frames, highest seq ' + s.maxSeq + ', close ' + JSON.stringify(s.close) +
				(s.hello ? '\n\t\thello ' + s.hello : '') + (s.first ? '\n\t\tfirst frame ' + s.first.slice(0, 240) : ''))`))
	}
	return log
}

func isTrue(p *bool) bool { return p != nil && *p }

// checkLinksKept wants each tab's link to the other to be the very
// RTCPeerConnection it had before the outage, connected.
func checkLinksKept(t *testing.T, tabs ...*sdkTab) {
	t.Helper()
	for i, tb := range tabs {
		other := tabs[len(tabs)-1-i]
		tb.rpoll(t, "the link to "+other.name+" kept and connected", `(() => {
			const p = window.sbt.room.peers.get(`+jsString(other.self)+`);
			return window.sbt.room.peers.size === 1 && p && p.state === 'connected' && window.sbt.samePC(`+jsString(other.self)+`);
		})()`)
	}
}

// checkResumeMetrics wants the server to have resumed at least one session
// and refused none, with no session ended: two sessions, both open, none
// waiting for a resume.
func checkResumeMetrics(t *testing.T, base string) {
	t.Helper()
	m := scrapeMetrics(t, base)
	resumed := m[`switchboard_signaling_resumes_total{result="resumed"}`]
	t.Logf("server: %v resumes", resumed)
	if resumed < 1 {
		t.Errorf(`switchboard_signaling_resumes_total{result="resumed"} = %v, want >= 1`, resumed)
	}
	if all := sumMetric(m, "switchboard_signaling_resumes_total"); all != resumed {
		t.Errorf("switchboard_signaling_resumes_total: %v resumes asked for, %v resumed: some were refused", all, resumed)
	}
	for name, want := range map[string]float64{
		"switchboard_signaling_disconnects_total": 0,
		"switchboard_signaling_sessions":          2,
		"switchboard_signaling_sessions_total":    2,
		"switchboard_signaling_sessions_detached": 0,
	} {
		if got := sumMetric(m, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// setOffline turns DevTools' offline emulation of the tab on or off. cdproto
// lacks Network.emulateNetworkConditions, so it is a raw CDP call.
func setOffline(t *testing.T, tb tab, offline bool) {
	t.Helper()
	tb.do(t, fmt.Sprintf("emulating offline=%v", offline), func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		if err := target.Call(ctx, "Network.enable", map[string]any{}, nil); err != nil {
			return chromedp.Void{}, fmt.Errorf("Network.enable: %w", err)
		}
		return chromedp.Void{}, target.Call(ctx, "Network.emulateNetworkConditions", map[string]any{
			"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
		}, nil)
	})
}

// noConsoleErrorsBut is noConsoleErrors, except for lines that contain one
// of allowed (the browser's own messages about connections an outage made
// fail).
func noConsoleErrorsBut(t *testing.T, tb tab, allowed ...string) {
	t.Helper()
	var bad []string
	for _, e := range testutil.Console(tb.ctx).Errors() {
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.Contains(e, a) }) {
			bad = append(bad, e)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: console errors:\n%s", tb.name, strings.Join(bad, "\n"))
	}
}

// TestResumeCallSurvivesCut cuts the signaling connection of a running call
// for 5 s: tab A's WebSocket goes through a FaultProxy, which goes down
// (both ends see the TCP connection die, no close frame) and refuses every
// reconnection until it comes up again. Meanwhile each side broadcasts ten
// numbered messages over signaling (B's are kept by the server for A's
// detached session, A's wait in the SDK) and the video keeps decoding both
// ways. When the proxy is up, A resumes: same peer id, no peer-left or
// peer-joined anywhere, the same peer connections, every message once and
// in order, video still flowing, and the server counts a resume and no
// ended session.
func TestResumeCallSurvivesCut(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	proxy := testutil.StartFaultProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	room := "resume-" + rand.Text()[:8]

	a, b := startResumeCall(t, browser, proxy.URL(), srv.URL, room, resumeSDK(nil), false)
	oldA, oldB := a.self, b.self
	media := newMediaFlow(t, a, b)

	const cut = 5 * time.Second
	proxy.Down()
	downAt := time.Now()
	a.rpoll(t, "the lost connection", `!window.sbt.sb.connected && window.sbt.log.some((e) => e.ev === 'disconnect')`)
	n := sendDuringOutage(t, a, b, media, cut, 500*time.Millisecond, "while signaling is cut")
	if evalIn[bool](t, a.tab, "reading connected", `window.sbt.sb.connected`) {
		t.Fatalf("%s is connected with the proxy down\nstate: %s", a.name, describeIn(a.tab, `window.sbt.rstate()`))
	}
	if pending := evalIn[int](t, a.tab, "reading queued broadcasts", `window.sbt.sent.filter((e) => e.state === 'pending').length`); pending != n {
		t.Errorf("%s: %d broadcasts wait for the connection, want the %d sent while it was cut", a.name, pending, n)
	}
	proxy.Up()
	upAt := time.Now()
	t.Logf("proxy down for %v; %d messages each way meanwhile", upAt.Sub(downAt).Round(time.Millisecond), n)

	logA := checkResumed(t, a, b, oldA)
	t.Logf("%s resumed %v after the proxy came up", a.name, time.Since(upAt).Round(time.Millisecond))
	if b.self != oldB || evalIn[string](t, b.tab, "reading bob's peer id", `window.sbt.room.self`) != oldB {
		t.Errorf("%s's peer id changed", b.name)
	}
	checkMessagesAfterResume(t, a, b, n)
	checkLinksKept(t, a, b)
	media.check(t, "after the resume")
	a.videoFrom(t, b.self, b.name)
	b.videoFrom(t, a.self, a.name)

	logB := b.resumeLog(t)
	checkNoRoomChange(t, a, logA)
	checkNoRoomChange(t, b, logB)
	for _, e := range logB {
		if e.Ev == "disconnect" || e.Ev == "reconnect" || e.Ev == "error" {
			t.Errorf("%s, never cut, saw %s\nlog:%s", b.name, e, logString(logB))
		}
	}
	t.Logf("%s's log:%s", a.name, logString(logA))
	checkResumeMetrics(t, srv.URL)
	if errs := evalIn[[]string](t, b.tab, "reading room errors", `window.sbt.errors`); len(errs) > 0 {
		t.Errorf("%s: room errors: %q", b.name, errs)
	}
	noConsoleErrors(t, b.tab)
	noConsoleErrorsBut(t, a.tab, "WebSocket connection to 'ws://"+proxy.Addr+"/ws' failed")
}

// TestResumeGraceExpiredRejoins cuts the signaling connection of a running
// call for longer than the server's grace period (2 s here). B sees A leave
// cleanly once the grace period is over, not before. When the proxy is up,
// A's resume is refused (resumed false, resumeError session_unknown) and the
// SDK joins again by itself with a new peer id; B sees that peer join, the
// call comes back with video both ways, and the broadcasts A made while
// away arrive at B from A's new peer id, in order.
func TestResumeGraceExpiredRejoins(t *testing.T) {
	const grace = 2 * time.Second
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, Signaling: signaling.Config{ResumeGrace: grace}})
	proxy := testutil.StartFaultProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	room := "resume-grace-" + rand.Text()[:8]

	a, b := startResumeCall(t, browser, proxy.URL(), srv.URL, room, resumeSDK(nil), false)
	oldA := a.self

	proxy.Down()
	downAt := time.Now()
	a.rpoll(t, "the lost connection", `!window.sbt.sb.connected && window.sbt.log.some((e) => e.ev === 'disconnect')`)
	const queued = 3
	for i := 1; i <= queued; i++ {
		a.bc(t, "a2b "+strconv.Itoa(i))
	}
	b.rpoll(t, "alice's old peer leaving", `window.sbt.log.some((e) => e.ev === 'peer-left' && e.peer === `+jsString(oldA)+`)`)
	left := time.Since(downAt)
	t.Logf("%s saw %s leave %v after the cut (grace %v)", b.name, a.name, left.Round(time.Millisecond), grace)
	if left < grace-200*time.Millisecond {
		t.Errorf("%s saw %s leave %v after the cut, before the grace period of %v was over", b.name, a.name, left, grace)
	}
	if evalIn[bool](t, a.tab, "reading connected", `window.sbt.sb.connected`) {
		t.Fatalf("%s is connected with the proxy down\nstate: %s", a.name, describeIn(a.tab, `window.sbt.rstate()`))
	}
	proxy.Up()
	upAt := time.Now()

	a.rpoll(t, "a fresh session joined again", `(() => {
		const s = window.sbt;
		return s.sb.connected && s.room.joined && s.room.self !== `+jsString(oldA)+` &&
			s.log.some((e) => e.ev === 'joined' && e.rejoin && !e.sameSession);
	})()`)
	a.self = evalIn[string](t, a.tab, "reading the new peer id", `window.sbt.room.self`)
	t.Logf("%s joined again as %s (was %s) %v after the proxy came up", a.name, a.self, oldA, time.Since(upAt).Round(time.Millisecond))
	logA := a.resumeLog(t)
	var reconnects []resumeEvent
	for _, e := range logA {
		if e.Ev == "reconnect" {
			reconnects = append(reconnects, e)
		}
	}
	if len(reconnects) != 1 || reconnects[0].Resumed == nil || *reconnects[0].Resumed ||
		reconnects[0].ResumeError == nil || *reconnects[0].ResumeError != "session_unknown" || reconnects[0].ID != a.self {
		t.Errorf("%s: want one reconnect with resumed false, resumeError session_unknown, new peer id %s; log:%s", a.name, a.self, logString(logA))
	}
	if sbID := evalIn[string](t, a.tab, "reading sb.id", `window.sbt.sb.id`); sbID != a.self {
		t.Errorf("%s: sb.id %s, room.self %s", a.name, sbID, a.self)
	}

	b.rpoll(t, "alice's new peer joining, connected", `(() => {
		const s = window.sbt, p = s.room.peers.get(`+jsString(a.self)+`);
		return s.room.peers.size === 1 && p && p.state === 'connected' &&
			s.log.some((e) => e.ev === 'peer-joined' && e.peer === `+jsString(a.self)+`);
	})()`)
	a.rpoll(t, "a connected link to bob", `(() => {
		const p = window.sbt.room.peers.get(`+jsString(b.self)+`);
		return window.sbt.room.peers.size === 1 && p && p.state === 'connected';
	})()`)
	a.videoFrom(t, b.self, b.name)
	b.videoFrom(t, a.self, a.name)

	// What B saw: the old peer left once, the new one joined once, in that order.
	logB := b.resumeLog(t)
	var room2 []string
	for _, e := range logB {
		if e.Ev == "peer-joined" || e.Ev == "peer-left" {
			room2 = append(room2, e.Ev+" "+e.Peer)
		}
	}
	if want := []string{"peer-left " + oldA, "peer-joined " + a.self}; !slices.Equal(room2, want) {
		t.Errorf("%s's room events %q, want %q\nlog:%s", b.name, room2, want, logString(logB))
	}
	// The broadcasts A made while away went out from the new session.
	b.rpoll(t, "alice's queued broadcasts", `window.sbt.bcast.filter((m) => m.peer === `+jsString(a.self)+`).length >= `+strconv.Itoa(queued))
	if got, want := b.broadcastsFrom(t, a.self), numbered("a2b", queued)[1:queued+1]; !slices.Equal(got, want) {
		t.Errorf("%s received from %s's new peer id %q, want %q", b.name, a.name, got, want)
	}
	a.rpoll(t, "every broadcast accepted", `window.sbt.sent.every((e) => e.state === 'ok')`)

	m := scrapeMetrics(t, srv.URL)
	for name, want := range map[string]float64{
		`switchboard_signaling_resumes_total{result="session_unknown"}`:   1,
		`switchboard_signaling_resumes_total{result="resumed"}`:           0,
		`switchboard_signaling_disconnects_total{reason="grace_expired"}`: 1,
		"switchboard_signaling_sessions":                                  2,
		"switchboard_signaling_sessions_total":                            3,
		"switchboard_signaling_sessions_detached":                         0,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	if d := sumMetric(m, "switchboard_signaling_disconnects_total"); d != 1 {
		t.Errorf("switchboard_signaling_disconnects_total = %v over all reasons, want 1 (grace_expired)", d)
	}
	t.Logf("%s's log:%s", a.name, logString(logA))
	noConsoleErrors(t, b.tab)
	noConsoleErrorsBut(t, a.tab, "WebSocket connection to 'ws://"+proxy.Addr+"/ws' failed")
}

// TestResumeAfterOffline takes tab A offline with DevTools' network
// emulation for 4 s. That freezes A's WebSocket instead of closing it: the
// server sees nothing, and the SDK notices only through its heartbeat
// (pingInterval 500 ms, pingTimeout 1 s here). Meanwhile both sides
// broadcast numbered messages: B's reach the server, which writes them to
// the frozen connection and keeps them until they are confirmed; A's first
// ones go out on the frozen socket, the later ones wait in the SDK. When
// the socket thaws, Chromium's network stack answers the server's pings
// that wait there at once, while the page, which closed that socket on its
// ping timeout, drops the frames they confirm: the server must still have
// them for the resume (it failed with seq_out_of_range when pongs dropped
// frames at once; the SDK's confirm frames now say what the page read, and
// pongs drop nothing for such a session). Back online, A resumes: same peer id, the old connection closed without ending
// the session, no peer-left at B, every message once and in order, and the
// video decoded both ways the whole time.
func TestResumeAfterOffline(t *testing.T) {
	browser := testutil.NewBrowser(t)
	// The server pings every second, so that its pings reach the frozen
	// socket after frames the page has not processed (with the default
	// 10 s, a 4 s outage has a 40 % chance of one).
	srv := testutil.StartServer(t, testutil.Options{Dev: true, Signaling: signaling.Config{PingInterval: time.Second}})
	room := "resume-offline-" + rand.Text()[:8]

	a, b := startResumeCall(t, browser, srv.URL, srv.URL, room,
		resumeSDK(map[string]any{"pingInterval": 500, "pingTimeout": 1000}), true)
	oldA := a.self
	media := newMediaFlow(t, a, b)

	const offline = 4 * time.Second
	setOffline(t, a.tab, true)
	offAt := time.Now()
	n := sendDuringOutage(t, a, b, media, offline, 400*time.Millisecond, "while alice is offline")
	logA := a.resumeLog(t)
	i := slices.IndexFunc(logA, func(e resumeEvent) bool { return e.Ev == "disconnect" })
	if i < 0 || logA[i].Reason != "ping timeout" {
		t.Fatalf("%s: no disconnect for a ping timeout within %v offline; log:%s", a.name, offline, logString(logA))
	}
	t.Logf("%s gave up on its connection %v into the outage", a.name, time.Duration(logA[i].MS)*time.Millisecond)
	setOffline(t, a.tab, false)
	t.Logf("offline for %v; %d messages each way meanwhile", time.Since(offAt).Round(time.Millisecond), n)
	onAt := time.Now()

	logA = checkResumed(t, a, b, oldA)
	t.Logf("%s resumed %v after going online", a.name, time.Since(onAt).Round(time.Millisecond))
	checkMessagesAfterResume(t, a, b, n)
	checkLinksKept(t, a, b)
	media.check(t, "after the resume")

	// The connection the SDK gave up on ended without ending the session:
	// its close 4000, frozen with it, reaches the server when the tab is
	// back online (the session waits for the resume), or the resume takes
	// the session over from it first (close 4409). 1000 or 1001 would have
	// ended the session.
	a.rpoll(t, "the old connection closed", `window.sbtSockets[0].close !== null`)
	t.Logf("%s's first WebSocket: %s", a.name, describeIn(a.tab, `window.sbtSockets[0].close`))
	if c := evalIn[float64](t, a.tab, "reading the close code", `window.sbtSockets[0].close.code`); c != 4000 && c != 4409 {
		t.Errorf("%s's first WebSocket closed with %v, want 4000 (given up by the SDK) or 4409 (session resumed on another connection); sockets: %s",
			a.name, c, describeIn(a.tab, `window.sbtSockets`))
	}

	logB := b.resumeLog(t)
	checkNoRoomChange(t, a, logA)
	checkNoRoomChange(t, b, logB)
	t.Logf("%s's log:%s", a.name, logString(logA))
	checkResumeMetrics(t, srv.URL)
	noConsoleErrors(t, b.tab)
	noConsoleErrorsBut(t, a.tab, "WebSocket connection to 'ws://"+strings.TrimPrefix(srv.URL, "http://")+"/ws' failed")
}
