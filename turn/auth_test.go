package turn

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func TestParseRESTUsername(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		in, user, reason string
	}{
		{"1700000000:alice", "alice", ""}, // valid through its last second
		{"1700000001:a:b", "a:b", ""},     // the user id is everything after the first colon
		{"1700000001:", "", ""},
		{"1699999999:alice", "", "expired"},
		{"alice", "", "malformed"},
		{":alice", "", "malformed"},
		{"abc:alice", "", "malformed"},
		{"+1700000001:alice", "", "malformed"},
		{"-1:alice", "", "malformed"},
		{"1e10:alice", "", "malformed"},
		{"99999999999999999999:alice", "", "malformed"},
		{"", "", "malformed"},
	} {
		user, reason := parseRESTUsername(tc.in, now)
		if user != tc.user || reason != tc.reason {
			t.Errorf("parseRESTUsername(%q) = %q, %q; want %q, %q", tc.in, user, reason, tc.user, tc.reason)
		}
	}
}

// Credentials from Credentials (coturn's scheme) allocate; wrong, expired,
// missing and malformed ones do not, with 401, and each refusal is counted
// under its reason.
func TestAuthRefusals(t *testing.T) {
	ts := startServer(t, nil)
	past := time.Now().Add(-time.Minute)
	expiredUser, expiredPass := Credentials(testSecret, "late", past)
	wrongUser, wrongPass := Credentials([]byte("another secret"), "mallory", time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name   string
		cr     cred
		reason string
	}{
		{"wrong password", cred{wrongUser, wrongPass}, "auth"},
		{"expired", cred{expiredUser, expiredPass}, "expired"},
		{"missing", cred{"", ""}, "malformed"},
		{"no colon", cred{"alice", password64(testSecret, "alice")}, "malformed"},
		{"non-numeric expiry", cred{"tomorrow:alice", password64(testSecret, "tomorrow:alice")}, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.metric(t, "switchboard_turn_allocations_refused_total", "reason", tc.reason)
			_, err := udpClient(t, ts, tc.cr).Allocate()
			if code := turnCode(err); code != int(stun.CodeUnauthorized) {
				t.Fatalf("Allocate: %v (code %d), want 401", err, code)
			}
			if got := ts.metric(t, "switchboard_turn_allocations_refused_total", "reason", tc.reason); got != before+1 {
				t.Fatalf("refused{reason=%q} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	if n := ts.q.count(); n != 0 {
		t.Fatalf("%d allocations made", n)
	}
	allocate(t, udpClient(t, ts, creds("alice"))) // and the right ones work
}

// The realm must be the server's: a key for another realm is refused.
func TestAuthRealm(t *testing.T) {
	ts := startServer(t, nil)
	c := newRawClient(t, ts, creds("r"))
	c.request(stun.BindingRequest) // fetches nonce and realm
	c.realm = stun.NewRealm("elsewhere")
	if res := c.request(allocateRequest, requestedUDP{}); errCode(res) != int(stun.CodeUnauthorized) {
		t.Fatalf("allocate in another realm: %v code %d", res, errCode(res))
	}
	ts.waitMetric(t, 1, "switchboard_turn_allocations_refused_total", "reason", "realm")
}

// FuzzParseRESTUsername: the username is the first thing an unauthenticated
// client controls. Whatever it sends, parsing never panics, and what it
// accepts round-trips: an accepted username is exactly "<digits>:<user>"
// with an expiry not in the past.
func FuzzParseRESTUsername(f *testing.F) {
	for _, s := range []string{"1700000000:alice", "1700000001:a:b", ":", "alice", "+1:a", "-1:a",
		"99999999999999999999:a", "1700000000", "\x00:\xff", "0x10:a", " 1700000001:a"} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, in string) {
		user, reason := parseRESTUsername(in, now)
		if reason != "" {
			if user != "" {
				t.Fatalf("%q refused (%s) but returned user %q", in, reason, user)
			}
			return
		}
		ts, rest, ok := strings.Cut(in, ":")
		if !ok || rest != user {
			t.Fatalf("%q accepted as user %q", in, user)
		}
		exp, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || exp < now.Unix() || strings.ContainsAny(ts, "+- ") {
			t.Fatalf("%q accepted with expiry %q", in, ts)
		}
	})
}

// The unauthenticated-reply limit costs the same whatever a flood of forged
// sources does, and a flood from many sources leaves a source it does not
// collide with its whole budget.
func TestUnauthLimiterFlood(t *testing.T) {
	u := newUnauthLimiter(20)
	now := time.Unix(1_700_000_000, 0)
	victim := netip.MustParseAddr("198.51.100.7")
	for i := range 200_000 { // forged sources, one packet each
		u.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	got := 0
	for range 100 {
		if u.allow(victim, now) {
			got++
		}
	}
	// 200,000 packets over 65,536 buckets: about 3 tokens taken from the
	// victim's bucket of 40, if it collides at all.
	if got < 25 || got > 40 {
		t.Errorf("victim got %d replies after the flood, want most of its burst of 40", got)
	}
	// One IPv6 host's /64 is one source; another /64 is not.
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	for range 40 {
		u.allow(a, now)
	}
	if u.allow(b, now) {
		t.Errorf("a second address in the same /64 got a budget of its own")
	}
	if !u.allow(netip.MustParseAddr("2001:db8:1:3::1"), now) {
		t.Errorf("another /64 shares the exhausted budget")
	}
	// Budgets refill at the rate.
	if !u.allow(a, now.Add(time.Second)) {
		t.Errorf("no refill after a second")
	}
}
