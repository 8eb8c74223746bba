package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// page is a tab showing one of the demo pages that keep their state in a
// window global with a snapshot() method (window.call, window.notes,
// window.check).
type page struct {
	tab
	global string // "notes", "call", "check"
}

// openPage opens path on srv in a new tab of browser and waits for the
// page's global to exist.
func openPage(t *testing.T, browser context.Context, srv *testutil.Server, name, global, path string, query url.Values) page {
	t.Helper()
	return openPageAt(t, browser, srv.URL, name, global, path, query)
}

// openPageAt is openPage for a server at base (http://HOST:PORT) that this
// process did not start.
func openPageAt(t *testing.T, browser context.Context, base, name, global, path string, query url.Values) page {
	t.Helper()
	p := page{tab: tab{name: name, ctx: testutil.NewTab(t, browser)}, global: global}
	target := base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	p.do(t, "opening "+path, chromedp.Navigate(target))
	p.waitFor(t, "the page's script", `!!window.`+global)
	return p
}

// dump returns the page's snapshot as indented JSON, for failure messages.
func (p page) dump(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](`window.`+p.global+` ? window.`+p.global+`.snapshot() : null`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	var out any
	if json.Unmarshal(v, &out) != nil {
		return string(v)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return string(b)
}

// waitFor polls a JavaScript predicate until it is truthy, and fails the
// test with the page's state when it does not become so within limit.
func (p page) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	p.waitForWithin(t, 10*time.Second, what, predicate)
}

