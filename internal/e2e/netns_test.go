package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// The namespace lab (everything but the test itself runs in it):
//
//	A (alice) 10.77.1.2 ──veth── 10.77.1.1 ┐
//	                                      SRV: switchboard on 10.77.0.1 (lo)
//	B (bob)   10.77.2.2 ──veth── 10.77.2.1 ┘     signaling :8080, TURN :3478
//
// A and B each have a route to 10.77.0.1 only, through their side of SRV,
// and SRV does not forward (ip_forward=0): A and B share no route, so the
// only way between them is the TURN relay on 10.77.0.1, which SRV reaches
// on both sides as a local address. The server listens on 10.77.0.1 for
// both signaling and TURN, so relay sockets bind it too and peers see
// relayed packets come from the address they allocated on. TURN may relay
// to 10.77.0.0/16 (--turn-allow-peers): the range exists only in the lab.
const (
	netnsServerIP = "10.77.0.1"
	netnsMessages = 20
)

// netnsResult is what a peer helper reports.
type netnsResult struct {
	Name       string   `json:"name"`
	Error      string   `json:"error,omitempty"`
	ICEURLs    []string `json:"iceURLs"`    // URLs in the welcome's iceServers
	ICEUser    string   `json:"iceUser"`    // username of the TURN entry
	Gathered   []string `json:"gathered"`   // "TYPE ADDR:PORT"
	LocalType  string   `json:"localType"`  // selected pair
	RemoteType string   `json:"remoteType"` // selected pair
	Pair       string   `json:"pair"`
	Received   int      `json:"received"`
}

// TestNetnsTURNOnly runs the built switchboard binary in a server namespace
// and a pion peer in each of two client namespaces that have no route to
// each other. The peers find each other through signaling, take the TURN
// credentials from the welcome, connect through the relay and exchange
// data-channel messages both ways.
func TestNetnsTURNOnly(t *testing.T) {
	lab := testutil.NewNetnsLab(t)
	for _, ns := range []string{"srv", "a", "b"} {
		lab.Namespace(ns)
	}
	lab.Link("a", "eth0", "10.77.1.2/24", "srv", "to-a", "10.77.1.1/24")
	lab.Link("b", "eth0", "10.77.2.2/24", "srv", "to-b", "10.77.2.1/24")
	lab.IP("srv", "addr", "add", netnsServerIP+"/32", "dev", "lo")
	lab.IP("a", "route", "add", netnsServerIP+"/32", "via", "10.77.1.1")
	lab.IP("b", "route", "add", netnsServerIP+"/32", "via", "10.77.2.1")
	// Whatever a new namespace inherits here, SRV must not route A to B.
	if got := lab.Sysctl("srv", "net/ipv4/ip_forward", "0"); got != "0" {
		t.Fatalf("ip_forward in SRV is %s", got)
	}
	for _, c := range []struct{ from, to string }{{"a", "10.77.2.2"}, {"b", "10.77.1.2"}} {
		if out, err := lab.TryIP(c.from, "route", "get", c.to); err == nil {
			t.Fatalf("%s has a route to %s: %s", c.from, c.to, out)
		}
	}

	bin := buildSwitchboard(t)
	srv := testutil.StartProcess(t, serverCommand(lab, bin))
	if _, err := srv.WaitOutput(regexp.MustCompile(`switchboard listening.*websocket=ws://`), 15*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, srv.Output())
	}
	if !strings.Contains(srv.Output(), "TURN server listening") {
		t.Fatalf("no TURN server in the log:\n%s", srv.Output())
	}

	room := "netns-room"
	wsURL := "ws://" + netnsServerIP + ":8080/ws"
	results := runPeerPair(t, lab, [2]string{"a", "b"}, wsURL, room)

	viaRelay := false
	for _, r := range results {
		t.Logf("%s: %s, %d messages; gathered %q", r.Name, r.Pair, r.Received, r.Gathered)
		if r.Error != "" {
			t.Errorf("%s: %s", r.Name, r.Error)
			continue
		}
		if r.Received != netnsMessages {
			t.Errorf("%s received %d messages, want %d", r.Name, r.Received, netnsMessages)
		}
		wantURL := "turn:" + netnsServerIP + ":3478?transport=udp"
		if !contains(r.ICEURLs, wantURL) || !strings.HasSuffix(r.ICEUser, ":"+r.Name) {
			t.Errorf("%s's welcome iceServers: urls %q, username %q; want %s for %s", r.Name, r.ICEURLs, r.ICEUser, wantURL, r.Name)
		}
		if !containsPrefix(r.Gathered, "relay "+netnsServerIP+":") {
			t.Errorf("%s gathered no relay candidate on %s: %q", r.Name, netnsServerIP, r.Gathered)
		}
		if r.LocalType != "relay" && r.RemoteType != "relay" {
			t.Errorf("%s selected %s: no relay in the pair", r.Name, r.Pair)
		}
		viaRelay = viaRelay || r.LocalType == "relay"
	}
	if !viaRelay {
		t.Errorf("neither peer sends through its relay")
	}
	if t.Failed() {
		t.Logf("server log:\n%s", srv.Output())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsPrefix(list []string, prefix string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, prefix) {
			return true
		}
	}
	return false
}

