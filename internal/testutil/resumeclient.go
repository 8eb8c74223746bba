package testutil

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// ResumeConfig configures StartResumeClient.
type ResumeConfig struct {
	Name  string // for messages
	URL   string // ws://HOST:PORT/ws, usually a FaultProxy's WSURL
	Token string // the JWT of every hello
	// MinBackoff and MaxBackoff bound the random wait before each redial
	// (defaults 20 ms and 100 ms).
	MinBackoff, MaxBackoff time.Duration
}

// ResumeStats counts what a ResumeClient went through.
type ResumeStats struct {
	Dials    int // WebSocket connections opened (upgrades that succeeded)
	Hellos   int // hellos written
	Welcomes int // welcomes read, the first included
	Resumed  int // welcomes with "resumed":true
	// LostWelcomes counts resume hellos written on connections that ended
	// before their welcome came: the server may have taken the hello, and
	// the welcome's new resume token is then lost with the connection.
	LostWelcomes int
	Refused      int // resume hellos answered "resumed":false (each also fails the test)
	Replayed     int // frames that came in a replay (seq up to the resumed welcome's lastSeq)
	Resent       int // requests written at a resume: without a reply, or not written yet
	Duplicates   int // frames with a seq already processed (each also fails the test)
	Gaps         int // frames whose seq skipped some (each also fails the test)
	DupReplies   int // replies to a request that had one already, or was never made (each also fails the test)
}

// ResumeClient is a protocol client that survives lost connections the way
// docs/protocol.md's "Session resume" says a client should: it keeps the
// highest seq it has processed and the welcome's resume token; when a read
// or write fails it redials after a short random backoff and says hello
// with "resume" and "lastSeq"; it checks the replay that follows; and once
// the frame with the welcome's lastSeq is processed it writes again, in
// their original order, the requests still without a reply, which never
// reached the server. Everything it sends waits while it is disconnected
// or replaying, so requests reach the server in the order they were sent.
//
// Protocol violations (a refused resume, a frame seen twice, a seq skipped,
// a reply twice) fail the test with t.Errorf and are counted in Stats.
// Frames come out of Frames exactly once each, in seq order.
type ResumeClient struct {
	t      testing.TB
	cfg    ResumeConfig
	frames chan Msg
	stop   chan struct{}
	done   chan struct{}
	ready  chan struct{} // closed at the first welcome

	// Owned by the run goroutine.
	lastSeq  int64
	resumeTo string // the resume token of the last welcome
	replayTo int64  // the resumed welcome's lastSeq, while the replay runs
	// unanswered counts the hellos with resumeTo written on connections
	// that ended before their welcome: if the server took one, the
	// welcome's new token is lost with it.
	unanswered int

	mu      sync.Mutex // guards what follows, and serializes writes to conn
	conn    *websocket.Conn
	live    bool // conn has had its welcome and replay: requests go out at once
	pending []request
	peer    string
	session string
	stats   ResumeStats
	errors  int // reported by errorf
	closing bool
}

// request is a frame with an id, kept until its reply arrives.
type request struct {
	id    string
	frame []byte
}

// frameBuffer is how many frames Frames holds: far more than the test
// sessions receive, so the reader never waits for the test, and keeps
// answering the server's pings.
const frameBuffer = 1 << 14

// StartResumeClient connects and says hello, retrying until the first
// welcome arrives, and keeps the session until Close (also called in
// t.Cleanup).
func StartResumeClient(t testing.TB, cfg ResumeConfig) *ResumeClient {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(cfg.MinBackoff, 100*time.Millisecond)
	}
	c := &ResumeClient{t: t, cfg: cfg, frames: make(chan Msg, frameBuffer), stop: make(chan struct{}),
		done: make(chan struct{}), ready: make(chan struct{})}
	go c.run()
	t.Cleanup(c.Close)
	select {
	case <-c.ready:
	case <-c.done:
	case <-time.After(4 * Wait):
		t.Fatalf("%s: no welcome within %v", cfg.Name, 4*Wait)
	}
	return c
}

