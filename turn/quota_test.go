package turn

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// MaxAllocationsPerUser counts by the user id after the colon, across
// credentials with different expiries; the third allocation gets 486.
func TestAllocationQuotaPerUser(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxAllocationsPerUser = 2 })
	first := allocate(t, udpClient(t, ts, creds("alice")))
	allocate(t, tcpClient(t, ts, creds("alice")))
	_, err := udpClient(t, ts, creds("alice")).Allocate()
	if code := turnCode(err); code != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("third allocation: %v (code %d), want 486", err, code)
	}
	if n := ts.metric(t, "switchboard_turn_allocations_refused_total", "reason", "quota_user"); n != 1 {
		t.Fatalf("refused{quota_user} = %v", n)
	}
	allocate(t, udpClient(t, ts, creds("bob"))) // another user is not affected

	// Freeing one makes room again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the allocation to go", func() bool { return ts.q.count() == 2 })
	allocate(t, udpClient(t, ts, creds("alice")))
}

func TestAllocationQuotaTotal(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxAllocations = 2 })
	allocate(t, udpClient(t, ts, creds("a")))
	allocate(t, udpClient(t, ts, creds("b")))
	_, err := udpClient(t, ts, creds("c")).Allocate()
	if code := turnCode(err); code != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("third allocation: %v (code %d), want 486", err, code)
	}
	if n := ts.metric(t, "switchboard_turn_allocations_refused_total", "reason", "quota_total"); n != 1 {
		t.Fatalf("refused{quota_total} = %v", n)
	}
}

// Concurrent Allocate requests of one user, spread over the read loops,
// cannot overshoot the per-user cap: the quota holds a place from the
// check until the allocation exists.
func TestAllocationQuotaConcurrent(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.MaxAllocationsPerUser = 3
		c.ReadLoops = 4
	})
	const n = 12
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = newRawClient(t, ts, creds("burst"))
		clients[i].request(stun.BindingRequest) // fetch a nonce up front
	}
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i, c := range clients {
		wg.Go(func() {
			res := c.request(allocateRequest, requestedUDP{})
			if res.Type.Class != stun.ClassSuccessResponse {
				codes[i] = errCode(res)
			}
		})
	}
	wg.Wait()
	ok := 0
	for _, code := range codes {
		switch code {
		case 0:
			ok++
		case int(stun.CodeAllocQuotaReached):
		default:
			t.Errorf("unexpected code %d", code)
		}
	}
	if ok != 3 || ts.q.count() != 3 {
		t.Fatalf("%d allocations succeeded (%d counted), want 3", ok, ts.q.count())
	}
}

// A request that passes the quota but fails afterwards gives its place back.
func TestTCPRelayRefusedReleasesQuota(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxAllocationsPerUser = 1 })
	c := tcpClient(t, ts, creds("tcp"))
	if _, err := c.AllocateTCP(); turnCode(err) != int(stun.CodeInsufficientCapacity) {
		t.Fatalf("AllocateTCP with TCP relay off: %v, want 508", err)
	}
	if n := ts.metric(t, "switchboard_turn_allocations_refused_total", "reason", "tcp_relay_disabled"); n != 1 {
		t.Fatalf("refused{tcp_relay_disabled} = %v", n)
	}
	allocate(t, c) // the user's only place is free
}

// With TCPRelay on, an RFC 6062 allocation connects to a TCP peer and
// relays both ways; a Connect to the server's own TCP listener is refused
// before any dial.
func TestTCPRelay(t *testing.T) {
	for _, behindNAT := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "behind 1:1 NAT"}[behindNAT], func(t *testing.T) {
			testTCPRelay(t, behindNAT)
		})
	}
}

// testTCPRelay runs TestTCPRelay; behindNAT advertises a public address
// that is not local (--turn-public-ip behind a 1:1 NAT): Connect must dial
// from the local relay address all the same.
func testTCPRelay(t *testing.T, behindNAT bool) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.TCPRelay = true
		if behindNAT {
			c.PublicIP = netip.MustParseAddr("203.0.113.7")
		}
	})
	peer := tcpEchoPeer(t)
	c := tcpClient(t, ts, creds("t"))
	alloc, err := c.AllocateTCP()
	if err != nil {
		t.Fatalf("AllocateTCP: %v", err)
	}
	t.Cleanup(func() { _ = alloc.Close() })
	if behindNAT && alloc.Addr().(*net.TCPAddr).IP.String() != "203.0.113.7" {
		t.Fatalf("relay address %v, want the public address", alloc.Addr())
	}

	conn, err := alloc.Dial("tcp", peer)
	if err != nil {
		t.Fatalf("Dial through the relay: %v", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("tcp relay")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "tcp relay" {
		t.Fatalf("echo %q: %v", buf, err)
	}
	ts.waitMetric(t, 9, "switchboard_turn_relayed_bytes_total", "transport", "tcp", "direction", "to_peer")
	ts.waitMetric(t, 9, "switchboard_turn_relayed_bytes_total", "transport", "tcp", "direction", "from_peer")

	if _, err := alloc.Dial("tcp", ts.Addrs().TCP.String()); err == nil {
		t.Fatal("Connect to the server's own TCP listener succeeded")
	}
	if n := ts.metric(t, "switchboard_turn_permissions_refused_total", "reason", "own_listener"); n != 1 {
		t.Fatalf("permissions refused{own_listener} = %v", n)
	}
}

func tcpEchoPeer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// The same port on the IPv4 and the IPv6 relay address names two sockets.
func TestRelayKeyFamilies(t *testing.T) {
	v4 := relayKeyOf(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 50000})
	v6 := relayKeyOf(&net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 50000})
	tcp := relayKeyOf(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 50000})
	if v4 == v6 || v4 == tcp || v4.v6 || !v6.v6 {
		t.Fatalf("keys %+v, %+v, %+v", v4, v6, tcp)
	}
	if again := relayKeyOf(&net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 50000}); again != v4 {
		t.Fatalf("16-byte form of the IPv4 address: %+v, want %+v", again, v4)
	}
}

