//go:build linux && (amd64 || arm64)

package turn

import (
	"net"
	"net/netip"
	"testing"
)

// A server listening on :: (--turn-listen-ip ::) serves an IPv4 and an
// IPv6 client at once on its one dual-stack socket: each gets a relay
// address of its own family (RFC 6156: the family follows the client's
// when it asks for none), read by the poller, and ChannelData flows both
// ways between each client and a loopback echo peer of its family.
func TestDualStackListener(t *testing.T) {
	requireIPv6Loopback(t)
	ts := startServer(t, func(c *Config) {
		c.ListenIP = netip.IPv6Unspecified()
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	if ts.poller == nil {
		t.Fatal("no poller on the host's network")
	}
	if !ts.relay6.IsValid() {
		ipv6Unavailable(t, "the host has no IPv6 address but loopback, so a server on :: has no IPv6 relay address")
	}
	port := ts.Addrs().UDP.Port()
	type client struct {
		c     *rawClient
		relay netip.AddrPort
	}
	families := []struct {
		name      string
		ip, relay netip.Addr
	}{
		{"ipv4", loopback, ts.relay4},
		{"ipv6", netip.IPv6Loopback(), ts.relay6},
	}
	clients := make([]client, len(families))
	for i, f := range families {
		c := newRawClientAt(t, netip.AddrPortFrom(f.ip, 0), netip.AddrPortFrom(f.ip, port), creds("dual-"+f.name))
		clients[i] = client{c, c.allocate()}
	}
	// Both allocations live; each is relayed on its own.
	for i, f := range families {
		c, relay := clients[i].c, clients[i].relay
		if relay.Addr() != f.relay {
			t.Fatalf("%s client: relay address %v, want %v (of %v, %v)", f.name, relay, f.relay, ts.relay4, ts.relay6)
		}
		t.Logf("%s client %v: relay %v", f.name, c.conn.LocalAddr(), relay)
		if _, ok := ts.relays.get(relayKey{v6: f.relay.Is6(), port: relay.Port()}).(*polledRelay); !ok {
			t.Fatalf("%s client: relay %v is not read by the poller", f.name, relay)
		}
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.ip, 0)))
		if err != nil {
			t.Fatal(err)
		}
		peer := pc.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // udp
		serveEcho(t, pc)
		checkSuccess(t, f.name+" ChannelBind", c.request(channelBindReq, channelAttr(0x4001), peerAttr{ip: peer.Addr(), port: peer.Port()}))
		for _, payload := range []string{"echo-" + f.name, "again-" + f.name} {
			c.send(channelDataMsg(0x4001, payload))
			expectChannelData(t, c, 0x4001, payload)
		}
	}
	ts.waitMetric(t, 4, "switchboard_turn_relayed_packets_total", "transport", "udp", "direction", "from_peer")
}
