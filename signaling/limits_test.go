package signaling_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// Bad input gets bad_request (with the frame's id where it had one) and the
// session stays open and usable.
func TestBadInputKeepsSession(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, _ := connect(t, srv, "a")
	b, pb := connect(t, srv, "b")
	a.Join("r")
	b.Join("r")
	a.Expect("peer-joined")
	cases := []struct {
		name, frame, id string
	}{
		{"not json", `{"type":`, ""},
		{"trailing garbage", `{"type":"ping"} x`, ""},
		{"array", `[1,2,3]`, ""},
		{"string", `"hello"`, ""},
		{"null", `null`, ""},
		{"empty object", `{}`, ""},
		{"unknown type", `{"type":"teleport","id":"u1"}`, "u1"},
		{"type not a string", `{"type":5,"id":"u2"}`, "u2"},
		{"room not a string", `{"type":"join","room":["r"],"id":"u3"}`, "u3"},
		{"missing room", `{"type":"join","id":"u4"}`, "u4"},
		{"empty room", `{"type":"join","room":"","id":"u5"}`, "u5"},
		{"room too long", `{"type":"join","room":"` + strings.Repeat("x", 129) + `","id":"u6"}`, "u6"},
		{"control char in room", `{"type":"join","room":"a\u0000b","id":"u7"}`, "u7"},
		{"signal without to", `{"type":"signal","room":"r","data":1,"id":"u8"}`, "u8"},
		{"signal without data", `{"type":"signal","room":"r","to":"` + pb + `","id":"u9"}`, "u9"},
		{"to not a string", `{"type":"signal","room":"r","to":{},"data":1,"id":"u10"}`, "u10"},
		{"broadcast without data", `{"type":"broadcast","room":"r","id":"u11"}`, "u11"},
		{"id an object", `{"type":"ping","id":{"a":1}}`, ""},
		{"id too long", `{"type":"ping","id":"` + strings.Repeat("i", 200) + `"}`, ""},
		{"hello again", `{"type":"hello","token":"x","id":"u12"}`, "u12"},
		{"invalid utf-8", "{\"type\":\"join\",\"room\":\"\xff\xfe\",\"id\":\"u13\"}", ""},
		{"deep nesting", `{"type":"broadcast","room":"r","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `,"id":"u14"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.SendRaw([]byte(tc.frame))
			e := a.ExpectError("bad_request")
			if e.Str("id") != tc.id {
				t.Errorf("error id %v, want %q", e["id"], tc.id)
			}
			a.Send(map[string]any{"type": "ping", "id": "alive"})
			a.Expect("pong")
		})
	}
	t.Run("binary frame", func(t *testing.T) {
		if err := a.Conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		a.ExpectError("bad_request")
	})
	b.Quiet(50 * time.Millisecond) // nothing reached the other peer
	a.Send(map[string]any{"type": "signal", "room": "r", "to": pb, "data": "still works"})
	if m := b.Expect("signal"); m["data"] != "still works" {
		t.Errorf("after bad input: %v", m)
	}
}

func TestFrameTooBig(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, _ := connect(t, srv, "a")
	b, _ := connect(t, srv, "b")
	big := `{"type":"broadcast","room":"r","data":"` + strings.Repeat("x", 64<<10) + `"}`
	a.SendRaw([]byte(big))
	if code := a.Closed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
	// Only that connection: the other session is untouched, and a frame just under the limit passes.
	b.Join("r")
	b.SendRaw([]byte(`{"type":"broadcast","room":"r","id":1,"data":"` + strings.Repeat("x", 64<<10-100) + `"}`))
	b.Expect("ack")
}

func TestRateLimit(t *testing.T) {
	srv := start(t, signaling.Config{Rate: 1, Burst: 5})
	a, _ := connect(t, srv, "a")
	for i := range 5 {
		a.Send(map[string]any{"type": "ping", "id": i})
	}
	for range 5 {
		a.Expect("pong")
	}
	a.Send(map[string]any{"type": "ping", "id": "over"})
	if e := a.ExpectError("rate_limited"); e.Str("id") != "over" {
		t.Errorf("id %v", e["id"])
	}
	// The bucket refills: one frame per second is allowed again.
	time.Sleep(1100 * time.Millisecond)
	a.Send(map[string]any{"type": "ping", "id": "later"})
	a.Expect("pong")
}

