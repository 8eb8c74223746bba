package turn_test

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// coturn's own clients against Switchboard's TURN server, and Switchboard's
// credentials against coturn: the two are interchangeable. These tests
// need coturn (apt-get install -y coturn); they skip without it, except
// under CI=true.

var loopback = netip.MustParseAddr("127.0.0.1")

// externalServer runs a TURN server on 127.0.0.1 and free ports that
// relays to loopback peers, with a metrics registry of its own.
func externalServer(t *testing.T, secret string) (*turn.Server, *prometheus.Registry) {
	t.Helper()
	return externalServerPolicy(t, secret, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
}

// externalServerPolicy is externalServer allowing allow as peers; nil
// keeps the default policy, which refuses loopback peers.
func externalServerPolicy(t *testing.T, secret string, allow []netip.Prefix) (*turn.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{
		Secret:     []byte(secret),
		ListenIP:   loopback,
		Port:       -1,
		TLSPort:    -1,
		AllowPeers: allow,
		// Every uclient client holds two allocations: its own, and a
		// "probe" one it never frees.
		MaxAllocationsPerUser: 50,
		Logger:                slog.New(slog.DiscardHandler),
		Metrics:               reg,
	})
	if err != nil {
		t.Fatalf("turn.New: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the TURN server: %v", err)
		}
	})
	return srv, reg
}

// metric sums the series of the named metric whose labels include labels
// (name, value pairs).
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// uclient load: few and small messages, paced, so a run takes a few
// seconds (most of it uclient's own random start delay) and loopback never
// drops a datagram.
const (
	ucClients  = 5
	ucMessages = 100
	ucLength   = 120
	ucTimeout  = 25 * time.Second
)

func uclientArgs(secret, user string, srv *turn.Server, peer netip.AddrPort, tcp bool) []string {
	port := srv.Addrs().UDP.Port()
	var args []string
	if tcp {
		args = append(args, "-t")
		port = srv.Addrs().TCP.Port()
	}
	return append(args,
		"-W", secret, "-u", user,
		"-L", testutil.UClientSource().String(),
		"-e", peer.Addr().String(), "-r", strconv.Itoa(int(peer.Port())),
		"-p", strconv.Itoa(int(port)),
		"-n", strconv.Itoa(ucMessages), "-m", strconv.Itoa(ucClients), "-l", strconv.Itoa(ucLength),
		"-z", "10", // ms between a client's messages
		"-c", // no RTCP allocations
		"-X", // IPv4 relay address
		loopback.String())
}

// TestUClientRelaysThroughSwitchboard runs coturn's load client over UDP
// and over TCP to a UDP echo peer (turnutils_peer) through Switchboard's
// TURN server: every client allocates with TURN REST API credentials it
// makes from the shared secret, binds channels, and gets every message
// back with none lost.
func TestUClientRelaysThroughSwitchboard(t *testing.T) {
	testutil.CoturnTool(t, "turnutils_uclient")
	peer := testutil.StartTURNPeer(t, loopback)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			const secret = "uclient-secret"
			srv, reg := externalServer(t, secret)
			start := time.Now()
			rep, err := testutil.RunUClient(t, ucTimeout, uclientArgs(secret, "load-"+tr, srv, peer, tr == "tcp")...)
			t.Logf("turnutils_uclient over %s: %d sent, %d received, %d lost in %v",
				tr, rep.Sent, rep.Received, rep.Lost, time.Since(start).Round(100*time.Millisecond))
			if err != nil || !rep.Allocated {
				t.Fatalf("turnutils_uclient: %v (allocated %v)\n%s", err, rep.Allocated, rep.Output)
			}
			const want = ucClients * ucMessages
			if rep.Sent != want || rep.Received != want || rep.Lost != 0 {
				t.Fatalf("sent %d, received %d, lost %d: want %d, %d, 0\n%s", rep.Sent, rep.Received, rep.Lost, want, want, rep.Output)
			}
			// The traffic went through this server's relay, both ways.
			if n := metric(t, reg, "switchboard_turn_allocations_created_total", "transport", tr); n < ucClients {
				t.Errorf("%v allocations over %s, want at least %d", n, tr, ucClients)
			}
			for _, dir := range []string{"to_peer", "from_peer"} {
				if n := metric(t, reg, "switchboard_turn_relayed_packets_total", "transport", "udp", "direction", dir); n < want {
					t.Errorf("relayed %v packets %s, want at least %d", n, dir, want)
				}
			}
		})
	}
}