func (p page) waitForWithin(t *testing.T, limit time.Duration, what, predicate string) {
	t.Helper()
	if err := pollJS(p.ctx, limit, predicate); err != nil {
		t.Fatalf("%s: waiting for %s: %v\nwindow.%s: %s", p.name, what, err, p.global, p.dump(t))
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, p page, js string) T {
	t.Helper()
	return evalIn[T](t, p.tab, "evaluating "+js, js)
}

// screenshot saves a PNG of the page as <dir>/<file> when
// SWITCHBOARD_SHOTS names a directory (for looking at the pages; tests do
// not need it).
func screenshot(t *testing.T, p page, file string) {
	t.Helper()
	dir := os.Getenv("SWITCHBOARD_SHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", file, err)
		return
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// checkClean fails the test when a page shows an error or logged one to
// its console.
func checkClean(t *testing.T, pages ...page) {
	t.Helper()
	for _, p := range pages {
		if e := eval[json.RawMessage](t, p, `JSON.stringify(window.`+p.global+`.snapshot().error ?? null)`); string(e) != `"null"` {
			t.Errorf("%s shows an error: %s", p.name, e)
		}
		if errs := testutil.Console(p.ctx).Errors(); len(errs) > 0 {
			t.Errorf("%s: console errors:\n%v", p.name, errs)
		}
	}
}

// typeAtEnd puts the caret at the end of the notepad and types text, as a
// person clicking below the text would.
func typeAtEnd(t *testing.T, p page, text string) {
	t.Helper()
	p.do(t, "typing",
		chromedp.Evaluate[chromedp.Void](`(() => { const pad = document.getElementById('pad'); pad.focus();
			pad.setSelectionRange(pad.value.length, pad.value.length); })()`),
		chromedp.SendKeys(chromedp.ID("pad"), text),
	)
}

// TestNotesSync opens the notepad in two tabs, types in each and sees the
// text in the other; a third tab joining late catches up, and concurrent
// edits converge on one text everywhere.
func TestNotesSync(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	room := "notes-" + rand.Text()[:8]
	open := func(name string) page {
		p := openPage(t, browser, srv, name, "notes", "/notes.html", url.Values{"room": {room}, "name": {name}, "autojoin": {"1"}})
		p.waitFor(t, "the room to be joined", `window.notes.state === 'joined' && !!window.notes.peerId`)
		return p
	}
	alice, bob := open("alice"), open("bob")
	for _, p := range []page{alice, bob} {
		p.waitFor(t, "the other's data channel", `window.notes.peers.length === 1 && window.notes.peers[0].state === 'connected'`)
	}

	// alice types, bob sees it; bob adds a line, alice sees it.
	line1 := "Agenda for " + rand.Text()[:6]
	typeAtEnd(t, alice, line1)
	bob.waitFor(t, "alice's text", `window.notes.text === `+jsString(line1)+` && document.getElementById('pad').value === `+jsString(line1))
	line2 := "\n- bob: TURN over TLS"
	typeAtEnd(t, bob, line2)
	both := line1 + line2
	alice.waitFor(t, "bob's line", `window.notes.text === `+jsString(both)+` && document.getElementById('pad').value === `+jsString(both))
	bob.waitFor(t, "its own text to stay", `window.notes.text === `+jsString(both))
	if v := eval[string](t, alice, `window.notes.lastEditor.name`); v != "bob" {
		t.Errorf("alice: last editor %q, want bob", v)
	}

	// cat joins late and gets the whole text from the others.
	cat := open("cat")
	cat.waitFor(t, "the text to catch up", `window.notes.text === `+jsString(both)+
		` && document.getElementById('pad').value === `+jsString(both)+
		` && window.notes.peers.length === 2 && window.notes.peers.every((p) => p.state === 'connected')`)
	line3 := "\n- cat: screenshots"
	typeAtEnd(t, cat, line3)
	all := both + line3
	for _, p := range []page{alice, bob} {
		p.waitFor(t, "cat's line", `window.notes.text === `+jsString(all))
	}
	screenshot(t, cat, "notes.png")

	// Concurrent edits: alice and bob hold back what comes in (the page's
	// pause() test hook), each replaces the text, and only then do both let
	// the other's update in. Neither saw the other's edit before making its
	// own, so both stamped the clock one past cat's line: equal clocks, and
	// the higher peer id must win in all three tabs (cat applies both as
	// they come, in either order).
	type stamp struct {
		Clock int    `json:"clock"`
		Site  string `json:"site"`
		text  string
	}
	for _, p := range []page{alice, bob} {
		if !eval[bool](t, p, `(window.notes.pause(), window.notes.paused)`) {
			t.Fatalf("%s: notes.pause() did not take: %s", p.name, p.dump(t))
		}
	}
	var stamps []stamp
	for _, p := range []page{alice, bob} {
		text := all + "\n- concurrent " + p.name
		s := eval[stamp](t, p, `(() => { const pad = document.getElementById('pad');
			pad.value = `+jsString(text)+`; pad.dispatchEvent(new Event('input')); return window.notes.version; })()`)
		s.text = text
		stamps = append(stamps, s)
	}
	t.Logf("edits stamped %d/%s and %d/%s", stamps[0].Clock, stamps[0].Site, stamps[1].Clock, stamps[1].Site)
	if stamps[0].Clock != stamps[1].Clock {
		t.Fatalf("the concurrent edits have clocks %d and %d: the tie-break on equal clocks is not exercised", stamps[0].Clock, stamps[1].Clock)
	}
	if stamps[0].Site == stamps[1].Site {
		t.Fatalf("both edits stamped with site %q", stamps[0].Site)
	}
	// Each holds the other's update, and still has its own text.
	for i, p := range []page{alice, bob} {
		p.waitFor(t, "the other's edit to be held back", `window.notes.held >= 1 && window.notes.text === `+jsString(stamps[i].text))
	}
	for _, p := range []page{alice, bob} {
		if !eval[bool](t, p, `(window.notes.resume(), !window.notes.paused)`) {
			t.Fatalf("%s: notes.resume() did not take: %s", p.name, p.dump(t))
		}
	}
	win := stamps[0]
	if stamps[1].Site > win.Site {
		win = stamps[1]
	}
	for _, p := range []page{alice, bob, cat} {
		p.waitFor(t, "the concurrent edits to converge", `window.notes.text === `+jsString(win.text)+
			` && document.getElementById('pad').value === window.notes.text && !window.notes.paused && window.notes.held === 0`+
			` && window.notes.version.clock === `+fmt.Sprint(win.Clock)+` && window.notes.version.site === `+jsString(win.Site))
	}

	// Peers are not trusted with the clock nor with the writer's name. alice
	// sends, straight through the room, a text with a clock far ahead (which
	// would win forever: refused), then one stamped with bob's peer id (taken,
	// but shown as passed on by alice, not as written by bob).
	bobID := eval[string](t, bob, `window.notes.peerId`)
	relayed := all + "\n- relayed by alice"
	if !eval[bool](t, alice, `window.notes.room.send({ type: 'notes', text: 'frozen', clock: Number.MAX_SAFE_INTEGER, site: '~' }) === 2 &&
		window.notes.room.send({ type: 'notes', text: `+jsString(relayed)+`, clock: `+fmt.Sprint(win.Clock+1)+`, site: `+jsString(bobID)+` }) === 2`) {
		t.Fatal("alice: room.send failed")
	}
	for _, p := range []page{bob, cat} {
		p.waitFor(t, "the far clock refused and the relayed text shown as such", `window.notes.rejected === 1 &&
			window.notes.text === `+jsString(relayed)+` && window.notes.clock === `+fmt.Sprint(win.Clock+1)+` &&
			window.notes.lastEditor.relayed && window.notes.lastEditor.name === 'via alice' &&
			document.getElementById('doc-info').textContent.startsWith('Last edit via alice')`)
	}
	checkClean(t, alice, bob, cat)
}

// expiredToken signs a token for user that expired an hour ago.
func expiredToken(t *testing.T, user string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "name": user, "rooms": []string{"*"},
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix(),
	}).SignedString([]byte(testutil.TestSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestNotesTokenExpired joins the notepad with an expired pasted token: the
// page says the token expired and goes back to the form.
func TestNotesTokenExpired(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	p := openPage(t, browser, srv, "late", "notes", "/notes.html", url.Values{
		"room": {"expired"}, "name": {"erin"}, "token": {expiredToken(t, "erin")}, "autojoin": {"1"},
	})
	p.waitFor(t, "the expiry to be explained", `window.notes.state === 'error' && window.notes.error &&
		window.notes.error.code === 'token_expired' && document.getElementById('error-title').textContent === 'Token expired' &&
		!document.getElementById('join-view').hidden && !document.getElementById('token-box').hidden`)
	if errs := testutil.Console(p.ctx).Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%v", errs)
	}
}
