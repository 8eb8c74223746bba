package signaling_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// Session resume under fire: a proxy in front of the server cuts every
// connection after a random few kilobytes, usually in the middle of a
// WebSocket frame, while 50 pairs of pion peers negotiate (offer, answer,
// trickled candidates) and send each other numbered signals. Every client
// resumes after each cut and resends the requests the server never got.
// Session resume promises that nobody notices: every numbered signal
// arrives exactly once and in order, no frame is seen twice or skipped, no
// peer sees a peer-left, and every peer connection connects.

const (
	chaosPairs    = 50
	chaosNumbered = 100 // numbered signals each peer sends its partner
	// chaosMaxBytes is the most a connection carries (both directions)
	// before the proxy cuts it. The upgrade, hello and welcome take about
	// 1.2 KB, so about a quarter of connections die before the session is
	// back (a fair share of them after the server took the hello), and the
	// rest carry a few signals each: every session is cut dozens of times.
	chaosMaxBytes = 4096
	chaosPace     = 10 * time.Millisecond // between two numbered signals of a peer
	chaosDeadline = 45 * time.Second      // for the whole exchange under chaos
)

// chaosPeer is one side of a pair: a resuming signaling client and a pion
// peer connection, driven by its own goroutine (run).
type chaosPeer struct {
	name    string
	room    string
	c       *testutil.ResumeClient
	partner *chaosPeer
	offerer bool
	pc      *webrtc.PeerConnection
	events  chan chaosEvent
	stop    <-chan struct{}

	// Owned by run.
	nextN     int // the numbered signal expected next
	sentAll   bool
	signals   int // ids of the negotiation signals
	connected bool
	dcGot     bool // the partner's data-channel message arrived
	dcSent    bool // p's went out
	remoteSet bool
	cands     []webrtc.ICECandidateInit // before the remote description
	dcs       []*webrtc.DataChannel
}

// chaosEvent is something from pion's goroutines or the numbered sender,
// for run.
type chaosEvent struct {
	candidate *webrtc.ICECandidate
	state     webrtc.PeerConnectionState
	hasState  bool
	open      *webrtc.DataChannel
	msg       *string
	sentAll   bool
}

func (p *chaosPeer) emit(e chaosEvent) {
	select {
	case p.events <- e:
	case <-p.stop:
	}
}

// chaosSignal is a signal's data: negotiation, or a numbered signal.
type chaosSignal struct {
	Description *webrtc.SessionDescription `json:"description,omitempty"`
	Candidate   *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
	N           int                        `json:"n,omitempty"`
}

// trickled reports whether m is a signal carrying an ICE candidate: pion
// may still gather one after its pair connected, and its partner, done
// with its own run, reads it only here; that is the app's traffic, on
// time, not a frame the server kept back.
func trickled(m testutil.Msg) bool {
	data, _ := m["data"].(map[string]any)
	return m.Type() == "signal" && data["candidate"] != nil
}

func (p *chaosPeer) signal(id string, data chaosSignal) {
	p.c.Send(map[string]any{"type": "signal", "room": p.room, "to": p.partner.c.Peer(), "data": data, "id": id})
}

// next waits for p's next frame.
func (p *chaosPeer) next(t *testing.T) testutil.Msg {
	t.Helper()
	select {
	case m := <-p.c.Frames():
		return m
	case <-time.After(testutil.Wait):
		t.Fatalf("%s: no frame within %v", p.name, testutil.Wait)
	}
	return nil
}

// join joins p's room and returns the joined frame.
func (p *chaosPeer) join(t *testing.T) testutil.Msg {
	t.Helper()
	p.c.Send(map[string]any{"type": "join", "room": p.room, "id": "join"})
	m := p.next(t)
	if m.Type() != "joined" || m.Str("id") != "join" {
		t.Fatalf("%s: want joined, got %v", p.name, m)
	}
	return m
}

func (p *chaosPeer) watch(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { p.emit(chaosEvent{open: dc}) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { s := string(m.Data); p.emit(chaosEvent{msg: &s}) })
}

