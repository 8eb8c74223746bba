package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var (
	testSecret = []byte("test-secret")
	loopback   = netip.MustParseAddr("127.0.0.1")
)

// testLogger is silent unless TURN_TEST_LOG is set: pion goroutines may
// log after a test ended, when t.Log would panic.
func testLogger() *slog.Logger {
	if os.Getenv("TURN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type testServer struct {
	*Server
	reg *prometheus.Registry
}

// startServer runs a server on loopback with free ports, two UDP read
// loops and its own metrics registry, closed when the test ends.
func startServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Secret:     testSecret,
		ListenIP:   loopback,
		Port:       -1,
		TLSPort:    -1,
		ReadLoops:  2,
		UnauthRate: 1000, // every client here shares 127.0.0.1
		Logger:     testLogger(),
		Metrics:    reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testServer{Server: s, reg: reg}
}

func allowLoopback(c *Config) { c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }

// metric returns the value of the counter or gauge name whose labels
// include the given name/value pairs (0 when there is none).
func (ts *testServer) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := ts.series(t, name, labels...)
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// series returns the series of metric name whose labels include the given
// name/value pairs, nil when the registry has none.
func (ts *testServer) series(t *testing.T, name string, labels ...string) *dto.Metric {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (ts *testServer) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	waitFor(t, name+" "+strconv.FormatFloat(want, 'f', -1, 64), func() bool { return ts.metric(t, name, labels...) == want })
}

// closeEmpty closes the server and fails unless it counts no allocation
// afterwards, in its quota and in the transport's gauge.
func (ts *testServer) closeEmpty(t *testing.T, transport string) {
	t.Helper()
	if err := ts.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := ts.q.count(); n != 0 {
		t.Fatalf("%d allocations after Close", n)
	}
	if n := ts.metric(t, "switchboard_turn_allocations", "transport", transport); n != 0 {
		t.Fatalf("%s allocations gauge %v after Close", transport, n)
	}
}

// cred is a TURN username and password.
type cred struct{ user, pass string }

// creds returns credentials for user valid for an hour.
func creds(user string) cred {
	u, p := Credentials(testSecret, user, time.Now().Add(time.Hour))
	return cred{u, p}
}

func (ts *testServer) udpAddr() string { return ts.Addrs().UDP.String() }

// newClient starts a pion TURN client on conn, closed when the test ends.
func newClient(t *testing.T, conn net.PacketConn, server string, cr cred) *pionturn.Client {
	t.Helper()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Conn:           conn,
		Username:       cr.user,
		Password:       cr.pass,
		Realm:          "switchboard",
		LoggerFactory:  pionLogs{testLogger()},
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		_ = conn.Close()
	})
	return c
}

func udpClient(t *testing.T, ts *testServer, cr cred) *pionturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, conn, ts.udpAddr(), cr)
}

func tcpClient(t *testing.T, ts *testServer, cr cred) *pionturn.Client {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, pionturn.NewSTUNConn(conn), ts.Addrs().TCP.String(), cr)
}

// allocate makes an allocation, released (Refresh with lifetime 0) when
// the test ends, before the client closes.
func allocate(t *testing.T, c *pionturn.Client) net.PacketConn {
	t.Helper()
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay
}

// turnCode returns the TURN error code in err, 0 when there is none.
func turnCode(err error) int {
	if te, ok := errors.AsType[*stun.TurnError](err); ok {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// echoPeer is a UDP peer on loopback that sends every datagram back.
func echoPeer(t *testing.T) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, pc)
	return pc.LocalAddr().(*net.UDPAddr)
}

// serveEcho sends every datagram pc receives back to its sender until the
// test ends.
func serveEcho(t *testing.T, pc net.PacketConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], a)
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
	})
}

// readFrom reads one datagram with a deadline.
func readFrom(t *testing.T, pc net.PacketConn) ([]byte, net.Addr) {
	t.Helper()
	buf := make([]byte, 1600)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], from
}

// rawClient speaks STUN/TURN message by message over UDP, for what pion's
// client cannot send: IPv6-form peer addresses, a requested LIFETIME, a
// bare ChannelBind, a Binding without SOFTWARE.
type rawClient struct {
	t              *testing.T
	conn           net.PacketConn
	server         net.Addr
	username, pass string
	realm          stun.Realm
	nonce          stun.Nonce
}

func newRawClient(t *testing.T, ts *testServer, cr cred) *rawClient {
	t.Helper()
	return newRawClientAt(t, netip.AddrPortFrom(loopback, 0), ts.Addrs().UDP, cr)
}

// newRawClientAt is a raw client on a UDP socket bound to local, talking
// to the server at server.
func newRawClientAt(t *testing.T, local, server netip.AddrPort, cr cred) *rawClient {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, server: net.UDPAddrFromAddrPort(server), username: cr.user, pass: cr.pass}
}

// try sends m and returns the response with its transaction id, or an
// error after timeout.
func (c *rawClient) try(m *stun.Message, timeout time.Duration) (*stun.Message, error) {
	if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
		return nil, err
	}
	buf := make([]byte, 1600)
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return nil, err
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() == nil && res.TransactionID == m.TransactionID {
			return res, nil
		}
	}
}

