package turn_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// Two pion peers forced to relay only (iceTransportPolicy "relay"), with
// nothing but the iceServers of `switchboard serve`'s welcome, connect
// through its embedded TURN server on loopback: relay to relay on one
// server. The relay addresses are on loopback, which the default policy
// refuses as a peer range, but the relay address of a live allocation of
// the same server is a peer in any range, with no flag. A peer's own
// loopback address is still refused by default: a relay-only peer cannot
// reach a peer that has only host candidates there.
func TestRelayOnlyThroughServe(t *testing.T) {
	type side struct {
		policy     webrtc.ICETransportPolicy
		iceServers []webrtc.ICEServer // nil: the welcome's
	}
	relayOnly := side{policy: webrtc.ICETransportPolicyRelay}
	run := func(t *testing.T, allow []netip.Prefix, sides [2]side) ([2]testutil.PionResult, [2]error) {
		srv := testutil.StartServer(t, testutil.Options{TURN: &turn.Config{AllowPeers: allow}})
		var se webrtc.SettingEngine
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetICETimeouts(time.Second, 2*time.Second, 500*time.Millisecond)
		api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var peers [2]*testutil.PionPeer
		for i, name := range []string{"alice", "bob"} {
			peers[i] = testutil.StartPionPeer(testutil.PionPeerConfig{
				Name: name, WSURL: srv.WSURL, Token: srv.Token(t, name, "relay"), Room: "relay",
				API: api, Policy: sides[i].policy, ICEServers: sides[i].iceServers,
			})
			t.Cleanup(peers[i].Close)
		}
		var res [2]testutil.PionResult
		var errs [2]error
		for i, p := range peers {
			res[i], errs[i] = p.Wait(ctx)
		}
		return res, errs
	}
	relayToRelay := func(t *testing.T, allow []netip.Prefix) {
		res, errs := run(t, allow, [2]side{relayOnly, relayOnly})
		for i, r := range res {
			if errs[i] != nil {
				t.Fatalf("%s: %v (gathered %q, states %v)", r.Name, errs[i], r.Gathered, r.States)
			}
			if r.Local == nil || r.Local.Typ != webrtc.ICECandidateTypeRelay || r.Remote.Typ != webrtc.ICECandidateTypeRelay {
				t.Errorf("%s selected %s, want relay to relay", r.Name, r.Pair())
			}
			if len(r.WelcomeICEServers) == 0 {
				t.Errorf("%s: the welcome carried no iceServers", r.Name)
			}
			t.Logf("%s: %s, %d messages", r.Name, r.Pair(), r.Received)
		}
	}

	t.Run("default policy", func(t *testing.T) { relayToRelay(t, nil) })
	t.Run("loopback allowed", func(t *testing.T) { relayToRelay(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}) })

	t.Run("host peer refused by default", func(t *testing.T) {
		// bob has no TURN server: only his loopback host candidate, which
		// alice's relay may not reach.
		res, errs := run(t, nil, [2]side{relayOnly, {iceServers: []webrtc.ICEServer{}}})
		for i, r := range res {
			if errs[i] == nil {
				t.Errorf("%s connected through a relay into loopback (%s)", r.Name, r.Pair())
			}
		}
		if !res[0].GatheredTypes()["relay"] {
			t.Errorf("alice: the allocation itself should work, gathered %q", res[0].Gathered)
		}
	})
}
