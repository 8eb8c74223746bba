package turn

import (
	"net/netip"
	"testing"
)

// liveSet is a LiveRelays for policy tests: the ports listed are live.
type liveSet map[relayKey]bool

func (l liveSet) Live(tcp, v6 bool, port uint16) bool {
	return l[relayKey{tcp: tcp, v6: v6, port: port}]
}

// The relay address of a live allocation is a peer in any range; every
// other port on the server's own addresses is refused unless an allow
// range holds it, and the own listeners and explicit deny ranges always
// are.
func TestPolicyRelays(t *testing.T) {
	lan := netip.MustParseAddr("10.77.0.1")
	public := netip.MustParseAddr("93.184.216.34")
	live := liveSet{{port: 50000}: true, {port: 3478}: true, {tcp: true, port: 50002}: true, {v6: true, port: 50000}: true}
	build := func(allow, deny []string) *Policy {
		var a, d []netip.Prefix
		for _, s := range allow {
			a = append(a, netip.MustParsePrefix(s))
		}
		for _, s := range deny {
			d = append(d, netip.MustParsePrefix(s))
		}
		p := NewPolicy(a, d)
		p.AddOwn(netip.MustParseAddrPort("0.0.0.0:3478"))
		p.AddService(false, 7882)
		p.AddService(true, 7881)
		p.SetRelays([]netip.Addr{lan, public, netip.MustParseAddr("fd00::1"), netip.IPv4Unspecified(), {}}, live)
		return p
	}
	def := build(nil, nil)

	for _, tc := range []struct {
		name   string
		p      *Policy
		addr   string
		tcp    bool
		reason string // "" allowed
	}{
		{"live relay, private address", def, "10.77.0.1:50000", false, ""},
		{"live relay, IPv4-mapped", def, "[::ffff:10.77.0.1]:50000", false, ""},
		{"live relay, NAT64 form", def, "[64:ff9b::a4d:1]:50000", false, ""},
		{"live relay, public address", def, "93.184.216.34:50000", false, ""},
		{"live relay, IPv6", def, "[fd00::1]:50000", false, ""},
		{"other port", def, "10.77.0.1:50001", false, "own_address"},
		{"other port, public address", def, "93.184.216.34:22", false, "own_address"},
		{"other port, IPv6", def, "[fd00::1]:50001", false, "own_address"},
		{"UDP relay port over TCP", def, "10.77.0.1:50000", true, "own_address"},
		{"live TCP relay", def, "10.77.0.1:50002", true, ""},
		{"TCP relay port over UDP", def, "10.77.0.1:50002", false, "own_address"},
		{"own listener even when live", def, "10.77.0.1:3478", false, "own_listener"},
		{"SFU UDP port", def, "10.77.0.1:7882", false, ""},
		{"SFU UDP port, public address", def, "93.184.216.34:7882", false, ""},
		{"SFU TCP port", def, "10.77.0.1:7881", true, ""},
		{"SFU UDP port over TCP", def, "10.77.0.1:7882", true, "own_address"},
		{"SFU port on another LAN host", def, "10.77.0.2:7882", false, "private"},
		{"another host on the LAN", def, "10.77.0.2:50000", false, "private"},
		{"loopback is not a relay address here", def, "127.0.0.1:50000", false, "loopback"},
		{"explicit deny wins", build(nil, []string{"10.77.0.0/16"}), "10.77.0.1:50000", false, "denied"},
		{"allowed range: other ports as before", build([]string{"10.0.0.0/8"}, nil), "10.77.0.1:50001", false, ""},
		{"allowed range: listener still refused", build([]string{"10.0.0.0/8"}, nil), "10.77.0.1:3478", false, "own_listener"},
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		check := tc.p.PeerAddr
		if tc.tcp {
			check = tc.p.PeerTCPAddr
		}
		if got := policyReason(t, check(ap)); got != tc.reason {
			t.Errorf("%s: %s refused as %q, want %q", tc.name, ap, got, tc.reason)
		}
	}

	// Permissions are per IP: the server's relay addresses may be
	// permitted, each packet's port is checked as above.
	for _, ip := range []string{"10.77.0.1", "::ffff:10.77.0.1", "93.184.216.34", "fd00::1"} {
		if err := def.PeerIP(netip.MustParseAddr(ip)); err != nil {
			t.Errorf("PeerIP(%s): %v", ip, err)
		}
	}
	for ip, want := range map[string]string{"10.77.0.2": "private", "0.0.0.0": "unspecified", "127.0.0.1": "loopback"} {
		if got := policyReason(t, def.PeerIP(netip.MustParseAddr(ip))); got != want {
			t.Errorf("PeerIP(%s) refused as %q, want %q", ip, got, want)
		}
	}
	if got := policyReason(t, build(nil, []string{"10.77.0.1/32"}).PeerIP(lan)); got != "denied" {
		t.Errorf("PeerIP(%s) with the address denied: %q, want denied", lan, got)
	}
}

