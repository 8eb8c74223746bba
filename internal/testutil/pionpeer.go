package testutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

// PionPeerConfig configures StartPionPeer.
type PionPeerConfig struct {
	Name  string // for messages and errors
	WSURL string // signaling: ws://HOST:PORT/ws
	Token string // a token granting Room
	Room  string
	// API builds the peer connection (network, ICE timeouts, candidate
	// filters); nil is webrtc.NewAPI().
	API *webrtc.API
	// ICEServers, when non-nil (it may be empty), replaces the iceServers
	// of the welcome; nil uses the welcome's, as the browser SDK does.
	ICEServers []webrtc.ICEServer
	// Policy is the ICE transport policy; webrtc.ICETransportPolicyRelay
	// forces the connection through TURN, as iceTransportPolicy "relay"
	// does in a browser. Zero is "all".
	Policy webrtc.ICETransportPolicy
	// Messages is how many data-channel messages each peer sends (default 10).
	Messages int
}

// PionResult is what a peer from StartPionPeer saw.
type PionResult struct {
	Name    string
	Offerer bool // it was in the room first, so it made the offer
	// WelcomeICEServers are the iceServers of the welcome.
	WelcomeICEServers []webrtc.ICEServer
	// Gathered lists the local candidates, "TYPE ADDR:PORT" each.
	Gathered []string
	// States lists the peer connection states in the order they came.
	States []webrtc.PeerConnectionState
	// Local and Remote are the selected candidate pair (nil if none).
	Local, Remote *webrtc.ICECandidate
	Received      int // messages from the other peer, in order
}

// Pair describes the selected pair: "relay 1.2.3.4:5 -> host 10.0.0.2:6".
func (r PionResult) Pair() string {
	if r.Local == nil || r.Remote == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s:%d -> %s %s:%d", r.Local.Typ, r.Local.Address, r.Local.Port,
		r.Remote.Typ, r.Remote.Address, r.Remote.Port)
}

// GatheredTypes is the set of candidate types in Gathered.
func (r PionResult) GatheredTypes() map[string]bool {
	types := map[string]bool{}
	for _, g := range r.Gathered {
		typ, _, _ := strings.Cut(g, " ")
		types[typ] = true
	}
	return types
}

// ErrPeerFailed is returned by PionPeer.Wait when ICE gave up: the peer
// connection state became failed.
var ErrPeerFailed = errors.New("peer connection failed")

// PionPeer is one pion/webrtc peer that joins a room through Switchboard's
// signaling, meets the one other peer there (the one in the room first
// makes the offer and the data channel; candidates trickle), sends
// Messages data-channel messages as soon as the channel opens and checks
// the other's arrive in order. It uses no testing.T, so a test can run
// several on goroutines of their own, or one per process.
type PionPeer struct {
	cfg  PionPeerConfig
	stop chan struct{}
	done chan struct{}

	events   chan peerEvent
	snap     chan chan PionResult // Wait asks for the result so far
	result   chan peerOutcome     // one outcome, when complete or failed
	stopOnce sync.Once
}

type peerOutcome struct {
	res PionResult
	err error
}

// peerEvent is something that happened on a pion or reader goroutine,
// handed to the peer's own loop (which alone writes to the WebSocket and
// drives the peer connection).
type peerEvent struct {
	candidate *webrtc.ICECandidate
	gathered  bool
	state     webrtc.PeerConnectionState
	hasState  bool
	open      *webrtc.DataChannel
	msg       string
	isMsg     bool
	frame     map[string]any
	readErr   error
}

// peerSignal is the "data" of a signal frame between two peers.
type peerSignal struct {
	Description *webrtc.SessionDescription `json:"description,omitempty"`
	Candidate   *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
}

// StartPionPeer connects to signaling and starts the peer. Wait for its
// result with Wait; Close it when done (also after a failure).
func StartPionPeer(cfg PionPeerConfig) *PionPeer {
	if cfg.Messages == 0 {
		cfg.Messages = 10
	}
	if cfg.API == nil {
		cfg.API = webrtc.NewAPI()
	}
	p := &PionPeer{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{}),
		events: make(chan peerEvent, 64), snap: make(chan chan PionResult), result: make(chan peerOutcome, 1)}
	go p.run()
	return p
}

// Wait returns the peer's result once it has received every message (the
// peer connection stays up until Close, so the other side can finish too),
// or an error: ErrPeerFailed when ICE failed, a signaling or WebRTC error,
// or ctx's error. The result is filled in as far as it got in every case.
func (p *PionPeer) Wait(ctx context.Context) (PionResult, error) {
	select {
	case o := <-p.result:
		p.result <- o // for a later Wait
		return o.res, o.err
	case <-ctx.Done():
		return p.snapshot(), fmt.Errorf("%s: %w", p.cfg.Name, ctx.Err())
	}
}

