package roomclient

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// peerMedia counts one remote peer's media as a viewer sees it: packets
// on the path shown, and the longest gap between two of them (across a
// switch of the path shown too). Track readers write it per packet, so it
// takes a mutex and no allocation.
type peerMedia struct {
	mu        sync.Mutex
	shown     Path
	last      time.Time // the last packet on any path
	lastShown time.Time // the last packet on the path shown
	maxGap    time.Duration
	packets   int
}

func newPeerMedia(shown Path) *peerMedia { return &peerMedia{shown: shown} }

func (m *peerMedia) record(p Path, now time.Time) {
	m.mu.Lock()
	m.last = now
	if p == m.shown {
		if !m.lastShown.IsZero() {
			m.maxGap = max(m.maxGap, now.Sub(m.lastShown))
		}
		m.lastShown = now
		m.packets++
	}
	m.mu.Unlock()
}

func (m *peerMedia) show(p Path) {
	m.mu.Lock()
	m.shown = p
	m.mu.Unlock()
}

func (m *peerMedia) shownPath() Path {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shown
}

func (m *peerMedia) resetGap() {
	m.mu.Lock()
	m.maxGap = 0
	m.mu.Unlock()
}

func (m *peerMedia) snapshot() PeerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return PeerState{Media: m.shown, LastMedia: m.last, MaxGap: m.maxGap, Packets: m.packets}
}

// videoPayload is the size of a synthetic video packet.
const videoPayload = 300

// pace writes the synthetic video: every packet a whole VP8 keyframe (the
// SFU forwards from any packet), numbered in its last 4 bytes.
func (c *Client) pace() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.PacketEvery)
	defer tick.Stop()
	payload := make([]byte, videoPayload)
	payload[0] = 0x10                                     // VP8 descriptor: S=1, partition 0
	payload[3], payload[4], payload[5] = 0x9d, 0x01, 0x2a // keyframe start code after the P=0 tag
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}, Payload: payload}
	step := uint32(c.cfg.PacketEvery * 90000 / time.Second) //nolint:gosec // small
	for i := uint32(0); ; i++ {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		binary.BigEndian.PutUint32(payload[videoPayload-4:], i)
		pkt.SequenceNumber = uint16(i) //nolint:gosec // wraps
		pkt.Timestamp = i * step
		_ = c.video.WriteRTP(&pkt) // a closed binding's error is no news
	}
}

// readTrack records the arrivals of one remote track on path p until the
// track ends, and posts first() on the loop at its first packet.
func (c *Client) readTrack(track *webrtc.TrackRemote, m *peerMedia, p Path, first func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for n := 0; ; n++ {
			if _, _, err := track.Read(buf); err != nil {
				return
			}
			m.record(p, time.Now())
			if n == 0 {
				c.post(first)
			}
		}
	}()
}

// drainRTCP reads a receiver's or a sender's RTCP until it ends, so that
// the interceptors (reports, NACK) run.
func (c *Client) drainRTCP(read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			if _, _, err := read(); err != nil {
				return
			}
		}
	}()
}
