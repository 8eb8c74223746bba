package e2e

import (
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// turnProbe is one datagram sent by a TURN client through its relay to an
// address on the private host, and what came of it.
type turnProbe struct {
	Name     string `json:"name"`
	To       string `json:"to"`
	PermErr  string `json:"permErr,omitempty"`  // CreatePermission's error
	WriteErr string `json:"writeErr,omitempty"` // the relay's WriteTo's first error
	Arrived  bool   `json:"arrived"`            // a socket listening at To received it
	// Refused is how much each refused/dropped series of the server rose
	// meanwhile (switchboard_turn_permissions_refused_total and
	// switchboard_turn_dropped_packets_total, by reason).
	Refused map[string]float64 `json:"refused,omitempty"`
}

// turnProbeResult is what TestPrivateTURNHelper reports.
type turnProbeResult struct {
	RelayA, RelayB string
	Probes         []turnProbe
}

// TestPrivateHostOtherPortsRefused: on the private host with the default
// peer policy, a TURN client may reach the relay address of another live
// allocation on the server (the positive control, which issue 13 is
// about), but nothing else on the host through its relay: not another UDP
// port of the host, not the signaling port, not the relay port of an
// allocation that has just ended. A listening socket at each of those
// receives nothing, and the server counts the packets as refused or
// dropped.
func TestPrivateHostOtherPortsRefused(t *testing.T) {
	h := startPrivateHost(t)
	helper := startHelper(t, h.lab, "lan", "turn-probe", "TestPrivateTURNHelper",
		"SWITCHBOARD_PRIVATE_TURN="+privateTURN, "SWITCHBOARD_PRIVATE_HTTP="+privateHTTP)
	var res turnProbeResult
	helper.result(t, 60*time.Second, &res)
	helper.finish(t, 15*time.Second)

	t.Logf("relay addresses: A %s, B %s", res.RelayA, res.RelayB)
	for _, p := range res.Probes {
		t.Logf("%s to %s: arrived %v, permission error %q, write error %q, refused/dropped %v",
			p.Name, p.To, p.Arrived, p.PermErr, p.WriteErr, p.Refused)
		wantArrive := strings.HasPrefix(p.Name, "control")
		switch {
		case wantArrive && (!p.Arrived || p.PermErr != "" || p.WriteErr != ""):
			t.Errorf("%s: relay to relay on the private host failed: nothing arrived at %s (permission: %q, write: %q, refused/dropped %v)",
				p.Name, p.To, p.PermErr, p.WriteErr, p.Refused)
		case !wantArrive && p.Arrived:
			t.Errorf("%s: a datagram through the relay arrived at %s", p.Name, p.To)
		case !wantArrive && !anyKey(p.Refused, wantDropped[p.Name]):
			t.Errorf("%s: nothing arrived at %s, but the server counted %v, want a rise in one of %q",
				p.Name, p.To, p.Refused, wantDropped[p.Name])
		}
	}
	if len(res.Probes) != 5 {
		t.Errorf("%d probes, want 5: %+v", len(res.Probes), res.Probes)
	}
}

// wantDropped are the series that count each refused probe: ports on the
// server's own address are "own_address" (main's 3b1ad00); the signaling
// port is also one of the server's own listeners, which either word names.
var wantDropped = map[string][]string{
	"another UDP port": {`switchboard_turn_dropped_packets_total{reason="own_address"}`},
	"signaling port": {`switchboard_turn_dropped_packets_total{reason="own_address"}`,
		`switchboard_turn_dropped_packets_total{reason="own_listener"}`},
	"ended allocation": {`switchboard_turn_dropped_packets_total{reason="own_address"}`},
}

func anyKey(m map[string]float64, keys []string) bool {
	for _, k := range keys {
		if m[k] > 0 {
			return true
		}
	}
	return false
}

// TestPrivateHostOtherPortsRefused runs this inside the namespace.
func TestPrivateTURNHelper(t *testing.T) {
	server := os.Getenv("SWITCHBOARD_PRIVATE_TURN")
	if server == "" {
		t.Skip("run by TestPrivateHostOtherPortsRefused inside a network namespace")
	}
	pr := &prober{t: t, metrics: os.Getenv("SWITCHBOARD_PRIVATE_HTTP")}
	// scrapeMetrics's keep-alive connection to the server would outlive
	// the test (the server is another process, it does not close it).
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	a, b := newTURNClient(t, server, "probe-a"), newTURNClient(t, server, "probe-b")
	relayA, relayB := allocateRelay(t, a), allocateRelay(t, b)
	addrA, addrB := relayA.LocalAddr().(*net.UDPAddr), relayB.LocalAddr().(*net.UDPAddr)
	res := turnProbeResult{RelayA: addrA.String(), RelayB: addrB.String()}

	// Each side permits the other's relay IP, the server's own address.
	permB, permA := b.CreatePermission(addrA), a.CreatePermission(addrB)
	res.Probes = append(res.Probes,
		pr.control("control A to B", relayA, relayB, addrB, permA),
		pr.control("control B to A", relayB, relayA, addrA, permB))

	// The permission for the server's address is there (for IPs, not
	// ports); every datagram is still checked on its port.
	other := listenUDP(t, privateIP+":0")
	res.Probes = append(res.Probes, pr.refused("another UDP port", relayA, other))
	// UDP and TCP ports are apart: a UDP socket can sit on the number of
	// the signaling (TCP) port.
	signalingPort := strings.TrimPrefix(privateHTTP, "http://"+privateIP)
	res.Probes = append(res.Probes, pr.refused("signaling port", relayA, listenUDP(t, privateIP+signalingPort)))

	// B's allocation ends (Refresh with lifetime 0); once the server has
	// let go of its relay port, a plain socket takes it.
	if err := relayB.Close(); err != nil {
		t.Fatalf("closing B's allocation: %v", err)
	}
	if !pollUntil(5*time.Second, func() bool { return pr.sum("switchboard_turn_allocations") == 1 }) {
		t.Fatalf("switchboard_turn_allocations still %v after B's allocation ended", pr.sum("switchboard_turn_allocations"))
	}
	var ended net.PacketConn
	if !pollUntil(5*time.Second, func() bool {
		ended, _ = net.ListenPacket("udp4", addrB.String())
		return ended != nil
	}) {
		t.Fatalf("B's old relay port %s is still taken", addrB)
	}
	t.Cleanup(func() { _ = ended.Close() })
	res.Probes = append(res.Probes, pr.refused("ended allocation", relayA, ended))

	reportResult(res)
	waitForQuit(t)
}

// newTURNClient is a pion TURN client of the server at addr, with REST
// credentials for user, closed when the test ends.
func newTURNClient(t *testing.T, addr, user string) *pionturn.Client {
	t.Helper()
	conn := listenUDP(t, "0.0.0.0:0")
	name, pass := turn.Credentials([]byte(testutil.TestTURNSecret), user, time.Now().Add(time.Hour))
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: name, Password: pass, Realm: "switchboard",
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(c.Close) // before conn closes: cleanups run last first
	return c
}

// allocateRelay makes an allocation, released when the test ends.
func allocateRelay(t *testing.T, c *pionturn.Client) net.PacketConn {
	t.Helper()
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay
}

func listenUDP(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// prober sends the probes and reads the server's counters.
type prober struct {
	t       *testing.T
	metrics string // http://HOST:PORT of the server
	seq     int
}

// refusalSeries are the counters that say the server refused or dropped.
var refusalSeries = []string{"switchboard_turn_permissions_refused_total", "switchboard_turn_dropped_packets_total"}

func (pr *prober) refusals() map[string]float64 {
	out := map[string]float64{}
	for k, v := range scrapeMetrics(pr.t, pr.metrics) {
		for _, name := range refusalSeries {
			if k == name || strings.HasPrefix(k, name+"{") {
				out[k] = v
			}
		}
	}
	return out
}

func (pr *prober) sum(name string) float64 { return sumMetric(scrapeMetrics(pr.t, pr.metrics), name) }

// rise is how much each series in after rose over before.
func rise(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func (pr *prober) payload(name string) []byte {
	pr.seq++
	return []byte(name + " #" + strconv.Itoa(pr.seq))
}

// control sends from one relay to the other's address until the datagram
// arrives there, for up to 5 s (the first ones can beat the permissions).
func (pr *prober) control(name string, from, to net.PacketConn, dst *net.UDPAddr, permErr error) turnProbe {
	p := turnProbe{Name: name, To: dst.String()}
	if permErr != nil {
		p.PermErr = permErr.Error()
	}
	before := pr.refusals()
	msg := pr.payload(name)
	deadline := time.Now().Add(5 * time.Second)
	for !p.Arrived && p.WriteErr == "" && time.Now().Before(deadline) {
		if _, err := from.WriteTo(msg, dst); err != nil {
			p.WriteErr = err.Error()
			break
		}
		p.Arrived = receives(to, msg, 200*time.Millisecond)
	}
	p.Refused = rise(before, pr.refusals())
	return p
}

// refused sends datagrams from a relay to trap's address for half a
// second (the first as Send indications, then as ChannelData once pion's
// client has bound a channel) and checks that trap receives none and that
// a refusal counter of the server rose.
func (pr *prober) refused(name string, from, trap net.PacketConn) turnProbe {
	dst := trap.LocalAddr().(*net.UDPAddr)
	p := turnProbe{Name: name, To: dst.String()}
	before := pr.refusals()
	msg := pr.payload(name)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 10 {
			if _, err := from.WriteTo(msg, dst); err != nil && p.WriteErr == "" {
				p.WriteErr = err.Error()
			}
			time.Sleep(50 * time.Millisecond) // pacing, not waiting for anything
		}
	})
	p.Arrived = receives(trap, msg, 700*time.Millisecond)
	wg.Wait()
	// Counters are read after the fact: allow them a moment to show the drop.
	pollUntil(2*time.Second, func() bool {
		p.Refused = rise(before, pr.refusals())
		return len(p.Refused) > 0
	})
	return p
}

// receives reads pc until msg arrives (true) or within passes (false).
func receives(pc net.PacketConn, msg []byte, within time.Duration) bool {
	buf := make([]byte, 1500)
	_ = pc.SetReadDeadline(time.Now().Add(within))
	defer pc.SetReadDeadline(time.Time{}) //nolint:errcheck
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil { // the deadline
			return false
		}
		if string(buf[:n]) == string(msg) {
			return true
		}
	}
}
