//go:build linux && (amd64 || arm64)

package turn

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/switchboard-rtc/switchboard/internal/uring"
)

var refreshRequest = stun.NewType(stun.MethodRefresh, stun.ClassRequest)

// rawAllocate makes a UDP allocation with a raw client, released when the
// test ends, and returns the client and the relay address.
func rawAllocate(t *testing.T, ts *testServer, cr cred) (*rawClient, netip.AddrPort) {
	t.Helper()
	c := newRawClient(t, ts, cr)
	return c, c.allocate()
}

// allocate makes a UDP allocation, released when the test ends, and
// returns the relay address.
func (c *rawClient) allocate() netip.AddrPort {
	c.t.Helper()
	res := c.request(allocateRequest, requestedUDP{})
	var relay stun.XORMappedAddress
	if err := relay.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		c.t.Fatalf("Allocate: %v (%v)", res, err)
	}
	c.t.Cleanup(func() { c.request(refreshRequest, lifetimeAttr(0)) })
	ip, _ := netip.AddrFromSlice(relay.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(relay.Port)) //nolint:gosec // a port
}

// next reads the next datagram the server sends the client.
func (c *rawClient) next() []byte {
	c.t.Helper()
	buf := make([]byte, 2048)
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.conn.ReadFrom(buf)
	if err != nil {
		c.t.Fatalf("client read: %v", err)
	}
	return buf[:n]
}

func udpPeer(t *testing.T) (net.PacketConn, netip.AddrPort) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc, pc.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // udp4
}

func checkSuccess(t *testing.T, what string, res *stun.Message) {
	t.Helper()
	if res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("%s: %v (error %d)", what, res, errCode(res))
	}
}

// The poller relays ChannelData both ways on a bound channel, and counts
// it: through io_uring where the kernel has it, and with one system call
// per relay socket read and per send to a peer where it has not.
func TestPollerChannelData(t *testing.T) {
	t.Run("io_uring", func(t *testing.T) { testPollerChannelData(t, false) })
	t.Run("direct", func(t *testing.T) { testPollerChannelData(t, true) })
}

func testPollerChannelData(t *testing.T, direct bool) {
	ts := startServer(t, allowLoopback)
	if ts.poller == nil {
		t.Fatal("no poller on the host's network")
	}
	if direct {
		for _, l := range ts.poller.loops {
			l.mu.Lock() // the loop uses its ring only under mu
			l.ring.Close()
			l.ring = uring.Direct(2 * pollBatch)
			l.mu.Unlock()
		}
	}
	peer, pa := udpPeer(t)
	c, relay := rawAllocate(t, ts, creds("chan"))
	if _, ok := ts.relays.get(relayKey{port: relay.Port()}).(*polledRelay); !ok {
		t.Fatalf("relay %v is not read by the poller", relay)
	}
	checkSuccess(t, "ChannelBind", c.request(channelBindReq, channelAttr(0x4001), peerAttr{ip: pa.Addr(), port: pa.Port()}))

	// Client to peer; the byte after the payload is padding, not data.
	cd := []byte{0x40, 0x01, 0, 7, 't', 'o', ' ', 'p', 'e', 'e', 'r', 0}
	if _, err := c.conn.WriteTo(cd, c.server); err != nil {
		t.Fatal(err)
	}
	if got, from := readFrom(t, peer); string(got) != "to peer" || from.(*net.UDPAddr).AddrPort() != relay { //nolint:forcetypeassert // udp4
		t.Fatalf("peer got %q from %v, want %q from %v", got, from, "to peer", relay)
	}

	// Peer to client, every size up to the largest relayed.
	for _, n := range []int{0, 1, 9, 1200, relayMaxPayload} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		if _, err := peer.WriteTo(payload, net.UDPAddrFromAddrPort(relay)); err != nil {
			t.Fatal(err)
		}
		got := c.next()
		num, data, ok := parseChannelData(got)
		if !ok || num != 0x4001 || !bytes.Equal(data, payload) || len(got) != 4+n {
			t.Fatalf("%d bytes from the peer: client got % x…", n, got[:min(len(got), 8)])
		}
	}
	ts.waitMetric(t, 1, "switchboard_turn_relayed_packets_total", "transport", "udp", "direction", "to_peer")
	ts.waitMetric(t, 5, "switchboard_turn_relayed_packets_total", "transport", "udp", "direction", "from_peer")
	ts.waitMetric(t, 7, "switchboard_turn_relayed_bytes_total", "transport", "udp", "direction", "to_peer")
}