// buildSwitchboard builds the switchboard command into the test's
// temporary directory; SWITCHBOARD_BIN names a binary to use instead.
func buildSwitchboard(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SWITCHBOARD_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "switchboard")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/switchboard-rtc/switchboard/cmd/switchboard").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func serverCommand(lab *testutil.NetnsLab, bin string) *exec.Cmd {
	cmd := lab.Command("srv", bin, "serve",
		"--listen", netnsServerIP+":8080",
		"--turn-listen-ip", netnsServerIP,
		"--turn-port", "3478",
		"--turn-allow-peers", "10.77.0.0/16",
		"--turn-secret", testutil.TestTURNSecret,
		"--turn-relay-ports", "40000-40999")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_JWT_SECRET="+testutil.TestSecret)
	return cmd
}

// runPeerPair runs alice's peer helper in namespace ns[0] and bob's in
// ns[1], both joining room through signaling at wsURL, and returns their
// results once both are done; env goes to both (netnsRelayEnv, say).
func runPeerPair(t *testing.T, lab *testutil.NetnsLab, ns [2]string, wsURL, room string, env ...string) []netnsResult {
	t.Helper()
	var peers []*helperProc
	for i, name := range []string{"alice", "bob"} {
		tok := testutil.MintToken(t, signaling.TokenSpec{User: name, Rooms: []string{room}, TTL: time.Hour})
		peers = append(peers, startHelper(t, lab, ns[i], name, "TestNetnsPeerHelper", append([]string{
			"SWITCHBOARD_NETNS_PEER=" + name, "SWITCHBOARD_NETNS_WS=" + wsURL,
			"SWITCHBOARD_NETNS_TOKEN=" + tok, "SWITCHBOARD_NETNS_ROOM=" + room}, env...)...))
	}
	results := make([]netnsResult, len(peers))
	for i, p := range peers {
		p.result(t, 30*time.Second, &results[i])
	}
	for _, p := range peers { // both are done: let them close and exit
		p.finish(t, 15*time.Second)
	}
	return results
}

// netnsRelayEnv makes runPeerPair's peers use relay candidates only
// (ICETransportPolicyRelay), as iceTransportPolicy "relay" does in a browser.
const netnsRelayEnv = "SWITCHBOARD_NETNS_RELAY=1"

// TestNetnsPeerHelper is not a test: runPeerPair runs it inside a
// namespace, where it is one pion peer (see startHelper). It keeps the peer
// connection up after its result (so the other peer can finish too) until
// its stdin closes.
func TestNetnsPeerHelper(t *testing.T) {
	name := os.Getenv("SWITCHBOARD_NETNS_PEER")
	if name == "" {
		t.Skip("run by runPeerPair inside a network namespace")
	}
	var policy webrtc.ICETransportPolicy // all
	if os.Getenv("SWITCHBOARD_NETNS_RELAY") == "1" {
		policy = webrtc.ICETransportPolicyRelay
	}
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	peer := testutil.StartPionPeer(testutil.PionPeerConfig{
		Name: name, WSURL: os.Getenv("SWITCHBOARD_NETNS_WS"), Token: os.Getenv("SWITCHBOARD_NETNS_TOKEN"),
		Room: os.Getenv("SWITCHBOARD_NETNS_ROOM"), API: webrtc.NewAPI(webrtc.WithSettingEngine(se)),
		Policy: policy, Messages: netnsMessages,
	})
	defer peer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	res, err := peer.Wait(ctx)

	out := netnsResult{Name: name, Gathered: res.Gathered, Received: res.Received, Pair: res.Pair()}
	if err != nil {
		out.Error = err.Error()
	}
	for _, s := range res.WelcomeICEServers {
		out.ICEURLs = append(out.ICEURLs, s.URLs...)
		if s.Username != "" {
			out.ICEUser = s.Username
		}
	}
	if res.Local != nil && res.Remote != nil {
		out.LocalType, out.RemoteType = res.Local.Typ.String(), res.Remote.Typ.String()
	}
	reportResult(out)
	waitForQuit(t)
	if err != nil {
		t.Errorf("%v", err)
	}
}
