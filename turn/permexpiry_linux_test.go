//go:build linux && (amd64 || arm64)

package turn

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
)

// testPermLifetime is short enough to wait for and long enough for the
// checks made before it runs out, even under -race on a busy machine.
const testPermLifetime = 2 * time.Second

// An expired permission (RFC 8656 section 9) stops relaying to and from its
// peer in both directions, on a bound channel as well (a channel outlives
// its permission: 10 minutes against 5), on the poller's fast path (a UDP
// client) and on pion's (a TCP client). A new permission brings the
// channel back.
func TestPermissionExpiry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(*testing.T, *testServer, cred) *rawClient
	}{
		{"udp-poller", newRawClient},
		{"tcp-pion", newRawTCPClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, func(c *Config) {
				allowLoopback(c)
				c.PermissionLifetime = testPermLifetime
			})
			c := tc.client(t, ts, creds("expiry-"+tc.name))
			relay := c.allocate()
			checkPermissionExpiry(t, ts, c, relay, tc.name == "udp-poller")
		})
	}
}

func checkPermissionExpiry(t *testing.T, ts *testServer, c *rawClient, relay netip.AddrPort, polled bool) {
	chPeer, chAP := udpPeer(t)                // on channel 0x4001
	diPeer, diAP := udpPeer(t)                // Data and Send indications
	mkPeer, mkAP := udpPeerAt(t, "127.0.0.2") // permitted after the others expired
	rc, ok := ts.relays.get(relayKey{port: relay.Port()}).(interface{ permitted(netip.Addr) bool })
	if !ok {
		t.Fatalf("no relay socket at %v", relay)
	}
	if _, isPolled := rc.(*polledRelay); isPolled != polled {
		t.Fatalf("relay read by the poller: %v, want %v", isPolled, polled)
	}
	toRelay := net.UDPAddrFromAddrPort(relay)

	checkSuccess(t, "ChannelBind", c.request(channelBindReq, channelAttr(0x4001), peerAttr{ip: chAP.Addr(), port: chAP.Port()}))
	checkSuccess(t, "CreatePermission", c.request(permissionRequest, peerAttr{ip: diAP.Addr(), port: diAP.Port()}))
	start := time.Now()

	// While the permission lives, everything flows.
	c.send(channelDataMsg(0x4001, "c1-payload"))
	expectFirst(t, chPeer, "c1-payload")
	c.send(sendIndication(diAP, "s1-payload"))
	expectFirst(t, diPeer, "s1-payload")
	peerSend(t, chPeer, toRelay, "p1-payload")
	expectChannelData(t, c, 0x4001, "p1-payload")
	peerSend(t, diPeer, toRelay, "d1-payload")
	checkDataIndication(t, c.next(), diAP, []byte("d1-payload"))
	if time.Since(start) >= testPermLifetime {
		t.Fatalf("the checks before expiry took %v, longer than the permission lives: raise testPermLifetime", time.Since(start))
	}

	waitFor(t, "the permission to expire", func() bool { return !rc.permitted(chAP.Addr()) })

	// Peers to client: dropped, counted. The marker peer's permission is
	// made first, so nothing is read while a response is awaited; what
	// the peers send reaches the relay socket in order, so the marker
	// arriving first means the others were not relayed.
	checkSuccess(t, "CreatePermission", c.request(permissionRequest, peerAttr{ip: mkAP.Addr(), port: 1}))
	dropped := ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", "no_permission")
	peerSend(t, chPeer, toRelay, "p2-payload")
	peerSend(t, diPeer, toRelay, "d2-payload")
	peerSend(t, mkPeer, toRelay, "m2-payload")
	checkDataIndication(t, c.next(), mkAP, []byte("m2-payload"))
	ts.waitMetric(t, dropped+2, "switchboard_turn_dropped_packets_total", "reason", "no_permission")

	// Client to peers: the ChannelData is dropped and counted (the channel
	// is still bound), the Send indication dropped by pion. The server
	// handles a client's datagrams in order, so the peers' first datagram
	// is the one sent after a new permission.
	c.send(channelDataMsg(0x4001, "c2-payload"))
	c.send(sendIndication(diAP, "s2-payload"))
	checkSuccess(t, "CreatePermission", c.request(permissionRequest, peerAttr{ip: chAP.Addr(), port: 1}))
	c.send(channelDataMsg(0x4001, "c3-payload"))
	expectFirst(t, chPeer, "c3-payload")
	ts.waitMetric(t, dropped+3, "switchboard_turn_dropped_packets_total", "reason", "no_permission")
	c.send(sendIndication(diAP, "s3-payload"))
	expectFirst(t, diPeer, "s3-payload")
	peerSend(t, chPeer, toRelay, "p3-payload")
	expectChannelData(t, c, 0x4001, "p3-payload")
}

