package sfu_test

import (
	"net"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/sfu"
)

// nsNet is pion's network inside a namespace of lab: interfaces listed
// there, sockets opened there (testutil.NetnsLab.Do).
type nsNet struct {
	*stdnet.Net
	lab *testutil.NetnsLab
	ns  string
}

func newNSNet(t *testing.T, lab *testutil.NetnsLab, ns string) *nsNet {
	t.Helper()
	n := &nsNet{lab: lab, ns: ns}
	if err := lab.Do(ns, func() (err error) { n.Net, err = stdnet.NewNet(); return err }); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *nsNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = n.lab.Do(n.ns, func() (err error) { c, err = n.Net.ListenPacket(network, address); return err })
	return c, err
}

func (n *nsNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.lab.Do(n.ns, func() (err error) { c, err = n.Net.ListenUDP(network, laddr); return err })
	return c, err
}

func (n *nsNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.lab.Do(n.ns, func() (err error) { c, err = n.Net.DialUDP(network, laddr, raddr); return err })
	return c, err
}

func (n *nsNet) Dial(network, address string) (c net.Conn, err error) {
	err = n.lab.Do(n.ns, func() (err error) { c, err = n.Net.Dial(network, address); return err })
	return c, err
}

// shapedCall is bandwidthCall with the SFU, the publisher and hi in
// namespace srv, slow in cli, one veth between; shape runs "tc qdisc
// ARGS" on the server's side of the veth (s0).
func shapedCall(t *testing.T, room string) (reg *prometheus.Registry, sc simulcast, slow *peer, h, l *recv, shape func(args ...string)) {
	t.Helper()
	lab := testutil.NewNetnsLab(t) // skips without root
	lab.Namespace("srv")
	lab.Namespace("cli")
	lab.Link("srv", "s0", "10.213.77.1/30", "cli", "c0", "10.213.77.2/30")
	var conn net.PacketConn
	if err := lab.Do("srv", func() (err error) { conn, err = net.ListenPacket("udp4", "10.213.77.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srv, cli := peerOpts{net: newNSNet(t, lab, "srv")}, peerOpts{net: newNSNet(t, lab, "cli")}
	reg, sc, _, slow, h, l = bandwidthCall(t, room, sfu.Config{UDP: conn}, srv, cli, srv)
	shape = func(args ...string) {
		t.Helper()
		if out, err := lab.Command("srv", "tc", append([]string{"qdisc"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("tc qdisc %v: %v: %s", args, err, out)
		}
	}
	return reg, sc, slow, h, l, shape
}

// shapeAndFree shapes slow's link with "tc qdisc add dev s0 root ARGS",
// waits until slow is moved off high and gets a lower layer (calling
// check in between, when set), removes the shaping and waits until slow
// is back on high, logging how long each took.
func shapeAndFree(t *testing.T, slow *peer, l *recv, shape func(args ...string), check func(), args ...string) {
	t.Helper()
	shape(append([]string{"add", "dev", "s0", "root"}, args...)...)
	shaped := time.Now()
	eventually(t, "slow moved off high", 30*time.Second, func() bool {
		ly, ok := slow.lastLayer("pub:cam")
		return ok && ly.Layer != "high"
	})
	t.Logf("off high %v after the shaping", time.Since(shaped).Round(100*time.Millisecond))
	m0, m1 := l.layerCount(0), l.layerCount(1)
	eventually(t, "slow gets a lower layer", 20*time.Second, func() bool { return l.layerCount(0)+l.layerCount(1) > m0+m1+20 })
	if check != nil {
		check()
	}

	shape("del", "dev", "s0", "root")
	freed := time.Now()
	m2 := l.layerCount(2)
	eventually(t, "slow back on high", 60*time.Second, func() bool { return l.layerCount(2) > m2+50 })
	t.Logf("back on high %v after the shaping went (low, medium packets since it left high: %d, %d)",
		time.Since(freed).Round(100*time.Millisecond), l.layerCount(0)-m0, l.layerCount(1)-m1)
}

// A subscriber behind a really shaped link (a token bucket of 250 kbit/s
// on the server's side of its veth: the high layer, about 450 kbit/s,
// does not fit, and its pion client's feedback says so) is moved off the
// high layer, while a subscriber beside the server keeps every high
// packet; once the shaping is gone it is back on high.
func TestSimulcastShapedLink(t *testing.T) {
	_, sc, slow, h, l, shape := shapedCall(t, "ns/simulcast-shaped")
	hiLow, hiMedium := h.layerCount(0), h.layerCount(1)
	n0 := sc.sent.Load()
	shapeAndFree(t, slow, l, shape, nil, "tbf", "rate", "250kbit", "burst", "16kb", "latency", "50ms")
	keptHigh(t, sc, h, n0, hiLow, hiMedium)
}

// A subscriber behind a link too slow for the high layer but with a deep
// queue (a token bucket of 300 kbit/s that holds 4 s of packets: nothing
// is lost for several seconds, the delay grows) is moved off high by the
// delay its transport-cc feedback shows, before any loss: the
// delay-based estimate is cut (delay_decreases_total) and its stream has
// no gap. The subscriber beside the server keeps every high packet.
func TestSimulcastDeepQueue(t *testing.T) {
	reg, sc, slow, h, l, shape := shapedCall(t, "ns/simulcast-deep")
	hiLow, hiMedium := h.layerCount(0), h.layerCount(1)
	n0 := sc.sent.Load()
	shapeAndFree(t, slow, l, shape, func() {
		if got := counter(t, reg, "switchboard_sfu_delay_decreases_total"); got == 0 {
			t.Fatal("moved off high with no cut of the delay-based estimate")
		}
		if seq, gap := l.seqGap(); gap {
			t.Fatalf("slow: sequence gap after %d: a packet was lost", seq)
		}
	}, "tbf", "rate", "300kbit", "burst", "16kb", "latency", "4s")
	keptHigh(t, sc, h, n0, hiLow, hiMedium)
}