// A relay port is live from the moment its socket joins the server's set
// until it leaves it, which is before the socket closes.
func TestRelaySetLive(t *testing.T) {
	var rs relaySet
	a, b := &relayPacketConn{}, &relayPacketConn{}
	k := relayKey{port: 50000}
	rs.add(k, a)
	if !rs.Live(false, false, 50000) || rs.Live(true, false, 50000) || rs.Live(false, true, 50000) || rs.Live(false, false, 50001) {
		t.Fatalf("after add: live %v %v %v %v", rs.Live(false, false, 50000), rs.Live(true, false, 50000), rs.Live(false, true, 50000), rs.Live(false, false, 50001))
	}
	rs.remove(k, b) // not the socket that holds the port
	if !rs.Live(false, false, 50000) {
		t.Fatal("removing another socket ended the port")
	}
	rs.remove(k, a)
	if rs.Live(false, false, 50000) {
		t.Fatal("still live after remove")
	}
	tk := relayKey{tcp: true, v6: true, port: 65535}
	if !rs.addIfFree(tk, a) || rs.addIfFree(tk, b) || !rs.Live(true, true, 65535) {
		t.Fatal("addIfFree")
	}
}

func TestPolicyRelaysAllocs(t *testing.T) {
	p := NewPolicy(nil, nil)
	p.AddOwn(netip.MustParseAddrPort("0.0.0.0:3478"))
	p.SetRelays([]netip.Addr{netip.MustParseAddr("10.77.0.1")}, liveSet{{port: 50000}: true})
	for _, s := range []string{"10.77.0.1:50000", "8.8.8.8:50000"} {
		ap := netip.MustParseAddrPort(s)
		if n := testing.AllocsPerRun(100, func() { _ = p.PeerAddr(ap) }); n != 0 {
			t.Errorf("PeerAddr(%s) allocates %v times per call", ap, n)
		}
	}
}

// BenchmarkPolicyRelays is BenchmarkPolicyPeerAddr's policy as a server
// sets it up (its relay addresses known, a live relay port), for a public
// peer and for the relay of another allocation on a private address: the
// per-packet cost of the relay-to-relay exception.
func BenchmarkPolicyRelays(b *testing.B) {
	p := NewPolicy([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	p.AddOwn(netip.MustParseAddrPort("1.2.3.4:3478"))
	var rs relaySet
	rs.add(relayKey{port: 50000}, &relayPacketConn{})
	p.SetRelays([]netip.Addr{netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("172.16.0.1")}, &rs)
	for _, peer := range []string{"8.8.8.8:50000", "[::ffff:8.8.8.8]:50000", "[2606:4700::1111]:50000", "172.16.0.1:50000"} {
		ap := netip.MustParseAddrPort(peer)
		b.Run(peer, func(b *testing.B) {
			for b.Loop() {
				if err := p.PeerAddr(ap); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
