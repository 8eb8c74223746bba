package e2e

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/compat/ywebrtc"
)

// ywebrtcPage loads the real, unmodified yjs and y-webrtc packages as ES
// modules through an import map. y-webrtc imports simple-peer's browser
// bundle, which is no ES module: it runs as a classic script first and a
// two-line shim hands its global to the import.
const ywebrtcPage = `<!doctype html>
<meta charset="utf-8">
<title>y-webrtc on Switchboard</title>
<link rel="icon" href="data:,">
<script type="importmap">IMPORTMAP</script>
<script src="/node_modules/simple-peer/simplepeer.min.js"></script>
<script type="module">
import * as Y from 'yjs';
import { WebrtcProvider } from 'y-webrtc';
// start joins room through signalingURL as any y-webrtc app does; the
// test reads window.y. No ICE servers: the tabs reach each other on
// this host, and no traffic leaves it.
window.start = (signalingURL, room) => {
  const doc = new Y.Doc();
  const provider = new WebrtcProvider(room, doc, { signaling: [signalingURL], peerOpts: { config: { iceServers: [] } } });
  const y = { doc, provider, text: doc.getText('t'), errors: [] };
  // Switchboard's own error messages; y-webrtc ignores types it does not know.
  provider.signalingConns[0].on('message', (m) => { if (m.type === 'error') y.errors.push(m.code + ' ' + (m.topic || '')); });
  y.connected = () => [...provider.room.webrtcConns.values()].filter((c) => c.connected).length;
  y.state = () => JSON.stringify({ text: y.text.toString(), webrtc: provider.room.webrtcConns.size, connected: y.connected(),
    bc: provider.room.bcConns.size, signaling: provider.signalingConns.map((c) => c.connected), errors: y.errors });
  window.y = y;
};
window.ready = true;
</script>`

const simplePeerShim = `export default window.SimplePeer;`

// TestYWebRTC runs y-webrtc 10.x as an app would, with Switchboard as its
// only signaling server: two tabs edit one Y.Text and converge over WebRTC
// data channels; a tab whose token does not grant the topic gets no peers
// and none of the text; a tab that joins later catches up. Every tab has
// an origin of its own, so y-webrtc's BroadcastChannel between tabs of one
// origin plays no part.
func TestYWebRTC(t *testing.T) {
	requireCompatModules(t, "yjs", "y-webrtc", "lib0", "y-protocols", "simple-peer")
	browser := testutil.NewBrowser(t)
	mods := []string{"yjs", "y-webrtc", "lib0", "y-protocols", "isomorphic.js"}
	page := strings.Replace(ywebrtcPage, "IMPORTMAP",
		string(importMap(t, mods, map[string]string{"simple-peer/simplepeer.min.js": "/shim/simple-peer.js"})), 1)
	port := startCompatPage(t, page, map[string]string{"/shim/simple-peer.js": simplePeerShim})
	names := []string{"ann", "ben", "eve", "dan"}
	var origins []string
	for _, n := range names {
		origins = append(origins, "http://"+n+".localhost:"+port)
	}
	srv := testutil.StartServer(t, testutil.Options{Signaling: signaling.Config{AllowedOrigins: origins}})
	room := "doc-" + rand.Text()[:8]
	signalingURL := func(user string, grant string) string {
		tok := testutil.MintToken(t, signaling.TokenSpec{User: user, NS: map[string][]string{ywebrtc.Namespace: {grant}}, TTL: time.Hour})
		return strings.Replace(srv.URL, "http://", "ws://", 1) + "/y-webrtc?" + url.Values{"token": {tok}}.Encode()
	}
	open := func(i int, grant string) tab {
		tb := tab{name: names[i], ctx: testutil.NewTab(t, browser)}
		tb.do(t, "opening the page", chromedp.Navigate(origins[i]+"/"))
		tb.yWait(t, "the modules to load", `window.ready === true`)
		tb.do(t, "starting y-webrtc", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`start(%s, %s)`, jsString(signalingURL(names[i], grant)), jsString(room))))
		return tb
	}

	ann, ben := open(0, "doc-*"), open(1, room)
	for _, tb := range []tab{ann, ben} {
		tb.yWait(t, "a WebRTC peer", `y.connected() === 1 && y.provider.room.bcConns.size === 0`)
	}
	ann.do(t, "typing", chromedp.Evaluate[chromedp.Void](`y.text.insert(0, 'hello from ann. ')`))
	ben.do(t, "typing", chromedp.Evaluate[chromedp.Void](`y.text.insert(y.text.length, 'and ben.')`))
	for _, tb := range []tab{ann, ben} {
		tb.yWait(t, "both edits", `y.text.toString().includes('hello from ann. ') && y.text.toString().includes('and ben.')`)
	}

	eve := open(2, "other-*")
	eve.yWait(t, "the topic refused", `y.errors.includes('forbidden '+`+jsString(room)+`)`)
	dan := open(3, "doc-*")
	dan.yWait(t, "the text so far", `y.text.toString() === 'hello from ann. and ben.'`)
	for _, tb := range []tab{ann, ben, dan} {
		tb.yWait(t, "two WebRTC peers", `y.connected() === 2`)
	}
	dan.do(t, "typing", chromedp.Evaluate[chromedp.Void](`y.text.insert(0, '[dan] ')`))
	for _, tb := range []tab{ann, ben} {
		tb.yWait(t, "dan's edit", `y.text.toString() === '[dan] hello from ann. and ben.'`)
	}
	// Everything the others did reached eve's signaling connection had
	// she been let in; she has no peer and no text.
	eve.yWait(t, "no peers and no text", `y.provider.room.webrtcConns.size === 0 && y.text.length === 0 && y.provider.signalingConns[0].connected`)

	if n := srv.Metric(t, `switchboard_signaling_compat_frames_in_total{protocol="y-webrtc",type="publish"}`); n == 0 {
		t.Error("no y-webrtc publish counted")
	}
	for _, tb := range []tab{ann, ben, eve, dan} {
		if errs := testutil.Console(tb.ctx).Errors(); len(errs) > 0 {
			t.Errorf("%s: console errors:\n%v", tb.name, errs)
		}
	}
}

// yWait polls a predicate in a y-webrtc tab, failing with the tab's state.
func (tb tab) yWait(t *testing.T, what, predicate string) {
	t.Helper()
	if err := pollJS(tb.ctx, 15*time.Second, predicate); err != nil {
		state, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`window.y ? y.state() : 'not started'`))
		t.Fatalf("%s: waiting for %s: %v\nstate: %s", tb.name, what, err, state)
	}
}
