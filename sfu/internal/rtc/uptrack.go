package rtc

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/internal/conn"
	"github.com/switchboard-rtc/switchboard/sfu/internal/packetcache"
	"github.com/switchboard-rtc/switchboard/sfu/internal/udpbatch"
)

// KeyframeInterval is the least time between two keyframe requests sent to
// a publisher for one track, whoever asks.
const KeyframeInterval = 500 * time.Millisecond

// Counter is a monotonic counter (a prometheus.Counter fits).
type Counter interface{ Add(float64) }

type nopCounter struct{}

func (nopCounter) Add(float64) {}

// Counters are the forwarding path's metrics; nil fields count nothing.
type Counters struct {
	ForwardedPackets, ForwardedBytes Counter
	NACKsReceived, NACKsAnswered     Counter
	NACKsForwarded                   Counter
	// PublisherNACKs counts the packets the server asked publishers for
	// (its own losses on the way in, losses.go); DuplicatePackets the
	// retransmissions that came after the original and were dropped;
	// RTXReceived the repairs that came as RTX.
	PublisherNACKs, DuplicatePackets, RTXReceived Counter
	// RTXSent counts the NACKed packets resent to subscribers as RTX
	// (counted in NACKsAnswered as well).
	RTXSent                     Counter
	PLIsReceived, PLIsForwarded Counter
	BadPackets, BadRTCP         Counter
	// DelayDecreases counts the cuts of subscribers' delay-based
	// estimates (overuse seen in transport-cc feedback).
	DelayDecreases Counter
	// Fanout gets the time from a packet's arrival to its last copy's
	// write, for one packet in FanoutSampleEvery (fanout.go).
	Fanout Observer
}

func (c *Counters) fill() *Counters {
	out := *c
	for _, f := range []*Counter{&out.ForwardedPackets, &out.ForwardedBytes, &out.NACKsReceived, &out.NACKsAnswered,
		&out.NACKsForwarded, &out.PublisherNACKs, &out.DuplicatePackets, &out.RTXReceived, &out.RTXSent, &out.PLIsReceived, &out.PLIsForwarded, &out.BadPackets, &out.BadRTCP, &out.DelayDecreases} {
		if *f == nil {
			*f = nopCounter{}
		}
	}
	if out.Fanout == nil {
		out.Fanout = nopObserver{}
	}
	return &out
}

// UpTrack is a publisher's incoming track: Run reads it, stores each packet
// in the track's cache and writes it to every DownTrack.
type UpTrack struct {
	track *webrtc.TrackRemote
	pc    *webrtc.PeerConnection
	ssrc  uint32
	kind  string
	cache *packetcache.Cache
	c     *Counters
	level uint8            // audio level extension id, 0 = none
	batch udpbatch.Batcher // the publisher PC's socket (nil: none)
	nack  bool             // the publisher resends what it is NACKed (negotiated)
	lost  lossLog          // the reader's: what to NACK (losses.go)

	mu    sync.Mutex                       // serializes changes of downs
	downs atomic.Pointer[[]conn.DownTrack] // copy-on-write

	last    atomic.Int64 // unix ns of the last packet
	lastPLI atomic.Int64
	// pliPending: a keyframe request came within KeyframeInterval of the
	// last PLI; the reader sends it when the interval is over.
	pliPending atomic.Bool
	audio      atomic.Uint32 // level | 1<<8 when set
	audioAt    atomic.Int64
	done       chan struct{}

	bytes atomic.Uint64 // received since the last Sample
	rate  meter         // bitrate.go
}

var _ conn.UpTrack = (*UpTrack)(nil)

// NewUpTrack wraps track, received on pc. It has no packet cache until
// Accept: a track that is not forwarded costs no cache.
func NewUpTrack(pc *webrtc.PeerConnection, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver, c *Counters) (*UpTrack, error) {
	u := &UpTrack{track: track, pc: pc, ssrc: uint32(track.SSRC()), kind: track.Kind().String(), c: c.fill(), done: make(chan struct{})}
	for _, x := range recv.GetParameters().HeaderExtensions {
		if x.URI == AudioLevelURI {
			u.level = uint8(x.ID)
		}
	}
	for _, fb := range track.Codec().RTCPFeedback {
		u.nack = u.nack || fb.Type == "nack" && fb.Parameter == ""
	}
	u.downs.Store(&[]conn.DownTrack{})
	return u, nil
}