// snapshot asks the peer's loop for its result so far.
func (p *PionPeer) snapshot() PionResult {
	reply := make(chan PionResult, 1)
	select {
	case p.snap <- reply:
		return <-reply
	case <-p.done:
		return PionResult{Name: p.cfg.Name}
	}
}

// Close ends the peer: it closes the peer connection and the WebSocket and
// waits for every goroutine it started.
func (p *PionPeer) Close() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// emit hands e to the loop; it never blocks once the peer is stopping.
func (p *PionPeer) emit(e peerEvent) {
	select {
	case p.events <- e:
	case <-p.stop:
	}
}

// peerState is what the loop owns.
type peerState struct {
	res       PionResult
	ws        *websocket.Conn
	pc        *webrtc.PeerConnection
	other     string // the other peer's signaling id
	dc        *webrtc.DataChannel
	remoteSet bool
	pending   []webrtc.ICECandidateInit // candidates that came before the description
	reported  bool
}

// current is a copy of the result so far, with the selected pair.
func (st *peerState) current() PionResult {
	res := st.res
	res.Gathered = append([]string(nil), res.Gathered...)
	res.States = append([]webrtc.PeerConnectionState(nil), res.States...)
	if pair, err := selectedPair(st.pc); err == nil && pair != nil {
		res.Local, res.Remote = pair.Local, pair.Remote
	}
	return res
}

func (p *PionPeer) run() {
	defer close(p.done)
	st := &peerState{res: PionResult{Name: p.cfg.Name}}
	report := func(err error) {
		if st.reported {
			return
		}
		st.reported = true
		if err != nil {
			err = fmt.Errorf("%s: %w", p.cfg.Name, err)
		}
		p.result <- peerOutcome{res: st.current(), err: err}
	}
	var reader sync.WaitGroup
	defer func() {
		if st.ws != nil {
			st.ws.Close() // ends the reader
		}
		reader.Wait()
		if st.pc != nil {
			_ = st.pc.Close()
		}
		report(errors.New("closed before the end"))
	}()

	err := p.connect(st)
	if err == nil {
		reader.Add(1)
		go func() {
			defer reader.Done()
			for {
				var m map[string]any
				if err := st.ws.ReadJSON(&m); err != nil {
					p.emit(peerEvent{readErr: err})
					return
				}
				p.emit(peerEvent{frame: m})
			}
		}()
		err = p.newPeerConnection(st)
	}
	if err != nil {
		report(err)
	}
	st.res.Offerer = st.other == "" // the first in the room offers when the other joins
	for {
		select {
		case e := <-p.events:
			if st.reported && st.pc == nil {
				continue
			}
			if err := p.handle(st, e); err != nil {
				report(err) // and keep serving until Close
			} else if st.res.Received == p.cfg.Messages && st.dc != nil {
				report(nil) // every message sent and received
			}
		case reply := <-p.snap:
			reply <- st.current()
		case <-p.stop:
			return
		}
	}
}

// connect says hello, reads the welcome and joins the room.
func (p *PionPeer) connect(st *peerState) error {
	d := websocket.Dialer{HandshakeTimeout: Wait}
	ws, resp, err := d.Dial(p.cfg.WSURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", p.cfg.WSURL, err)
	}
	st.ws = ws
	if err := ws.WriteJSON(map[string]any{"type": "hello", "token": p.cfg.Token}); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(Wait))
	defer ws.SetReadDeadline(time.Time{}) //nolint:errcheck
	var w struct {
		Type       string             `json:"type"`
		ICEServers []webrtc.ICEServer `json:"iceServers"`
	}
	if err := ws.ReadJSON(&w); err != nil || w.Type != "welcome" {
		return fmt.Errorf("want a welcome, got %+v (%v)", w, err)
	}
	st.res.WelcomeICEServers = w.ICEServers
	if err := ws.WriteJSON(map[string]any{"type": "join", "room": p.cfg.Room, "id": "join"}); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	for {
		var j struct {
			Type  string `json:"type"`
			Code  string `json:"code"`
			Peers []struct {
				Peer string `json:"peer"`
			} `json:"peers"`
		}
		if err := ws.ReadJSON(&j); err != nil {
			return fmt.Errorf("waiting for joined: %w", err)
		}
		switch j.Type {
		case "joined":
			if len(j.Peers) > 1 {
				return fmt.Errorf("room %s holds %d peers, want at most one other", p.cfg.Room, len(j.Peers))
			}
			if len(j.Peers) == 1 {
				st.other = j.Peers[0].Peer
			}
			return nil
		case "error":
			return fmt.Errorf("join refused: %s", j.Code)
		}
	}
}

func (p *PionPeer) newPeerConnection(st *peerState) error {
	servers := st.res.WelcomeICEServers
	if p.cfg.ICEServers != nil {
		servers = p.cfg.ICEServers
	}
	pc, err := p.cfg.API.NewPeerConnection(webrtc.Configuration{ICEServers: servers, ICETransportPolicy: p.cfg.Policy})
	if err != nil {
		return fmt.Errorf("NewPeerConnection: %w", err)
	}
	st.pc = pc
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.emit(peerEvent{candidate: c, gathered: c == nil}) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { p.emit(peerEvent{state: s, hasState: true}) })
	pc.OnDataChannel(p.watch)
	return nil
}