// TestUClientWrongSecret: credentials made from another secret get no
// allocation.
func TestUClientWrongSecret(t *testing.T) {
	testutil.CoturnTool(t, "turnutils_uclient")
	peer := testutil.StartTURNPeer(t, loopback)
	srv, reg := externalServer(t, "the-right-secret")
	args := uclientArgs("a-wrong-secret", "intruder", srv, peer, false)
	args = append(args[:len(args)-1], "-v", loopback.String()) // -v: to see the refusals in the log on failure
	rep, err := testutil.RunUClient(t, ucTimeout, args...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || rep.Allocated || rep.Received > 0 {
		t.Fatalf("want turnutils_uclient to fail to allocate; got %v (allocated %v, received %d)\n%s", err, rep.Allocated, rep.Received, rep.Output)
	}
	if n := metric(t, reg, "switchboard_turn_allocations_refused_total", "reason", "auth"); n < 1 {
		t.Errorf("%v allocations refused for bad credentials, want some", n)
	}
	if n := metric(t, reg, "switchboard_turn_allocations_created_total"); n != 0 {
		t.Errorf("%v allocations created with a wrong secret", n)
	}
}

// TestUClientDefaultPolicy: without AllowPeers the server allocates but
// refuses to relay to a loopback peer, so uclient gets nothing through.
// The peer is on 127.0.0.2: 127.0.0.1 is the server's own address, where a
// permission is granted (for relay to relay) and every port but the live
// relays' is dropped.
func TestUClientDefaultPolicy(t *testing.T) {
	testutil.CoturnTool(t, "turnutils_uclient")
	peer := testutil.StartTURNPeer(t, netip.MustParseAddr("127.0.0.2"))
	const secret = "policy-secret"
	srv, reg := externalServerPolicy(t, secret, nil)
	rep, err := testutil.RunUClient(t, ucTimeout, uclientArgs(secret, "policy", srv, peer, false)...)
	if err == nil || rep.Received > 0 {
		t.Fatalf("want turnutils_uclient to fail; got %v (received %d)\n%s", err, rep.Received, rep.Output)
	}
	if n := metric(t, reg, "switchboard_turn_allocations_created_total"); n < 1 {
		t.Errorf("%v allocations created, want uclient's", n)
	}
	if n := metric(t, reg, "switchboard_turn_permissions_refused_total"); n < 1 {
		t.Errorf("%v permissions refused, want the one to %s", n, peer)
	}
	if n := metric(t, reg, "switchboard_turn_relayed_packets_total"); n != 0 {
		t.Errorf("%v packets relayed to or from a loopback peer", n)
	}
}

// TestCredentialsWorkWithCoturn: credentials from turn.Credentials allocate
// on coturn set up with the same static-auth-secret, and not with another.
func TestCredentialsWorkWithCoturn(t *testing.T) {
	co := testutil.StartCoturn(t, testutil.CoturnOptions{})
	allocate := func(secret string) error {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		user, pass := turn.Credentials([]byte(secret), "interop", time.Now().Add(time.Hour))
		c, err := pionturn.NewClient(&pionturn.ClientConfig{
			STUNServerAddr: co.Addr.String(), TURNServerAddr: co.Addr.String(),
			Conn: conn, Username: user, Password: pass, Realm: co.Realm,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		relay, err := c.Allocate()
		if err != nil {
			return err
		}
		if got := relay.LocalAddr().String(); !strings.HasPrefix(got, "127.0.0.1:") {
			t.Errorf("coturn relay address %s", got)
		}
		return relay.Close()
	}
	if err := allocate(co.Secret); err != nil {
		t.Fatalf("allocating on coturn with turn.Credentials: %v", err)
	}
	err := allocate("not-" + co.Secret)
	var te *stun.TurnError
	if !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeUnauthorized {
		t.Fatalf("allocating on coturn with a wrong secret: got %v, want error 401", err)
	}
}
