package turn

import (
	"bytes"
	"net"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// With the default policy and the server on loopback (a range it refuses),
// two clients reach each other's relay address, and nothing else on the
// server's address: not another port, not the port of an allocation that
// ended. Over UDP clients (the poller's fast path for ChannelData, pion's
// for Send indications) and over TCP clients (pion reads the relay).
func TestRelayToRelayDefaultPolicy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(*testing.T, *testServer, cred) *pionturn.Client
	}{{"udp", udpClient}, {"tcp", tcpClient}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			relayA := allocate(t, tc.client(t, ts, creds("alice")))
			relayB := allocate(t, tc.client(t, ts, creds("bob")))
			addrA, addrB := relayA.LocalAddr().(*net.UDPAddr), relayB.LocalAddr().(*net.UDPAddr)
			if !addrA.IP.IsLoopback() || !addrB.IP.IsLoopback() {
				t.Fatalf("relay addresses %v and %v: want loopback ones", addrA, addrB)
			}

			// Both ways: each write also makes the writer's permission
			// (and, in the background, its channel) for the other relay.
			exchange(t, relayA, relayB, addrA, addrB, []byte("from alice"))
			exchange(t, relayB, relayA, addrB, addrA, []byte("from bob"))
			if n := ts.metric(t, "switchboard_turn_permissions_refused_total", "reason", "loopback"); n != 0 {
				t.Errorf("%v permissions refused as loopback", n)
			}

			// Another port on the server's address: a socket listens there
			// and gets nothing, and the drop is counted.
			other := udpSocket(t, "127.0.0.1:0")
			refusedTo(t, ts, relayA, other)

			// The end of bob's allocation ends his port: a socket that
			// takes it over is out of reach.
			if err := relayB.Close(); err != nil {
				t.Fatal(err)
			}
			ts.waitMetric(t, 1, "switchboard_turn_allocations", "transport", tc.name)
			refusedTo(t, ts, relayA, udpSocket(t, addrB.String()))
		})
	}
}

// exchange writes p from relay from to relay to's address until to reads
// it from from's address (the first writes may go before the reader's
// permission for the writer exists).
func exchange(t *testing.T, from, to net.PacketConn, fromAddr, toAddr *net.UDPAddr, p []byte) {
	t.Helper()
	buf := make([]byte, 1600)
	for range 50 {
		if _, err := from.WriteTo(p, toAddr); err != nil {
			t.Fatalf("write to %v: %v", toAddr, err)
		}
		_ = to.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, src, err := to.ReadFrom(buf)
		if isTimeout(err) {
			_, _ = to.WriteTo([]byte("permit"), fromAddr) // the reader's permission for the writer
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if string(buf[:n]) == "permit" { // a reader's earlier permission write
			continue
		}
		if !bytes.Equal(buf[:n], p) || src.String() != fromAddr.String() {
			t.Fatalf("read %q from %v, want %q from %v", buf[:n], src, p, fromAddr)
		}
		return
	}
	t.Fatalf("%q never reached %v from %v", p, toAddr, fromAddr)
}

// refusedTo checks that what relay sends to the socket target never
// arrives, and that the server counts it as own_address.
func refusedTo(t *testing.T, ts *testServer, relay net.PacketConn, target *net.UDPConn) {
	t.Helper()
	before := ts.metric(t, "switchboard_turn_dropped_packets_total", "reason", "own_address")
	const sent = 5
	for range sent {
		if _, err := relay.WriteTo([]byte("probe"), target.LocalAddr()); err != nil {
			t.Fatalf("write to %v: %v", target.LocalAddr(), err)
		}
	}
	ts.waitMetric(t, before+sent, "switchboard_turn_dropped_packets_total", "reason", "own_address")
	_ = target.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, from, err := target.ReadFrom(make([]byte, 1600)); !isTimeout(err) {
		t.Fatalf("%v received %d bytes from %v (err %v), want nothing", target.LocalAddr(), n, from, err)
	}
}

func udpSocket(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", a)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
