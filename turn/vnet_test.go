package turn_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// The virtual network (pion's vnet: nothing leaves the process):
//
//	WAN 1.2.3.0/24 ── TURN server 1.2.3.4:3478
//	 ├─ NAT 1.2.3.10 (symmetric) ── LAN 10.1.0.0/24 ── alice 10.1.0.2
//	 └─ NAT 1.2.3.20 (symmetric) ── LAN 10.2.0.0/24 ── bob   10.2.0.2
//
// The WAN range is a public one on purpose: the server runs with the
// production peer policy (no AllowPeers), which relays to the NATs' public
// addresses and to its own relay addresses, and refuses the peers' private
// host candidates (10.x), as it would on the Internet. Both NATs map and
// filter by destination address and port, so the server-reflexive address
// alice learns from STUN is useless to bob: without TURN the peers cannot
// connect at all.
var (
	vnetWAN      = "1.2.3.0/24"
	vnetServerIP = netip.MustParseAddr("1.2.3.4")
)

const vnetTURNPort = 3478

type vnetLab struct {
	server     *vnet.Net
	alice, bob *vnet.Net
}

func newVNetLab(t *testing.T) *vnetLab {
	t.Helper()
	logs := logging.NewDefaultLoggerFactory() // errors only; PION_LOG_DEBUG=all for more
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: vnetWAN, LoggerFactory: logs})
	if err != nil {
		t.Fatal(err)
	}
	lab := &vnetLab{}
	if lab.server, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{vnetServerIP.String()}}); err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(lab.server); err != nil {
		t.Fatal(err)
	}
	symmetric := &vnet.NATType{
		MappingBehavior:   vnet.EndpointAddrPortDependent,
		FilteringBehavior: vnet.EndpointAddrPortDependent,
	}
	for _, l := range []struct {
		public, lan, host string
		n                 **vnet.Net
	}{
		{"1.2.3.10", "10.1.0.0/24", "10.1.0.2", &lab.alice},
		{"1.2.3.20", "10.2.0.0/24", "10.2.0.2", &lab.bob},
	} {
		lan, err := vnet.NewRouter(&vnet.RouterConfig{StaticIPs: []string{l.public}, CIDR: l.lan, NATType: symmetric, LoggerFactory: logs})
		if err != nil {
			t.Fatal(err)
		}
		if *l.n, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{l.host}}); err != nil {
			t.Fatal(err)
		}
		if err := lan.AddNet(*l.n); err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			t.Fatal(err)
		}
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := wan.Stop(); err != nil { // stops the LAN routers too
			t.Errorf("stopping the virtual network: %v", err)
		}
	})
	return lab
}

