package sfuclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Errors of a Client.
var (
	ErrBadMessage = errors.New("sfuclient: bad message from the SFU")
	ErrNoChannel  = errors.New("sfuclient: data channel not open")
	ErrClosed     = errors.New("sfuclient: closed")
)

// Data channel labels (the server creates them).
const (
	LabelReliable   = "switchboard"
	LabelUnreliable = "switchboard-unreliable"
)

// Config configures a Client. Send is required.
type Config struct {
	// Send delivers a message to the SFU.
	Send func(msg []byte) error
	// API builds the PeerConnections (nil: NewAPI(APIConfig{})).
	API *webrtc.API

	// OnTrack: a forwarded track started (on its first packet).
	OnTrack func(t *Track)
	// OnTrackEnded: a server offer no longer carries a track.
	OnTrackEnded func(t *Track)
	// OnData: a data channel message.
	OnData func(d Data)
	// OnLayer, OnSpeakers, OnError: the SFU's messages of those kinds.
	OnLayer    func(l Layer)
	OnSpeakers func(peers []string)
	OnError    func(code, message string)
	// OnLayers: the SFU asks for some layers of a simulcast track this
	// client publishes to be paused, or sent again (applied already).
	OnLayers func(l Layers)
	// OnPublisherRTCP gets the RTCP the SFU sends about a published track
	// (PLIs, NACKs, REMB, reports), by the local track's id.
	OnPublisherRTCP func(trackID string, pkts []rtcp.Packet)
}

// Track is a track the SFU forwards to this client.
type Track struct {
	ID       string // "<publisher peer>:<publisher track id>"
	Info     TrackInfo
	Remote   *webrtc.TrackRemote
	Receiver *webrtc.RTPReceiver
}

// Client is one participant. Its methods are safe for concurrent use,
// except Handle, which must be called in message order.
type Client struct {
	cfg Config
	api *webrtc.API

	mu         sync.Mutex // PC state; also orders what is sent
	sub, pub   *webrtc.PeerConnection
	rel, unr   *webrtc.DataChannel
	infos      map[string]TrackInfo        // the last offer's tracks
	known      map[string]TrackInfo        // every track id ever offered
	live       map[string]*Track           // started and not ended
	gates      map[string]map[string]*gate // simulcast layers published, by track id and RID (layers.go)
	sends      map[string]Layers           // the last "layers" message by track id
	pubOffer   bool                        // a pub offer is outstanding
	pubAgain   bool
	waitSub    []webrtc.ICECandidateInit
	waitPub    []webrtc.ICECandidateInit
	closed     bool
	gone       atomic.Bool
	dataOpened chan struct{}
	opened     atomic.Int32 // data channels open
	openOnce   sync.Once
}

// New returns a client. Nothing happens until Handle gets the server's
// first offer or Publish is called.
func New(cfg Config) (*Client, error) {
	if cfg.Send == nil {
		return nil, errors.New("sfuclient: Config.Send is required")
	}
	api := cfg.API
	if api == nil {
		var err error
		if api, err = NewAPI(APIConfig{}); err != nil {
			return nil, err
		}
	}
	return &Client{cfg: cfg, api: api, infos: map[string]TrackInfo{}, known: map[string]TrackInfo{},
		live: map[string]*Track{}, gates: map[string]map[string]*gate{}, sends: map[string]Layers{}, dataOpened: make(chan struct{})}, nil
}

func (c *Client) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.cfg.Send(b)
}

// Handle processes one message from the SFU.
func (c *Client) Handle(msg []byte) error {
	var m message
	if err := json.Unmarshal(msg, &m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	switch m.Kind {
	case "offer":
		return c.handleOffer(m)
	case "answer":
		return c.handleAnswer(m)
	case "candidate":
		return c.handleCandidate(m)
	case "layer":
		if c.cfg.OnLayer != nil {
			c.cfg.OnLayer(Layer{Track: m.Track, Peer: m.Peer, Layer: m.Layer, Paused: m.Paused})
		}
	case "layers":
		c.handleLayers(m)
	case "speakers":
		if c.cfg.OnSpeakers != nil {
			c.cfg.OnSpeakers(append([]string{}, m.Peers...))
		}
	case "error":
		if c.cfg.OnError != nil {
			c.cfg.OnError(m.Code, m.Message)
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrBadMessage, m.Kind)
	}
	return nil
}

// Tracks returns the tracks of the server's last offer.
func (c *Client) Tracks() map[string]TrackInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]TrackInfo, len(c.infos))
	for k, v := range c.infos {
		out[k] = v
	}
	return out
}

