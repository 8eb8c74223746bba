package e2e

import (
	"context"
	"crypto/rand"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// callPeer is the JavaScript expression of the entry for the peer named
// name in window.call.peers (undefined when there is none: dereference it
// with ?. in predicates, the entry is replaced as links come and go).
func callPeer(name string) string {
	return `window.call.peers.find((p) => p.name === ` + jsString(name) + `)`
}

// waitDecoding waits until the page decodes the named peer's video, over a
// direct connection, with frames still coming in.
func waitDecoding(t *testing.T, p page, from string) {
	t.Helper()
	waitDecodingOver(t, p, from, "direct")
}

// waitDecodingOver waits until the page decodes the named peer's video over
// a link of the connection type conn, with frames still coming in.
func waitDecodingOver(t *testing.T, p page, from, conn string) {
	t.Helper()
	peer := callPeer(from)
	ready := `(() => { const p = ` + peer + `;
		return !!p && p.state === 'connected' && p.connectionType === ` + jsString(conn) + ` && p.hasVideo && p.framesDecoded > 0 &&
			document.querySelector('.tile[data-peer="' + p.peer + '"][data-connection=` + jsString(conn) + `]') !== null; })()`
	if err := pollJS(p.ctx, 10*time.Second, ready); err != nil {
		t.Fatalf("%s: waiting for %s's video over a %s link: %v\nthe link:\n%s\nwindow.call: %s",
			p.name, from, conn, err, eval[string](t, p, linkDump(from)), p.dump(t))
	}
	// Frames keep coming: the count read now rises by more than a second's worth.
	n := eval[float64](t, p, `(`+peer+`?.framesDecoded ?? 0)`)
	p.waitFor(t, from+"'s frames to keep coming", peer+`?.framesDecoded > `+jsNumber(n+15)+` && `+peer+`?.bitrateIn > 0`)
}

// jsNumber formats f as a JavaScript number literal.
func jsNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// TestCallVideo opens the call page in two tabs with the fake camera: each
// decodes the other's video over a direct link, sees mute and camera-off,
// and a third tab without camera or microphone joins late and sees both.
func TestCallVideo(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	room := "call-" + rand.Text()[:8]
	open := func(name string, extra url.Values) page {
		q := url.Values{"room": {room}, "name": {name}, "autojoin": {"1"}}
		for k, v := range extra {
			q[k] = v
		}
		p := openPage(t, browser, srv, name, "call", "/call.html", q)
		p.waitFor(t, "the call to be joined", `window.call.state === 'joined' && !!window.call.peerId`)
		return p
	}
	alice, bob := open("alice", nil), open("bob", nil)
	for _, p := range []page{alice, bob} {
		if ok := eval[bool](t, p, `window.call.media.video && window.call.media.audio && window.call.media.error === null`); !ok {
			t.Fatalf("%s: no camera and microphone: %s", p.name, p.dump(t))
		}
	}
	waitDecoding(t, alice, "bob")
	waitDecoding(t, bob, "alice")
	screenshot(t, alice, "call.png")

	// bob mutes and stops his camera: alice's tile for him says so.
	bob.do(t, "muting", chromedp.Click(chromedp.ID("mute")))
	bob.waitFor(t, "the mute to take", `window.call.muted && document.getElementById('mute').textContent === 'Unmute'`)
	alice.waitFor(t, "bob muted", `(() => { const p = `+callPeer("bob")+`; return !!p && p.muted &&
		document.querySelector('.tile[data-peer="' + p.peer + '"]').dataset.muted === 'true'; })()`)
	bob.do(t, "stopping the camera", chromedp.Click(chromedp.ID("camera")))
	alice.waitFor(t, "bob's camera off", `(() => { const p = `+callPeer("bob")+`; return !!p && p.cameraOff &&
		document.querySelector('.tile[data-peer="' + p.peer + '"]').dataset.video === 'false'; })()`)
	bob.do(t, "starting the camera", chromedp.Click(chromedp.ID("camera")))
	alice.waitFor(t, "bob's camera on", callPeer("bob")+`?.cameraOff === false`)

	// cat joins late with neither camera nor microphone: she still receives
	// both videos, and the others see her tile without video.
	cat := open("cat", url.Values{"camera": {"0"}, "mic": {"0"}})
	if ok := eval[bool](t, cat, `!window.call.media.video && !window.call.media.audio && !document.getElementById('media-notice').hidden`); !ok {
		t.Errorf("cat: media state or notice wrong: %s", cat.dump(t))
	}
	waitDecoding(t, cat, "alice")
	waitDecoding(t, cat, "bob")
	for _, p := range []page{alice, bob} {
		p.waitFor(t, "cat's tile without video", `(() => { const p = `+callPeer("cat")+`; return !!p && p.state === 'connected' &&
			!p.hasVideo && p.cameraOff && p.muted; })()`)
	}
	screenshot(t, cat, "call-three.png")

	// bob leaves: his tile goes from the others, and he is back at the form.
	bob.do(t, "leaving", chromedp.Click(chromedp.ID("leave")))
	bob.waitFor(t, "the join form", `window.call.state === 'idle' && window.call.peers.length === 0 && !document.getElementById('join-view').hidden`)
	for _, p := range []page{alice, cat} {
		p.waitFor(t, "bob to be gone", `window.call.peers.length === 1 && !`+callPeer("bob")+` &&
			document.querySelectorAll('#tiles .tile').length === 2`)
	}
	checkClean(t, alice, bob, cat)
}

// TestCallCameraRefused makes getUserMedia refuse: the page says the camera
// was refused, and offers to join without it, which works.
func TestCallCameraRefused(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	p := page{tab: tab{name: "refused", ctx: testutil.NewTab(t, browser)}, global: "call"}
	p.do(t, "refusing the camera", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `navigator.mediaDevices.getUserMedia = () =>
				Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));`,
		})
		return err
	}))
	q := url.Values{"room": {"refused-" + rand.Text()[:8]}, "name": {"dan"}, "autojoin": {"1"}}
	p.do(t, "opening the call page", chromedp.Navigate(srv.URL+"/call.html?"+q.Encode()))
	p.waitFor(t, "the refusal to be explained", `window.call.error && window.call.error.code === 'media_denied' &&
		window.call.state === 'idle' && !document.getElementById('error').hidden &&
		document.getElementById('error-title').textContent === 'Camera refused' &&
		!document.getElementById('join-nomedia').hidden`)
	screenshot(t, p, "call-refused.png")
	p.do(t, "joining without camera", chromedp.Click(chromedp.ID("join-nomedia")))
	p.waitFor(t, "the call to be joined", `window.call.state === 'joined' && window.call.error === null &&
		!window.call.media.video && document.getElementById('error').hidden`)
	if errs := testutil.Console(p.ctx).Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%v", errs)
	}
}