// Accept makes the track's packet cache (512 packets of video, 128 of
// audio): call it once the track is to be forwarded, before any DownTrack
// is added, from PeerConfig.OnTrack (Run starts after it returns).
func (u *UpTrack) Accept() error {
	slots := packetcache.DefaultSlots
	if u.kind == "audio" {
		slots = 128
	}
	cache, err := packetcache.New(packetcache.Config{Slots: slots})
	if err != nil {
		return err
	}
	u.cache = cache
	return nil
}

// ID is the publisher's track id.
func (u *UpTrack) ID() string { return u.track.ID() }

// RID is the simulcast layer's stream id ("" without simulcast).
func (u *UpTrack) RID() string { return u.track.RID() }

// StreamID is the publisher's stream id.
func (u *UpTrack) StreamID() string { return u.track.StreamID() }

// Kind is "audio" or "video".
func (u *UpTrack) Kind() string { return u.kind }

// MimeType of the codec.
func (u *UpTrack) MimeType() string { return u.track.Codec().MimeType }

// ClockRate of the codec.
func (u *UpTrack) ClockRate() uint32 { return u.track.Codec().ClockRate }

// SSRC of the incoming stream.
func (u *UpTrack) SSRC() uint32 { return u.ssrc }

// Done is closed when Run returns.
func (u *UpTrack) Done() <-chan struct{} { return u.done }

// AddDown starts forwarding to d.
func (u *UpTrack) AddDown(d conn.DownTrack) {
	u.mu.Lock()
	defer u.mu.Unlock()
	old := *u.downs.Load()
	n := make([]conn.DownTrack, len(old), len(old)+1)
	copy(n, old)
	n = append(n, d)
	u.downs.Store(&n)
}

// RemoveDown stops forwarding to d.
func (u *UpTrack) RemoveDown(d conn.DownTrack) {
	u.mu.Lock()
	defer u.mu.Unlock()
	old := *u.downs.Load()
	n := make([]conn.DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			n = append(n, x)
		}
	}
	u.downs.Store(&n)
}

// Run forwards until the track ends (the publisher's PC closes or the
// transceiver stops). It closes Done.
func (u *UpTrack) Run() {
	defer close(u.done)
	buf := make([]byte, packetcache.DefaultMaxPacketSize)
	var p rtp.Packet
	fan := fanoutSampler{obs: u.c.Fanout}
	batch := u.batch
	if batch == nil {
		batch = udpbatch.None
	}
	var errs readErrors
	for {
		n, attrs, err := u.track.Read(buf)
		if err != nil {
			if errs.closed(err) {
				return
			}
			u.c.BadPackets.Add(1) // over the buffer (io.ErrShortBuffer: dropped), or refused by an interceptor
			continue
		}
		errs.n = 0
		if err := p.Unmarshal(buf[:n]); err != nil || p.SSRC != u.ssrc {
			u.c.BadPackets.Add(1)
			continue
		}
		if u.duplicate(p.SequenceNumber, attrs) {
			continue
		}
		now := time.Now()
		u.last.Store(now.UnixNano())
		u.bytes.Add(uint64(n))
		u.deferredPLI(now)
		_ = u.cache.Store(p.SequenceNumber, buf[:n]) // too old or too large: forwarded all the same
		if u.nack {
			u.lost.add(p.SequenceNumber)
			if seqs := u.lost.missing(now); len(seqs) > 0 {
				u.c.PublisherNACKs.Add(float64(len(seqs)))
				u.writeNACK(seqs)
			}
		}
		if u.level != 0 {
			if e := p.GetExtension(u.level); len(e) > 0 {
				u.audio.Store(uint32(e[0]&0x7f) | 1<<8)
				u.audioAt.Store(now.UnixNano())
			}
		}
		downs := *u.downs.Load()
		batch.Hold() // the copies leave together, in a few sendmmsg calls
		for _, d := range downs {
			_ = d.WriteRTP(&p, now) // a subscriber's error is its own
		}
		batch.Release()
		fan.done(now, downs, u.ssrc)
	}
}

// Packet copies a cached packet into buf.
func (u *UpTrack) Packet(seq uint16, buf []byte) int {
	if u.cache == nil {
		return 0
	}
	return u.cache.Get(seq, buf)
}

// NACK asks the publisher to retransmit seqs (for subscribers: packets
// they asked for that the cache lacks).
func (u *UpTrack) NACK(seqs []uint16) {
	if len(seqs) == 0 {
		return
	}
	u.c.NACKsForwarded.Add(float64(len(seqs)))
	u.writeNACK(seqs)
}

func (u *UpTrack) writeNACK(seqs []uint16) {
	_ = u.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: u.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
}

