package signaling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// Two Go WebRTC peers (pion) find each other through the real server and talk
// over a data channel: the signaling protocol carries what a real WebRTC
// session needs (offer, answer, trickled ICE candidates), unchanged.

// pionSignal is the "data" of a signal frame between the two peers.
type pionSignal struct {
	Description     *webrtc.SessionDescription `json:"description,omitempty"`
	Candidate       *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
	EndOfCandidates bool                       `json:"endOfCandidates,omitempty"`
}

// pionEvent is something that happened on one of pion's goroutines (or the
// signaling reader's), handed to the test goroutine.
type pionEvent struct {
	peer *pionPeer

	candidate *webrtc.ICECandidate // local candidate; nil with gathered
	gathered  bool                 // local gathering complete

	state    webrtc.PeerConnectionState
	hasState bool

	open    *webrtc.DataChannel // a data channel opened
	msg     string              // a message arrived
	isMsg   bool
	dcClose bool // the data channel closed

	signal    *pionSignal // a signal arrived from the other peer
	readerEnd bool        // the signaling reader is done (got the description and all candidates)
	err       string      // the signaling reader failed
}

type pionPeer struct {
	name   string
	client *testutil.Client
	peer   string // signaling peer id
	pc     *webrtc.PeerConnection
	dc     *webrtc.DataChannel
	events chan<- pionEvent
	stop   <-chan struct{}

	states    map[webrtc.PeerConnectionState]bool
	received  []string
	sentCands int
	gathered  bool
	dcClosed  bool
	readerEnd bool
}

// emit hands e to the test goroutine; it never blocks once the test stops listening.
func (p *pionPeer) emit(e pionEvent) {
	e.peer = p
	select {
	case p.events <- e:
	case <-p.stop:
	}
}

func pionAPI() *webrtc.API {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

func (p *pionPeer) watchDataChannel(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { p.emit(pionEvent{open: dc}) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if !m.IsString {
			p.emit(pionEvent{isMsg: true, msg: fmt.Sprintf("binary %x", m.Data)})
			return
		}
		p.emit(pionEvent{isMsg: true, msg: string(m.Data)})
	})
	dc.OnClose(func() { p.emit(pionEvent{dcClose: true}) })
}

// read pumps signal frames from p's connection until the other peer's
// description and end of candidates have arrived. It runs on its own goroutine:
// the test client's Next blocks.
func (p *pionPeer) read(room, from string) {
	failure := "signaling reader stopped (see above)" // Next failed the test and ended this goroutine
	defer func() {
		if failure != "" {
			p.emit(pionEvent{err: failure})
			return
		}
		p.emit(pionEvent{readerEnd: true})
	}()
	var gotDesc, gotEnd bool
	for !gotDesc || !gotEnd {
		m := p.client.Next()
		if m.Type() != "signal" || m.Str("from") != from || m.Str("room") != room || m["to"] != nil {
			failure = fmt.Sprintf("want a signal from %s in %s, got %v", from, room, m)
			return
		}
		raw, err := json.Marshal(m["data"])
		var s pionSignal
		if err == nil {
			err = json.Unmarshal(raw, &s)
		}
		if err != nil {
			failure = fmt.Sprintf("signal data %s: %v", raw, err)
			return
		}
		gotDesc = gotDesc || s.Description != nil
		gotEnd = gotEnd || s.EndOfCandidates
		p.emit(pionEvent{signal: &s})
	}
	failure = ""
}

func TestPionPeersTalkThroughTheServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := testutil.StartServer(t, testutil.Options{})
	const room = "pion-room"
	const messages = 10

	events := make(chan pionEvent, 256)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var peers []*pionPeer
	defer func() { // also on failure: nothing may outlive the test
		select {
		case <-stop:
		default:
			close(stop)
		}
		for _, p := range peers {
			p.client.Close() // ends a reader blocked in Next
		}
		readers.Wait()
		for _, p := range peers {
			if p.pc != nil {
				p.pc.GracefulClose()
			}
		}
	}()

	newPeer := func(name string) *pionPeer {
		c := testutil.Dial(t, srv.WSURL, nil)
		w := c.Hello(srv.Token(t, name, room))
		p := &pionPeer{name: name, client: c, peer: w.Str("peer"), events: events, stop: stop,
			states: map[webrtc.PeerConnectionState]bool{}}
		peers = append(peers, p)
		return p
	}
	alice := newPeer("alice")
	if ps, ok := alice.client.Join(room)["peers"].([]any); !ok || len(ps) != 0 {
		t.Fatalf("alice's joined lists peers %v, want none", ps)
	}
	bob := newPeer("bob")
	j := bob.client.Join(room)
	if ps, _ := j["peers"].([]any); len(ps) != 1 || ps[0].(map[string]any)["peer"] != alice.peer {
		t.Fatalf("bob's joined does not list alice (%s): %v", alice.peer, j)
	}
	if pj := alice.client.Expect("peer-joined"); pj.Str("peer") != bob.peer || pj.Str("user") != "bob" {
		t.Fatalf("alice was told %v, want bob (%s) joined", pj, bob.peer)
	}
	other := map[*pionPeer]*pionPeer{alice: bob, bob: alice}

	api := pionAPI()
	for _, p := range peers {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatalf("%s: NewPeerConnection: %v", p.name, err)
		}
		p.pc = pc
		pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.emit(pionEvent{candidate: c, gathered: c == nil}) })
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { p.emit(pionEvent{state: s, hasState: true}) })
		pc.OnDataChannel(p.watchDataChannel)
	}

	// alice, who was told that bob joined, makes the offer: the usual mesh rule.
	dc, err := alice.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	alice.watchDataChannel(dc)
	signal := func(from *pionPeer, s pionSignal) {
		t.Helper()
		from.client.Send(map[string]any{"type": "signal", "room": room, "to": other[from].peer, "data": s})
	}
	offer, err := alice.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	signal(alice, pionSignal{Description: &offer}) // before any candidate: they queue on events
	for _, p := range peers {
		readers.Add(1)
		go func() {
			defer readers.Done()
			p.read(room, other[p].peer)
		}()
	}

	done := func() bool {
		for _, p := range peers {
			if !p.readerEnd || !p.gathered || !p.states[webrtc.PeerConnectionStateConnected] || len(p.received) < messages {
				return false
			}
		}
		return true
	}
	for !done() {
		var e pionEvent
		select {
		case e = <-events:
		case <-ctx.Done():
			for _, p := range peers {
				t.Logf("%s: reader done %v, sent %d candidates (all: %v), states %v, got %d messages",
					p.name, p.readerEnd, p.sentCands, p.gathered, p.states, len(p.received))
			}
			t.Fatalf("peers not connected and talking within the deadline")
		}
		p := e.peer
		switch {
		case e.candidate != nil:
			init := e.candidate.ToJSON()
			if f := strings.Fields(init.Candidate); len(f) < 8 || f[4] != "127.0.0.1" || f[2] != "udp" {
				t.Errorf("%s: candidate %q is not UDP on 127.0.0.1", p.name, init.Candidate)
			}
			p.sentCands++
			signal(p, pionSignal{Candidate: &init})
		case e.gathered:
			if p.sentCands == 0 {
				t.Fatalf("%s gathered no candidate", p.name)
			}
			p.gathered = true
			signal(p, pionSignal{EndOfCandidates: true})
		case e.hasState:
			p.states[e.state] = true
			if e.state == webrtc.PeerConnectionStateFailed || e.state == webrtc.PeerConnectionStateDisconnected {
				t.Fatalf("%s: peer connection %s", p.name, e.state)
			}
		case e.signal != nil:
			switch s := e.signal; {
			case s.Description != nil:
				if err := p.pc.SetRemoteDescription(*s.Description); err != nil {
					t.Fatalf("%s: SetRemoteDescription: %v", p.name, err)
				}
				if s.Description.Type == webrtc.SDPTypeOffer {
					answer, err := p.pc.CreateAnswer(nil)
					if err != nil {
						t.Fatalf("%s: CreateAnswer: %v", p.name, err)
					}
					if err := p.pc.SetLocalDescription(answer); err != nil {
						t.Fatalf("%s: SetLocalDescription: %v", p.name, err)
					}
					signal(p, pionSignal{Description: &answer})
				}
			case s.Candidate != nil:
				if err := p.pc.AddICECandidate(*s.Candidate); err != nil {
					t.Fatalf("%s: AddICECandidate(%+v): %v", p.name, *s.Candidate, err)
				}
			}
		case e.err != "":
			t.Fatalf("%s: %s", p.name, e.err)
		case e.readerEnd:
			p.readerEnd = true
		case e.open != nil:
			if p.dc != nil || e.open.Label() != "chat" {
				t.Fatalf("%s: data channel %q opened (already had one: %v)", p.name, e.open.Label(), p.dc != nil)
			}
			p.dc = e.open
			for i := range messages {
				if err := p.dc.SendText(fmt.Sprintf("%s %d", p.name, i)); err != nil {
					t.Fatalf("%s: send %d: %v", p.name, i, err)
				}
			}
		case e.isMsg:
			if want := fmt.Sprintf("%s %d", other[p].name, len(p.received)); e.msg != want {
				t.Fatalf("%s: got message %q, want %q (so far %q)", p.name, e.msg, want, p.received)
			}
			p.received = append(p.received, e.msg)
		case e.dcClose:
			t.Fatalf("%s: data channel closed early", p.name)
		}
	}

	// Close: alice closes the channel and bob sees it close; both connections end.
	if err := alice.dc.Close(); err != nil {
		t.Fatalf("closing alice's data channel: %v", err)
	}
	for !alice.dcClosed || !bob.dcClosed {
		select {
		case e := <-events:
			switch {
			case e.dcClose:
				e.peer.dcClosed = true
			case e.isMsg:
				t.Fatalf("%s: extra message %q", e.peer.name, e.msg)
			case e.hasState:
				e.peer.states[e.state] = true
			}
		case <-ctx.Done():
			t.Fatalf("data channel not closed on both ends within the deadline (alice %v, bob %v)", alice.dcClosed, bob.dcClosed)
		}
	}
	close(stop) // pion's remaining callbacks go nowhere from here on
	for _, p := range peers {
		if err := p.pc.GracefulClose(); err != nil {
			t.Errorf("%s: closing the peer connection: %v", p.name, err)
		}
		if s := p.pc.ConnectionState(); s != webrtc.PeerConnectionStateClosed {
			t.Errorf("%s: connection state %s after close, want closed", p.name, s)
		}
	}

	// The signaling side ends cleanly too: bob leaves, alice hears of it.
	bob.client.Send(map[string]any{"type": "leave", "room": room, "id": "bye"})
	if a := bob.client.Expect("ack"); a.Str("id") != "bye" {
		t.Errorf("bob's leave: %v", a)
	}
	if pl := alice.client.Expect("peer-left"); pl.Str("peer") != bob.peer || pl.Str("room") != room {
		t.Errorf("alice was told %v, want bob (%s) left %s", pl, bob.peer, room)
	}
	bob.client.Send(map[string]any{"type": "signal", "room": room, "to": alice.peer, "data": "late", "id": "late"})
	if e := bob.client.ExpectError("not_found"); e.Str("id") != "late" {
		t.Errorf("signal after leaving: %v", e)
	}
}