// Without a channel, what a permitted peer sends arrives as a Data
// indication that any STUN decoder reads: XOR-PEER-ADDRESS, DATA, padding.
func TestPollerDataIndication(t *testing.T) {
	ts := startServer(t, allowLoopback)
	peer, pa := udpPeer(t)
	c, relay := rawAllocate(t, ts, creds("data"))
	checkSuccess(t, "CreatePermission", c.request(permissionRequest, peerAttr{ip: pa.Addr(), port: 1}))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 1200} {
		payload := bytes.Repeat([]byte{'d'}, n)
		if _, err := peer.WriteTo(payload, net.UDPAddrFromAddrPort(relay)); err != nil {
			t.Fatal(err)
		}
		checkDataIndication(t, c.next(), pa, payload)
	}
}

func checkDataIndication(t *testing.T, raw []byte, from netip.AddrPort, payload []byte) {
	t.Helper()
	m := &stun.Message{Raw: raw}
	if err := m.Decode(); err != nil {
		t.Fatalf("not STUN (%v): % x", err, raw)
	}
	if m.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
		t.Fatalf("type %v", m.Type)
	}
	var xpa stun.XORMappedAddress
	if err := xpa.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
		t.Fatalf("XOR-PEER-ADDRESS: %v", err)
	}
	if ip, _ := netip.AddrFromSlice(xpa.IP); netip.AddrPortFrom(ip.Unmap(), uint16(xpa.Port)) != from { //nolint:gosec // a port
		t.Fatalf("XOR-PEER-ADDRESS %v, want %v", xpa, from)
	}
	data, err := m.Get(stun.AttrData)
	if err != nil || !bytes.Equal(data, payload) {
		t.Fatalf("DATA %q (%v), want %q", data, err, payload)
	}
	if len(raw)%4 != 0 {
		t.Fatalf("%d bytes: not padded to 4", len(raw))
	}
}

// The encoder on its own, for both address families (an IPv6 peer's
// address is XORed with the transaction ID too).
func TestDataIndicationEncoding(t *testing.T) {
	l := &pollLoop{rng: rand.NewPCG(1, 2)}
	for _, peer := range []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.7:3478"),
		netip.MustParseAddrPort("[2001:db8::1:2]:65535"),
	} {
		for n := range 9 {
			b := make([]byte, relayHead+relayMaxPayload+4)
			for i := range b {
				b[i] = 0xEE // no stale byte may show through as padding or header
			}
			payload := bytes.Repeat([]byte{'p'}, n)
			copy(b[relayHead:], payload)
			start, end := l.dataIndication(b, peer, n)
			checkDataIndication(t, b[start:end], peer, payload)
			if pad := b[relayHead+n : end]; len(pad) > 0 && !bytes.Equal(pad, make([]byte, len(pad))) {
				t.Fatalf("padding % x", pad)
			}
		}
	}
}

// A datagram longer than relayMaxPayload is dropped whole, not cut; the
// next one still arrives.
func TestPollerDropsOversize(t *testing.T) {
	ts := startServer(t, allowLoopback)
	peer, pa := udpPeer(t)
	c, relay := rawAllocate(t, ts, creds("big"))
	checkSuccess(t, "CreatePermission", c.request(permissionRequest, peerAttr{ip: pa.Addr(), port: 1}))
	if _, err := peer.WriteTo(make([]byte, relayMaxPayload+1), net.UDPAddrFromAddrPort(relay)); err != nil {
		t.Fatal(err)
	}
	ts.waitMetric(t, 1, "switchboard_turn_dropped_packets_total", "reason", "too_large")
	if _, err := peer.WriteTo([]byte("small"), net.UDPAddrFromAddrPort(relay)); err != nil {
		t.Fatal(err)
	}
	checkDataIndication(t, c.next(), pa, []byte("small"))
}

