package rtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/internal/conn"
	"github.com/switchboard-rtc/switchboard/sfu/internal/udpbatch"
)

// Data channel labels of the subscriber PC (see the SFU spec).
const (
	LabelReliable   = "switchboard"
	LabelUnreliable = "switchboard-unreliable"
)

// maxBuffered is how much a data channel may hold unsent before messages
// to it are dropped: a slow subscriber never slows the sender.
const maxBuffered = 1 << 20

// Errors of Peer.
var (
	ErrBadSDP       = errors.New("rtc: bad SDP")
	ErrBadCandidate = errors.New("rtc: bad ICE candidate")
	ErrNotOpen      = errors.New("rtc: data channel not open or full")
	ErrClosed       = errors.New("rtc: peer connection closed")
	// ErrTooManyCandidates: a PC was given more than MaxRemoteCandidates
	// distinct remote candidates.
	ErrTooManyCandidates = errors.New("rtc: too many ICE candidates")
)

// MaxRemoteCandidates bounds the distinct remote candidates of one PC,
// trickled or in its remote descriptions, per ICE generation (a remote
// description with a new ufrag starts a new count): each one is a set of
// candidate pairs that pion checks.
const MaxRemoteCandidates = 32

// PeerConfig holds a Peer's callbacks. They run on pion's goroutines,
// concurrently: they must not block.
type PeerConfig struct {
	// OnCandidate gets each local candidate as RTCIceCandidateInit JSON,
	// then nil at the end of gathering.
	OnCandidate func(init []byte)
	// OnData gets each message of the subscriber PC's data channels.
	OnData func(reliable bool, msg []byte)
	// OnTrack gets each new incoming track of a publisher PC, before it
	// forwards anything, and returns whether it is forwarded: then it must
	// call up.Accept before adding any DownTrack, and OnTrackEnded is
	// called when it ends. A refused track is read and dropped, with no
	// cache. pion's repeats of a track (a new SSRC for a known RID) are
	// not passed on.
	OnTrack      func(up *UpTrack) bool
	OnTrackEnded func(up *UpTrack)
	// OnFailed is called once if ICE/DTLS fails or the connection closes
	// from the other side.
	OnFailed func()
	Counters *Counters
	// UseREMB: the subscriber's REMB caps its estimate (sfu.Config.UseREMB).
	UseREMB bool
}

// Peer is one PeerConnection of a participant: its publisher PC (the client
// offers) or its subscriber PC (the server offers, with the data channels).
type Peer struct {
	pc     *webrtc.PeerConnection
	cfg    PeerConfig
	c      *Counters
	rel    *reliableChannel // the subscriber PC's (datachan.go)
	unr    *webrtc.DataChannel
	mu     sync.Mutex
	wait   []webrtc.ICECandidateInit // remote candidates before the remote description
	remote map[string]bool           // distinct remote candidates of this ICE generation
	ufrag  string                    // the remote description's ICE ufrag
	fail   sync.Once
	bw     bandwidth // a subscriber PC's estimate (bandwidth.go)
	batch  udpbatch.Batcher

	iceStarted     chan struct{} // closed when ICE leaves "new": the remote credentials are set
	iceStartedOnce sync.Once
}

// ICEStartWait bounds how long a renegotiating offer waits for the ICE
// transport of the first one to start (see Answer).
const ICEStartWait = 2 * time.Second

// NewPublisher returns a publisher PC: it answers the client's offers and
// reports incoming tracks.
func (e *Engine) NewPublisher(cfg PeerConfig) (*Peer, error) {
	p, err := e.newPeer(cfg, true)
	if err != nil {
		return nil, err
	}
	seen := map[*webrtc.TrackRemote]bool{}
	p.pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		// pion calls again with the same track when a known RID comes
		// with a new SSRC: it is read already (its packets of the new
		// SSRC are counted bad; the layer is seen as stalled).
		p.mu.Lock()
		again := seen[t]
		seen[t] = true
		p.mu.Unlock()
		if again {
			return
		}
		up, err := NewUpTrack(p.pc, t, recv, p.c)
		if err == nil {
			up.batch = p.batch
		}
		if err != nil || p.cfg.OnTrack == nil || !p.cfg.OnTrack(up) || up.cache == nil {
			go discardTrack(t)
			return
		}
		go drainRTCP(recv, t.RID(), p.c)
		go func() {
			up.Run()
			if p.cfg.OnTrackEnded != nil {
				p.cfg.OnTrackEnded(up)
			}
		}()
	})
	return p, nil
}

