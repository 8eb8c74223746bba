package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// sfuPeer is a Go participant of an sfu room through the real signaling
// service: a WebSocket session whose sfu frames carry an sfuclient's
// messages, as the browser SDK's are carried.
type sfuPeer struct {
	t    *testing.T
	name string
	id   string // peer id from welcome
	room string
	ws   *websocket.Conn
	wmu  sync.Mutex
	c    *sfuclient.Client
	done chan struct{}

	mu     sync.Mutex
	frames []testutil.Msg               // non-sfu frames, in order
	got    map[string]map[uint32]uint16 // by track id: packet index -> sequence number received
	ended  map[string]bool              // tracks the SFU ended
	data   map[string][]sfuclient.Data  // by sender peer id
}

func newSFUPeer(t *testing.T, srv *testutil.Server, name, room string) *sfuPeer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(srv.WSURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	var welcome struct{ Peer string }
	if err := ws.WriteJSON(map[string]any{"type": "hello", "token": srv.Token(t, name, room)}); err != nil {
		t.Fatal(err)
	}
	if err := ws.ReadJSON(&welcome); err != nil || welcome.Peer == "" {
		t.Fatalf("%s: welcome: %v %+v", name, err, welcome)
	}
	p := &sfuPeer{t: t, name: name, id: welcome.Peer, room: room, ws: ws, done: make(chan struct{}),
		got: map[string]map[uint32]uint16{}, ended: map[string]bool{}, data: map[string][]sfuclient.Data{}}
	api, err := sfuclient.NewAPI(sfuclient.APIConfig{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	p.c, err = sfuclient.New(sfuclient.Config{
		API: api,
		Send: func(msg []byte) error {
			return p.write(map[string]any{"type": "sfu", "room": room, "data": json.RawMessage(msg)})
		},
		OnTrack: func(tr *sfuclient.Track) { go p.read(tr) },
		OnTrackEnded: func(tr *sfuclient.Track) {
			p.mu.Lock()
			p.ended[tr.ID] = true
			p.mu.Unlock()
		},
		OnData: func(d sfuclient.Data) {
			p.mu.Lock()
			p.data[d.From] = append(p.data[d.From], d)
			p.mu.Unlock()
		},
		OnError: func(code, msg string) { t.Errorf("%s: SFU error %s: %s", name, code, msg) },
	})
	if err != nil {
		t.Fatal(err)
	}
	go p.readLoop()
	t.Cleanup(p.close)
	if err := p.write(map[string]any{"type": "join", "room": room, "id": 1}); err != nil {
		t.Fatal(err)
	}
	joined := p.waitFrame("joined")
	if joined.Str("mode") != string(signaling.ModeSFU) {
		t.Fatalf("%s: joined %v, want mode sfu", name, joined)
	}
	return p
}

func (p *sfuPeer) write(v any) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.ws.WriteJSON(v)
}

// readLoop hands the sfu frames' data to the client, in order, and keeps
// the other frames.
func (p *sfuPeer) readLoop() {
	defer close(p.done)
	for {
		var f struct {
			Type string          `json:"type"`
			Peer string          `json:"peer"`
			Data json.RawMessage `json:"data"`
		}
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			return
		}
		if json.Unmarshal(b, &f) != nil {
			p.t.Errorf("%s: bad frame %s", p.name, b)
			return
		}
		if f.Type == "sfu" {
			if err := p.c.Handle(f.Data); err != nil {
				p.t.Errorf("%s: handle %s: %v", p.name, f.Data, err)
			}
			continue
		}
		var m testutil.Msg
		_ = json.Unmarshal(b, &m)
		p.mu.Lock()
		p.frames = append(p.frames, m)
		p.mu.Unlock()
	}
}

// waitFrame waits for a frame of type typ (other than sfu) and returns it.
func (p *sfuPeer) waitFrame(typ string) testutil.Msg {
	p.t.Helper()
	var m testutil.Msg
	waitUntil(p.t, p.name+" to get "+typ, 20*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, f := range p.frames {
			if f.Type() == typ {
				m = f
				return true
			}
		}
		return false
	})
	return m
}

// read records, for each packet of a forwarded track, the sequence number
// it arrived with under the index the pacer wrote in its last 4 bytes.
func (p *sfuPeer) read(tr *sfuclient.Track) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := tr.Remote.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) < 8 {
			continue
		}
		idx := binary.BigEndian.Uint32(pkt.Payload[len(pkt.Payload)-4:])
		p.mu.Lock()
		if p.got[tr.ID] == nil {
			p.got[tr.ID] = map[uint32]uint16{}
		}
		if _, dup := p.got[tr.ID][idx]; dup {
			p.t.Errorf("%s: %s: packet %d twice", p.name, tr.ID, idx)
		}
		p.got[tr.ID][idx] = pkt.SequenceNumber
		p.mu.Unlock()
	}
}

// received returns what arrived on a track: packet index -> sequence number.
func (p *sfuPeer) received(track string) map[uint32]uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.got[track])
}

func (p *sfuPeer) close() {
	_ = p.ws.Close()
	<-p.done
	_ = p.c.Close()
}

