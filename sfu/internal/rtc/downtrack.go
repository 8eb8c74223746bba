package rtc

import (
	"errors"
	"math/rand/v2"
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
	"github.com/switchboard-rtc/switchboard/sfu/internal/udpbatch"
)

// ErrNoCodec: the subscriber's PeerConnection cannot receive the codec.
var ErrNoCodec = errors.New("rtc: codec not negotiated with the subscriber")

type binding struct {
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
	twcc uint8 // the transport-wide sequence number's extension id; 0: not negotiated
	// rtxSSRC and rtxPT: NACKed packets are resent as RTX on this SSRC
	// with this payload type (rtx.go); rtxSSRC 0: RTX not negotiated.
	rtxSSRC uint32
	rtxPT   uint8
}

// DownTrack forwards one UpTrack to one subscriber. It is the
// webrtc.TrackLocal added to the subscriber's PeerConnection.
type DownTrack struct {
	id, stream string
	up         conn.UpTrack // the first layer
	kind       webrtc.RTPCodecType
	mime       string
	c          *Counters
	bw         *bandwidth // the subscriber PC's, fed by readRTCP
	sender     *webrtc.RTPSender
	batch      udpbatch.Batcher // the subscriber PC's socket (nil: none)
	// OnSwitch, when set before the first packet, is told the RID of the
	// layer forwarded after each switch.
	OnSwitch func(rid string)

	layers atomic.Pointer[[]conn.UpTrack] // copy-on-write, under mu for writers
	cur    atomic.Uint32                  // SSRC of the layer forwarded
	target atomic.Uint32                  // SSRC to switch to at its next keyframe, 0: none

	bound  atomic.Pointer[binding]
	paused atomic.Bool

	// mu guards the munger and fwd: the layers' reader goroutines (only
	// the current layer's, and the target's at a switch, get past the
	// SSRC check) and the NACK responder.
	mu     sync.Mutex
	munger *rtpmunge.Munger
	vp8    *vp8Munger // VP8 only: picture ids across layer switches

	// Scratch headers, so that nothing is allocated per packet (a header
	// handed to the writer interface would escape): one for forwarding,
	// one for the RTCP goroutine; with each, the storage of its one
	// header extension, the transport-wide sequence number.
	fwd, resend       rtp.Header
	fwdExt, resendExt [1]rtp.Extension
	fwdSeq, resendSeq [2]byte

	// The RTCP reader's: a cached packet being resent (its header's
	// storage is reused: nothing allocated per resend), and for RTX
	// (rtx.go) the RTX stream's next sequence number and the buffer an
	// RTX payload is built in.
	cached rtp.Packet
	rtxSeq uint16
	rtxBuf []byte
}

var (
	_ conn.DownTrack    = (*DownTrack)(nil)
	_ webrtc.TrackLocal = (*DownTrack)(nil)
)

func newDownTrack(up conn.UpTrack, ssrc uint32, id, stream string, c *Counters, bw *bandwidth) (*DownTrack, error) {
	m := rtpmunge.New(0)
	if err := m.Switch(ssrc, up.ClockRate()); err != nil {
		return nil, err
	}
	d := &DownTrack{id: id, stream: stream, up: up, kind: kindOf(up.Kind()), mime: up.MimeType(), c: c.fill(), bw: bw, munger: m,
		rtxSeq: uint16(rand.Uint32())} //nolint:gosec // an RTP stream's random first number, not a secret
	if strings.EqualFold(d.mime, "video/VP8") {
		d.vp8 = &vp8Munger{}
	}
	d.layers.Store(&[]conn.UpTrack{up})
	d.cur.Store(ssrc)
	return d, nil
}

// AddLayer adds a simulcast layer of the same track.
func (d *DownTrack) AddLayer(up conn.UpTrack) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *d.layers.Load()
	n := append(append(make([]conn.UpTrack, 0, len(old)+1), old...), up)
	d.layers.Store(&n)
}

// SetLayer forwards the layer rid from its next keyframe on (asked for at
// once); the current layer goes on until then.
func (d *DownTrack) SetLayer(rid string) {
	for _, l := range *d.layers.Load() {
		if l.RID() != rid {
			continue
		}
		if l.SSRC() == d.cur.Load() {
			d.target.Store(0)
			return
		}
		d.target.Store(l.SSRC())
		l.RequestKeyframe()
		return
	}
}

// perLayer returns f of each of d's layers, in order of arrival.
func perLayer[T any](d *DownTrack, f func(conn.UpTrack) T) []T {
	ls := *d.layers.Load()
	out := make([]T, len(ls))
	for i, l := range ls {
		out[i] = f(l)
	}
	return out
}

// RIDs returns the RIDs of the track's layers, in order of arrival.
func (d *DownTrack) RIDs() []string { return perLayer(d, conn.UpTrack.RID) }