// NewSubscriber returns a subscriber PC with the two data channels.
func (e *Engine) NewSubscriber(cfg PeerConfig) (*Peer, error) {
	p, err := e.newPeer(cfg, false)
	if err != nil {
		return nil, err
	}
	p.bw.hist = newSendHistory(time.Now())
	ordered, zero := false, uint16(0)
	rel, err := p.pc.CreateDataChannel(LabelReliable, nil)
	if err == nil {
		p.unr, err = p.pc.CreateDataChannel(LabelUnreliable, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero})
	}
	if err != nil {
		_ = p.pc.Close()
		return nil, fmt.Errorf("rtc: data channels: %w", err)
	}
	p.rel = newReliableChannel(rel)
	for _, dc := range []*webrtc.DataChannel{rel, p.unr} {
		reliable := dc == rel
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if p.cfg.OnData != nil {
				p.cfg.OnData(reliable, m.Data)
			}
		})
	}
	return p, nil
}

func (e *Engine) newPeer(cfg PeerConfig, publisher bool) (*Peer, error) {
	pc, err := e.NewPeerConnection(publisher)
	if err != nil {
		return nil, fmt.Errorf("rtc: peer connection: %w", err)
	}
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	p := &Peer{pc: pc, cfg: cfg, c: cfg.Counters.fill(), remote: map[string]bool{}, iceStarted: make(chan struct{}), batch: e.batch}
	p.bw.useREMB = cfg.UseREMB
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s != webrtc.ICEConnectionStateNew {
			p.iceStartedOnce.Do(func() { close(p.iceStarted) })
		}
	})
	// The server's two channels on sub are the only ones: a channel a
	// client opens (on either PC) is closed at once, so it holds no read
	// goroutine nor buffers.
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { _ = dc.Close() })
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if p.cfg.OnCandidate == nil {
			return
		}
		if c == nil {
			p.cfg.OnCandidate(nil)
			return
		}
		b, err := json.Marshal(c.ToJSON())
		if err == nil {
			p.cfg.OnCandidate(b)
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed && p.cfg.OnFailed != nil {
			p.fail.Do(p.cfg.OnFailed)
		}
	})
	return p, nil
}

// Offer creates an offer, sets it as the local description and returns
// its SDP.
func (p *Peer) Offer() (string, error) {
	if p.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
		return "", ErrClosed
	}
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("rtc: create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(o); err != nil {
		return "", fmt.Errorf("rtc: set local offer: %w", err)
	}
	return p.pc.LocalDescription().SDP, nil
}