// done says whether p has everything: its numbered signals all sent and
// acknowledged, the partner's all received, connected, its data-channel
// message sent and the partner's in.
func (p *chaosPeer) done() bool {
	return p.sentAll && p.nextN > chaosNumbered && p.connected && p.dcSent && p.dcGot && p.c.Pending() == 0
}

func (p *chaosPeer) state() string {
	return fmt.Sprintf("%s: numbered got %d/%d, sent all %v, pending %d, connected %v, data channel opened %d sent %v got %v, remote description %v, stats %+v",
		p.name, p.nextN-1, chaosNumbered, p.sentAll, p.c.Pending(), p.connected, len(p.dcs), p.dcSent, p.dcGot, p.remoteSet, p.c.Stats())
}

// sendNumbered sends the numbered signals 1..chaosNumbered, paced.
func (p *chaosPeer) sendNumbered() {
	for n := 1; n <= chaosNumbered; n++ {
		p.signal("n-"+strconv.Itoa(n), chaosSignal{N: n})
		select {
		case <-time.After(chaosPace):
		case <-p.stop:
			return
		}
	}
	p.emit(chaosEvent{sentAll: true})
}

// run negotiates and checks what arrives until p is done or ctx ends.
func (p *chaosPeer) run(ctx context.Context, t *testing.T) {
	if p.offerer {
		dc, err := p.pc.CreateDataChannel("chat", nil)
		if err != nil {
			t.Errorf("%s: CreateDataChannel: %v", p.name, err)
			return
		}
		p.watch(dc)
		offer, err := p.pc.CreateOffer(nil)
		if err == nil {
			err = p.pc.SetLocalDescription(offer)
		}
		if err != nil {
			t.Errorf("%s: offer: %v", p.name, err)
			return
		}
		p.signals++
		p.signal("x-"+strconv.Itoa(p.signals), chaosSignal{Description: &offer})
	}
	tick := time.NewTicker(50 * time.Millisecond) // Pending changes without an event
	defer tick.Stop()
	for !p.done() {
		var err error
		select {
		case m := <-p.c.Frames():
			err = p.frame(m)
		case e := <-p.events:
			err = p.event(e)
		case <-tick.C:
		case <-ctx.Done():
			t.Errorf("not done in time: %s", p.state())
			return
		}
		if err != nil {
			t.Errorf("%s: %v", p.name, err)
			return
		}
	}
}

func (p *chaosPeer) frame(m testutil.Msg) error {
	switch m.Type() {
	case "signal":
		if m.Str("from") != p.partner.c.Peer() || m.Str("room") != p.room {
			return fmt.Errorf("signal from %s in %s, want %s in %s: %v", m.Str("from"), m.Str("room"), p.partner.c.Peer(), p.room, m)
		}
		raw, _ := json.Marshal(m["data"])
		var s chaosSignal
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("signal data %s: %v", raw, err)
		}
		return p.remote(s)
	case "ack", "pong", "ice-servers", "token-expiring":
		return nil
	default: // peer-left above all, and any error
		return fmt.Errorf("unexpected frame %v", m)
	}
}

// remote applies what the partner signalled.
func (p *chaosPeer) remote(s chaosSignal) error {
	switch {
	case s.N != 0:
		if s.N != p.nextN {
			return fmt.Errorf("numbered signal %d, want %d", s.N, p.nextN)
		}
		p.nextN++
	case s.Candidate != nil:
		if !p.remoteSet {
			p.cands = append(p.cands, *s.Candidate)
			return nil
		}
		if err := p.pc.AddICECandidate(*s.Candidate); err != nil {
			return fmt.Errorf("AddICECandidate: %v", err)
		}
	case s.Description != nil:
		if p.remoteSet {
			return fmt.Errorf("a second description: %v", s.Description.Type)
		}
		if err := p.pc.SetRemoteDescription(*s.Description); err != nil {
			return fmt.Errorf("SetRemoteDescription: %v", err)
		}
		p.remoteSet = true
		for _, c := range p.cands {
			if err := p.pc.AddICECandidate(c); err != nil {
				return fmt.Errorf("AddICECandidate: %v", err)
			}
		}
		p.cands = nil
		if s.Description.Type == webrtc.SDPTypeOffer {
			answer, err := p.pc.CreateAnswer(nil)
			if err == nil {
				err = p.pc.SetLocalDescription(answer)
			}
			if err != nil {
				return fmt.Errorf("answer: %v", err)
			}
			p.signals++
			p.signal("x-"+strconv.Itoa(p.signals), chaosSignal{Description: &answer})
		}
	default:
		return fmt.Errorf("empty signal")
	}
	return nil
}

