package e2e

import (
	"crypto/rand"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// TestRestartRejoins restarts the server process (same port, same JWT
// secret, no state) under two tabs that are in a room, talking and sending
// video. Without the app doing anything the SDK reconnects (a "reconnect"
// event), rejoins the room with a new peer id, rebuilds the link to the
// other tab's new peer id, and data and the published video flow again.
func TestRestartRejoins(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartRestartableServer(t, testutil.Options{Dev: true})
	room := "restart-" + rand.Text()[:8]

	tabs := []*sdkTab{
		openSDKTab(t, browser, srv.URL, "alice"),
		openSDKTab(t, browser, srv.URL, "bob"),
	}
	for _, tb := range tabs {
		tb.joinSDK(t, room, map[string]any{"publish": true})
	}
	for _, tb := range tabs {
		tb.poll(t, "a link to the other", `window.sbt.room.peers.size === 1 &&
			[...window.sbt.room.peers.values()].every((p) => p.state === 'connected')`)
	}
	exchangeData(t, tabs, "before")
	for i, tb := range tabs {
		tb.videoFrom(t, tabs[1-i].self, tabs[1-i].name)
	}

	old := map[*sdkTab]string{}
	for _, tb := range tabs {
		old[tb] = tb.self
	}
	srv.Restart()
	t.Logf("server restarted on %s", srv.URL)

	// Each tab reconnects and rejoins as a new peer.
	for _, tb := range tabs {
		tb.poll(t, "a reconnect and a rejoin with a new peer id", `(() => {
			const s = window.sbt;
			return s.reconnects >= 1 && s.sb.connected && s.room.joined &&
				!!s.room.self && s.room.self !== `+jsString(old[tb])+`;
		})()`)
		tb.self = evalIn[string](t, tb.tab, "reading the new peer id", `window.sbt.room.self`)
	}
	// ...and links to the other's new peer id, the old one gone.
	for i, tb := range tabs {
		other := tabs[1-i]
		tb.poll(t, "a link to "+other.name+"'s new peer id", `(() => {
			const peers = [...window.sbt.room.peers.values()];
			return peers.length === 1 && peers[0].peer === `+jsString(other.self)+` && peers[0].state === 'connected';
		})()`)
	}

	exchangeData(t, tabs, "after")
	// The stream published before the restart is sent on the new links.
	for i, tb := range tabs {
		v := tb.videoFrom(t, tabs[1-i].self, tabs[1-i].name)
		t.Logf("%s decodes %s's video after the restart: framesDecoded %v then %v", tb.name, tabs[1-i].name, v.First, v.Last)
	}

	// The new server saw each tab once.
	m := scrapeMetrics(t, srv.URL)
	for name, want := range map[string]float64{
		"switchboard_signaling_sessions":                     2,
		"switchboard_signaling_sessions_total":               2,
		`switchboard_signaling_frames_in_total{type="join"}`: 2,
	} {
		if m[name] != want {
			t.Errorf("after the restart: %s = %v, want %v", name, m[name], want)
		}
	}

	for _, tb := range tabs {
		s := evalIn[struct {
			Reconnects int `json:"reconnects"`
			Connects   int `json:"connects"`
		}](t, tb.tab, "reading counters", `window.sbt.state()`)
		if s.Reconnects != 1 || s.Connects != 2 {
			t.Errorf("%s: %d reconnects, %d connects; want 1 and 2", tb.name, s.Reconnects, s.Connects)
		}
		noConsoleErrorsBut(t, tb.tab, refusedWhileDown(srv))
	}
}

// refusedWhileDown is the console line Chromium itself logs when a
// reconnection attempt reaches the port while the server is restarting
// (under load a restart can outlast the reconnect frame's delay); the SDK
// retries with backoff, so it is no error of the page's.
func refusedWhileDown(srv *testutil.RestartableServer) string {
	return "WebSocket connection to 'ws://" + strings.TrimPrefix(srv.URL, "http://") + "/ws' failed"
}

// TestRestartReactExample: the React example rides out a server restart.
// useRoom shows "reconnecting", then "joined" again with a new peer id and
// the other tab's new peer id, and chat works again, still from one client.
func TestRestartReactExample(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartRestartableServer(t, testutil.Options{Dev: true})
	room := "react-restart-" + rand.Text()[:8]

	tabs := []tab{
		{name: "alice", ctx: testutil.NewTab(t, browser)},
		{name: "bob", ctx: testutil.NewTab(t, browser)},
	}
	for _, tb := range tabs {
		page := srv.URL + "/examples/react/?" + url.Values{"room": {room}, "name": {tb.name}, "autojoin": {"1"}}.Encode()
		tb.do(t, "opening the example", chromedp.Navigate(page))
	}
	selves := map[string]string{}
	for _, tb := range tabs {
		pollIn(t, tb, "a connected link", `window.example.state === 'joined' && window.example.peers.length === 1 &&
			window.example.peers[0].state === 'connected'`, reactDiag)
		selves[tb.name] = evalIn[string](t, tb, "reading the peer id", `window.example.self`)
	}

	srv.Restart()

	for _, tb := range tabs {
		pollIn(t, tb, "the room joined again with a new peer id", `window.example.reconnects === 1 &&
			window.example.state === 'joined' && !!window.example.self && window.example.self !== `+jsString(selves[tb.name])+` &&
			document.getElementById('peer-id').textContent === window.example.self`, reactDiag)
		selves[tb.name] = evalIn[string](t, tb, "reading the peer id", `window.example.self`)
	}
	for i, tb := range tabs {
		other := tabs[1-i]
		pollIn(t, tb, "a link to "+other.name+"'s new peer id", `window.example.peers.length === 1 &&
			window.example.peers[0].peer === `+jsString(selves[other.name])+` && window.example.peers[0].state === 'connected' &&
			!document.getElementById('send').disabled`, reactDiag)
	}

	text := "after the restart " + rand.Text()[:6]
	tabs[0].do(t, "sending a message", chromedp.SendKeys(chromedp.ID("message"), text), chromedp.Click(chromedp.ID("send")))
	pollIn(t, tabs[1], "alice's message", `window.example.messages.some((m) => !m.self &&
		m.from === `+jsString(selves["alice"])+` && m.text === `+jsString(text)+`)`, reactDiag)

	for _, tb := range tabs {
		s := evalIn[reactState](t, tb, "reading window.example", `window.example.snapshot()`)
		if s.Stats.Joins != 1 || s.Connects != 2 {
			t.Errorf("%s: %d joins, %d connections; want 1 join (the SDK rejoins by itself) and 2 connections", tb.name, s.Stats.Joins, s.Connects)
		}
	}
	checkSignaling(t, srv.URL, "after the restart", 2, 2, 0)
	for _, tb := range tabs {
		noConsoleErrorsBut(t, tb, refusedWhileDown(srv))
	}
}