// newRawTCPClient is newRawClient over a TCP connection: pion reads it
// and relays for it, not the poller.
func newRawTCPClient(t *testing.T, ts *testServer, cr cred) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: pionturn.NewSTUNConn(conn), server: conn.RemoteAddr(), username: cr.user, pass: cr.pass}
}

func udpPeerAt(t *testing.T, ip string) (net.PacketConn, netip.AddrPort) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc, pc.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // udp
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteTo(b, c.server); err != nil {
		c.t.Fatal(err)
	}
}

// channelDataMsg is ChannelData padded to 4 bytes, as TCP needs (RFC 8656
// section 12.5) and UDP allows. Over TCP pion holds a frame shorter than 9
// bytes (a payload of up to 4) until more bytes arrive, so the tests'
// payloads are longer.
func channelDataMsg(num uint16, payload string) []byte {
	b := append([]byte{byte(num >> 8), byte(num), 0, byte(len(payload))}, payload...)
	return append(b, make([]byte, (4-len(payload)%4)%4)...)
}

func sendIndication(peer netip.AddrPort, payload string) []byte {
	return stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAttr{ip: peer.Addr(), port: peer.Port()}, stun.RawAttribute{Type: stun.AttrData, Value: []byte(payload)}).Raw
}

func peerSend(t *testing.T, pc net.PacketConn, to net.Addr, payload string) {
	t.Helper()
	if _, err := pc.WriteTo([]byte(payload), to); err != nil {
		t.Fatal(err)
	}
}

// expectFirst fails unless the next datagram pc receives is want.
func expectFirst(t *testing.T, pc net.PacketConn, want string) {
	t.Helper()
	if got, _ := readFrom(t, pc); string(got) != want {
		t.Fatalf("peer got %q first, want %q", got, want)
	}
}

func expectChannelData(t *testing.T, c *rawClient, num uint16, want string) {
	t.Helper()
	got := c.next()
	if n, data, ok := parseChannelData(got); !ok || n != num || string(data) != want {
		t.Fatalf("client got % x, want %q on channel %#x", got, want, num)
	}
}

// A negative lifetime is refused; zero takes the RFC's 5 minutes.
func TestPermissionLifetimeConfig(t *testing.T) {
	if err := (Config{PermissionLifetime: -time.Second}).withDefaults().validate(); err == nil {
		t.Fatal("a negative permission lifetime was accepted")
	}
	if got := (Config{}).withDefaults().PermissionLifetime; got != 5*time.Minute {
		t.Fatalf("default permission lifetime %v", got)
	}
}

// The checks on every datagram to a peer (policy, permission) allocate
// nothing, with the largest permission set.
func TestAllowToAllocs(t *testing.T) {
	ts := startServer(t, nil)
	r := &relayCore{s: ts.Server}
	perms := map[netip.Addr]struct{}{}
	for i := range 32 {
		perms[netip.AddrFrom4([4]byte{93, 184, 216, byte(i)})] = struct{}{}
	}
	r.setPeers(perms)
	peer := netip.MustParseAddrPort("[::ffff:93.184.216.31]:5000")
	if n := testing.AllocsPerRun(100, func() {
		if !r.allowTo(peer, 100) {
			t.Fatal("a permitted peer refused")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