// SetAnswer applies the client's answer to our offer.
func (p *Peer) SetAnswer(sdp string) error {
	sdp, err := p.countDescription(sdp)
	if err != nil {
		return err
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	p.flushCandidates()
	return nil
}

// Answer applies the client's offer and returns the server's answer.
func (p *Peer) Answer(sdp string) (string, error) {
	sdp, err := p.countDescription(sdp)
	if err != nil {
		return "", err
	}
	if p.pc.RemoteDescription() != nil {
		// A renegotiation. pion (v4.2.26) starts the ICE transport of the
		// first offer later, from its operations queue, and until then an
		// offer with the same credentials looks like an ICE restart to it:
		// it answers with new local credentials while the client goes on
		// with the old ones, and the connection never comes up (a client
		// that publishes a second track as soon as the first is answered
		// met it about one time in three). So wait for the start, bounded.
		select {
		case <-p.iceStarted:
		case <-time.After(ICEStartWait):
		}
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	a, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: create answer: %w", ErrBadSDP, err)
	}
	if err := p.pc.SetLocalDescription(a); err != nil {
		return "", fmt.Errorf("%w: set local answer: %w", ErrBadSDP, err)
	}
	p.flushCandidates()
	return p.pc.LocalDescription().SDP, nil
}

// AddCandidate adds a remote candidate (RTCIceCandidateInit JSON; null or
// empty is the end of candidates, ignored). Candidates that arrive before
// the remote description wait for it.
func (p *Peer) AddCandidate(raw []byte) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	c, key, err := ParseCandidate(raw)
	if err != nil || key == "" {
		return err
	}
	p.mu.Lock()
	if p.remote[key] {
		p.mu.Unlock()
		return nil // a repeat: pion has it already
	}
	if len(p.remote) >= MaxRemoteCandidates {
		p.mu.Unlock()
		return fmt.Errorf("%w: more than %d", ErrTooManyCandidates, MaxRemoteCandidates)
	}
	p.remote[key] = true
	if p.pc.RemoteDescription() == nil {
		p.wait = append(p.wait, c) // at most MaxRemoteCandidates
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	return nil
}

// ParseCandidate checks a remote candidate (RTCIceCandidateInit JSON) and
// returns it with the key that tells it from others (its candidate
// attribute); key is "" for the end of candidates (null, empty).
func ParseCandidate(raw []byte) (c webrtc.ICECandidateInit, key string, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return c, "", nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, "", fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	key = strings.TrimPrefix(c.Candidate, "candidate:")
	if key == "" {
		return c, "", nil
	}
	if _, err := ice.UnmarshalCandidate(key); err != nil {
		return c, "", fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	return c, key, nil
}

// countDescription counts the candidates of a remote description against
// MaxRemoteCandidates (a new ufrag, an ICE restart, starts a new count)
// and returns the description without those over it: a description is
// never refused for its candidates.
func (p *Peer) countDescription(desc string) (string, error) {
	ufrag, cands, err := remoteICE(desc)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ufrag != "" && ufrag != p.ufrag {
		p.remote = map[string]bool{}
	}
	p.ufrag = ufrag
	over := map[string]bool{}
	for _, k := range cands {
		switch {
		case p.remote[k]:
		case len(p.remote) < MaxRemoteCandidates:
			p.remote[k] = true
		default:
			over[k] = true
		}
	}
	if len(over) == 0 {
		return desc, nil
	}
	return withoutCandidates(desc, over)
}

// flushCandidates adds the candidates that came before the remote
// description. They were checked when they came: one pion refuses now is
// dropped, never failing the description that was applied.
func (p *Peer) flushCandidates() {
	p.mu.Lock()
	wait := p.wait
	p.wait = nil
	p.mu.Unlock()
	for _, c := range wait {
		_ = p.pc.AddICECandidate(c)
	}
}

// AddDown adds a track forwarding up to this (subscriber) PC, with track
// id id and stream id stream. It takes effect at the next offer.
func (p *Peer) AddDown(up conn.UpTrack, id, stream string) (*DownTrack, error) {
	d, err := newDownTrack(up, up.SSRC(), id, stream, p.c, &p.bw)
	if err != nil {
		return nil, err
	}
	d.batch = p.batch
	if d.sender, err = p.pc.AddTrack(d); err != nil {
		return nil, fmt.Errorf("rtc: add track: %w", err)
	}
	go d.readRTCP()
	return d, nil
}

// RemoveDown removes a track added by AddDown; it takes effect at the
// next offer.
func (p *Peer) RemoveDown(d *DownTrack) error {
	if err := p.pc.RemoveTrack(d.sender); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
		return fmt.Errorf("rtc: remove track: %w", err)
	}
	return nil
}

// Send writes msg on the reliable or unreliable data channel. The
// reliable one keeps what is sent before it opens (datachan.go).
func (p *Peer) Send(reliable bool, msg []byte) error {
	if reliable {
		if p.rel == nil {
			return ErrNotOpen
		}
		return p.rel.send(msg)
	}
	dc := p.unr
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen || dc.BufferedAmount() > maxBuffered {
		return ErrNotOpen
	}
	return dc.Send(msg)
}

// Close closes the PeerConnection; tracks and goroutines end with it.
func (p *Peer) Close() error { return p.pc.Close() }
