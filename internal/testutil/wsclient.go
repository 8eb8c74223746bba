package testutil

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Msg is one server frame, decoded.
type Msg map[string]any

// Type is the frame's "type".
func (m Msg) Type() string { return m.Str("type") }

// Str is a string field, "" when absent.
func (m Msg) Str(k string) string { s, _ := m[k].(string); return s }

// Num is a numeric field, -1 when absent.
func (m Msg) Num(k string) float64 {
	if f, ok := m[k].(float64); ok {
		return f
	}
	return -1
}

// Client is a raw protocol client for tests: it writes whatever it is told
// and reads frames in a goroutine of its own.
type Client struct {
	t      testing.TB
	Conn   *websocket.Conn
	frames chan Msg
	raw    chan []byte
	done   chan struct{}
	err    error // read error, valid after done is closed
}

// Wait is how long Next waits for a frame.
const Wait = 5 * time.Second

// Dial opens a WebSocket to url (no hello yet).
func Dial(t testing.TB, url string, hdr http.Header) *Client {
	t.Helper()
	c, err := TryDial(t, url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// TryDial is Dial that returns the error (and the HTTP response's status via
// the error) instead of failing.
func TryDial(t testing.TB, url string, hdr http.Header) (*Client, error) {
	t.Helper()
	conn, err := dialConn(url, hdr)
	if err != nil {
		return nil, err
	}
	c := &Client{t: t, Conn: conn, frames: make(chan Msg, 4096), raw: make(chan []byte, 4096), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// DialError carries the HTTP status of a refused upgrade.
type DialError struct {
	Status int
	Err    error
}

func (e *DialError) Error() string { return e.Err.Error() }

func (c *Client) read() {
	defer close(c.done)
	for {
		_, b, err := c.Conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		var m Msg
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Errorf("server sent invalid JSON %q: %v", b, err)
			c.err = err
			return
		}
		c.raw <- b
		c.frames <- m
	}
}

// Close ends the session as a well-behaved client does (close 1000, which
// the server takes as "this session is over": no resume), closes the
// connection and waits for the reader to end.
func (c *Client) Close() {
	c.Conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.Drop()
}

// Drop closes the connection without a close frame, as a lost network
// does (the server keeps the session for resume), and waits for the reader
// to end.
func (c *Client) Drop() {
	c.Conn.Close()
	<-c.done
}

// Send writes v as a JSON text frame.
func (c *Client) Send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatalf("marshal: %v", err)
	}
	c.SendRaw(b)
}

// SendRaw writes b as a text frame.
func (c *Client) SendRaw(b []byte) {
	c.t.Helper()
	if err := c.Conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Next returns the next frame, failing the test if none comes within Wait.
func (c *Client) Next() Msg {
	c.t.Helper()
	select {
	case m := <-c.frames:
		<-c.raw
		return m
	case <-c.done:
		select { // frames read before the close
		case m := <-c.frames:
			<-c.raw
			return m
		default:
		}
		c.t.Fatalf("connection ended while waiting for a frame: %v", c.err)
	case <-time.After(Wait):
		c.t.Fatalf("no frame within %v", Wait)
	}
	return nil
}

// NextRaw returns the next frame as the bytes the server sent.
func (c *Client) NextRaw() []byte {
	c.t.Helper()
	select {
	case b := <-c.raw:
		<-c.frames
		return b
	case <-time.After(Wait):
		c.t.Fatalf("no frame within %v", Wait)
	}
	return nil
}

// Expect returns the next frame and fails unless it has type typ.
func (c *Client) Expect(typ string) Msg {
	c.t.Helper()
	m := c.Next()
	if m.Type() != typ {
		c.t.Fatalf("want a %q frame, got %v", typ, m)
	}
	return m
}

// ExpectError returns the next frame and fails unless it is an error with code.
func (c *Client) ExpectError(code string) Msg {
	c.t.Helper()
	m := c.Expect("error")
	if m.Str("code") != code {
		c.t.Fatalf("want error %q, got %v", code, m)
	}
	if m.Str("message") == "" {
		c.t.Fatalf("error without a message: %v", m)
	}
	return m
}

// Quiet fails if a frame arrives within d.
func (c *Client) Quiet(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.frames:
		<-c.raw
		c.t.Fatalf("want no frame, got %v", m)
	case <-time.After(d):
	}
}

// Closed waits for the connection to end and returns the close code the
// server sent (-1 if the connection ended without a close frame).
func (c *Client) Closed() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(Wait + 2*time.Second):
		c.t.Fatalf("connection still open")
	}
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return -1
}

// Hello sends a hello with token and returns the welcome.
func (c *Client) Hello(token string) Msg {
	c.t.Helper()
	c.Send(map[string]any{"type": "hello", "token": token})
	return c.Expect("welcome")
}

// Join joins room in the default namespace and returns the joined frame.
func (c *Client) Join(room string) Msg {
	c.t.Helper()
	c.Send(map[string]any{"type": "join", "room": room, "id": "j-" + room})
	m := c.Expect("joined")
	if m.Str("id") != "j-"+room {
		c.t.Fatalf("joined carries id %v, want %q", m["id"], "j-"+room)
	}
	return m
}

// DialHello opens a bare WebSocket (no reader goroutine: nothing reads
// unless the caller does), says hello with token and reads the welcome.
// Such a connection neither answers pings nor drains what the server sends.
func DialHello(t testing.TB, url, token string) *websocket.Conn {
	t.Helper()
	conn, err := dialConn(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.WriteJSON(map[string]string{"type": "hello", "token": token}); err != nil {
		t.Fatalf("hello: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(Wait))
	var w Msg
	if err := conn.ReadJSON(&w); err != nil || w.Type() != "welcome" {
		t.Fatalf("welcome: %v %v", w, err)
	}
	return conn
}

// dialConn opens a WebSocket; a refused upgrade comes back as *DialError.
func dialConn(url string, hdr http.Header) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: Wait}
	conn, resp, err := d.Dial(url, hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil && resp != nil {
		return nil, &DialError{Status: resp.StatusCode, Err: err}
	}
	return conn, err
}