func (p *chaosPeer) event(e chaosEvent) error {
	switch {
	case e.candidate != nil:
		init := e.candidate.ToJSON()
		p.signals++
		p.signal("x-"+strconv.Itoa(p.signals), chaosSignal{Candidate: &init})
	case e.hasState:
		switch e.state {
		case webrtc.PeerConnectionStateConnected:
			p.connected = true
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			return fmt.Errorf("peer connection %s", e.state)
		}
	case e.open != nil:
		p.dcs = append(p.dcs, e.open)
		if err := e.open.SendText("hello from " + p.name); err != nil {
			return fmt.Errorf("data channel send: %v", err)
		}
		p.dcSent = true
	case e.msg != nil:
		if want := "hello from " + p.partner.name; *e.msg != want || p.dcGot {
			return fmt.Errorf("data channel message %q (had one: %v), want %q once", *e.msg, p.dcGot, want)
		}
		p.dcGot = true
	case e.sentAll:
		p.sentAll = true
	}
	return nil
}

// chaosSeed is the proxy's seed: SWITCHBOARD_CHAOS_SEED, or the clock.
// The cuts depend on timing as well, so a seed does not replay a run
// exactly, but it replays the budgets.
func chaosSeed(t *testing.T) uint64 {
	if s := os.Getenv("SWITCHBOARD_CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SWITCHBOARD_CHAOS_SEED: %v", err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// chaosMetrics returns the value of each sample of /metrics whose line starts
// with one of names (a metric name with its labels).
func chaosMetrics(t *testing.T, url string, names ...string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, n := range names {
			if v, ok := strings.CutPrefix(line, n+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("metrics line %q: %v", line, err)
				}
				out[n] = f
			}
		}
	}
	return out
}

