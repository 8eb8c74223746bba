package e2e

import (
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

// TestICERestartAfterRelayLoss breaks a call's media path while signaling
// stays up: two tabs talk relay-only through a TURN server of their own,
// which the test then replaces by a fresh one on the same port (the old
// allocations are gone, as after a TURN restart or a network change). The
// links go "disconnected"; the SDK restarts ICE on the same links (same peer
// ids, no reconnection, new ICE credentials) and the video comes back. The
// restart comes 5 s into "disconnected" (the test takes about 15 s); with
// that off, Chromium's own "failed" triggers it and the test takes about 24.
func TestICERestartAfterRelayLoss(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	secret := []byte("ice-restart-test-secret")
	port := freeUDPPort(t)
	relay := startTURN(t, secret, port)

	user, pass := turn.Credentials(secret, "e2e", time.Now().Add(time.Hour))
	opts := map[string]any{"publish": true, "rtcConfig": map[string]any{
		"iceTransportPolicy": "relay",
		"iceServers": []map[string]any{{
			"urls": []string{"turn:127.0.0.1:" + strconv.Itoa(port) + "?transport=udp"}, "username": user, "credential": pass,
		}},
	}}
	room := "restart-" + rand.Text()[:8]
	tabs := []*sdkTab{openSDKTab(t, browser, srv.URL, "alice"), openSDKTab(t, browser, srv.URL, "bob")}
	for _, tb := range tabs {
		tb.joinSDK(t, room, opts)
	}
	ufrags := map[string]string{}
	for i, tb := range tabs {
		other := tabs[1-i]
		tb.poll(t, "a relayed link", `[...window.sbt.room.peers.values()].some((p) => p.state === 'connected' && p.connectionType === 'relayed')`)
		if v := tb.videoFrom(t, other.self, other.name); v.ConnectionType != "relayed" {
			t.Fatalf("%s: connection type %q before the relay went", tb.name, v.ConnectionType)
		}
		ufrags[tb.name] = localUfrag(t, tb, other.self)
	}

	// The relay goes away and a fresh one takes its port: every allocation
	// the tabs had is gone.
	if err := relay.Close(); err != nil {
		t.Fatalf("closing the TURN server: %v", err)
	}
	startTURN(t, secret, port)

	for i, tb := range tabs {
		other := tabs[1-i]
		tb.poll(t, "an ICE restart that reconnects the same link", `(() => {
			const p = window.sbt.room.peers.get(`+jsString(other.self)+`);
			const sdp = window.sbt.room.getConnection(`+jsString(other.self)+`)?.localDescription?.sdp ?? '';
			return !!p && p.state === 'connected' && !sdp.includes('a=ice-ufrag:' + `+jsString(ufrags[tb.name])+`);
		})()`)
		v := tb.videoFrom(t, other.self, other.name)
		t.Logf("%s decodes %s again after the restart: framesDecoded %v then %v (%s)", tb.name, other.name, v.First, v.Last, v.ConnectionType)
		if evalIn[float64](t, tb.tab, "reading reconnects", `window.sbt.reconnects`) != 0 || tb.self != evalIn[string](t, tb.tab, "reading self", `window.sbt.room.self`) {
			t.Errorf("%s: signaling reconnected or the peer id changed: the link was rebuilt, not restarted", tb.name)
		}
	}
	for _, tb := range tabs {
		if errs := evalIn[[]string](t, tb.tab, "reading room errors", `window.sbt.errors`); len(errs) > 0 {
			t.Errorf("%s: room errors: %q", tb.name, errs)
		}
	}
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// startTURN starts a TURN server over UDP on 127.0.0.1:port that may relay
// to loopback peers, retrying briefly while the port is still taken by the
// one before it; it is closed when the test ends.
func startTURN(t *testing.T, secret []byte, port int) *turn.Server {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		s, err := turn.New(turn.Config{
			Secret:     secret,
			ListenIP:   netip.MustParseAddr("127.0.0.1"),
			Port:       port,
			NoTCP:      true,
			TLSPort:    -1,
			AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		})
		if err == nil {
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("starting TURN on port %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// localUfrag is the ICE username fragment of tb's link to peer.
func localUfrag(t *testing.T, tb *sdkTab, peer string) string {
	t.Helper()
	return evalIn[string](t, tb.tab, "reading the ufrag", `(() => {
		const sdp = window.sbt.room.getConnection(`+jsString(peer)+`).localDescription.sdp;
		return /a=ice-ufrag:(\S+)/.exec(sdp)[1];
	})()`)
}
