package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The codecs, as the SFU registers them (sfu/internal/rtc.RegisterCodecs).
var (
	capH264 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	capVP8  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	capOpus = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}
)

// simulcastLayers are the RIDs and shares of the top bitrate of the three
// layers (as the LiveKit anchor's clips: 120, 400 and 1,500 kbit/s).
var simulcastLayers = []struct {
	rid   string
	share float64
}{{"low", 0.08}, {"medium", 0.267}, {"high", 1}}

// sfuOut is one stream as its publisher writes it.
type sfuOut struct {
	s      *sfuStream
	id     string // the local track's id
	track  *webrtc.TrackLocalStaticRTP
	key    atomic.Bool  // a keyframe was asked for
	frames *videoFrames // nil: audio
	opus   []byte
	ssrcTS uint32 // timestamp base
	seq0   uint16
	midID  uint8 // mid and rid header extensions, for simulcast layers (0: none)
	ridID  uint8
	mid    []byte
	bufs   [][]byte
}

// sfuSender is one publishing participant's media.
type sfuSender struct {
	p     *sfuPeer
	video []*sfuOut // frames at fps (all layers together)
	audio []*sfuOut // a packet every 20 ms
}

// publish makes p's tracks (its streams in ph.streams), publishes them
// and waits until the SFU has answered.
func (ph *sfuPhase) publish(ctx context.Context, p *sfuPeer) (*sfuSender, error) {
	cfg := &ph.r.cfg
	snd := &sfuSender{p: p}
	var layers, plain []*sfuOut
	for _, s := range ph.streams {
		if s.owner != p.idx {
			continue
		}
		o := &sfuOut{s: s, ssrcTS: rand.Uint32(), seq0: uint16(rand.Uint32())} //nolint:gosec // random bases
		var err error
		if s.kind == "audio" {
			o.opus = opusPayload()
			o.id = fmt.Sprintf("mic%d", s.track)
			o.track, err = webrtc.NewTrackLocalStaticRTP(capOpus, o.id, p.id)
			snd.audio = append(snd.audio, o)
		} else {
			c := capH264
			if cfg.Codec == "vp8" {
				c = capVP8
			}
			bitrate := cfg.Bitrate
			var opts []func(*webrtc.TrackLocalStaticRTP)
			if s.rid != "" {
				bitrate = int(float64(bitrate) * layerShare(s.rid))
				opts = append(opts, webrtc.WithRTPStreamID(s.rid))
			}
			o.frames = newVideoFrames(cfg.Codec, bitrate, cfg.FPS, cfg.MaxPayload, cfg.Keyframe)
			o.id = fmt.Sprintf("cam%d", s.track)
			o.track, err = webrtc.NewTrackLocalStaticRTP(c, o.id, p.id, opts...)
			snd.video = append(snd.video, o)
			if s.rid != "" {
				layers = append(layers, o)
			}
		}
		if err != nil {
			return nil, err
		}
		if s.rid == "" {
			plain = append(plain, o)
		}
	}
	// Keyframe requests may come before the SFU's answer does.
	p.sender.Store(snd)
	for _, o := range plain {
		if _, err := p.c.Publish(o.track); err != nil {
			return nil, fmt.Errorf("participant %d: publish: %w", p.idx, err)
		}
	}
	var sender *webrtc.RTPSender
	if len(layers) > 0 {
		tl := make([]webrtc.TrackLocal, len(layers))
		for i, o := range layers {
			tl[i] = o.track
		}
		var err error
		if sender, err = p.c.PublishSimulcast(tl...); err != nil {
			return nil, fmt.Errorf("participant %d: publish simulcast: %w", p.idx, err)
		}
	}
	if err := waitFor(ctx, 30*time.Second, func() bool {
		pc := p.c.PubPC()
		return pc != nil && pc.SignalingState() == webrtc.SignalingStateStable && pc.RemoteDescription() != nil
	}); err != nil {
		return nil, fmt.Errorf("participant %d: the SFU did not answer the publisher's offer", p.idx)
	}
	if sender != nil {
		if err := setLayerExtensions(p, sender, layers); err != nil {
			return nil, err
		}
	}
	return snd, nil
}