func TestResumeChaos(t *testing.T) {
	start := time.Now()
	srv := testutil.StartServer(t, testutil.Options{Signaling: signaling.Config{
		// Resends and bursts of candidates must not hit the rate limit.
		Rate: 2000, Burst: 2000,
		// Frequent pings, so that confirmations (the pongs) are cut
		// too, and the server trims its buffer mid-exchange.
		PingInterval: 250 * time.Millisecond, PongTimeout: 5 * time.Second,
	}})
	proxy := testutil.StartFaultProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	api := pionAPI()

	stop := make(chan struct{})
	var peers []*chaosPeer
	defer func() { // also on failure: nothing may outlive the test
		select {
		case <-stop:
		default:
			close(stop)
		}
		var wg sync.WaitGroup
		for _, p := range peers {
			if p.pc != nil {
				wg.Add(1)
				go func() { defer wg.Done(); _ = p.pc.GracefulClose() }()
			}
		}
		wg.Wait()
		for _, p := range peers {
			p.c.Close()
		}
	}()

	// Sessions and rooms first, without chaos: A joins, then B, and A
	// learns of B, so each knows the other's peer id.
	newPeer := func(name, room string, offerer bool) *chaosPeer {
		c := testutil.StartResumeClient(t, testutil.ResumeConfig{Name: name, URL: proxy.WSURL(), Token: srv.Token(t, name, room)})
		p := &chaosPeer{name: name, room: room, c: c, offerer: offerer, nextN: 1,
			events: make(chan chaosEvent, 256), stop: stop}
		peers = append(peers, p)
		return p
	}
	for i := range chaosPairs {
		room := fmt.Sprintf("chaos-%02d", i)
		a := newPeer(fmt.Sprintf("a%02d", i), room, true)
		b := newPeer(fmt.Sprintf("b%02d", i), room, false)
		a.partner, b.partner = b, a
		a.join(t)
		if ps, _ := b.join(t)["peers"].([]any); len(ps) != 1 || ps[0].(map[string]any)["peer"] != a.c.Peer() {
			t.Fatalf("%s's joined lists %v, want only %s", b.name, ps, a.c.Peer())
		}
		if m := a.next(t); m.Type() != "peer-joined" || m.Str("peer") != b.c.Peer() {
			t.Fatalf("%s: want peer-joined of %s, got %v", a.name, b.c.Peer(), m)
		}
	}
	for _, p := range peers {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatalf("%s: NewPeerConnection: %v", p.name, err)
		}
		p.pc = pc
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				p.emit(chaosEvent{candidate: c})
			}
		})
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { p.emit(chaosEvent{state: s, hasState: true}) })
		pc.OnDataChannel(p.watch)
	}
	setup := time.Since(start)

	seed := chaosSeed(t)
	t.Logf("chaos seed %d (set SWITCHBOARD_CHAOS_SEED to reuse it)", seed)
	proxy.Chaos(seed, chaosMaxBytes)
	proxy.Cut() // the connections from the setup, too
	ctx, cancel := context.WithTimeout(context.Background(), chaosDeadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			p.run(ctx, t)
			if t.Failed() {
				cancel() // the first failure tells most; stop the rest
			}
		}()
		go func() { defer wg.Done(); p.sendNumbered() }()
	}
	wg.Wait()
	proxy.Chaos(0, 0)
	exchange := time.Since(start) - setup
	cuts := proxy.Cuts()
	if t.Failed() {
		return
	}

	// The last cuts may still be being resumed: let every client come back,
	// then listen a moment for anything late (a peer-left above all).
	proxy.Cut()
	var total testutil.ResumeStats
	for _, p := range peers {
		for deadline := time.Now().Add(testutil.Wait); !p.c.Live(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not come back after chaos: %s", p.name, p.state())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range peers {
		for len(p.c.Frames()) > 0 {
			if m := <-p.c.Frames(); m.Type() != "ack" && m.Type() != "pong" && !trickled(m) {
				t.Errorf("%s: late frame %v", p.name, m)
			}
		}
		s := p.c.Stats()
		total.Dials += s.Dials
		total.Hellos += s.Hellos
		total.LostWelcomes += s.LostWelcomes
		total.Welcomes += s.Welcomes
		total.Resumed += s.Resumed
		total.Replayed += s.Replayed
		total.Resent += s.Resent
	}
	t.Logf("setup %v, exchange under chaos %v; proxy cut %d connections; clients: %+v",
		setup.Round(time.Millisecond), exchange.Round(time.Millisecond), cuts, total)
	// About 20 cuts and 17 resumes a session are usual; far fewer means
	// the test no longer tests much.
	if cuts < 10*len(peers) {
		t.Errorf("the proxy cut %d connections, want at least %d (10 a session)", cuts, 10*len(peers))
	}
	if total.Resumed < 5*len(peers) {
		t.Errorf("%d resumes, want at least %d (5 a session)", total.Resumed, 5*len(peers))
	}

	// The server saw it the same way: as many resumes as the clients got
	// (and more: some welcomes were cut on their way), none refused, no
	// session ended, no peer-left sent.
	const resumed = `switchboard_signaling_resumes_total{result="resumed"}`
	m := chaosMetrics(t, srv.URL, resumed,
		`switchboard_signaling_resumes_total{result="session_unknown"}`,
		`switchboard_signaling_resumes_total{result="session_overflow"}`,
		`switchboard_signaling_resumes_total{result="seq_out_of_range"}`,
		`switchboard_signaling_resumes_total{result="forbidden"}`,
		`switchboard_signaling_frames_out_total{type="peer-left"}`,
		`switchboard_signaling_sessions`)
	if got, ok := m[resumed]; !ok || got < float64(total.Resumed) {
		t.Errorf("server counts %v resumes (present: %v), clients %d", got, ok, total.Resumed)
	}
	for name, v := range m {
		switch {
		case name == resumed:
		case name == `switchboard_signaling_sessions`:
			if v != float64(len(peers)) {
				t.Errorf("%s = %v, want %d", name, v, len(peers))
			}
		case v != 0:
			t.Errorf("%s = %v, want 0", name, v)
		}
	}
}