func TestRoomAndPeerLimits(t *testing.T) {
	srv := start(t, signaling.Config{Limits: signaling.Limits{RoomsPerSession: 2, PeersPerRoom: 2}})
	a, _ := connect(t, srv, "a")
	a.Join("r1")
	a.Join("r2")
	a.Send(map[string]any{"type": "join", "room": "r3", "id": "x"})
	a.ExpectError("limit_exceeded")

	b, _ := connect(t, srv, "b")
	b.Join("r1")
	a.Expect("peer-joined")
	c, _ := connect(t, srv, "c")
	c.Send(map[string]any{"type": "join", "room": "r1", "id": "full"})
	if e := c.ExpectError("limit_exceeded"); e.Str("id") != "full" {
		t.Errorf("id %v", e["id"])
	}
	// Leaving frees a place.
	a.Send(map[string]any{"type": "leave", "room": "r1", "id": "l"})
	a.Expect("ack")
	c.Join("r1")
}

func TestSessionsPerUser(t *testing.T) {
	srv := start(t, signaling.Config{MaxSessionsPerUser: 2})
	connect(t, srv, "u")
	b, _ := connect(t, srv, "u")
	c := testutil.Dial(t, srv.WSURL, nil)
	c.Send(map[string]any{"type": "hello", "token": srv.Token(t, "u", "*")})
	c.ExpectError("limit_exceeded")
	if code := c.Closed(); code != signaling.CloseTooManySessions {
		t.Fatalf("close %d, want %d", code, signaling.CloseTooManySessions)
	}
	b.Close()
	waitFor(t, func() bool { return srv.App.Signaling().Sessions() == 1 }, "session ended")
	connect(t, srv, "u") // a place is free again
}

func TestMaxSessions(t *testing.T) {
	srv := start(t, signaling.Config{MaxSessions: 2})
	connect(t, srv, "a")
	connect(t, srv, "b")
	_, err := testutil.TryDial(t, srv.WSURL, nil)
	var de *testutil.DialError
	if !errors.As(err, &de) || de.Status != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v, want 503", err)
	}
}

func TestNamespaces(t *testing.T) {
	srv := start(t, signaling.Config{Namespaces: []signaling.Namespace{
		{Name: "chat"},
		{Name: "notifications", Limits: signaling.Limits{PeersPerRoom: 1}},
	}})
	tokA := testutil.MintToken(t, signaling.TokenSpec{User: "a", Rooms: []string{"*"},
		NS: map[string][]string{"chat": {"*"}, "notifications": {"user-a"}}, TTL: time.Hour})
	tokB := testutil.MintToken(t, signaling.TokenSpec{User: "b", Rooms: []string{"*"},
		NS: map[string][]string{"chat": {"lobby"}}, TTL: time.Hour})
	a := testutil.Dial(t, srv.WSURL, nil)
	a.Hello(tokA)
	b := testutil.Dial(t, srv.WSURL, nil)
	pb := b.Hello(tokB).Str("peer")

	// The same room name in two namespaces is two rooms.
	a.Join("lobby")
	a.Send(map[string]any{"type": "join", "room": "lobby", "ns": "chat", "id": 1})
	if j := a.Expect("joined"); j.Str("ns") != "chat" {
		t.Errorf("joined %v", j)
	}
	b.Send(map[string]any{"type": "join", "room": "lobby", "ns": "chat", "id": 2})
	if j := b.Expect("joined"); len(j["peers"].([]any)) != 1 || j.Str("ns") != "chat" {
		t.Errorf("joined %v", j)
	}
	if pj := a.Expect("peer-joined"); pj.Str("ns") != "chat" {
		t.Errorf("peer-joined %v", pj)
	}
	// b is not in the default namespace's lobby: a signal there is not_found,
	// in chat it arrives carrying its namespace.
	a.Send(map[string]any{"type": "signal", "room": "lobby", "to": pb, "data": 1, "id": 3})
	a.ExpectError("not_found")
	a.Send(map[string]any{"type": "signal", "room": "lobby", "ns": "chat", "to": pb, "data": 2, "id": 4})
	a.Expect("ack")
	if m := b.Expect("signal"); m.Str("ns") != "chat" || m["data"] != 2.0 {
		t.Errorf("signal %v", m)
	}
	// Grants are per namespace.
	b.Send(map[string]any{"type": "join", "room": "user-a", "ns": "notifications", "id": 5})
	b.ExpectError("forbidden")
	b.Send(map[string]any{"type": "join", "room": "other", "ns": "chat", "id": 6})
	b.ExpectError("forbidden")
	// Undeclared namespaces do not exist.
	a.Send(map[string]any{"type": "join", "room": "x", "ns": "games", "id": 7})
	a.ExpectError("not_found")
	// Limits are per namespace: notifications rooms hold one peer.
	a.Send(map[string]any{"type": "join", "room": "user-a", "ns": "notifications", "id": 8})
	a.Expect("joined")
	a2 := testutil.Dial(t, srv.WSURL, nil)
	a2.Hello(tokA)
	a2.Send(map[string]any{"type": "join", "room": "user-a", "ns": "notifications", "id": 9})
	a2.ExpectError("limit_exceeded")
}

