package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	handshakeTimeout = 15 * time.Second
	writeTimeout     = 10 * time.Second
)

// session is one client connection. Its reader goroutine owns lastSeq; its
// writes (signals from a pacer, from its own reader in closed loop, and the
// handshake before the reader starts) are serialized by wmu.
type session struct {
	idx     int
	target  int
	conn    *websocket.Conn
	peer    string // this session's peer id (from welcome)
	room    string
	partner atomic.Pointer[session]

	wmu  sync.Mutex
	wbuf []byte

	inflight atomic.Int32 // signals sent by this session its partner has not received yet
	alive    atomic.Bool  // reader running
	closing  atomic.Bool  // closed on purpose: read errors are expected
	lastSeq  uint64       // last "seq" seen
}

// dial opens session idx: WebSocket from its source address, hello, join.
func (r *runner) dial(ctx context.Context, idx int) (*session, error) {
	cfg := &r.cfg
	src := cfg.Sources[idx%len(cfg.Sources)]
	s := &session{
		idx:    idx,
		target: (idx / 2) % len(cfg.Targets),
		room:   fmt.Sprintf("bench-%s-%d", r.runID, idx/2),
	}
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: handshakeTimeout}
	d := websocket.Dialer{
		NetDialContext:   loopbackDial(nd),
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  max(1024, cfg.Payload+512),
	}
	c, resp, err := d.DialContext(ctx, cfg.Targets[s.target].URL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial from %s: %w (HTTP %s)", src, err, resp.Status)
		}
		return nil, fmt.Errorf("dial from %s: %w", src, err)
	}
	s.conn = c
	if err := r.handshake(s); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// reply is the part of a server frame the handshake looks at.
