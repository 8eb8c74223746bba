package turn

import (
	"io"
	"net"
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
	ts := startServer(t, func(c *Config) {
		allowLoopback(c)
		c.TCPRelay = true
	})
	peer := tcpEchoPeer(t)
	c := tcpClient(t, ts, creds("t"))
	alloc, err := c.AllocateTCP()
	if err != nil {
		t.Fatalf("AllocateTCP: %v", err)
	}
	t.Cleanup(func() { _ = alloc.Close() })

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
