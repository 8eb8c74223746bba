package roomclient

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

// meshLink is the peer connection to one remote peer, negotiated over
// signal frames with the perfect-negotiation pattern as the browser SDK
// does it: the peer whose id sorts lower is polite; the impolite one
// opens the two data channels and makes the first offer. Every method
// runs on the loop; pion's callbacks post there.
type meshLink struct {
	c         *Client
	r         *remote
	polite    bool
	pc        *webrtc.PeerConnection
	rel       *webrtc.DataChannel
	open      bool // rel is open
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	sends     bool     // the remote's description sends media
	added     bool     // the local video is on the pc
	queue     [][]byte // reliable messages waiting for rel to open
	closed    bool
}

// signalData is the data of a mesh signal frame, as the SDK sends it.
type signalData struct {
	Description *webrtc.SessionDescription `json:"description,omitempty"`
	Candidate   *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
}

// newMeshLink makes the link to r; the impolite side offers at once.
func (c *Client) newMeshLink(r *remote) (*meshLink, error) {
	pc, err := c.cfg.API.NewPeerConnection(webrtc.Configuration{ICEServers: c.ice})
	if err != nil {
		return nil, fmt.Errorf("roomclient: mesh link to %s: %w", r.id, err)
	}
	l := &meshLink{c: c, r: r, polite: c.id < r.id, pc: pc}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		c.post(func() {
			if !l.closed {
				l.signal(signalData{Candidate: &init})
			}
		})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			c.post(func() { c.meshFailed(l) })
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { l.adopt(dc) })
	pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		c.drainRTCP(recv.ReadRTCP)
		c.readTrack(t, r.media, PathMesh, func() {
			if r.mesh == l {
				r.mediaOn[PathMesh] = true
			}
		})
	})
	if l.polite {
		return l, nil
	}
	l.adopt(mustChannel(pc.CreateDataChannel(sfuclient.LabelReliable, nil)))
	maxRetransmits, ordered := uint16(0), false
	l.adopt(mustChannel(pc.CreateDataChannel(sfuclient.LabelUnreliable, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &maxRetransmits})))
	if err := l.addMedia(); err != nil {
		l.close()
		return nil, err
	}
	if err := l.offer(); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func mustChannel(dc *webrtc.DataChannel, err error) *webrtc.DataChannel {
	if err != nil {
		return nil // adopt ignores it; the link then never opens and the switch reports the peer failed
	}
	return dc
}

// adopt watches one of the link's data channels.
func (l *meshLink) adopt(dc *webrtc.DataChannel) {
	if dc == nil {
		return
	}
	c := l.c
	reliable := dc.Label() == sfuclient.LabelReliable
	if !reliable && dc.Label() != sfuclient.LabelUnreliable {
		return
	}
	dc.OnOpen(func() {
		if reliable {
			c.post(func() { l.opened(dc) })
		}
	})
	dc.OnClose(func() { // after the channel's last message: pion calls both from its read loop
		if reliable {
			c.post(func() { c.meshChannelClosed(l) })
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		c.post(func() { c.meshData(l, m.Data, reliable) })
	})
}

// opened: the reliable channel is open; what waited goes.
func (l *meshLink) opened(dc *webrtc.DataChannel) {
	if l.closed {
		return
	}
	l.rel, l.open = dc, true
	for _, b := range l.queue {
		_ = dc.Send(b)
	}
	l.queue = nil
}

// buffered is how many bytes sent on the reliable channel the remote has
// not acknowledged yet.
func (l *meshLink) buffered() uint64 {
	if l.rel == nil {
		return 0
	}
	return l.rel.BufferedAmount()
}

// sendReliable sends b on the reliable channel, or keeps it until the
// channel opens.
func (l *meshLink) sendReliable(b []byte) {
	if l.open {
		if err := l.rel.Send(b); err == nil {
			return
		}
	}
	l.queue = append(l.queue, b)
}

// addMedia puts the local video on the link (or asks for the remote's
// when this side publishes nothing and offers).
func (l *meshLink) addMedia() error {
	if l.added {
		return nil
	}
	l.added = true
	if l.c.video != nil {
		s, err := l.pc.AddTrack(l.c.video)
		if err != nil {
			return fmt.Errorf("roomclient: mesh video: %w", err)
		}
		l.c.drainRTCP(s.ReadRTCP)
		return nil
	}
	if !l.polite {
		_, err := l.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		return err
	}
	return nil
}

func (l *meshLink) signal(d signalData) {
	if err := l.c.write(map[string]any{"type": "signal", "room": l.c.cfg.Room, "to": l.r.id, "data": d}); err != nil {
		l.c.fail(err)
	}
}

func (l *meshLink) offer() error {
	offer, err := l.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("roomclient: mesh offer: %w", err)
	}
	if err := l.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("roomclient: mesh offer: %w", err)
	}
	l.signal(signalData{Description: l.pc.LocalDescription()})
	return nil
}

