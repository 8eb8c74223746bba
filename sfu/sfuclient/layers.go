package sfuclient

import (
	"fmt"
	"slices"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The SFU asks a publisher to pause the simulcast layers nobody watches
// (a "layers" message) and to send them again when someone does. The
// client honours it on the layers of PublishSimulcast: each is wrapped so
// that what the caller writes to a paused layer is dropped before pion
// sees it, as a browser's encoder stops producing an inactive encoding.
// The packets after a pause are numbered on from the last one sent, with
// no gap (a gap would be a loss to the SFU and its subscribers). The
// client does not encode, so it cannot start a resumed layer at a
// keyframe: the SFU asks for one (a PLI, which OnPublisherRTCP shows),
// and forwards the layer to a subscriber only from a keyframe on.

// gate drops the packets of a paused layer.
type gate struct {
	mu      sync.Mutex
	off     bool
	skipped uint16 // packets dropped so far: the later ones are numbered as if they never were
}

func (g *gate) set(off bool) {
	g.mu.Lock()
	g.off = off
	g.mu.Unlock()
}

// pass reports whether a packet goes out and by how much its sequence
// number is to be lowered.
func (g *gate) pass() (bool, uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off {
		g.skipped++
		return false, 0
	}
	return true, g.skipped
}

// gatedTrack is a simulcast layer behind a gate: pion binds it, and the
// wrapped track writes through gatedWriter.
type gatedTrack struct {
	webrtc.TrackLocal
	gate *gate
}

func (t gatedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return t.TrackLocal.Bind(gatedContext{ctx, t.gate})
}

type gatedContext struct {
	webrtc.TrackLocalContext
	gate *gate
}

func (c gatedContext) WriteStream() webrtc.TrackLocalWriter {
	return gatedWriter{c.TrackLocalContext.WriteStream(), c.gate}
}

type gatedWriter struct {
	w    webrtc.TrackLocalWriter
	gate *gate
}

func (g gatedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	ok, lower := g.gate.pass()
	if !ok {
		return 0, nil
	}
	if lower != 0 {
		renumbered := *h
		renumbered.SequenceNumber -= lower
		h = &renumbered
	}
	return g.w.WriteRTP(h, payload)
}

func (g gatedWriter) Write(b []byte) (int, error) {
	var h rtp.Header
	n, err := h.Unmarshal(b)
	if err != nil {
		return 0, err
	}
	return g.WriteRTP(&h, b[n:])
}

// gateLayers wraps the layers of a simulcast track (under c.mu).
func (c *Client) gateLayers(layers []webrtc.TrackLocal) []webrtc.TrackLocal {
	out := make([]webrtc.TrackLocal, len(layers))
	gates := map[string]*gate{}
	for i, l := range layers {
		g := &gate{}
		gates[l.RID()] = g
		out[i] = gatedTrack{l, g}
	}
	c.gates[layers[0].ID()] = gates
	return out
}

// handleLayers applies a "layers" message: the layers named inactive are
// paused, every other one of the track sends.
func (c *Client) handleLayers(m message) {
	l := Layers{Track: m.Track, Active: append([]string{}, m.Active...), Inactive: append([]string{}, m.Inactive...)}
	c.mu.Lock()
	for rid, g := range c.gates[m.Track] {
		g.set(slices.Contains(m.Inactive, rid))
	}
	c.sends[m.Track] = l
	c.mu.Unlock()
	if c.cfg.OnLayers != nil {
		c.cfg.OnLayers(l)
	}
}

// LastLayers returns the last "layers" message for a track this client
// publishes (false: none came).
func (c *Client) LastLayers(track string) (Layers, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.sends[track]
	return Layers{Track: l.Track, Active: slices.Clone(l.Active), Inactive: slices.Clone(l.Inactive)}, ok
}

// Layers is a "layers" message: which layers of a simulcast track this
// client publishes the SFU wants sent (Active) and paused (Inactive).
type Layers struct {
	Track            string // the published track's id
	Active, Inactive []string
}

// SimulcastHeader is what the packets of a simulcast layer carry besides
// their RID to be told apart by the SFU: the mid and rid header
// extensions (TrackLocalStaticRTP leaves them to the writer).
type SimulcastHeader struct {
	Mid          string
	MidID, RIDID uint8
}

// Set puts the mid and rid extensions of layer rid on h.
func (s SimulcastHeader) Set(h *rtp.Header, rid string) {
	_ = h.SetExtension(s.MidID, []byte(s.Mid))
	_ = h.SetExtension(s.RIDID, []byte(rid))
}

// SimulcastHeader returns the extensions the layers of sender (from
// PublishSimulcast) carry, once the SFU has answered the offer.
func (c *Client) SimulcastHeader(sender *webrtc.RTPSender) (SimulcastHeader, error) {
	var s SimulcastHeader
	for _, x := range sender.GetParameters().HeaderExtensions {
		switch x.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			s.MidID = uint8(x.ID) //nolint:gosec // ids < 15
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			s.RIDID = uint8(x.ID) //nolint:gosec // ids < 15
		}
	}
	if pc := c.PubPC(); pc != nil {
		for _, tr := range pc.GetTransceivers() {
			if tr.Sender() == sender {
				s.Mid = tr.Mid()
			}
		}
	}
	if s.MidID == 0 || s.RIDID == 0 || s.Mid == "" {
		return s, fmt.Errorf("%w: mid and rid extensions not negotiated", ErrBadMessage)
	}
	return s, nil
}
