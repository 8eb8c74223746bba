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
// server, which must work although the server refuses its own listener
// ports. Loopback peers must be allowed explicitly: by default the server
// refuses to relay into 127.0.0.0/8, and the same peers then fail.
func TestRelayOnlyThroughServe(t *testing.T) {
	run := func(t *testing.T, allow []netip.Prefix) ([2]testutil.PionResult, [2]error) {
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
				API: api, Policy: webrtc.ICETransportPolicyRelay,
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

	t.Run("allowed", func(t *testing.T) {
		res, errs := run(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
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
	})

	t.Run("refused by default", func(t *testing.T) {
		res, errs := run(t, nil)
		for i, r := range res {
			if errs[i] == nil {
				t.Errorf("%s connected through a relay into loopback (%s)", r.Name, r.Pair())
			}
			if !r.GatheredTypes()["relay"] {
				t.Errorf("%s: the allocation itself should work, gathered %q", r.Name, r.Gathered)
			}
		}
	})
}