// ChannelData on a channel nobody bound goes to pion, which drops it;
// nothing reaches the peer and the allocation goes on working.
func TestPollerUnboundChannel(t *testing.T) {
	ts := startServer(t, allowLoopback)
	peer, pa := udpPeer(t)
	c, _ := rawAllocate(t, ts, creds("unbound"))
	checkSuccess(t, "ChannelBind", c.request(channelBindReq, channelAttr(0x4002), peerAttr{ip: pa.Addr(), port: pa.Port()}))
	for _, cd := range [][]byte{
		{0x40, 0x03, 0, 1, 'x'}, // another channel
		{0x40, 0x02, 0, 9, 'x'}, // longer than the datagram
		{0x40, 0x02},            // no header
	} {
		if _, err := c.conn.WriteTo(cd, c.server); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.conn.WriteTo([]byte{0x40, 0x02, 0, 2, 'o', 'k'}, c.server); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, peer); string(got) != "ok" {
		t.Fatalf("peer got %q first", got)
	}
}

// Releasing an allocation takes its socket out of the poller: no fast-path
// entry, no slot, no relay left.
func TestPollerRelease(t *testing.T) {
	ts := startServer(t, allowLoopback)
	c := newRawClient(t, ts, creds("release"))
	checkSuccess(t, "Allocate", c.request(allocateRequest, requestedUDP{}))
	waitFor(t, "the fast-path entry", func() bool { return fastEntries(ts.Server) == 1 })
	checkSuccess(t, "Refresh", c.request(refreshRequest, lifetimeAttr(0)))
	waitFor(t, "the allocation to go", func() bool { return ts.q.count() == 0 })
	checkPollerEmpty(t, ts.Server)
}

// checkPollerEmpty fails unless no allocation has left a fast-path entry,
// a poller slot or a relay socket behind.
func checkPollerEmpty(t *testing.T, s *Server) {
	t.Helper()
	if n := fastEntries(s); n != 0 {
		t.Errorf("%d fast-path entries left", n)
	}
	for _, l := range s.poller.loops {
		l.mu.RLock()
		for i, r := range l.slots {
			if r != nil {
				t.Errorf("slot %d still holds %v", i, r.key)
			}
		}
		l.mu.RUnlock()
	}
	s.relays.mu.Lock()
	left := len(s.relays.m)
	s.relays.mu.Unlock()
	if left != 0 {
		t.Errorf("%d relay sockets left", left)
	}
}

func fastEntries(s *Server) int {
	n := 0
	s.fast.Range(func(any, any) bool { n++; return true })
	return n
}

// The fast path applies the peer policy to the full address: a channel to
// one of the server's own ports (the permission is for an allowed IP) is
// bound, but what the client sends on it is dropped.
func TestPollerChannelToOwnListener(t *testing.T) {
	ts := startServer(t, allowLoopback)
	c, _ := rawAllocate(t, ts, creds("own"))
	own := ts.Addrs().UDP
	checkSuccess(t, "ChannelBind", c.request(channelBindReq, channelAttr(0x4001), peerAttr{ip: own.Addr(), port: own.Port()}))
	if _, err := c.conn.WriteTo([]byte{0x40, 0x01, 0, 2, 'h', 'i'}, c.server); err != nil {
		t.Fatal(err)
	}
	ts.waitMetric(t, 1, "switchboard_turn_dropped_packets_total", "reason", "own_listener")
}

// Beyond maxFastChannels an allocation's channels still work, through
// pion one way and as Data indications the other.
func TestPollerManyChannels(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.MaxPermissionsPerAllocation = 4
	})
	c, relay := rawAllocate(t, ts, creds("many"))
	var last net.PacketConn
	var lastAP netip.AddrPort
	for i := range maxFastChannels + 1 {
		last, lastAP = udpPeer(t)
		checkSuccess(t, "ChannelBind", c.request(channelBindReq, channelAttr(0x4000+i), peerAttr{ip: lastAP.Addr(), port: lastAP.Port()}))
	}
	num := byte(maxFastChannels) // the last channel, 0x4000 + maxFastChannels
	if _, err := c.conn.WriteTo([]byte{0x40, num, 0, 4, 'p', 'i', 'o', 'n'}, c.server); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, last); string(got) != "pion" {
		t.Fatalf("peer got %q", got)
	}
	if _, err := last.WriteTo([]byte("back"), net.UDPAddrFromAddrPort(relay)); err != nil {
		t.Fatal(err)
	}
	checkDataIndication(t, c.next(), lastAP, []byte("back"))
}

