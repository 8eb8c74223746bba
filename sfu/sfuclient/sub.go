package sfuclient

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// handleOffer answers the server's subscriber offer.
func (c *Client) handleOffer(m message) error {
	if m.PC != "sub" {
		return fmt.Errorf("%w: offer for pc %q", ErrBadMessage, m.PC)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		c.sub = pc
		pc.OnICECandidate(c.onCandidate("sub"))
		pc.OnDataChannel(c.onDataChannel)
		pc.OnTrack(c.onTrack)
	}
	var ended []*Track
	for id := range c.infos {
		if _, ok := m.Tracks[id]; !ok {
			if t := c.live[id]; t != nil {
				ended = append(ended, t)
				delete(c.live, id)
			}
		}
	}
	c.infos = map[string]TrackInfo{}
	for id, info := range m.Tracks {
		c.infos[id] = info
		c.known[id] = info
	}
	if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return fmt.Errorf("sfuclient: sub offer: %w", err)
	}
	answer, err := c.sub.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("sfuclient: sub answer: %w", err)
	}
	if err := c.sub.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("sfuclient: sub answer: %w", err)
	}
	if err := c.send(message{Kind: "answer", PC: "sub", SDP: c.sub.LocalDescription().SDP}); err != nil {
		return err
	}
	if err := flush(c.sub, &c.waitSub); err != nil {
		return err
	}
	if c.cfg.OnTrackEnded != nil {
		for _, t := range ended {
			c.cfg.OnTrackEnded(t)
		}
	}
	return nil
}

func (c *Client) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	c.mu.Lock()
	info, ok := c.known[remote.ID()]
	if !ok {
		info = TrackInfo{Peer: remote.StreamID(), Kind: remote.Kind().String(), Stream: remote.StreamID()}
	}
	t := &Track{ID: remote.ID(), Info: info, Remote: remote, Receiver: recv}
	c.live[t.ID] = t
	c.mu.Unlock()
	go func() { // RTCP must be read for the interceptors (reports) to run
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	if c.cfg.OnTrack != nil {
		c.cfg.OnTrack(t)
	}
}

func (c *Client) onDataChannel(dc *webrtc.DataChannel) {
	reliable := dc.Label() == LabelReliable
	if !reliable && dc.Label() != LabelUnreliable {
		return
	}
	c.mu.Lock()
	if reliable {
		c.rel = dc
	} else {
		c.unr = dc
	}
	c.mu.Unlock()
	dc.OnOpen(func() {
		if c.opened.Add(1) == 2 { // both channels
			c.openOnce.Do(func() { close(c.dataOpened) })
		}
	})
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if d, ok := decodeEnvelope(msg.Data, reliable); ok && c.cfg.OnData != nil {
			c.cfg.OnData(d)
		}
	})
}