func (c *rawClient) roundTrip(setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	m := stun.MustBuild(append([]stun.Setter{stun.TransactionID}, setters...)...)
	res, err := c.try(m, 5*time.Second)
	if err != nil {
		c.t.Fatalf("%v: %v", m.Type, err)
	}
	return res
}

// request sends an authenticated request, fetching a nonce first.
func (c *rawClient) request(t stun.MessageType, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	res, err := c.tryRequest(t, attrs...)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// tryRequest is request returning its error, for goroutines other than the
// test's.
func (c *rawClient) tryRequest(t stun.MessageType, attrs ...stun.Setter) (*stun.Message, error) {
	for range 2 {
		if c.nonce == nil {
			m := stun.MustBuild(stun.TransactionID, allocateRequest, requestedUDP{})
			res, err := c.try(m, 5*time.Second)
			if err != nil {
				return nil, fmt.Errorf("%v for a nonce: %w", m.Type, err)
			}
			if err := c.nonce.GetFrom(res); err != nil {
				return nil, fmt.Errorf("no nonce in %v: %w", res, err)
			}
			if err := c.realm.GetFrom(res); err != nil {
				return nil, fmt.Errorf("no realm in %v: %w", res, err)
			}
		}
		setters := append([]stun.Setter{stun.TransactionID, t}, attrs...)
		setters = append(setters, stun.NewUsername(c.username), c.realm, c.nonce,
			stun.NewLongTermIntegrity(c.username, c.realm.String(), c.pass), stun.Fingerprint)
		m := stun.MustBuild(setters...)
		res, err := c.try(m, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", t, err)
		}
		if code := errCode(res); code == int(stun.CodeStaleNonce) {
			c.nonce = nil
			continue
		}
		return res, nil
	}
	return nil, errors.New("nonce kept going stale")
}

func errCode(m *stun.Message) int {
	var ec stun.ErrorCodeAttribute
	if m.Type.Class != stun.ClassErrorResponse || ec.GetFrom(m) != nil {
		return 0
	}
	return int(ec.Code)
}

// requestedUDP is REQUESTED-TRANSPORT UDP.
type requestedUDP struct{}

func (requestedUDP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
	return nil
}

// peerAttr is an XOR-PEER-ADDRESS; asIPv6 encodes an IPv4-mapped address
// in the IPv6 family, as a client trying to slip past a check may.
type peerAttr struct {
	ip     netip.Addr
	port   uint16
	asIPv6 bool
}

func (p peerAttr) AddTo(m *stun.Message) error {
	key := make([]byte, 16)
	key[0], key[1], key[2], key[3] = 0x21, 0x12, 0xA4, 0x42
	copy(key[4:], m.TransactionID[:])
	xport := p.port ^ 0x2112
	v := []byte{0, 1, byte(xport >> 8), byte(xport)}
	var ip []byte
	if p.asIPv6 || p.ip.Is6() && !p.ip.Is4In6() {
		v[1] = 2
		a := p.ip.As16()
		ip = a[:]
	} else {
		a := p.ip.Unmap().As4()
		ip = a[:]
	}
	for i := range ip {
		v = append(v, ip[i]^key[i])
	}
	m.Add(stun.AttrXORPeerAddress, v)
	return nil
}

type lifetimeAttr uint32

func (l lifetimeAttr) AddTo(m *stun.Message) error {
	m.Add(stun.AttrLifetime, []byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)})
	return nil
}

type channelAttr uint16

func (c channelAttr) AddTo(m *stun.Message) error {
	m.Add(stun.AttrChannelNumber, []byte{byte(c >> 8), byte(c), 0, 0})
	return nil
}

var (
	allocateRequest   = stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	permissionRequest = stun.NewType(stun.MethodCreatePermission, stun.ClassRequest)
	channelBindReq    = stun.NewType(stun.MethodChannelBind, stun.ClassRequest)
)

// testVNet is a pion virtual WAN with a server at 1.2.3.4, a client at
// 1.2.3.5 and a peer at 1.2.3.6, all public addresses.
type testVNet struct {
	server, client, peer *vnet.Net
}

func newVNet(t *testing.T) *testVNet {
	t.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: pionLogs{testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	v := &testVNet{}
	for ip, n := range map[string]**vnet.Net{"1.2.3.4": &v.server, "1.2.3.5": &v.client, "1.2.3.6": &v.peer} {
		if *n, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}}); err != nil {
			t.Fatal(err)
		}
		if err := wan.AddNet(*n); err != nil {
			t.Fatal(err)
		}
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wan.Stop() })
	return v
}

func newVNetClient(t *testing.T, conn net.PacketConn, n *vnet.Net, server string, cr cred) *pionturn.Client {
	t.Helper()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn, Net: n,
		Username: cr.user, Password: cr.pass, Realm: "switchboard", LoggerFactory: pionLogs{testLogger()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); _ = conn.Close() })
	return c
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// requireIPv6Loopback skips the test when the host has no ::1, except under
// CI=true, where it fails: CI must run it.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	probe, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		ipv6Unavailable(t, "no IPv6 loopback ("+err.Error()+")")
	}
	_ = probe.Close()
}

func ipv6Unavailable(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; IPv6 tests never skip in CI: give the runner IPv6")
	}
	t.Skip(msg)
}