// vnetAPI builds pion peers on n: UDP over IPv4 only (vnet has no TCP) and
// no mDNS. quickFail makes ICE give up after 3 s of checks instead of 30;
// it is for runs that must fail, since the relay pair alone takes about 2 s
// to be chosen (pion waits that long before it nominates a relay pair).
func vnetAPI(n *vnet.Net, quickFail bool) *webrtc.API {
	var se webrtc.SettingEngine
	se.SetNet(n)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if quickFail {
		se.SetICETimeouts(time.Second, 2*time.Second, 500*time.Millisecond)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

func toWebRTC(list []turn.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(list))
	for _, s := range list {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// runPair joins alice and bob to a fresh room through the real signaling
// server, each handed its iceServers (whoever is in the room first offers),
// and returns both results once both received every message or failed.
// The peers are closed in t.Cleanup.
func runPair(t *testing.T, sig *testutil.Server, lab *vnetLab, room string, servers func(user string) []webrtc.ICEServer, quickFail bool, within time.Duration) ([2]testutil.PionResult, [2]error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var res [2]testutil.PionResult
	var errs [2]error
	var peers [2]*testutil.PionPeer
	for i, p := range []struct {
		name string
		n    *vnet.Net
	}{{"alice", lab.alice}, {"bob", lab.bob}} {
		ice := servers(p.name)
		if ice == nil {
			ice = []webrtc.ICEServer{} // not the welcome's: signaling runs no TURN here
		}
		peers[i] = testutil.StartPionPeer(testutil.PionPeerConfig{
			Name: p.name, WSURL: sig.WSURL, Token: sig.Token(t, p.name, room), Room: room,
			API: vnetAPI(p.n, quickFail), ICEServers: ice,
		})
		t.Cleanup(peers[i].Close)
	}
	for i, p := range peers {
		res[i], errs[i] = p.Wait(ctx)
	}
	return res, errs
}

// TestVNetSymmetricNATNeedsTURN puts two pion peers behind symmetric NATs
// in a virtual network, with signaling through the real server on
// loopback. With STUN only (from the Switchboard TURN server itself) they
// learn their reflexive addresses yet cannot connect; with the TURN
// credentials the server hands out, both gather relay candidates, connect
// through the relay and exchange data-channel messages both ways.
func TestVNetSymmetricNATNeedsTURN(t *testing.T) {
	lab := newVNetLab(t)
	srv, err := turn.New(turn.Config{
		Secret:   []byte(testutil.TestTURNSecret),
		Net:      lab.server,
		ListenIP: vnetServerIP,
		Port:     vnetTURNPort,
		NoTCP:    true, // vnet has no TCP
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("turn.New: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the TURN server: %v", err)
		}
	})
	if got := srv.Addrs().UDP; got != netip.AddrPortFrom(vnetServerIP, vnetTURNPort) {
		t.Fatalf("TURN server listens on %v", got)
	}
	sig := testutil.StartServer(t, testutil.Options{}) // TURN lives in the vnet, not here

	t.Run("stun only", func(t *testing.T) {
		stunOnly := func(string) []webrtc.ICEServer {
			return []webrtc.ICEServer{{URLs: []string{"stun:1.2.3.4:3478"}}}
		}
		start := time.Now()
		res, errs := runPair(t, sig, lab, "vnet-stun", stunOnly, true, 15*time.Second)
		for i, r := range res {
			if !errors.Is(errs[i], testutil.ErrPeerFailed) {
				t.Errorf("%s: want ICE to fail, got %v (pair %s, states %v)", r.Name, errs[i], r.Pair(), r.States)
			}
			if g := r.GatheredTypes(); !g["host"] || !g["srflx"] || g["relay"] {
				t.Errorf("%s gathered %q, want host and srflx candidates and no relay", r.Name, r.Gathered)
			}
		}
		t.Logf("without TURN: ICE failed after %v", time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("turn", func(t *testing.T) {
		relay := func(user string) []webrtc.ICEServer {
			return toWebRTC(srv.ICEServers(user, "", time.Now()))
		}
		start := time.Now()
		res, errs := runPair(t, sig, lab, "vnet-turn", relay, false, 20*time.Second)
		viaRelay := false
		for i, r := range res {
			if errs[i] != nil {
				t.Fatalf("%s: %v (gathered %q, states %v, pair %s, %d messages)", r.Name, errs[i], r.Gathered, r.States, r.Pair(), r.Received)
			}
			if !r.GatheredTypes()["relay"] {
				t.Errorf("%s gathered no relay candidate: %q", r.Name, r.Gathered)
			}
			if r.Local == nil || r.Remote == nil {
				t.Fatalf("%s: no selected candidate pair", r.Name)
			}
			// Relay on one side is enough: bob's host can answer alice's
			// relay (bob's NAT opens for it when bob checks it).
			if r.Local.Typ != webrtc.ICECandidateTypeRelay && r.Remote.Typ != webrtc.ICECandidateTypeRelay {
				t.Errorf("%s selected %s: no relay in the pair", r.Name, r.Pair())
			}
			viaRelay = viaRelay || r.Local.Typ == webrtc.ICECandidateTypeRelay
			t.Logf("%s: %s, %d messages", r.Name, r.Pair(), r.Received)
		}
		if !viaRelay {
			t.Errorf("neither peer sends through its relay")
		}
		t.Logf("with TURN: connected and talked in %v", time.Since(start).Round(100*time.Millisecond))
	})
}