// waitUntil is pollUntil that fails the test.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	if !pollUntil(d, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestSFURoomThroughSignaling runs an sfu room as users do, through the
// WebSocket signaling service: --room-modes 'big-*=sfu' makes big-1 an sfu
// room, pion peers join it (joined says mode sfu), one publishes VP8 and
// Opus, and ten subscribers receive both tracks with continuous sequence
// numbers up to the last packet; data sent by one reaches the others once,
// with its sender, and a directed message only its target; the publisher
// leaving ends the tracks at every subscriber.
func TestSFURoomThroughSignaling(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{RoomModes: signaling.RoomModes{
		Rules: []signaling.RoomModeRule{{Pattern: "big-*", Mode: signaling.ModeSFU}},
	}})
	const room = "big-1"
	pub := newSFUPeer(t, srv, "pub", room)
	var subs []*sfuPeer
	for i := range 10 {
		subs = append(subs, newSFUPeer(t, srv, fmt.Sprintf("sub%d", i), room))
	}

	video := newPacer(t, pub, webrtc.MimeTypeVP8, "cam", 3000, 1000)
	audio := newPacer(t, pub, webrtc.MimeTypeOpus, "mic", 960, 100)
	stop := make(chan struct{})
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				video.write(t)
				audio.write(t)
			}
		}
	}()
	ids := []string{pub.id + ":cam", pub.id + ":mic"}
	waitUntil(t, "every subscriber receiving both tracks", 60*time.Second, func() bool {
		for _, s := range subs {
			for _, id := range ids {
				if len(s.received(id)) == 0 {
					return false
				}
			}
		}
		return true
	})
	time.Sleep(time.Second)
	close(stop)
	<-pumped
	last := []uint32{video.next - 1, audio.next - 1}
	waitUntil(t, "the last packets at every subscriber", 30*time.Second, func() bool {
		for _, s := range subs {
			for i, id := range ids {
				if _, ok := s.received(id)[last[i]]; !ok {
					return false
				}
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // late retransmissions, if any
	for _, s := range subs {
		for i, id := range ids {
			checkRun(t, s.name+" "+id, s.received(id), last[i])
		}
	}

	// Data through the server: a broadcast reaches every subscriber once,
	// a directed message only its target.
	for _, s := range append([]*sfuPeer{pub}, subs...) {
		select {
		case <-s.c.DataOpen():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: data channels never opened", s.name)
		}
	}
	target := subs[3].id
	if err := pub.c.SendData("", []byte(`{"hello":"all"}`), true, true); err != nil {
		t.Fatal(err)
	}
	if err := pub.c.SendData(target, []byte("just you"), true, true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the messages", 20*time.Second, func() bool {
		for i, s := range subs {
			s.mu.Lock()
			n := len(s.data[pub.id])
			s.mu.Unlock()
			if want := map[bool]int{true: 2, false: 1}[i == 3]; n < want {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)
	for i, s := range subs {
		s.mu.Lock()
		got := s.data[pub.id]
		s.mu.Unlock()
		want := 1
		if i == 3 {
			want = 2
		}
		if len(got) != want || string(got[0].Payload) != `{"hello":"all"}` || got[0].Directed {
			t.Fatalf("%s: data %+v", s.name, got)
		}
		if i == 3 && (string(got[1].Payload) != "just you" || !got[1].Directed) {
			t.Fatalf("%s: directed message %+v", s.name, got[1])
		}
	}

	// The publisher leaves: every subscriber hears peer-left, and the SFU
	// ends both tracks.
	if err := pub.write(map[string]any{"type": "leave", "room": room}); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		s.waitFrame("peer-left")
		waitUntil(t, s.name+"'s tracks to end", 20*time.Second, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.ended[ids[0]] && s.ended[ids[1]]
		})
	}
}

// checkRun checks that a subscriber got every packet from the first it
// received up to last, with sequence numbers that go up by one from packet
// to packet: the stream a decoder sees has no gap.
func checkRun(t *testing.T, who string, got map[uint32]uint16, last uint32) {
	t.Helper()
	idx := slices.Sorted(maps.Keys(got))
	if len(idx) == 0 {
		t.Fatalf("%s: nothing received", who)
	}
	first := idx[0]
	if want := int(last-first) + 1; len(idx) != want || idx[len(idx)-1] != last {
		t.Fatalf("%s: %d packets from %d to %d, want %d up to %d", who, len(idx), first, idx[len(idx)-1], want, last)
	}
	for _, i := range idx {
		if want := got[first] + uint16(i-first); got[i] != want {
			t.Fatalf("%s: packet %d has sequence number %d, want %d (a gap)", who, i, got[i], want)
		}
	}
}

// pacer publishes one track and writes numbered RTP packets to it: the
// index of each packet is in its last 4 bytes.
type pacer struct {
	track *webrtc.TrackLocalStaticRTP
	next  uint32
	ts    uint32
	step  uint32
	size  int
}

func newPacer(t *testing.T, p *sfuPeer, mime, id string, step uint32, size int) *pacer {
	t.Helper()
	codec := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
	if mime == webrtc.MimeTypeOpus {
		codec = webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 48000, Channels: 2}
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(codec, id, p.id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.Publish(tr); err != nil {
		t.Fatalf("%s: publish %s: %v", p.name, id, err)
	}
	return &pacer{track: tr, ts: 1000, step: step, size: size}
}

// write sends one packet, a whole frame (for VP8, a keyframe: the payload
// descriptor starts a partition and the payload header's P bit is 0).
func (s *pacer) write(t *testing.T) {
	payload := make([]byte, s.size)
	payload[0] = 0x10
	binary.BigEndian.PutUint32(payload[s.size-4:], s.next)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(s.next + 7), Timestamp: s.ts, Marker: true}, Payload: payload}
	if err := s.track.WriteRTP(pkt); err != nil {
		t.Errorf("write: %v", err)
	}
	s.next++
	s.ts += s.step
}