// Frames delivers every frame after the welcomes, each once, in seq order:
// replies, events, signals.
func (c *ResumeClient) Frames() <-chan Msg { return c.frames }

// Peer is the session's peer id (the same after every resume).
func (c *ResumeClient) Peer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer
}

// Stats is what happened so far.
func (c *ResumeClient) Stats() ResumeStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Live says whether the client is connected, past its welcome and any
// replay: what it sends now goes out at once.
func (c *ResumeClient) Live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// Pending is how many requests still wait for their reply.
func (c *ResumeClient) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Send sends frame (marshalled to JSON). A frame with a string "id" is a
// request: it is kept until its reply and written again after a resume if
// none came; its id must be unique on this client. A frame without one is
// written if connected and otherwise dropped, as the protocol allows for
// frames without id across a cut.
func (c *ResumeClient) Send(frame map[string]any) {
	b, err := json.Marshal(frame)
	if err != nil {
		c.t.Errorf("%s: marshal %v: %v", c.cfg.Name, frame, err)
		return
	}
	id, _ := frame["id"].(string)
	c.mu.Lock()
	defer c.mu.Unlock()
	if id != "" {
		c.pending = append(c.pending, request{id: id, frame: b})
	}
	if c.live {
		c.writeLocked(b)
	}
}

// writeLocked writes one text frame on the live connection. A failed write
// ends the connection: the reader sees it fail too and redials.
func (c *ResumeClient) writeLocked(b []byte) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(Wait))
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.live = false
		c.conn.Close()
	}
}

// Close ends the session with a close frame 1000, so the server ends it at
// once (its rooms get peer-left), and waits for the client's goroutine.
func (c *ResumeClient) Close() {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		close(c.stop)
		if c.conn != nil {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			c.conn.Close()
		}
	}
	c.mu.Unlock()
	<-c.done
}

// maxErrors is how many protocol violations a client reports; one broken
// session would otherwise bury the first, telling, one in thousands.
const maxErrors = 5

func (c *ResumeClient) errorf(format string, args ...any) {
	c.errors++
	switch {
	case c.errors <= maxErrors:
		c.t.Errorf("%s: "+format, append([]any{c.cfg.Name}, args...)...)
	case c.errors == maxErrors+1:
		c.t.Errorf("%s: more protocol violations, not shown (see Stats)", c.cfg.Name)
	}
}

func (c *ResumeClient) run() {
	defer close(c.done)
	for {
		conn, err := c.dial()
		if err == nil {
			_ = c.serve(conn)
		}
		c.mu.Lock()
		c.live = false
		c.conn = nil
		c.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		wait := c.cfg.MinBackoff + rand.N(c.cfg.MaxBackoff-c.cfg.MinBackoff+1)
		select {
		case <-c.stop:
			return
		case <-time.After(wait):
		}
	}
}

func (c *ResumeClient) dial() (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: Wait}
	conn, resp, err := d.Dial(c.cfg.URL, http.Header{})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		conn.Close()
		return nil, fmt.Errorf("closing")
	}
	c.conn = conn
	c.stats.Dials++
	return conn, nil
}

// serve says hello on conn and reads from it until it fails.
func (c *ResumeClient) serve(conn *websocket.Conn) error {
	hello := map[string]any{"type": "hello", "token": c.cfg.Token}
	if c.resumeTo != "" {
		hello["resume"], hello["lastSeq"] = c.resumeTo, c.lastSeq
	}
	b, _ := json.Marshal(hello)
	c.mu.Lock()
	_ = conn.SetWriteDeadline(time.Now().Add(Wait))
	err := conn.WriteMessage(websocket.TextMessage, b)
	c.stats.Hellos++
	c.mu.Unlock()
	if err != nil {
		return err
	}

	_ = conn.SetReadDeadline(time.Now().Add(Wait))
	var w Msg
	if err := conn.ReadJSON(&w); err != nil {
		if c.resumeTo != "" {
			c.unanswered++
			c.mu.Lock()
			c.stats.LostWelcomes++
			c.mu.Unlock()
		}
		return err
	}
	_ = conn.SetReadDeadline(time.Time{})
	first := c.stats.Welcomes == 0
	if err := c.welcome(w); err != nil {
		return err
	}
	if first {
		close(c.ready)
	}
	if c.replayTo <= c.lastSeq {
		c.goLive(conn)
	}
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var m Msg
		if err := json.Unmarshal(b, &m); err != nil {
			c.errorf("invalid JSON %q: %v", b, err)
			return err
		}
		if !c.frame(m) {
			continue
		}
		select {
		case c.frames <- m:
		case <-c.stop:
			return fmt.Errorf("closing")
		}
		if c.replayTo > 0 && c.lastSeq >= c.replayTo {
			c.goLive(conn)
		}
	}
}