// Live reports, for each layer in the order of RIDs, whether a packet of
// it arrived less than idle before now.
func (d *DownTrack) Live(now time.Time, idle time.Duration) []bool {
	return perLayer(d, func(l conn.UpTrack) bool { return Flows(l, now, idle) })
}

// Flows reports whether a packet of up arrived less than idle before now.
func Flows(up conn.UpTrack, now time.Time, idle time.Duration) bool {
	last := up.LastPacket()
	return !last.IsZero() && now.Sub(last) < idle
}

// Bitrates returns, for each layer in the order of RIDs, its bitrate
// (conn.UpTrack.Bitrate).
func (d *DownTrack) Bitrates() []uint64 { return perLayer(d, conn.UpTrack.Bitrate) }

// Bitrate is the bitrate of the layer forwarded now.
func (d *DownTrack) Bitrate() uint64 {
	if l := d.layer(d.cur.Load()); l != nil {
		return l.Bitrate()
	}
	return 0
}

// Layer returns the RID of the layer forwarded now.
func (d *DownTrack) Layer() string {
	if l := d.layer(d.cur.Load()); l != nil {
		return l.RID()
	}
	return ""
}

func (d *DownTrack) layer(ssrc uint32) conn.UpTrack {
	for _, l := range *d.layers.Load() {
		if l.SSRC() == ssrc {
			return l
		}
	}
	return nil
}

// Bind is called by pion when the subscriber's answer is applied.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var twcc uint8
	for _, x := range ctx.HeaderExtensions() {
		if x.URI == TransportCCURI && x.ID > 0 && x.ID < 15 {
			twcc = uint8(x.ID)
		}
	}
	codecs := ctx.CodecParameters()
	for _, p := range codecs {
		if strings.EqualFold(p.MimeType, d.mime) {
			b := &binding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), pt: uint8(p.PayloadType), twcc: twcc}
			if rtx, ok := rtxPayloadType(codecs, p.PayloadType); ok && ctx.SSRCRetransmission() != 0 {
				b.rtxSSRC, b.rtxPT = uint32(ctx.SSRCRetransmission()), uint8(rtx)
			}
			d.bound.Store(b)
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

// RequestKeyframe asks the publisher for a keyframe of the layer
// forwarded now (rate-limited by the UpTrack).
func (d *DownTrack) RequestKeyframe() bool {
	if l := d.layer(d.cur.Load()); l != nil {
		return l.RequestKeyframe()
	}
	return false
}

