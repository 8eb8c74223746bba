package e2e

import (
	"crypto/rand"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// TestDemoMesh joins three tabs to one room (autojoin): every pair gets its
// own data channel, a message reaches both others, and when one leaves the
// other two drop it and stay connected to each other.
func TestDemoMesh(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	room := "mesh-" + rand.Text()[:8]

	var tabs []tab
	for _, name := range []string{"ann", "ben", "cat"} {
		tb := tab{name: name, ctx: testutil.NewTab(t, browser)}
		page := srv.URL + "/?" + url.Values{"room": {room}, "name": {name}, "autojoin": {"1"}}.Encode()
		tb.do(t, "opening the demo", chromedp.Navigate(page))
		tabs = append(tabs, tb)
	}
	for _, tb := range tabs {
		tb.waitFor(t, "links to both others", `window.demo.state === 'joined' &&
			window.demo.peers.length === 2 && window.demo.peers.every((p) => p.state === 'connected')`)
	}

	text := "to everyone " + rand.Text()[:6]
	tabs[1].do(t, "sending a message", chromedp.SendKeys(chromedp.ID("message"), text), chromedp.Click(chromedp.ID("send")))
	for _, tb := range []tab{tabs[0], tabs[2]} {
		tb.waitFor(t, "the message from ben", `window.demo.messages.some((m) => !m.self && m.name === 'ben' && m.text === `+jsString(text)+`)`)
	}

	tabs[0].do(t, "leaving", chromedp.Click(chromedp.ID("leave")))
	tabs[0].waitFor(t, "the join form again", `window.demo.state === 'idle' && window.demo.peers.length === 0`)
	for _, tb := range tabs[1:] {
		tb.waitFor(t, "ann to be gone", `window.demo.peers.length === 1 &&
			window.demo.peers[0].name !== 'ann' && window.demo.peers[0].state === 'connected'`)
	}

	for _, tb := range tabs {
		if errs := testutil.Console(tb.ctx).Errors(); len(errs) > 0 {
			t.Errorf("%s: console errors:\n%v", tb.name, errs)
		}
	}
}