// welcome checks a welcome and takes its session state.
func (c *ResumeClient) welcome(w Msg) error {
	if w.Type() != "welcome" {
		c.errorf("want a welcome, got %v", w)
		return fmt.Errorf("no welcome")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Welcomes++
	resuming := c.resumeTo != ""
	resumed, _ := w["resumed"].(bool)
	tok := w.Str("resume")
	if tok == "" {
		c.errorf("welcome without a resume token: %v", w)
	}
	switch {
	case !resuming:
		if resumed {
			c.errorf("welcome to a hello without resume says resumed: %v", w)
		}
		if c.stats.Welcomes > 1 {
			c.errorf("the session is lost: the previous welcome had no resume token")
		}
		c.peer, c.session, c.lastSeq, c.replayTo = w.Str("peer"), w.Str("session"), 0, 0
	case !resumed:
		c.stats.Refused++
		c.errorf("resume with lastSeq %d refused after %d resume hellos with this token whose connection ended before the welcome: %v",
			c.lastSeq, c.unanswered, w["resumeError"])
		// Carry on as the fresh session the server made of it: nothing
		// more to replay, and the requests go again (they fail).
		c.peer, c.session, c.lastSeq, c.replayTo = w.Str("peer"), w.Str("session"), 0, 0
	default:
		c.stats.Resumed++
		if p, s := w.Str("peer"), w.Str("session"); p != c.peer || s != c.session {
			c.errorf("resumed welcome for peer %s session %s, want %s %s", p, s, c.peer, c.session)
		}
		last := int64(w.Num("lastSeq"))
		if last < c.lastSeq {
			c.errorf("resumed welcome's lastSeq %d is below the %d processed", last, c.lastSeq)
		}
		c.replayTo = last
	}
	c.resumeTo = tok
	c.unanswered = 0
	return nil
}

// frame checks one frame's seq and reply id and reports whether it is new.
func (c *ResumeClient) frame(m Msg) bool {
	seq := int64(m.Num("seq"))
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case seq < 1:
		c.errorf("frame without seq: %v", m)
		return false
	case seq <= c.lastSeq:
		c.stats.Duplicates++
		c.errorf("frame seq %d again (processed up to %d): %v", seq, c.lastSeq, m)
		return false
	case seq > c.lastSeq+1:
		c.stats.Gaps++
		c.errorf("frame seq %d after %d: %d frames lost: %v", seq, c.lastSeq, seq-c.lastSeq-1, m)
	}
	c.lastSeq = seq
	if seq <= c.replayTo {
		c.stats.Replayed++
	}
	if id, ok := m["id"].(string); ok {
		i := c.pendingIndex(id)
		if i < 0 {
			c.stats.DupReplies++
			c.errorf("reply to request %q, which has one already or was never sent: %v", id, m)
		} else {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
		}
	}
	return true
}

func (c *ResumeClient) pendingIndex(id string) int {
	for i, r := range c.pending {
		if r.id == id {
			return i
		}
	}
	return -1
}

// goLive ends a replay: the requests still without a reply never reached
// the server, so they go again, in order, before anything new.
func (c *ResumeClient) goLive(conn *websocket.Conn) {
	c.replayTo = 0
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != conn || c.closing {
		return
	}
	c.live = true
	for _, r := range c.pending {
		if !c.live {
			break // the write failed: the next resume sends the rest
		}
		if c.stats.Welcomes > 1 {
			c.stats.Resent++
		}
		c.writeLocked(r.frame)
	}
}
