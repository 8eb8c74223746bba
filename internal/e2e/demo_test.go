package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// snapshot is what window.demo.snapshot() returns.
type snapshot struct {
	State    string `json:"state"`
	PeerID   string `json:"peerId"`
	RoomName string `json:"roomName"`
	Name     string `json:"name"`
	Peers    []struct {
		Peer  string `json:"peer"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"peers"`
	Messages []struct {
		From string `json:"from"`
		Name string `json:"name"`
		Text string `json:"text"`
		Self bool   `json:"self"`
	} `json:"messages"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// tab is one browser tab showing the demo page as one user.
type tab struct {
	name string
	ctx  context.Context
}

// snapshot reads the demo's state; on failure it returns the zero value, as
// it is only used for diagnostics and polling.
func (tb tab) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[snapshot](`window.demo ? window.demo.snapshot() : {}`))
	if err != nil {
		t.Logf("%s: reading window.demo: %v", tb.name, err)
	}
	return s
}

// waitFor polls a JavaScript predicate in the tab until it is truthy, and
// fails the test with the demo's state when it does not become so in time.
func (tb tab) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	if err := pollJS(tb.ctx, 10*time.Second, predicate); err != nil {
		state, _ := json.MarshalIndent(tb.snapshot(t), "", "  ")
		t.Fatalf("%s: waiting for %s: %v\nwindow.demo: %s", tb.name, what, err, state)
	}
}

// do runs actions in the tab with a deadline.
func (tb tab) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDemoChat opens the demo page in two tabs, joins both to one room and
// checks that the data channel between them carries chat both ways.
func TestDemoChat(t *testing.T) {
	browser := testutil.NewBrowser(t) // first: skips at once without Chromium
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	room := "e2e-" + rand.Text()[:8]

	tabs := []tab{
		{name: "alice", ctx: testutil.NewTab(t, browser)},
		{name: "bob", ctx: testutil.NewTab(t, browser)},
	}
	for _, tb := range tabs {
		page := srv.URL + "/?" + url.Values{"room": {room}, "name": {tb.name}}.Encode()
		tb.do(t, "opening the demo", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("join")))
	}
	// Join both before waiting for either, as two people would.
	for _, tb := range tabs {
		tb.do(t, "joining", chromedp.Click(chromedp.ID("join")))
	}
	for _, tb := range tabs {
		tb.waitFor(t, "the room to be joined", `window.demo.state === 'joined' && !!window.demo.peerId`)
	}

	alice, bob := tabs[0].snapshot(t), tabs[1].snapshot(t)
	if alice.PeerID == bob.PeerID {
		t.Fatalf("both tabs have peer id %q", alice.PeerID)
	}
	if alice.RoomName != room || bob.RoomName != room {
		t.Fatalf("rooms %q and %q, want %q", alice.RoomName, bob.RoomName, room)
	}
	ids := map[string]string{"alice": alice.PeerID, "bob": bob.PeerID}
	other := map[string]string{"alice": "bob", "bob": "alice"}

	// Each tab lists the other, and the data channel between them opens.
	for _, tb := range tabs {
		want := ids[other[tb.name]]
		tb.waitFor(t, "the other peer's data channel to open", `(() => {
			const p = window.demo.peers.find((p) => p.peer === `+jsString(want)+`);
			return window.demo.peers.length === 1 && p && p.state === 'connected' &&
				document.querySelector('#peer-list [data-peer=`+jsString(want)+`][data-state="connected"]') !== null;
		})()`)
	}

	// A message typed in each tab shows up in the other.
	for _, from := range tabs {
		text := "hello from " + from.name + " " + rand.Text()[:6]
		from.do(t, "sending a message",
			chromedp.SendKeys(chromedp.ID("message"), text),
			chromedp.Click(chromedp.ID("send")),
		)
		from.waitFor(t, "its own message in the log", `window.demo.messages.some((m) => m.self && m.text === `+jsString(text)+`)`)
		to := tabs[1]
		if from.name == "bob" {
			to = tabs[0]
		}
		to.waitFor(t, "the message from "+from.name, `window.demo.messages.some((m) =>
			!m.self && m.text === `+jsString(text)+` && m.from === `+jsString(ids[from.name])+` && m.name === `+jsString(from.name)+`) &&
			document.getElementById('messages').textContent.includes(`+jsString(text)+`)`)
	}

	for _, tb := range tabs {
		s := tb.snapshot(t)
		if s.Error != nil {
			t.Errorf("%s shows an error: %s: %s", tb.name, s.Error.Code, s.Error.Message)
		}
		if errs := testutil.Console(tb.ctx).Errors(); len(errs) > 0 {
			t.Errorf("%s: console errors:\n%v", tb.name, errs)
		}
	}
}

// pollJS evaluates the JavaScript predicate in the tab of ctx every 25 ms
// until it is truthy, for at most limit. Every wait of these tests goes
// through it; the callers add what to show when it times out.
func pollJS(ctx context.Context, limit time.Duration, predicate string) error {
	ctx, cancel := context.WithTimeout(ctx, limit+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	return err
}