// TestCallRelayed forces both tabs through the embedded TURN server
// (iceTransportPolicy 'relay'): video still flows, and the tiles say
// "relayed".
//
// Both peers publish as they join; this test found that a polite side
// rolling back its first offer left Chromium gathering no candidates, which
// the SDK now avoids (PeerLink.publish waits for the first exchange).
func TestCallRelayed(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, TURN: &turn.Config{
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}})
	room := "relay-" + rand.Text()[:8]
	var pages []page
	for _, name := range []string{"ann", "ben"} {
		q := url.Values{"room": {room}, "name": {name}, "autojoin": {"1"}, "relay": {"1"}}
		p := openPage(t, browser, srv, name, "call", "/call.html", q)
		p.waitFor(t, "the call to be joined", `window.call.state === 'joined' && window.call.relayOnly`)
		pages = append(pages, p)
	}
	waitDecodingOver(t, pages[0], "ben", "relayed")
	waitDecodingOver(t, pages[1], "ann", "relayed")
	screenshot(t, pages[0], "call-relayed.png")
	checkClean(t, pages...)
}

// linkDump describes the RTCPeerConnection to the named peer, for failures.
func linkDump(name string) string {
	return `(async () => { const p = ` + callPeer(name) + `; if (!p || !window.call.room) return 'no such peer';
		const pc = window.call.room.getConnection(p.peer); if (!pc) return 'no connection';
		const out = ['connection ' + pc.connectionState + ', ice ' + pc.iceConnectionState + ', gathering ' + pc.iceGatheringState +
			', signaling ' + pc.signalingState + ', transceivers ' + pc.getTransceivers().map((t) => t.mid + ':' + t.direction).join(' ')];
		const sdp = (d) => d ? d.type + ': ' + d.sdp.split('\r\n').filter((l) => /^(m=|a=candidate|a=group)/.test(l)).join(' | ') : 'none';
		out.push('local ' + sdp(pc.localDescription), 'remote ' + sdp(pc.remoteDescription));
		(await pc.getStats()).forEach((s) => {
			if (s.type === 'local-candidate' || s.type === 'remote-candidate') out.push(s.type + ' ' + s.candidateType + ' ' + s.address + ':' + s.port);
			if (s.type === 'candidate-pair') out.push('pair ' + s.state + ' requests ' + s.requestsSent + ' responses ' + s.responsesReceived);
		});
		return out.join('\n'); })()`
}