func TestNamespaceRate(t *testing.T) {
	srv := start(t, signaling.Config{Namespaces: []signaling.Namespace{{Name: "chat", Limits: signaling.Limits{Rate: 1, Burst: 2}}}})
	tok := testutil.MintToken(t, signaling.TokenSpec{User: "a", Rooms: []string{"*"}, NS: map[string][]string{"chat": {"*"}}, TTL: time.Hour})
	a := testutil.Dial(t, srv.WSURL, nil)
	a.Hello(tok)
	a.Send(map[string]any{"type": "join", "room": "r", "ns": "chat", "id": 1})
	a.Expect("joined")
	a.Send(map[string]any{"type": "broadcast", "room": "r", "ns": "chat", "data": 1, "id": 2})
	a.Expect("ack")
	a.Send(map[string]any{"type": "broadcast", "room": "r", "ns": "chat", "data": 1, "id": 3})
	a.ExpectError("rate_limited")
	a.Join("r") // the default namespace has its own budget
}

func TestOrigin(t *testing.T) {
	srv := start(t, signaling.Config{AllowedOrigins: []string{"https://app.example"}})
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},                    // not a browser
		{"http://" + host, true},      // same origin
		{"https://app.example", true}, // allow-listed
		{"https://evil.example", false},
		{"http://" + host + ".evil.example", false},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		c, err := testutil.TryDial(t, srv.WSURL, hdr)
		var de *testutil.DialError
		switch {
		case tc.ok && err != nil:
			t.Errorf("origin %q refused: %v", tc.origin, err)
		case !tc.ok && (!errors.As(err, &de) || de.Status != http.StatusForbidden):
			t.Errorf("origin %q: %v, want 403", tc.origin, err)
		}
		if c != nil {
			c.Close()
		}
	}
}

// A client that stops reading is disconnected once its queue is full; the
// sender and everybody else carry on.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	srv := start(t, signaling.Config{SendQueueFrames: 64, Rate: 1e6, Burst: 1e6})
	a, _ := connect(t, srv, "a")
	slow := testutil.DialHello(t, srv.WSURL, srv.Token(t, "slow", "*"))
	if err := slow.WriteJSON(map[string]any{"type": "join", "room": "r"}); err != nil {
		t.Fatal(err)
	}
	a.Join("r")
	c, pc := connect(t, srv, "c")
	c.Join("r")
	a.Expect("peer-joined")
	payload := strings.Repeat("x", 32<<10)
	// The slow client's socket buffers fill, then its queue: it is dropped
	// and the room sees it leave.
	left := false
	for i := 0; !left; i++ {
		if i > 20000 {
			t.Fatal("slow client never disconnected")
		}
		a.Send(map[string]any{"type": "broadcast", "room": "r", "data": payload})
		for { // the healthy client keeps up
			m := c.Next()
			if m.Type() == "peer-left" {
				left = true
			}
			if m.Type() == "broadcast" {
				break
			}
		}
	}
	waitFor(t, func() bool { return srv.App.Signaling().Sessions() == 2 }, "slow session gone")
	// The sender still works.
	a.Send(map[string]any{"type": "signal", "room": "r", "to": pc, "data": "after", "id": "z"})
	for {
		m := c.Next()
		if m.Type() == "signal" {
			if m["data"] != "after" {
				t.Errorf("signal %v", m)
			}
			break
		}
	}
}

func TestShutdownSaysGoingAway(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, _ := connect(t, srv, "a")
	pending := testutil.Dial(t, srv.WSURL, nil) // connected, no hello yet
	// A detached session ends with the drain too: its room hears it leave.
	b, _ := connect(t, srv, "b")
	away, _ := connect(t, srv, "away")
	b.Join("r")
	away.Join("r")
	b.Expect("peer-joined")
	away.Drop()
	b.Quiet(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.App.Shutdown(ctx) }()
	// The client is told when to come back: within 2 s, spread at random.
	if m := a.Expect("reconnect"); m.Num("delay") < 0 || m.Num("delay") >= 2000 || m.Num("seq") != 1 {
		t.Errorf("reconnect frame %v", m)
	}
	// Nobody hears of anybody leaving: they are all told to reconnect.
	if m := b.Next(); m.Type() != "reconnect" {
		t.Errorf("b got %v, want reconnect", m)
	}
	if code := a.Closed(); code != websocket.CloseGoingAway {
		t.Errorf("session closed with %d, want 1001", code)
	}
	if code := pending.Closed(); code != websocket.CloseGoingAway {
		t.Errorf("pending connection closed with %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if n := srv.App.Signaling().Sessions(); n != 0 {
		t.Errorf("%d sessions left after the drain (the detached one should have ended)", n)
	}
	if _, err := testutil.TryDial(t, srv.WSURL, nil); err == nil {
		t.Error("connection accepted after shutdown")
	}
}