// RFC 6062 allocations need a TCP or TLS control connection: over UDP they
// are refused even with TCPRelay on (a Connect would dial from a UDP loop).
func TestTCPRelayOverUDPRefused(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.TCPRelay = true
	})
	c := udpClient(t, ts, creds("t"))
	if _, err := c.AllocateTCP(); turnCode(err) != int(stun.CodeInsufficientCapacity) {
		t.Fatalf("AllocateTCP over UDP: %v, want 508", err)
	}
	if n := ts.metric(t, "switchboard_turn_allocations_refused_total", "reason", "tcp_relay_over_udp"); n != 1 {
		t.Fatalf("refused{tcp_relay_over_udp} = %v", n)
	}
	allocate(t, c) // a UDP allocation on the same client still works
}

// Two TCP allocations never share a relay port, although pion binds TCP
// relay listeners with SO_REUSEPORT: with one port in the range, the second
// allocation is refused instead of listening beside the first.
func TestTCPRelayPortNotShared(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.TCPRelay = true
		c.RelayPortMin, c.RelayPortMax = port, port
	})
	first, err := tcpClient(t, ts, creds("a")).AllocateTCP()
	if err != nil {
		t.Fatalf("first AllocateTCP: %v", err)
	}
	t.Cleanup(func() { _ = first.Close() })
	if got := first.Addr().(*net.TCPAddr).Port; got != port {
		t.Fatalf("relay port %d, want %d", got, port)
	}
	if second, err := tcpClient(t, ts, creds("b")).AllocateTCP(); err == nil {
		second.Close()
		t.Fatalf("second AllocateTCP got %v while the only port is taken", second.Addr())
	}
}

// A TCP allocation holds at most MaxPermissionsPerAllocation peer
// connections (a permission is per IP, a connection per port, and each is
// a file descriptor); a closed one frees its place.
func TestTCPRelayPeerConnCap(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.TCPRelay = true
		c.MaxPermissionsPerAllocation = 2
	})
	peers := []string{tcpEchoPeer(t), tcpEchoPeer(t), tcpEchoPeer(t)} // one connection per peer address (446 otherwise)
	alloc, err := tcpClient(t, ts, creds("t")).AllocateTCP()
	if err != nil {
		t.Fatalf("AllocateTCP: %v", err)
	}
	t.Cleanup(func() { _ = alloc.Close() })
	var conns []net.Conn
	for i := range 2 {
		c, err := alloc.Dial("tcp", peers[i])
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		conns = append(conns, c)
	}
	if c, err := alloc.Dial("tcp", peers[2]); err == nil {
		c.Close()
		t.Fatal("a third peer connection was allowed with a cap of 2")
	}
	if n := ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", "peer_conn_limit"); n != 1 {
		t.Fatalf("dropped{peer_conn_limit} = %v", n)
	}
	conns[0].Close()
	waitFor(t, "a place to free up", func() bool {
		c, err := alloc.Dial("tcp", peers[2])
		if err == nil {
			conns = append(conns, c)
		}
		return err == nil
	})
	for _, c := range conns[1:] {
		c.Close()
	}
}

// With TCP relay on, the allocate deadline still closes a connection that
// never allocates, and an RFC 6062 data connection, which makes no
// allocation, is spared by its signed ConnectionBind.
func TestTCPRelayDeadlines(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.TCPRelay = true
	})
	ts.tcpConns[0].allocTimeout.Store(int64(300 * time.Millisecond))
	start := time.Now()
	talker, err := net.Dial("tcp", ts.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	peer := tcpEchoPeer(t)
	alloc, err := tcpClient(t, ts, creds("t")).AllocateTCP()
	if err != nil {
		t.Fatalf("AllocateTCP: %v", err)
	}
	t.Cleanup(func() { _ = alloc.Close() })
	conn, err := alloc.Dial("tcp", peer)
	if err != nil {
		t.Fatalf("Dial through the relay: %v", err)
	}
	defer conn.Close()

	_ = talker.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := talker.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("a connection that never allocated is still open: %v", err)
	}
	waitFor(t, "every connection's allocate deadline to pass", func() bool {
		return time.Since(start) > 500*time.Millisecond
	})
	if _, err := conn.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("data connection after the deadline: %q, %v", buf, err)
	}
}