// SetPaused stops or resumes forwarding (at frame boundaries, see
// rtpmunge). Resuming video asks the publisher for a keyframe.
func (d *DownTrack) SetPaused(p bool) {
	if d.paused.Swap(p) && !p {
		if l := d.layer(d.cur.Load()); l != nil {
			l.RequestKeyframe()
		}
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
	var switched string
	if p.SSRC != d.cur.Load() {
		// Another layer: taken only at a keyframe of the one asked for.
		if t := d.target.Load(); t == 0 || p.SSRC != t || !IsKeyframeStart(d.mime, p.Payload) {
			return nil
		}
		l := d.layer(p.SSRC)
		if l == nil {
			return nil
		}
		d.mu.Lock()
		if err := d.munger.Switch(p.SSRC, l.ClockRate()); err != nil {
			d.mu.Unlock()
			return err
		}
		d.cur.Store(p.SSRC)
		d.target.CompareAndSwap(p.SSRC, 0)
		if d.vp8 != nil {
			d.vp8.switched = true
		}
		d.mu.Unlock()
		switched = l.RID()
	}
	if switched != "" && d.OnSwitch != nil {
		d.OnSwitch(switched)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	hdr := &d.fwd
	*hdr = p.Header
	// The publisher's extension ids mean nothing on this PC (the only
	// extension sent is the transport-wide sequence number, below);
	// padding-only packets carry nothing worth sending.
	hdr.Extension, hdr.Extensions, hdr.ExtensionProfile, hdr.Padding = false, nil, 0, false
	var ok bool
	if d.paused.Load() || len(p.Payload) == 0 {
		d.munger.Skip(hdr)
	} else {
		ok = d.munger.Munge(hdr, now)
	}
	if !ok {
		return nil
	}
	hdr.SSRC, hdr.PayloadType = b.ssrc, b.pt
	payload := p.Payload
	if d.vp8 != nil {
		payload = d.vp8.rewrite(payload, true)
	}
	if b.twcc != 0 && d.bw.hist != nil {
		// The time of this write, not the packet's arrival (now): the
		// fan-out's own duration, which grows with the subscribers and
		// the load, is not the subscriber's queue.
		d.bw.hist.stamp(hdr, b.twcc, &d.fwdExt, &d.fwdSeq, payload, time.Now())
	}
	n, err := b.w.WriteRTP(hdr, payload)
	if err == nil {
		d.c.ForwardedPackets.Add(1)
		d.c.ForwardedBytes.Add(float64(n))
	}
	return err
}

// readRTCP handles the subscriber's RTCP until the sender stops. It reads
// raw into one buffer and parses it itself: a malformed or oversized
// compound is counted and the loop goes on (pion's ReadRTCP would end it,
// and with it NACKs and keyframe requests for this subscriber).
func (d *DownTrack) readRTCP() {
	buf := make([]byte, packetcache.DefaultMaxPacketSize)
	in := make([]byte, rtcpBufferSize)
	var misses []uint16
	var errs readErrors
	batch := d.batch
	if batch == nil {
		batch = udpbatch.None
	}
	for {
		n, a, err := d.sender.Read(in)
		if err != nil {
			if errs.closed(err) {
				return
			}
			d.c.BadRTCP.Add(1)
			continue
		}
		pkts, err := a.GetRTCPPackets(in[:n]) // parsed already by the report interceptor
		if err != nil {
			d.c.BadRTCP.Add(1)
			continue
		}
		errs.n = 0
		for _, pkt := range pkts {
			switch p := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.c.PLIsReceived.Add(1)
				if l := d.layer(d.cur.Load()); l != nil && l.RequestKeyframe() {
					d.c.PLIsForwarded.Add(1)
				}
			case *rtcp.TransportLayerNack:
				cur := d.cur.Load()
				batch.Hold() // the retransmissions leave together
				misses = d.nack(p, buf, misses[:0], cur)
				batch.Release()
				if l := d.layer(cur); l != nil {
					l.NACK(misses)
				}
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				// Sent for the whole PC (its SSRCs list every track), so
				// every down track's reader sees it: recording it again is
				// harmless.
				d.bw.remb(time.Now(), p.Bitrate)
			case *rtcp.ReceiverReport:
				d.receiverReport(p)
			case *rtcp.TransportLayerCC:
				// A feedback reaches the reader of its media SSRC, or
				// every reader its compound reaches: counted once.
				if d.bw.feedback(time.Now(), p) {
					d.c.DelayDecreases.Add(1)
				}
			}
		}
	}
}

// receiverReport feeds the estimator the loss the subscriber reports for
// this track: a compound reaches the reader of each SSRC it reports on,
// which takes its own block only.
func (d *DownTrack) receiverReport(p *rtcp.ReceiverReport) {
	b := d.bound.Load()
	if b == nil {
		return
	}
	for _, r := range p.Reports {
		if r.SSRC == b.ssrc {
			d.bw.loss(time.Now(), r.FractionLost)
		}
	}
}

// nack resends what the caches hold of the packets p asks for (as RTX
// when the subscriber negotiated it, rtx.go) and returns
// the source numbers of layer cur that they do not hold (misses of an
// older layer are not asked for: the subscriber has moved on).
func (d *DownTrack) nack(p *rtcp.TransportLayerNack, buf []byte, misses []uint16, cur uint32) []uint16 {
	b := d.bound.Load()
	if b == nil {
		return misses
	}
	pkt := &d.cached
	for _, pair := range p.Nacks {
		pair.Range(func(seq uint16) bool {
			d.c.NACKsReceived.Add(1)
			d.mu.Lock()
			ssrc, src, ok := d.munger.Reverse(seq)
			d.mu.Unlock()
			l := d.layer(ssrc)
			if !ok || l == nil {
				return true
			}
			n := l.Packet(src, buf)
			if n == 0 || pkt.Unmarshal(buf[:n]) != nil {
				if ssrc == cur {
					misses = append(misses, src)
				}
				return true
			}
			hdr := &d.resend
			*hdr = pkt.Header
			hdr.Extension, hdr.Extensions, hdr.ExtensionProfile, hdr.Padding = false, nil, 0, false
			payload := pkt.Payload
			d.mu.Lock()
			ok = d.munger.Munge(hdr, time.Now())
			if ok && d.vp8 != nil {
				payload = d.vp8.rewrite(payload, false)
			}
			d.mu.Unlock()
			if ok {
				hdr.SSRC, hdr.PayloadType = b.ssrc, b.pt
				rtx := b.rtxSSRC != 0
				if rtx {
					payload = d.wrapRTX(hdr, payload, b)
				}
				if b.twcc != 0 && d.bw.hist != nil {
					d.bw.hist.stamp(hdr, b.twcc, &d.resendExt, &d.resendSeq, payload, time.Now())
				}
				if _, err := b.w.WriteRTP(hdr, payload); err == nil {
					d.c.NACKsAnswered.Add(1)
					if rtx {
						d.c.RTXSent.Add(1)
					}
				}
			}
			return true
		})
	}
	return misses
}
