package sfu_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

// newSFU starts an SFU with its own registry, on a loopback UDP port
// unless cfg.UDP is set.
func newSFU(t *testing.T, cfg sfu.Config) (*sfu.SFU, *prometheus.Registry) {
	t.Helper()
	if cfg.UDP == nil {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.UDP = conn
	}
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	s, err := sfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, reg
}

// counter reads a switchboard_sfu_* series (a histogram: its count).
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// queue is an unbounded FIFO: the SFU's send never blocks on a test peer.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  [][]byte
	closed bool
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) push(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items = append(q.items, append([]byte(nil), b...))
	q.cond.Signal()
	return true
}

func (q *queue) pop() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, false
	}
	b := q.items[0]
	q.items = q.items[1:]
	return b, true
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// peer is a test participant: an sfuclient wired straight to the SFU.
type peer struct {
	t    *testing.T
	id   string
	room string
	s    *sfu.SFU
	c    *sfuclient.Client
	in   *queue
	done chan struct{}

	mu       sync.Mutex
	tracks   map[string]*recv // by track id
	ended    map[string]bool
	data     []sfuclient.Data
	layers   []sfuclient.Layer
	speakers [][]string
	errors   []string
	plis     int     // keyframe requests received as a publisher
	remb     float32 // the last REMB bitrate received as a publisher
}

// recv is what a peer received on one forwarded track.
type recv struct {
	track  *sfuclient.Track
	mu     sync.Mutex
	seqOff map[uint32]uint16 // source index -> outgoing sequence number
	count  int
	// Simulcast test packets (payload 0x10, keyframe bit, layer, ...):
	layers map[byte]int    // packets by layer
	seqs   map[uint16]bool // outgoing sequence numbers seen
	frames map[uint32]bool // layer<<24 | packet number n (simulcast.write)
	// By index: how often it came on the media SSRC, and as RTX (pion
	// unwraps it: the payload's length then).
	plain, rtx map[uint32]int
	rtxLen     map[uint32]int
}

type peerOpts struct {
	before []interceptor.Factory
	noJoin bool
	tcp    bool // gather TCP candidates only
	// net: gather and listen there (UDP), not on loopback (a namespace,
	// netns_test.go).
	net transport.Net
	// noRTX: the client negotiates no RTX (sfuclient.APIConfig.NoRTX).
	noRTX bool
}

func newPeer(t *testing.T, s *sfu.SFU, room, id string, o peerOpts) *peer {
	t.Helper()
	ac := sfuclient.APIConfig{Loopback: true, Before: o.before, NoReplayProtection: o.before != nil, NoRTX: o.noRTX}
	if o.tcp {
		ac.NetworkTypes = []webrtc.NetworkType{webrtc.NetworkTypeTCP4}
	}
	if o.net != nil {
		ac.Loopback, ac.Net, ac.NetworkTypes = false, o.net, []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	api, err := sfuclient.NewAPI(ac)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, id: id, room: room, s: s, in: newQueue(), done: make(chan struct{}),
		tracks: map[string]*recv{}, ended: map[string]bool{}}
	p.c, err = sfuclient.New(sfuclient.Config{
		Send: func(m []byte) error { return s.Message(room, id, m) },
		API:  api,
		OnTrack: func(tr *sfuclient.Track) {
			r := &recv{track: tr, seqOff: map[uint32]uint16{}, layers: map[byte]int{}, seqs: map[uint16]bool{}, frames: map[uint32]bool{},
				plain: map[uint32]int{}, rtx: map[uint32]int{}, rtxLen: map[uint32]int{}}
			p.mu.Lock()
			p.tracks[tr.ID] = r
			p.mu.Unlock()
			go r.read()
		},
		OnTrackEnded: func(tr *sfuclient.Track) {
			p.mu.Lock()
			p.ended[tr.ID] = true
			p.mu.Unlock()
		},
		OnData: func(d sfuclient.Data) {
			p.mu.Lock()
			p.data = append(p.data, d)
			p.mu.Unlock()
		},
		OnLayer: func(l sfuclient.Layer) {
			p.mu.Lock()
			p.layers = append(p.layers, l)
			p.mu.Unlock()
		},
		OnSpeakers: func(peers []string) {
			p.mu.Lock()
			p.speakers = append(p.speakers, peers)
			p.mu.Unlock()
		},
		OnError: func(code, msg string) {
			p.mu.Lock()
			p.errors = append(p.errors, code+": "+msg)
			p.mu.Unlock()
		},
		OnPublisherRTCP: func(_ string, pkts []rtcpPacket) {
			p.mu.Lock()
			p.plis += countPLIs(pkts)
			if b, ok := lastREMB(pkts); ok {
				p.remb = b
			}
			p.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		for {
			m, ok := p.in.pop()
			if !ok {
				return
			}
			if err := p.c.Handle(m); err != nil && !errors.Is(err, sfuclient.ErrClosed) {
				t.Errorf("%s: handle: %v", id, err)
			}
		}
	}()
	t.Cleanup(p.close)
	if !o.noJoin {
		if err := s.Join(room, id, p.in.push); err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
	}
	return p
}

func (p *peer) close() {
	p.in.close()
	<-p.done
	_ = p.c.Close()
}

// leave leaves the SFU room and closes the client.
func (p *peer) leave() {
	p.s.Leave(p.room, p.id)
	p.close()
}

func (r *recv) read() {
	var pkt rtp.Packet
	buf := make([]byte, 1500)
	for {
		n, a, err := r.track.Remote.Read(buf)
		if err != nil {
			return
		}
		fromRTX := a != nil && a.Get(webrtc.AttributeRtxSsrc) != nil
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) < 4 {
			continue
		}
		idx := binary.BigEndian.Uint32(pkt.Payload)
		r.mu.Lock()
		if pkt.Payload[0] == 0x10 && len(pkt.Payload) >= 3 {
			r.layers[pkt.Payload[2]]++
		}
		if pkt.Payload[0] == 0x10 && len(pkt.Payload) >= 8 {
			r.frames[uint32(pkt.Payload[2])<<24|binary.BigEndian.Uint32(pkt.Payload[4:])&0xffffff] = true
		}
		r.seqs[pkt.SequenceNumber] = true
		if fromRTX {
			r.rtx[idx]++
			r.rtxLen[idx] = len(pkt.Payload)
		} else {
			r.plain[idx]++
		}
		if _, dup := r.seqOff[idx]; !dup {
			r.count++
		}
		r.seqOff[idx] = pkt.SequenceNumber
		r.mu.Unlock()
	}
}

// received returns a copy of what arrived: index -> sequence number.
func (r *recv) received() map[uint32]uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint32]uint16, len(r.seqOff))
	for k, v := range r.seqOff {
		out[k] = v
	}
	return out
}

