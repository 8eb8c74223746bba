package e2e

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// checkResult is one row of window.check.results.
type checkResult struct {
	Status       string   `json:"status"`
	URL          *string  `json:"url"`
	Summary      string   `json:"summary"`
	Details      []string `json:"details"`
	CandidateMs  *float64 `json:"candidateMs"`
	RoundTripMs  *float64 `json:"roundTripMs"`
	StunAnswered *bool    `json:"stunAnswered"`
	Candidate    *struct {
		Type          string `json:"type"`
		Address       string `json:"address"`
		RelayProtocol string `json:"relayProtocol"`
	} `json:"candidate"`
	Pair *struct {
		Local  string `json:"local"`
		Remote string `json:"remote"`
	} `json:"pair"`
}

// checkSnapshot is what window.check.snapshot() returns.
type checkSnapshot struct {
	State      string `json:"state"`
	IceServers []struct {
		URLs     []string `json:"urls"`
		Username string   `json:"username"`
	} `json:"iceServers"`
	Results map[string]checkResult `json:"results"`
	Verdict *struct {
		Level string `json:"level"`
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"verdict"`
}

// runCheck opens the check page against srv, runs it and returns its state.
func runCheck(t *testing.T, browser context.Context, srv *testutil.Server, shot string) (page, checkSnapshot) {
	t.Helper()
	p := openPage(t, browser, srv, "check", "check", "/check.html", url.Values{"run": {"1"}})
	// Four tests one after the other, each bounded by 8 s in the page.
	p.waitForWithin(t, 45*time.Second, "the verdict", `window.check.state === 'done' && !!window.check.verdict &&
		document.getElementById('verdict').dataset.level === window.check.verdict.level`)
	screenshot(t, p, shot)
	s := eval[checkSnapshot](t, p, `window.check.snapshot()`)
	for id, r := range s.Results {
		t.Logf("%s: %s: %s\n\t%s", id, r.Status, r.Summary, strings.Join(r.Details, "\n\t"))
	}
	t.Logf("verdict: %s: %s", s.Verdict.Level, s.Verdict.Text)
	return p, s
}

// TestCheckTURN runs the connectivity check page against a server with the
// default peer policy: direct (STUN), TURN/UDP and TURN/TCP work with real
// round trips through the relay (between two relay addresses on 127.0.0.1,
// which the policy allows as relays of live allocations), and TLS is not
// offered.
func TestCheckTURN(t *testing.T) {
	browser := testutil.NewBrowser(t) // first: skips at once without Chromium
	srv := testutil.StartServer(t, testutil.Options{Dev: true, TURN: &turn.Config{}})
	p, s := runCheck(t, browser, srv, "check.png")

	var urls []string
	for _, is := range s.IceServers {
		urls = append(urls, is.URLs...)
	}
	if len(urls) != 3 || !strings.HasPrefix(urls[0], "stun:") || strings.Contains(strings.Join(urls, " "), "turns:") {
		t.Errorf("ICE servers %v, want stun: and two turn: URLs (no turns:)", urls)
	}

	direct := s.Results["direct"]
	if direct.Status != "works" || direct.RoundTripMs == nil || direct.StunAnswered == nil || !*direct.StunAnswered {
		t.Errorf("direct: %+v, want works with a round trip and STUN answering", direct)
	}
	if direct.Pair == nil || direct.Pair.Local == "relay" || direct.Pair.Remote == "relay" {
		t.Errorf("direct: selected pair %+v, want no relay", direct.Pair)
	}
	for _, tc := range []struct{ id, proto string }{{"turn-udp", "udp"}, {"turn-tcp", "tcp"}} {
		r := s.Results[tc.id]
		if r.Status != "works" || r.CandidateMs == nil || r.RoundTripMs == nil {
			t.Errorf("%s: %+v, want works with timings", tc.id, r)
			continue
		}
		if r.Candidate == nil || r.Candidate.Type != "relay" || r.Candidate.RelayProtocol != tc.proto {
			t.Errorf("%s: candidate %+v, want a relay candidate over %s", tc.id, r.Candidate, tc.proto)
		}
		if r.Pair == nil || r.Pair.Local != "relay" || r.Pair.Remote != "relay" {
			t.Errorf("%s: selected pair %+v, want relay to relay", tc.id, r.Pair)
		}
	}
	if tls := s.Results["turn-tls"]; tls.Status != "not-offered" || tls.URL != nil {
		t.Errorf("turn-tls: %+v, want not-offered", tls)
	}
	if s.Verdict.Level != "good" || !strings.Contains(s.Verdict.Text, "TLS is not offered") {
		t.Errorf("verdict %+v, want good with a note on TLS", *s.Verdict)
	}
	checkClean(t, p)
}

// TestCheckTURNPolicy runs the check against a server that denies the
// loopback range explicitly (--turn-deny-peers): allocations work, no data
// passes between the two relay addresses on 127.0.0.1, and the page names
// the two causes left: a firewall or a deny range.
func TestCheckTURNPolicy(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, TURN: &turn.Config{
		DenyPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}})
	p, s := runCheck(t, browser, srv, "check-policy.png")

	if d := s.Results["direct"]; d.Status != "works" {
		t.Errorf("direct: %+v, want works", d)
	}
	for _, id := range []string{"turn-udp", "turn-tcp"} {
		r := s.Results[id]
		if r.Status != "fails" || r.CandidateMs == nil || r.Candidate == nil || r.Candidate.Type != "relay" {
			t.Errorf("%s: %+v, want fails after a working allocation", id, r)
			continue
		}
		if !strings.Contains(r.Summary, "no data passes through the relay") ||
			!strings.Contains(strings.Join(r.Details, " "), "--turn-deny-peers") {
			t.Errorf("%s: summary %q, details %q: want the failure and the deny flag named", id, r.Summary, r.Details)
		}
	}
	if s.Verdict.Level != "bad" {
		t.Errorf("verdict %+v, want bad", *s.Verdict)
	}
	checkClean(t, p)
}

// TestCheckTokenExpired runs the check with an expired pasted token: the
// page says so instead of testing.
func TestCheckTokenExpired(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, TURN: &turn.Config{}})
	p := openPage(t, browser, srv, "check", "check", "/check.html", url.Values{"token": {expiredToken(t, "erin")}, "run": {"1"}})
	p.waitFor(t, "the expiry to be explained", `window.check.state === 'error' && window.check.error &&
		window.check.error.code === 'token_expired' && document.getElementById('error-title').textContent === 'Token expired' &&
		window.check.verdict === null`)
	// The refused request itself is logged by the browser ("401"), nothing else.
	for _, e := range testutil.Console(p.ctx).Errors() {
		if !strings.Contains(e, "401") {
			t.Errorf("console error: %s", e)
		}
	}
}
