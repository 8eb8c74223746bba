package roomclient

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

// Config configures Dial. WSURL, Token and Room are required.
type Config struct {
	WSURL string // ws://HOST:PORT/ws
	Token string // a token granting Room
	Room  string
	Name  string // for logs and errors (default: the peer id)
	// API builds every peer connection, mesh and SFU alike (nil:
	// sfuclient.NewAPI with Loopback, for tests on one host).
	API *webrtc.API
	// Video publishes a synthetic VP8 track (every packet a whole
	// keyframe, PacketEvery apart) on every path.
	Video       bool
	PacketEvery time.Duration // default 20 ms
	// NoSFUVideo keeps the video off the SFU (for tests: the others'
	// switch to the SFU then fails for this client).
	NoSFUVideo bool
	// AckDeadline is how long a switch waits for every peer to move
	// before it gives up on the rest (default 10 s, the contract's).
	AckDeadline time.Duration
	// OnMessage gets each data message delivered, in order, on the
	// client's loop: it must not block. Messages are also kept
	// (Messages).
	OnMessage func(Message)
	// OnEvent gets each event on the client's loop: it must not block.
	OnEvent func(Event)
	Logger  *slog.Logger // nil: discard
}

func (c *Config) validate() error {
	if c.WSURL == "" || c.Token == "" || c.Room == "" {
		return fmt.Errorf("%w: WSURL, Token and Room are required", ErrConfig)
	}
	if c.PacketEvery == 0 {
		c.PacketEvery = 20 * time.Millisecond
	}
	if c.AckDeadline == 0 {
		c.AckDeadline = ackDeadline
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.API == nil {
		api, err := sfuclient.NewAPI(sfuclient.APIConfig{Loopback: true})
		if err != nil {
			return err
		}
		c.API = api
	}
	return nil
}

// Client is one participant of one room. Its methods are safe for
// concurrent use.
type Client struct {
	cfg   Config
	id    string
	ice   []webrtc.ICEServer
	ws    *websocket.Conn
	wmu   sync.Mutex // one writer at a time
	box   *mailbox
	stop  chan struct{}
	done  chan struct{} // the loop ended
	rdone chan struct{} // the reader ended
	wg    sync.WaitGroup
	video *webrtc.TrackLocalStaticRTP // nil without Config.Video
	log   *slog.Logger

	st  *state // the loop's
	pub public // what the loop shows
}

// frame is any server frame this client reads.
type frame struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Room    string          `json:"room"`
	Mode    string          `json:"mode"`
	Auto    bool            `json:"auto"`
	Switch  int             `json:"switch"`
	Peer    string          `json:"peer"`
	User    string          `json:"user"`
	From    string          `json:"from"`
	Peers   []peerInfo      `json:"peers"`
	Data    json.RawMessage `json:"data"`
	Failed  []string        `json:"failed"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

type peerInfo struct {
	Peer string `json:"peer"`
	User string `json:"user"`
}

const wsWait = 5 * time.Second

// Dial connects, says hello, joins the room and starts the client. The
// room is joined when it returns.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := websocket.Dialer{HandshakeTimeout: wsWait}
	ws, resp, err := d.DialContext(ctx, cfg.WSURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", ErrSignaling, cfg.WSURL, err)
	}
	c := &Client{cfg: cfg, ws: ws, box: newMailbox(), stop: make(chan struct{}), done: make(chan struct{}), rdone: make(chan struct{})}
	joined, err := c.hello(ctx)
	if err != nil {
		ws.Close()
		return nil, err
	}
	if c.cfg.Name == "" {
		c.cfg.Name = c.id
	}
	c.log = cfg.Logger.With("client", c.cfg.Name)
	if cfg.Video {
		c.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", c.id)
		if err != nil {
			ws.Close()
			return nil, err
		}
	}
	c.st = newState()
	c.pub.init()
	c.wg.Add(2)
	go c.read()
	go c.loop(joined)
	if c.video != nil {
		c.wg.Add(1)
		go c.pace()
	}
	return c, nil
}

// hello says hello, reads the welcome, joins and reads the joined.
func (c *Client) hello(ctx context.Context) (frame, error) {
	deadline := time.Now().Add(2 * wsWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.ws.SetReadDeadline(deadline)
	defer c.ws.SetReadDeadline(time.Time{}) //nolint:errcheck
	if err := c.ws.WriteJSON(map[string]any{"type": "hello", "token": c.cfg.Token}); err != nil {
		return frame{}, fmt.Errorf("%w: hello: %w", ErrSignaling, err)
	}
	var w struct {
		Type       string             `json:"type"`
		Peer       string             `json:"peer"`
		Code       string             `json:"code"`
		ICEServers []webrtc.ICEServer `json:"iceServers"`
	}
	if err := c.ws.ReadJSON(&w); err != nil {
		return frame{}, fmt.Errorf("%w: welcome: %w", ErrSignaling, err)
	}
	if w.Type != "welcome" {
		return frame{}, fmt.Errorf("%w: hello answered %s %s", ErrJoin, w.Type, w.Code)
	}
	c.id, c.ice = w.Peer, w.ICEServers
	if err := c.ws.WriteJSON(map[string]any{"type": "join", "room": c.cfg.Room, "id": "join"}); err != nil {
		return frame{}, fmt.Errorf("%w: join: %w", ErrSignaling, err)
	}
	for {
		var f frame
		if err := c.ws.ReadJSON(&f); err != nil {
			return frame{}, fmt.Errorf("%w: waiting for joined: %w", ErrSignaling, err)
		}
		switch f.Type {
		case "joined":
			return f, nil
		case "error":
			return frame{}, fmt.Errorf("%w: %s: %s", ErrJoin, f.Code, f.Message)
		}
	}
}

// ID is the client's peer id.
func (c *Client) ID() string { return c.id }

// Name is the client's name in logs (the peer id unless set).
func (c *Client) Name() string { return c.cfg.Name }

// write sends one frame; safe from any goroutine.
func (c *Client) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(wsWait))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("%w: write: %w", ErrSignaling, err)
	}
	return nil
}

// read hands every frame to the loop.
func (c *Client) read() {
	defer c.wg.Done()
	defer close(c.rdone)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.box.push(func() { c.signalingEnded(err) })
			return
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			c.box.push(func() { c.fail(fmt.Errorf("%w: bad frame %q: %w", ErrSignaling, b, err)) })
			continue
		}
		c.box.push(func() { c.handleFrame(f) })
	}
}

// Close leaves the room (close 1000 ends the session) and stops every
// goroutine the client started.
func (c *Client) Close() error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	c.wg.Wait()
	return nil
}

// post runs f on the loop (dropped once the client is closing).
func (c *Client) post(f func()) { c.box.push(f) }

// loop owns the state: it runs the mailbox's work, ticks the receivers and
// the switch deadline, and re-evaluates each peer's paths after each batch.
func (c *Client) loop(joined frame) {
	defer c.wg.Done()
	defer close(c.done)
	defer c.shutdown()
	c.handleJoined(joined)
	c.evaluate()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var work []func()
	for {
		select {
		case <-c.stop:
			return
		case <-c.box.wake:
			work = c.box.take(work)
			for _, f := range work {
				f()
			}
			clear(work)
		case now := <-tick.C:
			c.tick(now)
		}
		c.evaluate()
		c.publish()
	}
}

// shutdown closes the session and every peer connection. The socket
// closes once the server has answered the close frame (or after a
// second): closed with frames still coming in, it would send a reset
// that can overtake the close frame, and the server would keep the
// session for resume instead of ending it.
func (c *Client) shutdown() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	select {
	case <-c.rdone:
	case <-time.After(time.Second):
	}
	_ = c.ws.Close()
	st := c.st
	for _, r := range st.remotes {
		if r.mesh != nil {
			r.mesh.close()
		}
	}
	if st.sfu != nil {
		st.sfu.close()
	}
	for _, s := range st.leaving {
		s.close()
	}
	c.box.take(nil) // work queued now is dropped
}

// fail records an error the client could not act on.
func (c *Client) fail(err error) {
	c.log.Warn("roomclient", "err", err)
	c.emit(Event{Kind: EventError, Err: err})
}

func (c *Client) signalingEnded(err error) {
	select {
	case <-c.stop:
		return // closing
	default:
	}
	c.fail(fmt.Errorf("%w: read: %w", ErrSignaling, err))
}
