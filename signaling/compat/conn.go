// Package compat holds what the endpoints for other client libraries'
// signaling protocols share (y-webrtc in compat/ywebrtc): one WebSocket
// connection admitted by a signaling.Gate, with a bounded outbox, a writer
// that runs only while the outbox holds frames, WebSocket pings and a read
// loop that hands each text frame to the protocol.
//
// Concurrency: Run is the connection's reader goroutine and the only one
// that calls the protocol's frame handler, which owns the connection's
// rooms. Deliver (the Bus's Mailbox) may be called from any goroutine and
// never blocks: a client that cannot keep up is closed with 1008.
package compat

import (
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// closeGrace is how long a closing connection waits for the client's reply.
const closeGrace = 2 * time.Second

// Conn is one client connection of a compat endpoint.
type Conn struct {
	*signaling.GateConn
	cfg signaling.Config // the Server's: frame size, queue, ping and write timeouts

	mu      sync.Mutex
	queue   []out
	queued  int // bytes in queue
	writing bool
	closing bool // a close frame is queued: nothing more is
	pinger  *time.Timer
}

type out struct {
	b    []byte
	kind signaling.FrameKind
	code int // a close frame's code when b is its reason
}

// kindClose marks a close frame in the outbox (beyond the signaling kinds).
const kindClose signaling.FrameKind = 255

// New wraps an admitted connection.
func New(gc *signaling.GateConn) *Conn {
	return &Conn{GateConn: gc, cfg: gc.Gate().ServerConfig()}
}

// Deliver implements signaling.Mailbox: it queues frame and never blocks;
// an empty frame is ignored. A client whose queue is full is closed with
// 1008.
func (c *Conn) Deliver(frame []byte, kind signaling.FrameKind) bool {
	if len(frame) == 0 {
		return true
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.cfg.SendQueueFrames || c.queued+len(frame) > c.cfg.SendQueueBytes {
		c.mu.Unlock()
		c.Close(signaling.ClosePolicyViolation, "too slow: send queue full")
		return false
	}
	c.queue = append(c.queue, out{b: frame, kind: kind})
	c.queued += len(frame)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	c.Gate().FrameOut(kind)
	if start {
		go c.writeLoop()
	}
	return true
}

// Close queues a close frame after what is queued; the connection ends
// when the client answers it or closeGrace passes.
func (c *Conn) Close(code int, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.queue = append(c.queue, out{b: []byte(reason), kind: kindClose, code: code})
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	c.WS.SetReadDeadline(time.Now().Add(closeGrace))
	if start {
		go c.writeLoop()
	}
}

func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		c.queued = 0
		if len(batch) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, f := range batch {
			c.WS.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			var err error
			if f.kind == kindClose {
				err = c.WS.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(f.code, string(f.b)))
			} else {
				err = c.WS.WriteMessage(websocket.TextMessage, f.b)
			}
			if err != nil {
				c.mu.Lock()
				c.closing = true
				c.queue = nil
				c.writing = false
				c.mu.Unlock()
				c.WS.Close() // the reader sees it and ends the connection
				return
			}
		}
	}
}

// Run reads frames until the connection ends, handing each text frame to
// handle (a binary frame to binary), then ends the GateConn. It must be
// called once, after Admit, from the goroutine that owns the connection.
func (c *Conn) Run(handle func(b []byte), binary func()) {
	c.WS.SetPongHandler(func(string) error { c.alive(); return nil })
	c.alive()
	c.startPinger()
	reason := "connection_lost"
	for {
		mt, r, err := c.WS.NextReader()
		if err != nil {
			reason = signaling.DisconnectReason(err)
			break
		}
		b, err := io.ReadAll(r)
		if err != nil {
			reason = signaling.DisconnectReason(err)
			break
		}
		c.alive()
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		switch {
		case closing: // only the client's close reply matters now
		case mt != websocket.TextMessage:
			binary()
		default:
			handle(b)
		}
	}
	c.mu.Lock()
	c.closing = true
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.mu.Unlock()
	c.Done(reason)
}

// alive extends the read deadline: a connection silent for the pong
// timeout is dropped.
func (c *Conn) alive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		c.WS.SetReadDeadline(time.Now().Add(c.cfg.PongTimeout))
	}
}

// startPinger sends a WebSocket ping every ping interval (the connection's
// clock, a timer rather than a goroutine).
func (c *Conn) startPinger() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pinger = time.AfterFunc(c.cfg.PingInterval, c.ping)
}

func (c *Conn) ping() {
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return
	}
	// WriteControl may run beside the writer (gorilla allows it); not
	// under mu, so that Deliver never waits for a slow socket.
	c.WS.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout))
	c.mu.Lock()
	if !c.closing {
		c.pinger.Reset(c.cfg.PingInterval)
	}
	c.mu.Unlock()
}