func (p *PionPeer) watch(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { p.emit(peerEvent{open: dc}) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { p.emit(peerEvent{isMsg: true, msg: string(m.Data)}) })
}

func (p *PionPeer) send(st *peerState, v any) error {
	_ = st.ws.SetWriteDeadline(time.Now().Add(Wait))
	if err := st.ws.WriteJSON(v); err != nil {
		return fmt.Errorf("signaling write: %w", err)
	}
	return nil
}

func (p *PionPeer) signal(st *peerState, s peerSignal) error {
	return p.send(st, map[string]any{"type": "signal", "room": p.cfg.Room, "to": st.other, "data": s})
}

// offer is made by the peer that was in the room first, once the other joins.
func (p *PionPeer) offer(st *peerState) error {
	dc, err := st.pc.CreateDataChannel("chat", nil)
	if err != nil {
		return fmt.Errorf("CreateDataChannel: %w", err)
	}
	p.watch(dc)
	offer, err := st.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("CreateOffer: %w", err)
	}
	if err := st.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("SetLocalDescription: %w", err)
	}
	return p.signal(st, peerSignal{Description: &offer})
}

func (p *PionPeer) handle(st *peerState, e peerEvent) error {
	switch {
	case e.candidate != nil:
		init := e.candidate.ToJSON()
		st.res.Gathered = append(st.res.Gathered, fmt.Sprintf("%s %s:%d", e.candidate.Typ, e.candidate.Address, e.candidate.Port))
		return p.signal(st, peerSignal{Candidate: &init})
	case e.gathered:
	case e.hasState:
		st.res.States = append(st.res.States, e.state)
		if e.state == webrtc.PeerConnectionStateFailed {
			return ErrPeerFailed
		}
	case e.open != nil:
		st.dc = e.open
		for i := range p.cfg.Messages {
			if err := st.dc.SendText(strconv.Itoa(i) + " from " + p.cfg.Name); err != nil {
				return fmt.Errorf("data channel send: %w", err)
			}
		}
	case e.isMsg:
		n, from, _ := strings.Cut(e.msg, " from ")
		if n != strconv.Itoa(st.res.Received) || from == p.cfg.Name {
			return fmt.Errorf("message %q out of order or echoed (had %d)", e.msg, st.res.Received)
		}
		st.res.Received++
	case e.readErr != nil:
		if st.reported {
			return nil // the other side or the server went away after the end
		}
		return fmt.Errorf("signaling read: %w", e.readErr)
	case e.frame != nil:
		return p.frame(st, e.frame)
	}
	return nil
}

func (p *PionPeer) frame(st *peerState, m map[string]any) error {
	str := func(k string) string { s, _ := m[k].(string); return s }
	switch str("type") {
	case "peer-joined":
		if st.other != "" {
			return fmt.Errorf("a third peer %s joined", str("peer"))
		}
		st.other = str("peer")
		return p.offer(st)
	case "signal":
		if str("from") != st.other {
			return fmt.Errorf("signal from %s, want %s", str("from"), st.other)
		}
		raw, _ := json.Marshal(m["data"])
		var s peerSignal
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("signal data %s: %w", raw, err)
		}
		return p.remote(st, s)
	case "error":
		return fmt.Errorf("signaling error %s: %s", str("code"), str("message"))
	}
	return nil // pong, ack, ice-servers, peer-left: nothing to do
}

// remote applies a description or candidate from the other peer.
func (p *PionPeer) remote(st *peerState, s peerSignal) error {
	if c := s.Candidate; c != nil {
		if !st.remoteSet {
			st.pending = append(st.pending, *c)
			return nil
		}
		if err := st.pc.AddICECandidate(*c); err != nil {
			return fmt.Errorf("AddICECandidate(%s): %w", c.Candidate, err)
		}
		return nil
	}
	if s.Description == nil {
		return nil
	}
	if err := st.pc.SetRemoteDescription(*s.Description); err != nil {
		return fmt.Errorf("SetRemoteDescription: %w", err)
	}
	st.remoteSet = true
	for _, c := range st.pending {
		if err := st.pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("AddICECandidate(%s): %w", c.Candidate, err)
		}
	}
	st.pending = nil
	if s.Description.Type != webrtc.SDPTypeOffer {
		return nil
	}
	answer, err := st.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("CreateAnswer: %w", err)
	}
	if err := st.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("SetLocalDescription: %w", err)
	}
	return p.signal(st, peerSignal{Description: &answer})
}

// selectedPair is the peer connection's selected ICE candidate pair.
func selectedPair(pc *webrtc.PeerConnection) (*webrtc.ICECandidatePair, error) {
	if pc == nil || pc.SCTP() == nil {
		return nil, nil
	}
	return pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
}