type reply struct {
	Type    string `json:"type"`
	Peer    string `json:"peer"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Seq     uint64 `json:"seq"`
}

func (r *runner) handshake(s *session) error {
	s.conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	s.conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	hello, err := json.Marshal(map[string]string{"type": "hello", "token": r.token(s.idx)})
	if err != nil {
		return err
	}
	if err := s.conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if err := s.await("welcome", func(f *reply) { s.peer = f.Peer }); err != nil {
		return err
	}
	join, err := json.Marshal(map[string]string{"type": "join", "room": s.room, "id": "bench-join"})
	if err != nil {
		return err
	}
	if err := s.conn.WriteMessage(websocket.TextMessage, join); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if err := s.await("joined", nil); err != nil {
		return err
	}
	s.conn.SetReadDeadline(time.Time{}) // the server's pings keep the connection alive
	return nil
}

// await reads frames until one of type typ (then calls got) or an error frame.
func (s *session) await(typ string, got func(*reply)) error {
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", typ, err)
		}
		var f reply
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("waiting for %s: bad frame %.120q", typ, b)
		}
		if f.Seq > 0 {
			s.lastSeq = f.Seq
		}
		switch f.Type {
		case typ:
			if got != nil {
				got(&f)
			}
			return nil
		case "error":
			return fmt.Errorf("%w: %s refused: %s: %s", errRefused, typ, f.Code, f.Message)
		}
	}
}

var errRefused = errors.New("server refused")

// read is the session's reader goroutine.
func (r *runner) read(s *session) {
	defer r.readers.Done()
	defer func() {
		s.alive.Store(false)
		r.held.Add(-1)
	}()
	buf := make([]byte, 0, r.cfg.Payload+256)
	for {
		_, rd, err := s.conn.NextReader()
		if err == nil {
			buf, err = readAll(rd, buf[:0])
		}
		if err != nil {
			if !s.closing.Load() {
				r.readErrs.Add(1)
				r.noteErr(fmt.Errorf("session %d: read: %w", s.idx, err))
			}
			return
		}
		r.onFrame(s, buf)
	}
}

// readAll reads a message into buf, growing it when needed.
func readAll(rd io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

var (
	signalPrefix = []byte(`{"type":"signal"`)
	errorPrefix  = []byte(`{"type":"error"`)
	stampKey     = []byte(`"data":{"t":`)
)

// onFrame handles one server frame on s's reader goroutine.
func (r *runner) onFrame(s *session, f []byte) {
	if seq, ok := frameSeq(f); ok {
		if seq != s.lastSeq+1 {
			r.seqGaps.Add(1)
			r.noteErr(fmt.Errorf("session %d: seq %d after %d", s.idx, seq, s.lastSeq))
		}
		s.lastSeq = seq
	}
	switch {
	case bytes.HasPrefix(f, signalPrefix):
		r.received.Add(1)
		if t := stamp(f); t >= 0 && r.measuring.Load() {
			d := time.Since(r.t0) - time.Duration(t)
			r.hist.add(d)
			if t := r.tick.Load(); t != nil {
				t.add(d)
			}
			r.delivered.Add(1)
		}
		p := s.partner.Load()
		if p == nil {
			return
		}
		p.inflight.Add(-1)
		if r.loop.Load() {
			r.send(s, p) // closed loop: answer the partner with the next signal
		}
	case bytes.HasPrefix(f, errorPrefix):
		r.errFrames.Add(1)
		r.noteErr(fmt.Errorf("session %d: server: %.200s", s.idx, f))
	}
}

// frameSeq reads the "seq" the server appends to every frame after welcome:
// the frame ends with `,"seq":N}`.
func frameSeq(f []byte) (uint64, bool) {
	i := len(f) - 1
	if i < 0 || f[i] != '}' {
		return 0, false
	}
	j := i
	for j > 0 && f[j-1] >= '0' && f[j-1] <= '9' {
		j--
	}
	if j == i || !bytes.HasSuffix(f[:j], []byte(`"seq":`)) {
		return 0, false
	}
	var v uint64
	for _, c := range f[j:i] {
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// stamp returns the send time (ns since the run began) inside a relayed signal, -1 if none.
func stamp(f []byte) int64 {
	i := bytes.Index(f, stampKey)
	if i < 0 {
		return -1
	}
	var v int64
	n := 0
	for _, c := range f[i+len(stampKey):] {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + int64(c-'0')
		n++
	}
	if n == 0 {
		return -1
	}
	return v
}

// candidate makes the signal data look like what browsers send most.
const candidate = `candidate:842163049 1 udp 1677729535 192.0.2.17 54321 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-cost 999`

// appendSignal appends the signal frame from s to p; its data is
// cfg.Payload bytes of JSON carrying the send time.
func (r *runner) appendSignal(b []byte, s, p *session) []byte {
	b = append(b, `{"type":"signal","room":"`...)
	b = append(b, s.room...)
	b = append(b, `","to":"`...)
	b = append(b, p.peer...)
	b = append(b, `","data":`...)
	start := len(b)
	b = append(b, `{"t":`...)
	b = appendInt(b, int64(time.Since(r.t0)))
	const tail = `,"sdpMid":"0","sdpMLineIndex":0,"pad":"`
	if len(b)-start+len(`,"candidate":"`)+len(candidate)+len(`"`)+len(tail)+2 <= r.cfg.Payload {
		b = append(b, `,"candidate":"`...)
		b = append(b, candidate...)
		b = append(b, '"')
		b = append(b, tail...)
	} else {
		b = append(b, `,"pad":"`...)
	}
	for len(b)-start < r.cfg.Payload-2 {
		b = append(b, 'x')
	}
	b = append(b, `"}`...)
	return append(b, '}')
}

func appendInt(b []byte, v int64) []byte {
	var d [20]byte
	i := len(d)
	if v == 0 {
		return append(b, '0')
	}
	for v > 0 {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[i:]...)
}

// send writes one signal from s to p; it reports whether it went out.
func (r *runner) send(s, p *session) bool {
	s.wmu.Lock()
	s.wbuf = r.appendSignal(s.wbuf[:0], s, p)
	s.inflight.Add(1)
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := s.conn.WriteMessage(websocket.TextMessage, s.wbuf)
	s.wmu.Unlock()
	if err != nil {
		s.inflight.Add(-1)
		if !s.closing.Load() {
			r.writeErrs.Add(1)
			r.noteErr(fmt.Errorf("session %d: write: %w", s.idx, err))
		}
		return false
	}
	r.sent.Add(1)
	return true
}

// closeAll closes sessions (close frame, then the socket) with a few
// goroutines and waits for nothing: their readers end on their own.
func closeAll(ss []*session) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(64, len(ss)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ss) {
					return
				}
				s := ss[i]
				if s == nil {
					continue
				}
				s.closing.Store(true)
				s.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				s.conn.Close()
			}
		}()
	}
	wg.Wait()
}
