package turn

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// With the default policy, permissions and channels to loopback, private,
// link-local (metadata) peers are refused, however the address is written.
func TestDefaultPolicyRefusesPeers(t *testing.T) {
	ts := startServer(t, nil)
	c := udpClient(t, ts, creds("eve"))
	allocate(t, c)
	for _, tc := range []struct{ ip, reason string }{
		// Not 127.0.0.1: the server listens there, so it is the relay
		// address of allocations, which may be permitted (relay to relay).
		{"127.0.0.2", "loopback"},
		{"::ffff:127.0.0.2", "loopback"}, // pion's client sends it as IPv4
		{"10.0.0.1", "private"},
		{"169.254.169.254", "link_local"},
	} {
		before := ts.metric(t, "switchboard_turn_permissions_refused_total", "reason", tc.reason)
		err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(tc.ip), Port: 9})
		if code := turnCode(err); code != int(stun.CodeForbidden) {
			t.Errorf("CreatePermission(%s): %v (code %d), want 403", tc.ip, err, code)
		}
		if got := ts.metric(t, "switchboard_turn_permissions_refused_total", "reason", tc.reason); got != before+1 {
			t.Errorf("permissions refused{%s} = %v, want %v", tc.reason, got, before+1)
		}
	}

	// The same on the wire in the forms pion's client never sends: an
	// IPv4-mapped address in the IPv6 family, and a ChannelBind.
	raw := newRawClient(t, ts, creds("eve2"))
	if res := raw.request(allocateRequest, requestedUDP{}); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("allocate: %v", res)
	}
	for _, p := range []peerAttr{
		{ip: netip.MustParseAddr("::ffff:127.0.0.2"), port: 9, asIPv6: true},
		{ip: netip.MustParseAddr("::ffff:169.254.169.254"), port: 80, asIPv6: true},
		{ip: netip.MustParseAddr("0.0.0.0"), port: 9},
	} {
		if res := raw.request(permissionRequest, p); errCode(res) != int(stun.CodeForbidden) {
			t.Errorf("CreatePermission(%v): %v code %d, want 403", p.ip, res, errCode(res))
		}
	}
	for _, p := range []peerAttr{
		{ip: netip.MustParseAddr("127.0.0.2"), port: 9},
		{ip: netip.MustParseAddr("::ffff:10.1.2.3"), port: 9, asIPv6: true},
	} {
		// pion answers a refused ChannelBind with 401, not 403.
		if res := raw.request(channelBindReq, channelAttr(0x4000), p); res.Type.Class != stun.ClassErrorResponse {
			t.Errorf("ChannelBind(%v) succeeded", p.ip)
		}
	}
}

// With 127.0.0.0/8 allowed, loopback peers work in every form, but a packet
// to the server's own listener port is dropped at the relay socket and
// counted, and no answer comes back.
func TestAllowedPeersButNotOwnListener(t *testing.T) {
	ts := startServer(t, allowLoopback)
	c := udpClient(t, ts, creds("ok"))
	relay := allocate(t, c)
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Fatalf("CreatePermission(127.0.0.1): %v", err)
	}
	raw := newRawClient(t, ts, creds("ok2"))
	raw.request(allocateRequest, requestedUDP{})
	if res := raw.request(permissionRequest, peerAttr{ip: netip.MustParseAddr("::ffff:127.0.0.2"), port: 9, asIPv6: true}); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("CreatePermission(::ffff:127.0.0.2): %v code %d", res, errCode(res))
	}
	if res := raw.request(channelBindReq, channelAttr(0x4000), peerAttr{ip: loopback, port: 9}); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("ChannelBind(127.0.0.1): %v code %d", res, errCode(res))
	}

	own := net.UDPAddrFromAddrPort(ts.Addrs().UDP)
	binding := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := relay.WriteTo(binding.Raw, own); err != nil {
		t.Fatalf("WriteTo own listener: %v", err)
	}
	ts.waitMetric(t, 1, "switchboard_turn_dropped_packets_total", "reason", "own_listener")
	if n := ts.metric(t, "switchboard_turn_relayed_packets_total", "direction", "to_peer"); n != 0 {
		t.Fatalf("%v packets relayed to the own listener", n)
	}
	_ = relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, from, err := relay.ReadFrom(make([]byte, 1500)); !isTimeout(err) {
		t.Fatalf("relay read %d bytes from %v (%v): the listener answered", n, from, err)
	}
}

// An allocation may reach MaxPermissionsPerAllocation distinct peer IPs; a
// refresh of one it has passes, a new one is refused until one expires.
func TestPermissionQuota(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.MaxPermissionsPerAllocation = 2
	})
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn, ts.udpAddr(), creds("p"))
	allocate(t, c)
	perm := func(ip string) error { return c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9}) }
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.1"} {
		if err := perm(ip); err != nil {
			t.Fatalf("CreatePermission(%s): %v", ip, err)
		}
	}
	if err := perm("127.0.0.3"); turnCode(err) != int(stun.CodeForbidden) {
		t.Fatalf("third peer: %v, want 403", err)
	}
	if n := ts.metric(t, "switchboard_turn_permissions_refused_total", "reason", "quota"); n != 1 {
		t.Fatalf("permissions refused{quota} = %v", n)
	}
	// pion reports the expiry of a permission; the place is free again.
	ts.q.permDeleted(conn.LocalAddr(), net.UDPAddrFromAddrPort(ts.Addrs().UDP), "UDP", "", "", nil, net.ParseIP("127.0.0.2"))
	if err := perm("127.0.0.3"); err != nil {
		t.Fatalf("after an expiry: %v", err)
	}
}

// The default policy relays to public addresses. In a virtual network
// (pion's vnet: no loopback, nothing leaves the process) a client reaches
// a public echo peer through the relay with no AllowPeers at all.
func TestPublicPeerInVNet(t *testing.T) {
	v := newVNet(t)
	ts := startServer(t, func(c *Config) {
		c.Net = v.server
		c.ListenIP = netip.MustParseAddr("1.2.3.4")
		c.NoTCP = true // vnet has no TCP
	})
	if a := ts.Addrs(); a.UDP.Addr() != netip.MustParseAddr("1.2.3.4") || a.TCP.IsValid() || len(ts.udp) != 1 {
		t.Fatalf("vnet server Addrs %+v with %d UDP sockets", a, len(ts.udp))
	}
	peerConn, err := v.peer.ListenPacket("udp4", "1.2.3.6:5000")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, peerConn)

	conn, err := v.client.ListenPacket("udp4", "1.2.3.5:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newVNetClient(t, conn, v.client, ts.udpAddr(), creds("v"))
	relay := allocate(t, c)
	if got := relay.LocalAddr().(*net.UDPAddr).IP.String(); got != "1.2.3.4" {
		t.Fatalf("relay address %s", got)
	}
	if _, err := relay.WriteTo([]byte("public"), peerConn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, relay); string(got) != "public" {
		t.Fatalf("got %q", got)
	}
}