// keyframeAsked handles the SFU's RTCP about p's track id: a PLI or FIR
// makes the next frame of every layer of that track a keyframe, as an
// encoder would (the SFU rate-limits them).
func (ph *sfuPhase) keyframeAsked(p *sfuPeer, id string, pkts []rtcp.Packet) {
	snd := p.sender.Load()
	if snd == nil {
		return // not publishing yet: its first frame is a keyframe anyway
	}
	for _, pkt := range pkts {
		switch pkt.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			ph.keyframes.Add(1)
			for _, o := range snd.video {
				if o.id == id {
					o.key.Store(true)
				}
			}
		}
	}
}

func layerShare(rid string) float64 {
	for _, l := range simulcastLayers {
		if l.rid == rid {
			return l.share
		}
	}
	return 1
}

// setLayerExtensions gives each simulcast layer's packets the mid and rid
// header extensions (TrackLocalStaticRTP leaves them to the writer).
func setLayerExtensions(p *sfuPeer, sender *webrtc.RTPSender, layers []*sfuOut) error {
	h, err := p.c.SimulcastHeader(sender)
	if err != nil {
		return fmt.Errorf("participant %d: %w", p.idx, err)
	}
	for _, o := range layers {
		o.midID, o.ridID, o.mid = h.MidID, h.RIDID, []byte(h.Mid)
	}
	return nil
}

// run sends until stop closes: a video frame of every layer each 1/fps,
// an Opus packet each 20 ms, on a schedule; when it falls more than a
// second behind it skips what it missed (counted in ph.behind).
func (snd *sfuSender) run(ph *sfuPhase, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	fps := ph.r.cfg.FPS
	start := time.Now()
	var frames, packets int64 // sent so far
	var hdr rtp.Header
	for {
		select {
		case <-stop:
			return
		default:
		}
		el := time.Since(start)
		dueF := int64(el.Seconds()*float64(fps)) + 1
		dueA := int64(el/opusPacket) + 1
		if len(snd.video) == 0 {
			dueF = 0
		}
		if len(snd.audio) == 0 {
			dueA = 0
		}
		if lag := dueF - frames; lag > int64(fps) {
			ph.behind.Add(lag - 1)
			frames = dueF - 1
		}
		if lag := dueA - packets; lag > int64(time.Second/opusPacket) {
			ph.behind.Add(lag - 1)
			packets = dueA - 1
		}
		for ; frames < dueF; frames++ {
			for _, o := range snd.video {
				if o.key.Swap(false) {
					o.frames.force = true
				}
				o.bufs, _ = o.frames.nextFrame(o.bufs)
				for i, b := range o.bufs {
					hdr = rtp.Header{Version: 2, Marker: i == len(o.bufs)-1,
						Timestamp: o.ssrcTS + uint32(frames)*o.frames.clockStep} //nolint:gosec // wraps
					if o.midID != 0 {
						_ = hdr.SetExtension(o.midID, o.mid)
						_ = hdr.SetExtension(o.ridID, []byte(o.s.rid))
					}
					ph.send(o, &hdr, b)
				}
			}
		}
		for ; packets < dueA; packets++ {
			for _, o := range snd.audio {
				hdr = rtp.Header{Version: 2, Timestamp: o.ssrcTS + uint32(packets)*960} //nolint:gosec // wraps
				ph.send(o, &hdr, o.opus)
			}
		}
		next := start.Add(min(time.Duration(frames)*time.Second/time.Duration(max(fps, 1)), time.Duration(packets)*opusPacket))
		if len(snd.video) == 0 {
			next = start.Add(time.Duration(packets) * opusPacket)
		} else if len(snd.audio) == 0 {
			next = start.Add(time.Duration(frames) * time.Second / time.Duration(fps))
		}
		select {
		case <-stop:
			return
		case <-time.After(max(time.Until(next), 100*time.Microsecond)):
		}
	}
}

// send stamps payload b as o's next packet and writes it.
func (ph *sfuPhase) send(o *sfuOut, hdr *rtp.Header, b []byte) {
	idx := o.s.next
	o.s.next++
	hdr.SequenceNumber = o.seq0 + uint16(idx) //nolint:gosec // wraps
	s := ph.r.stamp()
	putTrailer(b, o.s.num, idx, s)
	if err := o.track.WriteRTP(&rtp.Packet{Header: *hdr, Payload: b}); err != nil {
		ph.writeErrs.Add(1)
		ph.r.noteErr(fmt.Errorf("write RTP: %w", err))
		return
	}
	if ph.inWindow(s) {
		o.s.sentWin.Add(1)
	}
}

// waitFor polls cond every 20 ms until it holds, d passes or ctx ends.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return context.DeadlineExceeded
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