// handleSignal applies a description or candidate from the remote peer.
func (l *meshLink) handleSignal(d signalData) error {
	if c := d.Candidate; c != nil {
		if !l.remoteSet {
			l.pending = append(l.pending, *c)
			return nil
		}
		_ = l.pc.AddICECandidate(*c) // one of an ignored offer's may fail
		return nil
	}
	desc := d.Description
	if desc == nil {
		return nil
	}
	if desc.Type == webrtc.SDPTypeOffer && l.pc.SignalingState() != webrtc.SignalingStateStable {
		if !l.polite {
			return nil // a collision: the impolite side keeps its offer
		}
		if err := l.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
			return fmt.Errorf("roomclient: rollback: %w", err)
		}
	}
	if err := l.pc.SetRemoteDescription(*desc); err != nil {
		return fmt.Errorf("roomclient: mesh remote description: %w", err)
	}
	l.remoteSet = true
	l.sends = sdpSends(desc.SDP)
	for _, c := range l.pending {
		_ = l.pc.AddICECandidate(c)
	}
	l.pending = nil
	if desc.Type != webrtc.SDPTypeOffer {
		return nil
	}
	if err := l.addMedia(); err != nil {
		return err
	}
	answer, err := l.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("roomclient: mesh answer: %w", err)
	}
	if err := l.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("roomclient: mesh answer: %w", err)
	}
	l.signal(signalData{Description: l.pc.LocalDescription()})
	return nil
}

// sdpSends reports whether a description sends media: an audio or video
// section that is sendrecv or sendonly (the default is sendrecv).
func sdpSends(sdp string) bool {
	for _, sec := range strings.Split(sdp, "\nm=")[1:] {
		if !strings.HasPrefix(sec, "audio") && !strings.HasPrefix(sec, "video") {
			continue
		}
		if strings.HasPrefix(sec, "video 0 ") || strings.HasPrefix(sec, "audio 0 ") {
			continue // rejected
		}
		if !strings.Contains(sec, "a=recvonly") && !strings.Contains(sec, "a=inactive") {
			return true
		}
	}
	return false
}

// fingerprint is a description's DTLS fingerprint: a new one means the
// remote made a new peer connection.
func fingerprint(sdp string) string {
	_, rest, ok := strings.Cut(sdp, "a=fingerprint:")
	if !ok {
		return ""
	}
	fp, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(fp)
}

// close ends the link; pion's Close runs on a goroutine of its own.
func (l *meshLink) close() {
	if l.closed {
		return
	}
	l.closed = true
	c := l.c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = l.pc.Close()
	}()
}

// meshSignal handles a signal frame from peer.
func (c *Client) meshSignal(from string, raw json.RawMessage) {
	r := c.st.remotes[from]
	if r == nil {
		return // it left
	}
	var d signalData
	if err := json.Unmarshal(raw, &d); err != nil {
		c.fail(fmt.Errorf("%w: signal from %s: %w", ErrSignaling, from, err))
		return
	}
	if d.Description != nil && d.Description.Type == webrtc.SDPTypeOffer && r.mesh != nil && r.mesh.remoteSet &&
		fingerprint(d.Description.SDP) != fingerprint(r.mesh.pc.RemoteDescription().SDP) {
		c.closeMesh(r) // the remote started over with a new peer connection
	}
	if r.mesh == nil {
		l, err := c.newMeshLink(r)
		if err != nil {
			c.fail(err)
			return
		}
		c.setMesh(r, l)
	}
	if err := r.mesh.handleSignal(d); err != nil {
		c.fail(fmt.Errorf("mesh link to %s: %w", from, err))
	}
}
