package turn

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// A client allocates over UDP, permits a UDP echo peer on loopback, and
// gets its datagram back through the relay; the relay address is the
// listen address, and the metrics count the allocation and both directions.
func TestUDPAllocationRelaysData(t *testing.T) {
	ts := startServer(t, allowLoopback)
	peer := echoPeer(t)
	c := udpClient(t, ts, creds("alice"))
	relay := allocate(t, c)
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("relay address %v, want 127.0.0.1", relay.LocalAddr())
	}
	ts.waitMetric(t, 1, "switchboard_turn_allocations", "transport", "udp")

	msg := []byte("hello through the relay")
	if _, err := relay.WriteTo(msg, peer); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	got, from := readFrom(t, relay)
	if !bytes.Equal(got, msg) || from.String() != peer.String() {
		t.Fatalf("got %q from %v, want %q from %v", got, from, msg, peer)
	}
	ts.waitMetric(t, float64(len(msg)), "switchboard_turn_relayed_bytes_total", "transport", "udp", "direction", "to_peer")
	ts.waitMetric(t, float64(len(msg)), "switchboard_turn_relayed_bytes_total", "transport", "udp", "direction", "from_peer")
	ts.waitMetric(t, 1, "switchboard_turn_relayed_packets_total", "direction", "to_peer")
	ts.waitMetric(t, 1, "switchboard_turn_relayed_packets_total", "direction", "from_peer")
	if n := ts.metric(t, "switchboard_turn_allocations_created_total", "transport", "udp"); n != 1 {
		t.Fatalf("allocations created %v, want 1", n)
	}

	if err := relay.Close(); err != nil { // Refresh with lifetime 0
		t.Fatalf("close relay: %v", err)
	}
	ts.waitMetric(t, 0, "switchboard_turn_allocations", "transport", "udp")
}

// The same over TCP (RFC 6062 not involved: TURN over TCP, UDP relay).
func TestTCPAllocationRelaysData(t *testing.T) {
	ts := startServer(t, allowLoopback)
	peer := echoPeer(t)
	c := tcpClient(t, ts, creds("bob"))
	relay := allocate(t, c)
	if _, err := relay.WriteTo([]byte("over tcp"), peer); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if got, _ := readFrom(t, relay); string(got) != "over tcp" {
		t.Fatalf("got %q", got)
	}
	ts.waitMetric(t, 1, "switchboard_turn_allocations", "transport", "tcp")
}

// Two allocations on the same server reach each other: refusing the
// server's own listener ports must not refuse its relay ports.
func TestRelayToRelay(t *testing.T) {
	ts := startServer(t, allowLoopback)
	a := allocate(t, udpClient(t, ts, creds("a")))
	bc := udpClient(t, ts, creds("b"))
	b := allocate(t, bc)
	if err := bc.CreatePermission(a.LocalAddr()); err != nil {
		t.Fatalf("b permits a: %v", err)
	}
	if _, err := a.WriteTo([]byte("a to b"), b.LocalAddr()); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	got, from := readFrom(t, b)
	if string(got) != "a to b" || from.String() != a.LocalAddr().String() {
		t.Fatalf("b got %q from %v", got, from)
	}
	if _, err := b.WriteTo([]byte("b to a"), a.LocalAddr()); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if got, _ := readFrom(t, a); string(got) != "b to a" {
		t.Fatalf("a got %q", got)
	}
}

