package sfuclient

import (
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// Publish sends a local track to the SFU (sendonly on the publisher PC,
// made at the first call) and renegotiates. The track's StreamID should be
// the client's peer id or anything: subscribers see the publisher's peer id.
func (c *Client) Publish(track webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensurePub(); err != nil {
		return nil, err
	}
	tr, err := c.pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, fmt.Errorf("sfuclient: publish: %w", err)
	}
	sender := tr.Sender()
	go c.readSenderRTCP(sender, track.ID())
	return sender, c.offerPub()
}

// Unpublish stops sending a published track and renegotiates.
func (c *Client) Unpublish(sender *webrtc.RTPSender) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pub == nil {
		return nil
	}
	if err := c.pub.RemoveTrack(sender); err != nil {
		return fmt.Errorf("sfuclient: unpublish: %w", err)
	}
	return c.offerPub()
}

// offerPub sends an offer of the publisher PC, or notes one is needed
// after the outstanding one (under c.mu).
func (c *Client) offerPub() error {
	if c.pubOffer {
		c.pubAgain = true
		return nil
	}
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("sfuclient: pub offer: %w", err)
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("sfuclient: pub offer: %w", err)
	}
	if err := c.send(message{Kind: "offer", PC: "pub", SDP: c.pub.LocalDescription().SDP}); err != nil {
		// Refused (a limit, a bad offer): back to the last agreed state.
		_ = c.pub.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
		return err
	}
	c.pubOffer = true
	return nil
}

func (c *Client) handleAnswer(m message) error {
	if m.PC != "pub" {
		return fmt.Errorf("%w: answer for pc %q", ErrBadMessage, m.PC)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pub == nil || !c.pubOffer {
		return fmt.Errorf("%w: answer without an offer", ErrBadMessage)
	}
	if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
		return fmt.Errorf("sfuclient: pub answer: %w", err)
	}
	c.pubOffer = false
	if err := flush(c.pub, &c.waitPub); err != nil {
		return err
	}
	if c.pubAgain {
		c.pubAgain = false
		return c.offerPub()
	}
	return nil
}

// PublishSimulcast sends one track as simulcast layers (same track and
// stream ids, each with its own RID: "low", "medium", "high") on one
// transceiver. With TrackLocalStaticRTP the caller writes the mid and rid
// header extensions itself (their ids are in the sender's parameters).
// What is written to a layer the SFU asked to pause is dropped (layers.go).
func (c *Client) PublishSimulcast(layers ...webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	if len(layers) == 0 {
		return nil, errors.New("sfuclient: no layers")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensurePub(); err != nil {
		return nil, err
	}
	id := layers[0].ID()
	layers = c.gateLayers(layers) // the SFU may pause some (layers.go)
	tr, err := c.pub.AddTransceiverFromTrack(layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, fmt.Errorf("sfuclient: publish: %w", err)
	}
	sender := tr.Sender()
	for _, l := range layers[1:] {
		if err := sender.AddEncoding(l); err != nil {
			return nil, fmt.Errorf("sfuclient: simulcast layer %s: %w", l.RID(), err)
		}
	}
	go c.readSenderRTCP(sender, id)
	return sender, c.offerPub()
}

func (c *Client) readSenderRTCP(sender *webrtc.RTPSender, id string) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		if c.cfg.OnPublisherRTCP != nil {
			c.cfg.OnPublisherRTCP(id, pkts)
		}
	}
}

// ensurePub makes the publisher PC at the first publish (under c.mu).
func (c *Client) ensurePub() error {
	if c.closed {
		return ErrClosed
	}
	if c.pub != nil {
		return nil
	}
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.pub = pc
	pc.OnICECandidate(c.onCandidate("pub"))
	return nil
}