func (p *peer) track(id string) *recv {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tracks[id]
}

// eventually polls cond until it holds or the (generous) deadline passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitData(t *testing.T, peers ...*peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range peers {
		select {
		case <-p.c.DataOpen():
		case <-ctx.Done():
			t.Fatalf("%s: data channel never opened", p.id)
		}
	}
}

// source publishes a track and writes numbered packets: each payload
// starts with the packet's index.
type source struct {
	track *webrtc.TrackLocalStaticRTP
	seq   uint16
	ts    uint32
	next  uint32
	mu    sync.Mutex // guards next for readers other than the writer
	step  uint32     // timestamp step per frame
	size  int
	ext   func(*rtp.Header) // sets header extensions, if any
}

func publish(t *testing.T, p *peer, kind, id string) *source {
	t.Helper()
	src := newSource(t, p.id, kind, id)
	if _, err := p.c.Publish(src.track); err != nil {
		t.Fatalf("%s publish %s: %v", p.id, id, err)
	}
	return src
}

// newSource makes a numbered source without publishing it.
func newSource(t *testing.T, stream, kind, id string) *source {
	t.Helper()
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	src := &source{seq: 1000, ts: 5000, step: 3000, size: 1000}
	if kind == "audio" {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		src.step, src.size = 960, 100
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(codec, id, stream)
	if err != nil {
		t.Fatal(err)
	}
	src.track = tr
	return src
}

// sent is the number of packets written so far.
func (s *source) sent() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// write sends the next packet (one packet per frame, marker set).
func (s *source) write() error {
	payload := make([]byte, s.size)
	binary.BigEndian.PutUint32(payload, s.next)
	h := rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: s.ts, Marker: true}
	if s.ext != nil {
		s.ext(&h)
	}
	s.mu.Lock()
	s.next++
	s.mu.Unlock()
	s.seq++
	s.ts += s.step
	return s.track.WriteRTP(&rtp.Packet{Header: h, Payload: payload})
}

// videoCall puts "sub" and "pub", publishing VP8 track "cam" (with the
// options o), in room, and waits until sub gets its packets; they flow
// until the test ends.
func videoCall(t *testing.T, s *sfu.SFU, room string, o peerOpts) (sub, pub *peer) {
	t.Helper()
	sub = newPeer(t, s, room, "sub", peerOpts{})
	pub = newPeer(t, s, room, "pub", o)
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	t.Cleanup(func() { close(stop); <-done })
	eventually(t, "video", 30*time.Second, hasPackets(sub, "pub:cam", 5))
	return sub, pub
}

// pump writes packets of every source every interval until stop is closed.
func pump(interval time.Duration, stop <-chan struct{}, srcs ...*source) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, s := range srcs {
					_ = s.write()
				}
			}
		}
	}()
	return done
}
