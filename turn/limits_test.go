package turn

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

func lifetimeOf(t *testing.T, m *stun.Message) uint32 {
	t.Helper()
	v, err := m.Get(stun.AttrLifetime)
	if err != nil || len(v) != 4 {
		t.Fatalf("no LIFETIME in %v", m)
	}
	return binary.BigEndian.Uint32(v)
}

// What pion grants by itself: a requested lifetime under an hour as
// asked, an hour or more the default. The default MaxLifetime (an hour)
// needs nothing more.
func TestLifetimeDefaultMax(t *testing.T) {
	ts := startServer(t, nil)
	if ts.lifetime != nil {
		t.Fatal("lifetime cap active with MaxLifetime = 1 h")
	}
	for _, tc := range []struct{ ask, want uint32 }{{1800, 1800}, {7200, 600}} {
		c := newRawClient(t, ts, creds("l"))
		res := c.request(allocateRequest, requestedUDP{}, lifetimeAttr(tc.ask))
		if got := lifetimeOf(t, res); got != tc.want {
			t.Errorf("asked %d s, granted %d s, want %d", tc.ask, got, tc.want)
		}
		c.request(stun.NewType(stun.MethodRefresh, stun.ClassRequest), lifetimeAttr(0))
	}
}

// With MaxLifetime under pion's hour, a longer request is granted the
// maximum: the response says so (and is still correctly signed), and the
// allocation ends then unless refreshed.
func TestLifetimeCapped(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.DefaultLifetime = time.Second
		c.MaxLifetime = time.Second
	})
	cr := creds("short")
	c := newRawClient(t, ts, cr)
	res := c.request(allocateRequest, requestedUDP{}, lifetimeAttr(600))
	if res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("allocate: %v code %d", res, errCode(res))
	}
	if got := lifetimeOf(t, res); got != 1 {
		t.Fatalf("granted %d s, want 1", got)
	}
	if err := stun.NewLongTermIntegrity(cr.user, "switchboard", cr.pass).Check(res); err != nil {
		t.Fatalf("rewritten response fails MESSAGE-INTEGRITY: %v", err)
	}
	res = c.request(stun.NewType(stun.MethodRefresh, stun.ClassRequest), lifetimeAttr(600))
	if got := lifetimeOf(t, res); got != 1 {
		t.Fatalf("refresh granted %d s, want 1", got)
	}
	if ts.q.count() != 1 {
		t.Fatal("no allocation")
	}
	// pion's own timer runs for 600 s; the cap ends it after 1 s.
	waitFor(t, "the capped allocation to end", func() bool { return ts.q.count() == 0 })
}

// Replies to unauthenticated requests from one address are limited to
// UnauthRate per second (burst twice that); signed replies are not.
func TestUnauthenticatedReplyLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.UnauthRate = 1 })
	signed := newRawClient(t, ts, creds("s"))
	signed.request(stun.BindingRequest) // its nonce, before the budget is gone

	flood := newRawClient(t, ts, creds("f"))
	const n = 10
	ids := map[[stun.TransactionIDSize]byte]bool{}
	for range n {
		m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		ids[m.TransactionID] = true
		if _, err := flood.conn.WriteTo(m.Raw, flood.server); err != nil {
			t.Fatal(err)
		}
	}
	answered := 0
	buf := make([]byte, 1500)
	for answered+int(ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", "unauth_rate")) < n {
		_ = flood.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		k, _, err := flood.conn.ReadFrom(buf)
		if err != nil {
			continue // not all handled yet
		}
		m := &stun.Message{Raw: buf[:k]}
		if m.Decode() == nil && ids[m.TransactionID] {
			answered++
		}
	}
	// The signed client's setup (a 401 and a Binding) drew on the same
	// burst of 2, so at most a refilled token or so is left for the flood.
	if answered > 2 {
		t.Fatalf("%d of %d Binding requests answered, want at most the burst of 2", answered, n)
	}
	if res := signed.request(allocateRequest, requestedUDP{}); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("signed allocate from the same address: %v code %d", res, errCode(res))
	}
}

// UserBandwidth is one bucket per user, both directions and all of the
// user's allocations together; what exceeds it is dropped and counted.
func TestUserBandwidth(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.UserBandwidth = 1 // bytes/s: the bucket (minBandwidthBurst) barely refills during the test
	})
	peer := echoPeer(t)
	relay := allocate(t, udpClient(t, ts, creds("bw")))
	payload := make([]byte, 1000)
	const n = 10
	for range n {
		if _, err := relay.WriteTo(payload, peer); err != nil {
			t.Fatal(err)
		}
	}
	// Every datagram sent is relayed or dropped, every one relayed comes
	// back and is relayed or dropped: from_peer + drops ends at n.
	waitFor(t, "all datagrams handled", func() bool {
		return ts.metric(t, "switchboard_turn_relayed_packets_total", "direction", "from_peer")+
			ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", "bandwidth") == n
	})
	to := ts.metric(t, "switchboard_turn_relayed_bytes_total", "transport", "udp", "direction", "to_peer")
	from := ts.metric(t, "switchboard_turn_relayed_bytes_total", "transport", "udp", "direction", "from_peer")
	if to == 0 || to+from > minBandwidthBurst+1000 {
		t.Fatalf("relayed %v bytes to and %v from the peer with a %d-byte bucket", to, from, minBandwidthBurst)
	}

	// The same user's second allocation draws on the same empty bucket.
	drops := ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", "bandwidth")
	other := allocate(t, udpClient(t, ts, creds("bw")))
	if _, err := other.WriteTo(payload, peer); err != nil {
		t.Fatal(err)
	}
	ts.waitMetric(t, drops+1, "switchboard_turn_dropped_packets_total", "reason", "bandwidth")
}

// A datagram from a peer the client has no permission for is dropped
// before it is charged: strangers cannot spend a user's bandwidth.
func TestStrangersDoNotSpendBandwidth(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.UserBandwidth = 1 // bytes/s: only the bucket's burst is there to spend
	})
	peer := echoPeer(t) // on 127.0.0.1
	relay := allocate(t, udpClient(t, ts, creds("bw")))
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Close() })
	payload := make([]byte, 1000)
	const n = 20 // 20 kB, five times the bucket
	for range n {
		if _, err := stranger.WriteTo(payload, relay.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	ts.waitMetric(t, n, "switchboard_turn_dropped_packets_total", "reason", "no_permission")
	if got := ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", "bandwidth"); got != 0 {
		t.Fatalf("%v datagrams dropped for bandwidth after strangers only", got)
	}
	// The bucket is still full: a datagram to the permitted peer and its echo both pass.
	if _, err := relay.WriteTo(payload, peer); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, relay); len(got) != len(payload) {
		t.Fatalf("echo of %d bytes, want %d", len(got), len(payload))
	}
}
