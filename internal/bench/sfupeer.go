package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

// sfuPeer is one participant: a WebSocket session to the signaling server
// whose "sfu" frames carry an sfuclient's messages, as the browser SDK's
// are carried.
type sfuPeer struct {
	idx  int
	id   string // peer id from welcome
	room string
	ws   *websocket.Conn
	wmu  sync.Mutex
	c    *sfuclient.Client
	done chan struct{} // the read loop ended
	mode chan string   // the joined frame's mode

	// Per stream number: what this participant received (nil: not
	// expected here, e.g. its own).
	rx []*sfuRx

	closing atomic.Bool
	sender  atomic.Pointer[sfuSender] // set once it publishes
}

// sfuRx is what one participant received of one stream.
type sfuRx struct {
	recv atomic.Int64    // distinct packets of the window
	any  atomic.Int64    // packets at all (readiness)
	dups atomic.Int64    // window packets received twice
	seen []atomic.Uint64 // bitmap by packet index (mod), window packets
}

func newRx(ring int) *sfuRx { return &sfuRx{seen: make([]atomic.Uint64, ring/64)} }

// mark records window packet idx; false if it was there already.
func (x *sfuRx) mark(idx uint32) bool {
	i := int(idx) & (len(x.seen)*64 - 1)
	bit := uint64(1) << (i & 63)
	return x.seen[i>>6].Or(bit)&bit == 0
}

// wsFrame is the part of a server frame a participant looks at.
type wsFrame struct {
	Type    string          `json:"type"`
	Peer    string          `json:"peer"`
	Mode    string          `json:"mode"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// dialPeer opens participant idx's session, joins room and starts its
// read loop; the sfuclient answers the server's offers from then on.
func (ph *sfuPhase) dialPeer(ctx context.Context, idx int) (*sfuPeer, error) {
	r, room := ph.r, ph.room
	tok, err := r.token(ctx, idx)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{
		NetDialContext:   loopbackDial(&net.Dialer{Timeout: handshakeTimeout}),
		HandshakeTimeout: handshakeTimeout,
	}
	ws, resp, err := d.DialContext(ctx, r.cfg.URL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	p := &sfuPeer{idx: idx, room: room, ws: ws, done: make(chan struct{}), mode: make(chan string, 1), rx: make([]*sfuRx, len(ph.streams))}
	for _, s := range ph.streams {
		if s.owner != idx {
			p.rx[s.num] = newRx(len(s.last))
		}
	}
	if err := p.handshake(tok); err != nil {
		ws.Close()
		return nil, err
	}
	p.c, err = sfuclient.New(sfuclient.Config{
		API: r.api,
		Send: func(msg []byte) error {
			return p.write(map[string]any{"type": "sfu", "room": room, "data": json.RawMessage(msg)})
		},
		OnTrack:         func(t *sfuclient.Track) { go ph.readTrack(p, t) },
		OnPublisherRTCP: func(id string, pkts []rtcp.Packet) { ph.keyframeAsked(p, id, pkts) },
		OnError:         func(code, msg string) { r.noteErr(fmt.Errorf("participant %d: SFU error %s: %s", idx, code, msg)) },
	})
	if err != nil {
		ws.Close()
		return nil, err
	}
	go p.readLoop(r)
	if err := p.write(map[string]any{"type": "join", "room": room, "id": "bench-join"}); err != nil {
		p.close()
		return nil, fmt.Errorf("join: %w", err)
	}
	select {
	case m := <-p.mode:
		if m != "sfu" {
			p.close()
			return nil, fmt.Errorf("%w: room %s is a %q room: start the server with --room-modes '%s*=sfu'",
				ErrNotSFU, room, m, r.cfg.RoomPrefix)
		}
	case <-p.done:
		return nil, fmt.Errorf("no joined frame: %s", r.firstError())
	case <-time.After(handshakeTimeout):
		p.close()
		return nil, errors.New("no joined frame")
	}
	return p, nil
}

func (p *sfuPeer) handshake(tok string) error {
	p.ws.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer p.ws.SetReadDeadline(time.Time{})
	if err := p.write(map[string]string{"type": "hello", "token": tok}); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	var f wsFrame
	if err := p.ws.ReadJSON(&f); err != nil {
		return fmt.Errorf("waiting for welcome: %w", err)
	}
	if f.Type != "welcome" || f.Peer == "" {
		return fmt.Errorf("hello: got %s %s %s", f.Type, f.Code, f.Message)
	}
	p.id = f.Peer
	return nil
}

func (p *sfuPeer) write(v any) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return p.ws.WriteJSON(v)
}

// readLoop hands the sfu frames to the client, in order; the joined
// frame must say the room is an sfu room.
func (p *sfuPeer) readLoop(r *sfuRunner) {
	defer close(p.done)
	for {
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			if !p.closing.Load() {
				r.noteErr(fmt.Errorf("participant %d: read: %w", p.idx, err))
			}
			return
		}
		var f wsFrame
		if json.Unmarshal(b, &f) != nil {
			r.noteErr(fmt.Errorf("participant %d: bad frame %.100s", p.idx, b))
			continue
		}
		switch f.Type {
		case "sfu":
			if err := p.c.Handle(f.Data); err != nil && !p.closing.Load() && !errors.Is(err, sfuclient.ErrClosed) {
				r.noteErr(fmt.Errorf("participant %d: %w", p.idx, err))
			}
		case "joined":
			select {
			case p.mode <- f.Mode:
			default:
			}
		case "error":
			r.noteErr(fmt.Errorf("participant %d: server error %s: %s", p.idx, f.Code, f.Message))
		}
	}
}

// close ends the session (the server makes the participant leave) and
// the PeerConnections.
func (p *sfuPeer) close() {
	p.closing.Store(true)
	p.wmu.Lock()
	p.ws.SetWriteDeadline(time.Now().Add(time.Second))
	_ = p.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	p.wmu.Unlock()
	_ = p.ws.Close()
	<-p.done
	if p.c != nil {
		_ = p.c.Close()
	}
}

// readTrack reads a forwarded track until it ends: every packet's trailer
// says its stream, index and send time.
func (ph *sfuPhase) readTrack(p *sfuPeer, t *sfuclient.Track) {
	r := ph.r
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Remote.Read(buf)
		if err != nil {
			return
		}
		now := r.stamp()
		if n < 12+sfuTrailer {
			ph.badPackets.Add(1)
			continue
		}
		num, idx, stamp := readTrailer(buf[:n])
		if int(num) >= len(p.rx) || p.rx[num] == nil {
			ph.badPackets.Add(1) // a stream not meant for this participant
			continue
		}
		x := p.rx[num]
		x.any.Add(1)
		if !ph.inWindow(stamp) {
			continue
		}
		if !x.mark(idx) {
			x.dups.Add(1)
			continue
		}
		x.recv.Add(1)
		us := uint64(max(now-stamp, 0) / int64(time.Microsecond))
		ph.copies.add(time.Duration(us) * time.Microsecond)
		ph.streams[num].noteArrival(idx, us)
	}
}

// newSFUAPI is the pion API the participants share: loopback UDP only.
func newSFUAPI() (*webrtc.API, error) { return sfuclient.NewAPI(sfuclient.APIConfig{Loopback: true}) }