// With no UDP listener there is no stun: URL, and with TLS a turns: one.
func TestURLsAndICEServers(t *testing.T) {
	ts := startServer(t, nil)
	a := ts.Addrs()
	if !a.UDP.IsValid() || !a.TCP.IsValid() || a.TLS.IsValid() {
		t.Fatalf("Addrs %+v: want UDP and TCP, no TLS", a)
	}
	if a.UDP.Port() != a.TCP.Port() {
		t.Fatalf("UDP port %d != TCP port %d", a.UDP.Port(), a.TCP.Port())
	}
	p := strconv.Itoa(int(a.UDP.Port()))
	for _, tc := range []struct{ host, want string }{
		{"example.com:8443", "example.com"},
		{"example.com", "example.com"},
		{"[2001:db8::1]:443", "[2001:db8::1]"},
		{"2001:db8::1", "[2001:db8::1]"},
		{"", "127.0.0.1"}, // the relay address
	} {
		urls := ts.URLs(tc.host)
		want := []string{"stun:" + tc.want + ":" + p, "turn:" + tc.want + ":" + p + "?transport=udp", "turn:" + tc.want + ":" + p + "?transport=tcp"}
		if strings.Join(urls, " ") != strings.Join(want, " ") {
			t.Errorf("URLs(%q) = %v, want %v", tc.host, urls, want)
		}
	}

	now := time.Unix(1_700_000_000, 0)
	list := ts.ICEServers("carol", "signal.example.com:443", now)
	if len(list) != 2 || len(list[0].URLs) != 1 || list[0].Username != "" || len(list[1].URLs) != 2 {
		t.Fatalf("ICEServers = %+v", list)
	}
	exp := now.Add(12 * time.Hour)
	user, pass := Credentials(testSecret, "carol", exp)
	if list[1].Username != user || list[1].Credential != pass || list[1].Expires != exp.Unix() {
		t.Fatalf("credentials %+v, want %s/%s expiring %d", list[1], user, pass, exp.Unix())
	}

	pub := startServer(t, func(c *Config) {
		c.NoUDP = true
		c.PublicIP = netip.MustParseAddr("203.0.113.7")
	})
	if urls := pub.URLs("ignored.example"); len(urls) != 1 || urls[0] != "turn:203.0.113.7:"+strconv.Itoa(int(pub.Addrs().TCP.Port()))+"?transport=tcp" {
		t.Fatalf("URLs with PublicIP and no UDP = %v", urls)
	}
	if list := pub.ICEServers("d", "", now); len(list) != 1 || list[0].Username == "" {
		t.Fatalf("ICEServers without UDP = %+v", list)
	}
	named := startServer(t, func(c *Config) { c.PublicHost = "turn.example.org" })
	if u := named.URLs("other.example")[0]; !strings.HasPrefix(u, "stun:turn.example.org:") {
		t.Fatalf("URL with PublicHost = %s", u)
	}
}

// New names the port it cannot bind.
func TestPortInUse(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	port := udp.LocalAddr().(*net.UDPAddr).Port
	_, err = New(Config{ListenIP: loopback, Port: port, Secret: testSecret, Logger: testLogger()})
	le, ok := errors.AsType[*ListenError](err)
	if !ok || le.Transport != "udp" || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("New on a used UDP port: %v", err)
	}
	if !strings.Contains(err.Error(), "port "+strconv.Itoa(port)) {
		t.Fatalf("error does not name the port: %v", err)
	}

	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	port = tcp.Addr().(*net.TCPAddr).Port
	_, err = New(Config{ListenIP: loopback, Port: port, NoUDP: true, Secret: testSecret, Logger: testLogger()})
	if le, ok := errors.AsType[*ListenError](err); !ok || le.Transport != "tcp" || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("New on a used TCP port: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"port":        {Port: 70000},
		"tls port":    {TLSPort: -2},
		"unauth rate": {UnauthRate: -1},
		"all off":     {NoUDP: true, NoTCP: true},
		"tls pair":    {TLSCertFile: "cert.pem"},
	} {
		cfg.Logger = testLogger()
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// A generated secret is 32 random bytes, and credentials made with it work.
func TestGeneratedSecret(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Secret = nil })
	if len(ts.Secret()) != 32 || bytes.Equal(ts.Secret(), make([]byte, 32)) {
		t.Fatalf("secret %x", ts.Secret())
	}
	allocate(t, udpClient(t, ts, secretCreds(ts.Secret(), "x")))
}

// Close ends allocations and TCP connections that are still open, returns
// nil, and again nil the second time; TestMain checks no goroutine is left.
func TestCloseWithLiveAllocations(t *testing.T) {
	ts := startServer(t, allowLoopback)
	allocate(t, udpClient(t, ts, creds("u")))
	allocate(t, tcpClient(t, ts, creds("t")))
	// An idle TCP connection that never sent a byte.
	idle, err := net.Dial("tcp", ts.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitFor(t, "two allocations", func() bool { return ts.q.count() == 2 })

	ts.closeEmpty(t, "tcp")
	if err := ts.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle TCP connection still open after Close")
	}
}

