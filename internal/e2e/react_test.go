package e2e

import (
	"crypto/rand"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// reactState is window.example.snapshot() of the React example.
type reactState struct {
	State string `json:"state"`
	Self  string `json:"self"`
	Peers []struct {
		Peer  string `json:"peer"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"peers"`
	Connects int `json:"connects"`
	Stats    struct {
		Acquires int `json:"acquires"`
		Releases int `json:"releases"`
		Joins    int `json:"joins"`
		Leaves   int `json:"leaves"`
	} `json:"stats"`
}

const reactDiag = `window.example ? window.example.snapshot() : null`

// TestReactStrictModeJoinsOnce opens the React example (rendered in
// <React.StrictMode> with React's development build, which mounts,
// unmounts and mounts every component, running effects twice) and joins a
// room from its form. The server must see one WebSocket session and one
// join from that tab. A second tab of the example joins the same room and
// the two chat over the data channel; leaving closes the session.
func TestReactStrictModeJoinsOnce(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	room := "react-" + rand.Text()[:8]
	page := func(name string, extra url.Values) string {
		q := url.Values{"room": {room}, "name": {name}}
		for k, v := range extra {
			q[k] = v
		}
		return srv.URL + "/examples/react/?" + q.Encode()
	}
	waitReact := func(tb tab, what, predicate string) {
		t.Helper()
		pollIn(t, tb, what, predicate, reactDiag)
	}

	// alice fills in the form (prefilled from the URL) and joins.
	alice := tab{name: "alice", ctx: testutil.NewTab(t, browser)}
	alice.do(t, "opening the example", chromedp.Navigate(page("alice", nil)), chromedp.WaitVisible(chromedp.ID("join")))
	if dir := os.Getenv("SWITCHBOARD_SCREENSHOTS"); dir != "" {
		saveScreenshot(t, alice, filepath.Join(dir, "react-join.png"))
	}
	alice.do(t, "joining", chromedp.Click(chromedp.ID("join")))
	waitReact(alice, "the room to be joined", `window.example.state === 'joined' && !!window.example.self &&
		document.getElementById('peer-id').textContent === window.example.self`)

	a := evalIn[reactState](t, alice, "reading window.example", `window.example.snapshot()`)
	// StrictMode really did run the effects twice: more acquires than
	// components, a cleanup for each, and still one join and one connection.
	if a.Stats.Acquires < 2 || a.Stats.Releases < 1 {
		t.Errorf("useRoom effects: %d acquires, %d releases: StrictMode's double effects did not run (development build?)",
			a.Stats.Acquires, a.Stats.Releases)
	}
	if a.Stats.Joins != 1 || a.Connects != 1 || a.Stats.Leaves != 0 {
		t.Errorf("alice: %d joins, %d connections, %d leaves; want 1, 1, 0", a.Stats.Joins, a.Connects, a.Stats.Leaves)
	}
	checkSignaling(t, srv.URL, "after alice joined", 1, 1, 0)

	// bob opens an invite link that joins at once.
	bob := tab{name: "bob", ctx: testutil.NewTab(t, browser)}
	bob.do(t, "opening the example", chromedp.Navigate(page("bob", url.Values{"autojoin": {"1"}})))
	waitReact(bob, "the room to be joined", `window.example.state === 'joined' && !!window.example.self`)
	b := evalIn[reactState](t, bob, "reading window.example", `window.example.snapshot()`)
	ids := map[string]string{"alice": a.Self, "bob": b.Self}
	for _, pair := range [][2]tab{{alice, bob}, {bob, alice}} {
		tb, other := pair[0], pair[1]
		want := jsString(ids[other.name])
		waitReact(tb, "a connected link to "+other.name, `window.example.peers.length === 1 &&
			window.example.peers[0].peer === `+want+` && window.example.peers[0].state === 'connected' &&
			window.example.peers[0].connectionType === 'direct' &&
			document.querySelector('#peer-list [data-peer=`+want+`][data-state="connected"][data-connection="direct"]') !== null &&
			!document.getElementById('send').disabled`)
	}

	for _, pair := range [][2]tab{{alice, bob}, {bob, alice}} {
		from, to := pair[0], pair[1]
		text := "hi from " + from.name + " " + rand.Text()[:6]
		from.do(t, "sending a message", chromedp.SendKeys(chromedp.ID("message"), text), chromedp.Click(chromedp.ID("send")))
		waitReact(from, "its own message", `window.example.messages.some((m) => m.self && m.text === `+jsString(text)+`)`)
		waitReact(to, "the message from "+from.name, `window.example.messages.some((m) => !m.self &&
			m.from === `+jsString(ids[from.name])+` && m.name === `+jsString(from.name)+` && m.text === `+jsString(text)+`) &&
			document.getElementById('messages').textContent.includes(`+jsString(text)+`)`)
	}

	// SWITCHBOARD_SCREENSHOTS=DIR saves what the example looks like.
	if dir := os.Getenv("SWITCHBOARD_SCREENSHOTS"); dir != "" {
		saveScreenshot(t, alice, filepath.Join(dir, "react.png"))
	}

	// Both tabs together, after everything settled: still one session and
	// one join each.
	checkSignaling(t, srv.URL, "with both tabs in the room", 2, 2, 0)
	for _, tb := range []tab{alice, bob} {
		s := evalIn[reactState](t, tb, "reading window.example", `window.example.snapshot()`)
		if s.Stats.Joins != 1 || s.Connects != 1 {
			t.Errorf("%s: %d joins, %d connections; want 1 and 1", tb.name, s.Stats.Joins, s.Connects)
		}
	}

	// Leaving for good (not StrictMode's pretend unmount) leaves the room
	// and, as it was the last one, closes the connection.
	alice.do(t, "leaving", chromedp.Click(chromedp.ID("leave")))
	waitReact(alice, "the join form", `window.example.state === 'idle' && window.example.stats.leaves === 1 &&
		!window.example.client.active && document.getElementById('join') !== null`)
	waitReact(bob, "alice to be gone", `window.example.peers.length === 0 && document.getElementById('no-peers') !== null`)
	pollMetric(t, srv.URL, "alice's session to end", `switchboard_signaling_sessions`, 1)
	checkSignaling(t, srv.URL, "after alice left", 1, 2, 1)

	noConsoleErrors(t, alice, bob)
}

// checkSignaling compares the server's signaling metrics: open sessions,
// sessions ever, join frames and leave frames received.
func checkSignaling(t *testing.T, base, when string, open, total, leaves float64) {
	t.Helper()
	m := scrapeMetrics(t, base)
	got := map[string]float64{
		"switchboard_signaling_sessions":                          m["switchboard_signaling_sessions"],
		"switchboard_signaling_sessions_total":                    m["switchboard_signaling_sessions_total"],
		`switchboard_signaling_frames_in_total{type="hello"}`:     m[`switchboard_signaling_frames_in_total{type="hello"}`],
		`switchboard_signaling_frames_in_total{type="join"}`:      m[`switchboard_signaling_frames_in_total{type="join"}`],
		`switchboard_signaling_frames_in_total{type="leave"}`:     m[`switchboard_signaling_frames_in_total{type="leave"}`],
		`switchboard_signaling_connections_refused_total{reason}`: sumMetric(m, "switchboard_signaling_connections_refused_total"),
	}
	want := map[string]float64{
		"switchboard_signaling_sessions":                          open,
		"switchboard_signaling_sessions_total":                    total,
		`switchboard_signaling_frames_in_total{type="hello"}`:     total,
		`switchboard_signaling_frames_in_total{type="join"}`:      total,
		`switchboard_signaling_frames_in_total{type="leave"}`:     leaves,
		`switchboard_signaling_connections_refused_total{reason}`: 0,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %v, want %v", when, k, got[k], w)
		}
	}
}

// pollMetric waits until a metric (the sum of its series) reaches want.
func pollMetric(t *testing.T, base, what, name string, want float64) {
	t.Helper()
	var last float64
	ok := pollUntil(sdkWait, func() bool {
		last = sumMetric(scrapeMetrics(t, base), name)
		return last == want
	})
	if !ok {
		t.Fatalf("waiting for %s: %s = %v, want %v", what, name, last, want)
	}
}

// saveScreenshot writes a PNG of the tab's page.
func saveScreenshot(t *testing.T, tb tab, path string) {
	t.Helper()
	png := evalScreenshot(t, tb)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s saved to %s", tb.name, path)
}
