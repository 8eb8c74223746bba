package ywebrtc_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/compat/ywebrtc"
)

func start(t *testing.T, opts testutil.Options) *testutil.Server {
	t.Helper()
	return testutil.StartServer(t, opts)
}

// endpoint is the server's /y-webrtc URL with token ("": none).
func endpoint(srv *testutil.Server, token string) string {
	u := strings.TrimSuffix(srv.WSURL, "/ws") + "/y-webrtc"
	if token != "" {
		u += "?token=" + url.QueryEscape(token)
	}
	return u
}

// token grants user the topics (patterns) of the y-webrtc namespace.
func token(t *testing.T, user string, topics ...string) string {
	t.Helper()
	return testutil.MintToken(t, signaling.TokenSpec{User: user, NS: map[string][]string{ywebrtc.Namespace: topics}, TTL: time.Hour})
}

func dial(t *testing.T, srv *testutil.Server, tok string) *testutil.Client {
	t.Helper()
	c := testutil.Dial(t, endpoint(srv, tok), nil)
	t.Cleanup(c.Close)
	return c
}

// ping makes sure that everything c sent before has been handled.
func ping(c *testutil.Client) {
	c.Send(map[string]string{"type": "ping"})
	c.Expect("pong")
}

func subscribe(c *testutil.Client, topics ...string) {
	c.Send(map[string]any{"type": "subscribe", "topics": topics})
	ping(c)
}

// A publish reaches every subscriber of the topic, the sender too, as it was
// sent (every field, in y-webrtc's shape) with "clients" added; other
// topics' subscribers hear nothing.
func TestPublishReachesEverySubscriber(t *testing.T) {
	srv := start(t, testutil.Options{})
	a := dial(t, srv, token(t, "a", "doc-*"))
	b := dial(t, srv, token(t, "b", "doc-*"))
	other := dial(t, srv, token(t, "c", "*"))
	subscribe(a, "doc-1")
	subscribe(b, "doc-1", "doc-2")
	subscribe(other, "elsewhere")

	a.Send(map[string]any{"type": "publish", "topic": "doc-1", "data": map[string]any{"type": "announce", "from": "peer-a"}})
	for _, c := range []*testutil.Client{a, b} {
		var m struct {
			Type    string         `json:"type"`
			Topic   string         `json:"topic"`
			Clients int            `json:"clients"`
			Data    map[string]any `json:"data"`
		}
		if err := json.Unmarshal(c.NextRaw(), &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "publish" || m.Topic != "doc-1" || m.Clients != 2 || m.Data["type"] != "announce" || m.Data["from"] != "peer-a" {
			t.Fatalf("relayed publish: %+v", m)
		}
	}
	// An encrypted room's data is a base64 string: relayed untouched, and a
	// "clients" the sender put in is replaced (the last key wins in JSON.parse).
	b.SendRaw([]byte(`{"type":"publish","topic":"doc-2","data":"c2VjcmV0","clients":99}` + "\n"))
	m := b.Next()
	if m.Str("data") != "c2VjcmV0" || m.Num("clients") != 1 {
		t.Fatalf("publish to doc-2: %v", m)
	}
	other.Quiet(100 * time.Millisecond)
}

// unsubscribe stops the relay and lowers "clients"; unsubscribing from a
// topic one is not in is no error, as in y-webrtc's server. A client that
// goes away counts no more either.
func TestUnsubscribe(t *testing.T) {
	srv := start(t, testutil.Options{})
	a := dial(t, srv, token(t, "a", "*"))
	b := dial(t, srv, token(t, "b", "*"))
	c := dial(t, srv, token(t, "c", "*"))
	subscribe(a, "t")
	subscribe(b, "t")
	subscribe(c, "t")
	b.Send(map[string]any{"type": "unsubscribe", "topics": []string{"t", "never-subscribed"}})
	ping(b)
	a.Send(map[string]any{"type": "publish", "topic": "t", "data": 1})
	if m := a.Expect("publish"); m.Num("clients") != 2 {
		t.Fatalf("after an unsubscribe: %v", m)
	}
	c.Expect("publish")
	b.Quiet(100 * time.Millisecond)

	c.Close()
	testutil.WaitFor(t, "c gone", func() bool { return srv.App.Signaling().Sessions() == 2 })
	a.Send(map[string]any{"type": "publish", "topic": "t", "data": 2})
	if m := a.Expect("publish"); m.Num("clients") != 1 {
		t.Fatalf("after a client left: %v", m)
	}
	// Subscribing twice counts once.
	subscribe(a, "t", "t")
	a.Send(map[string]any{"type": "publish", "topic": "t", "data": 3})
	if m := a.Expect("publish"); m.Num("clients") != 1 {
		t.Fatalf("after a double subscribe: %v", m)
	}
}

// The application ping gets exactly y-webrtc's pong (lib0's websocket
// closes a connection that hears nothing for 30 s); a subscribe without
// "topics" is an empty one, as in y-webrtc's server.
func TestPingPong(t *testing.T) {
	srv := start(t, testutil.Options{})
	a := dial(t, srv, token(t, "a", "*"))
	a.Send(map[string]any{"type": "subscribe"})
	a.Send(map[string]any{"type": "subscribe", "topics": nil})
	a.Send(map[string]any{"type": "ping"})
	if b := a.NextRaw(); string(b) != `{"type":"pong"}` {
		t.Fatalf("pong: %s", b)
	}
}

// The server sends WebSocket pings, and drops a connection that answers
// none (nor sends anything) within the pong timeout.
func TestWebSocketPings(t *testing.T) {
	srv := start(t, testutil.Options{Signaling: signaling.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 500 * time.Millisecond}})
	conn, _, err := websocket.DefaultDialer.Dial(endpoint(srv, token(t, "a", "*")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pings := make(chan struct{}, 16)
	conn.SetPingHandler(func(string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return nil // no pong: the client looks dead
	})
	conn.SetReadDeadline(time.Now().Add(testutil.Wait))
	start := time.Now()
	_, _, err = conn.ReadMessage() // handles pings until the server gives up
	if len(pings) < 2 {
		t.Fatalf("%d pings before the connection ended", len(pings))
	}
	if err == nil || time.Since(start) >= testutil.Wait {
		t.Fatalf("a connection that answers no ping was not dropped: %v", err)
	}
	testutil.WaitFor(t, "the session ended", func() bool { return srv.App.Signaling().Sessions() == 0 })
}