// Many allocations relaying at once: one wake-up of the loop then sends
// from several relay sockets and reads several, in one submission. Every
// datagram arrives whole, in order, from and to the right address.
func TestPollerBurst(t *testing.T) {
	ts := startServer(t, allowLoopback)
	const clients, each = 8, 10
	type pair struct {
		c     *rawClient
		relay netip.AddrPort
		peer  net.PacketConn
	}
	var ps [clients]pair
	for i := range ps {
		p := &ps[i]
		p.c, p.relay = rawAllocate(t, ts, creds(fmt.Sprint("burst", i)))
		var pa netip.AddrPort
		p.peer, pa = udpPeer(t)
		checkSuccess(t, "ChannelBind", p.c.request(channelBindReq, channelAttr(0x4001), peerAttr{ip: pa.Addr(), port: pa.Port()}))
	}
	for k := range each {
		for i := range ps {
			msg := fmt.Sprintf("c%d-%d", i, k)
			cd := append([]byte{0x40, 0x01, 0, byte(len(msg))}, msg...)
			if _, err := ps[i].c.conn.WriteTo(cd, ps[i].c.server); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range ps {
		for k := range each {
			want := fmt.Sprintf("c%d-%d", i, k)
			if got, from := readFrom(t, ps[i].peer); string(got) != want || from.(*net.UDPAddr).AddrPort() != ps[i].relay { //nolint:forcetypeassert // udp4
				t.Fatalf("peer %d got %q from %v, want %q from %v", i, got, from, want, ps[i].relay)
			}
		}
	}
	for k := range each {
		for i := range ps {
			if _, err := ps[i].peer.WriteTo(fmt.Appendf(nil, "p%d-%d", i, k), net.UDPAddrFromAddrPort(ps[i].relay)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range ps {
		for k := range each {
			want := fmt.Sprintf("p%d-%d", i, k)
			num, data, ok := parseChannelData(ps[i].c.next())
			if !ok || num != 0x4001 || string(data) != want {
				t.Fatalf("client %d got %q on channel %#x, want %q", i, data, num, want)
			}
		}
	}
	ts.waitMetric(t, clients*each, "switchboard_turn_relayed_packets_total", "transport", "udp", "direction", "from_peer")
}

// The poller's relay path allocates nothing per datagram: a ChannelData
// round trip (client to peer, peer back to client) costs no allocation,
// counted over the whole process, server goroutines included.
func TestPollerAllocs(t *testing.T) {
	ts := startServer(t, allowLoopback)
	peerPC, pa := udpPeer(t)
	c, relay := rawAllocate(t, ts, creds("allocs"))
	checkSuccess(t, "ChannelBind", c.request(channelBindReq, channelAttr(0x4001), peerAttr{ip: pa.Addr(), port: pa.Port()}))
	client, peer := c.conn.(*net.UDPConn), peerPC.(*net.UDPConn) //nolint:forcetypeassert // udp4
	server := c.server.(*net.UDPAddr).AddrPort()                 //nolint:forcetypeassert // udp4
	_ = client.SetReadDeadline(time.Now().Add(time.Minute))
	_ = peer.SetReadDeadline(time.Now().Add(time.Minute))
	cd := []byte{0x40, 0x01, 0, 100}
	cd = append(cd, make([]byte, 100)...)
	buf := make([]byte, 2048)
	var failed error
	roundTrip := func() {
		if _, err := client.WriteToUDPAddrPort(cd, server); err != nil {
			failed = err
			return
		}
		n, _, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			failed = err
			return
		}
		if _, err := peer.WriteToUDPAddrPort(buf[:n], relay); err != nil {
			failed = err
			return
		}
		if _, _, err := client.ReadFromUDPAddrPort(buf); err != nil {
			failed = err
		}
	}
	for range 100 { // warm up
		roundTrip()
	}
	allocs := testing.AllocsPerRun(2000, roundTrip)
	if failed != nil {
		t.Fatal(failed)
	}
	// Not 0: pion's timers and the metrics may allocate now and then.
	if allocs >= 0.5 {
		t.Fatalf("%.2f allocations per round trip, want none", allocs)
	}
	t.Logf("%.3f allocations per round trip", allocs)
}