// DataOpen is closed when both data channels are open.
func (c *Client) DataOpen() <-chan struct{} { return c.dataOpened }

// SubPC and PubPC return the PeerConnections (nil until made), e.g. for
// getStats in tests.
func (c *Client) SubPC() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sub
}

// PubPC returns the publisher PeerConnection (nil before Publish).
func (c *Client) PubPC() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pub
}

// SetQuality asks for a layer of every video track of peer:
// "low", "medium", "high" or "auto".
func (c *Client) SetQuality(peer, quality string) error {
	return c.send(message{Kind: "quality", Peer: peer, Quality: quality})
}

// SetSize tells the SFU how large the client shows a track (0x0: not shown).
func (c *Client) SetSize(track string, width, height int) error {
	return c.send(message{Kind: "size", Track: track, Width: &width, Height: &height})
}

// SendData sends payload to peer to ("" = everyone else in the room) on
// the reliable or unreliable channel; text marks it as UTF-8 text.
func (c *Client) SendData(to string, payload []byte, text, reliable bool) error {
	return c.SendEnvelope(encodeEnvelope(to, payload, text), reliable)
}

// SendEnvelope sends an envelope the caller built (flags, target, payload:
// see docs/protocol.md, "Data channels"), for flags this package does not
// set itself, such as an auto room's SEQ and FENCE.
func (c *Client) SendEnvelope(envelope []byte, reliable bool) error {
	c.mu.Lock()
	dc := c.unr
	if reliable {
		dc = c.rel
	}
	c.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ErrNoChannel
	}
	return dc.Send(envelope)
}

// Buffered is how many bytes sent on the reliable data channel the SFU
// has not acknowledged yet (0 without a channel).
func (c *Client) Buffered() uint64 {
	c.mu.Lock()
	dc := c.rel
	c.mu.Unlock()
	if dc == nil {
		return 0
	}
	return dc.BufferedAmount()
}

// Close closes both PeerConnections.
func (c *Client) Close() error {
	c.gone.Store(true)
	c.mu.Lock()
	c.closed = true
	sub, pub := c.sub, c.pub
	c.mu.Unlock()
	var errs []error
	for _, pc := range []*webrtc.PeerConnection{sub, pub} {
		if pc != nil {
			errs = append(errs, pc.Close())
		}
	}
	return errors.Join(errs...)
}

// onCandidate sends the client's candidates for pc.
func (c *Client) onCandidate(pc string) func(*webrtc.ICECandidate) {
	return func(cand *webrtc.ICECandidate) {
		raw := json.RawMessage("null")
		if cand != nil {
			b, err := json.Marshal(cand.ToJSON())
			if err != nil {
				return
			}
			raw = b
		}
		// No lock: pion may call this inside SetLocalDescription. The
		// SFU keeps a candidate that comes before its description.
		if !c.gone.Load() {
			_ = c.send(message{Kind: "candidate", PC: pc, Candidate: raw})
		}
	}
}

func (c *Client) handleCandidate(m message) error {
	if len(m.Candidate) == 0 || string(m.Candidate) == "null" {
		return nil
	}
	var init webrtc.ICECandidateInit
	if err := json.Unmarshal(m.Candidate, &init); err != nil {
		return fmt.Errorf("%w: candidate: %w", ErrBadMessage, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, wait := c.sub, &c.waitSub
	if m.PC == "pub" {
		pc, wait = c.pub, &c.waitPub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		*wait = append(*wait, init)
		return nil
	}
	return pc.AddICECandidate(init)
}

func flush(pc *webrtc.PeerConnection, wait *[]webrtc.ICECandidateInit) error {
	var errs []error
	for _, c := range *wait {
		errs = append(errs, pc.AddICECandidate(c))
	}
	*wait = nil
	return errors.Join(errs...)
}