// TestCallServerUnreachable stops the server under a running call: both
// pages say the server is unreachable while the call itself goes on peer to
// peer, and when the server is back they rejoin by themselves and the error
// goes away.
func TestCallServerUnreachable(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartRestartableServer(t, testutil.Options{Dev: true})
	room := "down-" + rand.Text()[:8]
	var pages []page
	for _, name := range []string{"alice", "bob"} {
		p := openPage(t, browser, srv.Server, name, "call", "/call.html", url.Values{"room": {room}, "name": {name}, "autojoin": {"1"}})
		p.waitFor(t, "the call to be joined", `window.call.state === 'joined'`)
		pages = append(pages, p)
	}
	alice, bob := pages[0], pages[1]
	waitDecoding(t, alice, "bob")
	waitDecoding(t, bob, "alice")

	// The restarted server knows nobody: every page rejoins with a new peer
	// id. Remember the old ones to tell the rejoin apart from what went before.
	oldIDs := map[string]string{}
	for _, p := range pages {
		oldIDs[p.name] = eval[string](t, p, `window.call.peerId`)
		if oldIDs[p.name] == "" {
			t.Fatalf("%s: no peer id: %s", p.name, p.dump(t))
		}
	}

	srv.Stop()
	for _, p := range pages {
		p.waitForWithin(t, 20*time.Second, "the page to say the server is unreachable", `window.call.state === 'reconnecting' &&
			window.call.error?.code === 'unreachable' && !document.getElementById('error').hidden &&
			document.getElementById('error-title').textContent === 'Server unreachable'`)
	}
	// Media does not need the server: bob's frames keep arriving at alice.
	n := eval[float64](t, alice, `(`+callPeer("bob")+`?.framesDecoded ?? 0)`)
	alice.waitFor(t, "bob's video while the server is down", callPeer("bob")+`?.framesDecoded > `+jsNumber(n+15))

	srv.Start()
	// Rejoined: a new own peer id, and the other page listed under its new
	// one (until then the entry for it can be the old link, still showing
	// video, or missing).
	for _, pair := range [][2]page{{alice, bob}, {bob, alice}} {
		p, other := pair[0], pair[1]
		p.waitForWithin(t, 20*time.Second, "the page to rejoin", `window.call.state === 'joined' && window.call.error === null &&
			document.getElementById('error').hidden && !!window.call.peerId && window.call.peerId !== `+jsString(oldIDs[p.name]))
		p.waitForWithin(t, 20*time.Second, other.name+" under a new peer id", `(() => { const o = `+callPeer(other.name)+`;
			return !!o && o.peer !== `+jsString(oldIDs[other.name])+`; })()`)
	}
	for _, pair := range [][2]page{{alice, bob}, {bob, alice}} {
		p, other := pair[0], pair[1]
		if got, want := eval[string](t, p, callPeer(other.name)+`?.peer ?? ''`), eval[string](t, other, `window.call.peerId ?? ''`); got != want {
			t.Fatalf("%s lists %s as %q, but %s is %q", p.name, other.name, got, other.name, want)
		}
	}
	waitDecoding(t, alice, "bob")
	waitDecoding(t, bob, "alice")
}
