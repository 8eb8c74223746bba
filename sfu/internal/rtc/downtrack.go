package rtc

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/internal/conn"
	"github.com/switchboard-rtc/switchboard/sfu/internal/packetcache"
	"github.com/switchboard-rtc/switchboard/sfu/internal/rtpmunge"
)

// ErrNoCodec: the subscriber's PeerConnection cannot receive the codec.
var ErrNoCodec = errors.New("rtc: codec not negotiated with the subscriber")

type binding struct {
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
}

// DownTrack forwards one UpTrack to one subscriber. It is the
// webrtc.TrackLocal added to the subscriber's PeerConnection.
type DownTrack struct {
	id, stream string
	up         conn.UpTrack
	kind       webrtc.RTPCodecType
	mime       string
	c          *Counters
	sender     *webrtc.RTPSender

	bound  atomic.Pointer[binding]
	paused atomic.Bool

	mu     sync.Mutex // guards munger: the forwarding path and the NACK responder
	munger *rtpmunge.Munger

	// Scratch headers, so that nothing is allocated per packet (a header
	// handed to the writer interface would escape): one for the
	// forwarding goroutine, one for the RTCP goroutine.
	fwd, resend rtp.Header
}

var (
	_ conn.DownTrack    = (*DownTrack)(nil)
	_ webrtc.TrackLocal = (*DownTrack)(nil)
)

func newDownTrack(up conn.UpTrack, ssrc uint32, id, stream string, c *Counters) (*DownTrack, error) {
	m := rtpmunge.New(0)
	if err := m.Switch(ssrc, up.ClockRate()); err != nil {
		return nil, err
	}
	return &DownTrack{id: id, stream: stream, up: up, kind: kindOf(up.Kind()), mime: up.MimeType(), c: c.fill(), munger: m}, nil
}

// Bind is called by pion when the subscriber's answer is applied.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, p := range ctx.CodecParameters() {
		if strings.EqualFold(p.MimeType, d.mime) {
			d.bound.Store(&binding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), pt: uint8(p.PayloadType)})
			return p, nil
		}
	}
	return webrtc.RTPCodecParameters{}, ErrNoCodec
}

// Unbind is called by pion when the track is removed or the PC closes.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(nil)
	return nil
}

// ID is "<publisher>:<track id>".
func (d *DownTrack) ID() string { return d.id }

// RID is empty: a subscriber gets one stream per track.
func (d *DownTrack) RID() string { return "" }

// StreamID is the publisher's peer id.
func (d *DownTrack) StreamID() string { return d.stream }

// Kind is the up track's kind.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.kind }

// Up is the track forwarded.
func (d *DownTrack) Up() conn.UpTrack { return d.up }

// SetPaused stops or resumes forwarding (at frame boundaries, see
// rtpmunge). Resuming video asks the publisher for a keyframe.
func (d *DownTrack) SetPaused(p bool) {
	if d.paused.Swap(p) && !p {
		d.up.RequestKeyframe()
	}
}

// Paused reports whether forwarding is paused.
func (d *DownTrack) Paused() bool { return d.paused.Load() }

// WriteRTP rewrites a copy of p's header and writes it to the subscriber.
func (d *DownTrack) WriteRTP(p *rtp.Packet, now time.Time) error {
	b := d.bound.Load()
	if b == nil {
		return nil // not negotiated yet: the munger starts at the first packet sent
	}
	hdr := &d.fwd
	*hdr = p.Header
	// The publisher's extension ids mean nothing on this PC; padding-only
	// packets carry nothing worth sending.
	hdr.Extension, hdr.Extensions, hdr.ExtensionProfile, hdr.Padding = false, nil, 0, false
	d.mu.Lock()
	var ok bool
	if d.paused.Load() || len(p.Payload) == 0 {
		d.munger.Skip(hdr)
	} else {
		ok = d.munger.Munge(hdr, now)
	}
	d.mu.Unlock()
	if !ok {
		return nil
	}
	hdr.SSRC, hdr.PayloadType = b.ssrc, b.pt
	n, err := b.w.WriteRTP(hdr, p.Payload)
	if err == nil {
		d.c.ForwardedPackets.Add(1)
		d.c.ForwardedBytes.Add(float64(n))
	}
	return err
}

// readRTCP handles the subscriber's RTCP until the sender stops.
func (d *DownTrack) readRTCP() {
	buf := make([]byte, packetcache.DefaultMaxPacketSize)
	var misses []uint16
	for {
		pkts, _, err := d.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch p := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.c.PLIsReceived.Add(1)
				if d.up.RequestKeyframe() {
					d.c.PLIsForwarded.Add(1)
				}
			case *rtcp.TransportLayerNack:
				misses = d.nack(p, buf, misses[:0])
				d.up.NACK(misses)
			}
		}
	}
}

// nack resends what the cache holds of the packets p asks for and returns
// the source numbers it does not hold.
func (d *DownTrack) nack(p *rtcp.TransportLayerNack, buf []byte, misses []uint16) []uint16 {
	b := d.bound.Load()
	if b == nil {
		return misses
	}
	var pkt rtp.Packet
	for _, pair := range p.Nacks {
		pair.Range(func(seq uint16) bool {
			d.c.NACKsReceived.Add(1)
			d.mu.Lock()
			_, src, ok := d.munger.Reverse(seq)
			d.mu.Unlock()
			if !ok {
				return true
			}
			n := d.up.Packet(src, buf)
			if n == 0 || pkt.Unmarshal(buf[:n]) != nil {
				misses = append(misses, src)
				return true
			}
			hdr := &d.resend
			*hdr = pkt.Header
			hdr.Extension, hdr.Extensions, hdr.ExtensionProfile, hdr.Padding = false, nil, 0, false
			d.mu.Lock()
			ok = d.munger.Munge(hdr, time.Now())
			d.mu.Unlock()
			if ok {
				hdr.SSRC, hdr.PayloadType = b.ssrc, b.pt
				if _, err := b.w.WriteRTP(hdr, pkt.Payload); err == nil {
					d.c.NACKsAnswered.Add(1)
				}
			}
			return true
		})
	}
	return misses
}