// duplicate reports whether the packet numbered seq, read with attrs,
// came already (a retransmission answering a NACK that crossed the
// original, or RTX the publisher sends as padding): it is dropped. A
// late packet that did not come yet is a repair; pion has unwrapped it
// already if it came as RTX (counted). One atomic load for a packet
// newer than the last.
func (u *UpTrack) duplicate(seq uint16, attrs interceptor.Attributes) bool {
	last, ok := u.cache.Last()
	if !ok || seq-last-1 < 1<<15 {
		return false
	}
	if u.cache.Has(seq) {
		u.c.DuplicatePackets.Add(1)
		return true
	}
	if attrs != nil && attrs.Get(webrtc.AttributeRtxSsrc) != nil {
		u.c.RTXReceived.Add(1)
	}
	return false
}

// RequestKeyframe sends a PLI unless one went out less than
// KeyframeInterval ago; then the request is deferred, not dropped: the
// track's reader sends it once the interval has passed (a subscriber that
// switched layers right after another's request would otherwise wait for
// the publisher's next keyframe of its own, which a browser may not send
// for a long time). It reports whether a PLI went out now.
func (u *UpTrack) RequestKeyframe() bool {
	if u.kind != "video" {
		return false
	}
	if u.sendPLI(time.Now().UnixNano()) {
		return true
	}
	u.pliPending.Store(true)
	return false
}

// sendPLI sends a PLI if the interval since the last has passed.
func (u *UpTrack) sendPLI(now int64) bool {
	last := u.lastPLI.Load()
	if now-last < int64(KeyframeInterval) || !u.lastPLI.CompareAndSwap(last, now) {
		return false
	}
	u.pliPending.Store(false)
	_ = u.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: u.ssrc}})
	return true
}

// deferredPLI sends a deferred keyframe request once its time has come;
// one atomic load per packet otherwise. Reader-owned.
func (u *UpTrack) deferredPLI(now time.Time) {
	if u.pliPending.Load() && u.sendPLI(now.UnixNano()) {
		u.c.PLIsForwarded.Add(1)
	}
}

// LimitBitrate sends the publisher a REMB for this track.
func (u *UpTrack) LimitBitrate(bps uint64) {
	if u.kind != "video" {
		return
	}
	_ = u.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(bps), SSRCs: []uint32{u.ssrc}}})
}

// LastPacket is when the last packet arrived.
func (u *UpTrack) LastPacket() time.Time {
	ns := u.last.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// AudioLevel is the last audio level read from the extension.
func (u *UpTrack) AudioLevel() (uint8, time.Time, bool) {
	v := u.audio.Load()
	if v&(1<<8) == 0 {
		return 0, time.Time{}, false
	}
	return uint8(v), time.Unix(0, u.audioAt.Load()), true
}

// drainRTCP reads the publisher's RTCP for this track, or for its
// simulcast layer rid (sender reports feed the receiver-report
// interceptor), until the receiver stops. A simulcast layer must be read by
// its rid: pion's plain Read dereferences a layer that may not exist yet
// (a nil pointer panic with Chromium's simulcast offers). It reads raw
// into one buffer: a malformed or oversized compound is counted and the
// loop goes on (pion's ReadRTCP would end it).
func drainRTCP(recv *webrtc.RTPReceiver, rid string, c *Counters) {
	buf := make([]byte, rtcpBufferSize)
	var errs readErrors
	for {
		var err error
		if rid != "" {
			_, _, err = recv.ReadSimulcast(buf, rid)
		} else {
			_, _, err = recv.Read(buf)
		}
		if err == nil {
			errs.n = 0
			continue
		}
		if errs.closed(err) {
			return
		}
		c.BadRTCP.Add(1)
	}
}

// rtcpBufferSize is the read buffer of an RTCP loop: a compound over it is
// dropped (io.ErrShortBuffer) and counted.
const rtcpBufferSize = 1500

// readErrors sorts the errors of a read loop: a closed stream ends it;
// anything else (a malformed packet an interceptor refused, a packet over
// the buffer, which pion drops) is the packet's, and the loop goes on. A
// long run of such errors is slowed down, so that an error that would not
// go away cannot spin.
type readErrors struct{ n int }

func (r *readErrors) closed(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) {
		return true
	}
	if r.n++; r.n > 64 {
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// discardTrack reads a track that is not forwarded until it ends, keeping
// nothing: unread, pion would buffer its packets.
func discardTrack(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil && !errors.Is(err, io.ErrShortBuffer) {
			return
		}
	}
}

func kindOf(s string) webrtc.RTPCodecType {
	if strings.EqualFold(s, "audio") {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}