// The server adds no SOFTWARE attribute to what it sends: not to a
// Binding response, a 401 challenge, an Allocate success or an error.
func TestNoSoftwareAttribute(t *testing.T) {
	ts := startServer(t, nil)
	c := newRawClient(t, ts, creds("sw"))
	check := func(what string, m *stun.Message) {
		t.Helper()
		if m.Contains(stun.AttrSoftware) {
			t.Errorf("%s carries SOFTWARE: %v", what, m)
		}
	}
	bind := c.roundTrip(stun.BindingRequest)
	if bind.Type != stun.BindingSuccess {
		t.Fatalf("binding: %v", bind)
	}
	check("Binding success", bind)
	check("401", c.roundTrip(allocateRequest, requestedUDP{}))
	res := c.request(allocateRequest, requestedUDP{})
	if res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("allocate: %v code %d", res, errCode(res))
	}
	check("Allocate success", res)
	res = c.request(permissionRequest, peerAttr{ip: netip.MustParseAddr("10.0.0.1"), port: 9})
	if errCode(res) != int(stun.CodeForbidden) {
		t.Fatalf("permission to 10.0.0.1: %v code %d", res, errCode(res))
	}
	check("403", res)
}

func secretCreds(secret []byte, user string) cred {
	u, p := Credentials(secret, user, time.Now().Add(time.Minute))
	return cred{u, p}
}

// A TCP client that connects and says nothing is cut off, so silent
// connections cannot pile up and eat file descriptors.
func TestSilentConnectionIsClosed(t *testing.T) {
	ts := startServer(t, nil)
	ts.tcpConns[0].firstTimeout.Store(int64(50 * time.Millisecond))
	conn, err := net.Dial("tcp", ts.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("silent connection still open: %v", err)
	}
	waitFor(t, "the connection to be released", func() bool { return ts.conns.Load() == 0 })
}

// Bytes alone do not keep a connection slot: a TCP client that talks but
// never allocates is cut off, while one that allocates stays past the
// deadline. No client holds more than maxConnsPerIP connections.
func TestConnectionWithoutAllocationIsClosed(t *testing.T) {
	ts := startServer(t, nil)
	ts.tcpConns[0].allocTimeout.Store(int64(300 * time.Millisecond))
	talker, err := net.Dial("tcp", ts.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	good := tcpClient(t, ts, creds("ok"))
	relay := allocate(t, good)
	defer relay.Close()
	binding := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	deadline := time.Now().Add(5 * time.Second)
	for { // keep talking (Binding requests) until the server hangs up
		if _, err := talker.Write(binding.Raw); err != nil {
			break
		}
		_ = talker.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := talker.Read(make([]byte, 1500)); err != nil && !isTimeout(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a connection without an allocation is still served after 5 s")
		}
	}
	// The allocated connection must outlive its own allocate deadline.
	var allocateBy time.Time
	ts.tcpBySrc.Range(func(_, v any) bool {
		if c := v.(*serverConn); c.allocated.Load() {
			allocateBy = c.allocateBy
		}
		return true
	})
	if allocateBy.IsZero() {
		t.Fatal("the allocating connection was not marked allocated")
	}
	waitFor(t, "the allocated connection's allocate deadline to pass", func() bool {
		return time.Now().After(allocateBy.Add(100 * time.Millisecond))
	})
	if _, err := good.SendBindingRequest(); err != nil {
		t.Fatalf("the allocated connection was cut off: %v", err)
	}
	waitFor(t, "the talker's slot to be released", func() bool { return ts.conns.Load() == 1 })

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxConnsPerIP + 5 {
		c, err := net.Dial("tcp", ts.Addrs().TCP.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	ts.waitMetric(t, 6, "switchboard_turn_dropped_packets_total", "reason", "tcp_conn_per_ip_limit")
}
