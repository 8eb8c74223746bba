package signaling_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

func start(t *testing.T, cfg signaling.Config) *testutil.Server {
	t.Helper()
	return testutil.StartServer(t, testutil.Options{Signaling: cfg})
}

// connect dials, says hello as user (granted every room) and returns the client and its peer id.
func connect(t *testing.T, srv *testutil.Server, user string) (*testutil.Client, string) {
	t.Helper()
	c := testutil.Dial(t, srv.WSURL, nil)
	w := c.Hello(srv.Token(t, user, "*"))
	return c, w.Str("peer")
}

func TestWelcome(t *testing.T) {
	srv := start(t, signaling.Config{})
	c := testutil.Dial(t, srv.WSURL, nil)
	tok := testutil.MintToken(t, signaling.TokenSpec{User: "alice", Name: "Alice", Rooms: []string{"*"}, TTL: time.Hour})
	w := c.Hello(tok)
	if w.Str("user") != "alice" || w.Str("name") != "Alice" {
		t.Errorf("welcome user/name = %q/%q", w.Str("user"), w.Str("name"))
	}
	if _, ok := w["seq"]; ok {
		t.Errorf("welcome carries seq: %v", w)
	}
	if w.Num("expires") < float64(time.Now().Unix()) {
		t.Errorf("welcome expires = %v", w["expires"])
	}
	if _, ok := w["limits"].(map[string]any); !ok {
		t.Errorf("welcome has no limits: %v", w)
	}
	// Peer ids are unguessable (>= 16 characters of randomness) and distinct per session.
	seen := map[string]bool{}
	for i := range 20 {
		_, p := connect(t, srv, "user"+strconv.Itoa(i))
		if len(p) < 16 {
			t.Fatalf("peer id %q shorter than 16", p)
		}
		if seen[p] {
			t.Fatalf("peer id %q repeated", p)
		}
		seen[p] = true
	}
	_, p2 := connect(t, srv, "bob")
	c3 := testutil.Dial(t, srv.WSURL, nil)
	w3 := c3.Hello(srv.Token(t, "bob", "*"))
	if p2 == w3.Str("peer") || w.Str("session") == w3.Str("session") || w3.Str("session") == "" {
		t.Errorf("peer/session ids not distinct: %v / %v", w, w3)
	}
}

func hs256(t *testing.T, claims jwt.MapClaims, secret string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHelloRefused(t *testing.T) {
	srv := start(t, signaling.Config{})
	exp := time.Now().Add(time.Hour).Unix()
	enc := base64.RawURLEncoding.EncodeToString
	algNone := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"eve","exp":`+jsonNum(exp)+`,"rooms":["*"]}`)) + "."
	good := hs256(t, jwt.MapClaims{"sub": "bob", "exp": exp}, testutil.TestSecret)
	tampered := good[:strings.LastIndexByte(good, '.')] + "." + enc(bytes.Repeat([]byte{7}, 32))
	cases := []struct {
		name  string
		frame any
		code  string
	}{
		{"no token", map[string]any{"type": "hello"}, "unauthorized"},
		{"empty token", map[string]any{"type": "hello", "token": ""}, "unauthorized"},
		{"bad signature", map[string]any{"type": "hello", "token": hs256(t, jwt.MapClaims{"sub": "bob", "exp": exp}, "wrong")}, "unauthorized"},
		{"tampered", map[string]any{"type": "hello", "token": tampered}, "unauthorized"},
		{"alg none", map[string]any{"type": "hello", "token": algNone}, "unauthorized"},
		{"malformed", map[string]any{"type": "hello", "token": "not.a.jwt"}, "unauthorized"},
		{"garbage", map[string]any{"type": "hello", "token": "%%%"}, "unauthorized"},
		{"no sub", map[string]any{"type": "hello", "token": hs256(t, jwt.MapClaims{"exp": exp}, testutil.TestSecret)}, "unauthorized"},
		{"no exp", map[string]any{"type": "hello", "token": hs256(t, jwt.MapClaims{"sub": "bob"}, testutil.TestSecret)}, "unauthorized"},
		{"rooms not a list", map[string]any{"type": "hello", "token": hs256(t, jwt.MapClaims{"sub": "bob", "exp": exp, "rooms": "x"}, testutil.TestSecret)}, "unauthorized"},
		{"token not a string", map[string]any{"type": "hello", "token": 42}, "unauthorized"},
		{"expired", map[string]any{"type": "hello", "token": hs256(t, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(-time.Minute).Unix()}, testutil.TestSecret)}, "token_expired"},
		{"expired and forged", map[string]any{"type": "hello", "token": hs256(t, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(-time.Minute).Unix()}, "wrong")}, "unauthorized"},
		{"join before hello", map[string]any{"type": "join", "room": "a"}, "unauthorized"},
		{"ping before hello", map[string]any{"type": "ping", "id": 1}, "unauthorized"},
		{"not json", "{", "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Dial(t, srv.WSURL, nil)
			if s, ok := tc.frame.(string); ok {
				c.SendRaw([]byte(s))
			} else {
				c.Send(tc.frame)
			}
			c.ExpectError(tc.code)
			if code := c.Closed(); code != signaling.CloseUnauthorized {
				t.Fatalf("close code %d, want %d", code, signaling.CloseUnauthorized)
			}
		})
	}
}

func jsonNum(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestHelloTimeout(t *testing.T) {
	srv := start(t, signaling.Config{HelloTimeout: 300 * time.Millisecond})
	c := testutil.Dial(t, srv.WSURL, nil)
	if code := c.Closed(); code != signaling.CloseHelloTimeout {
		t.Fatalf("close code %d, want %d", code, signaling.CloseHelloTimeout)
	}
}

func TestJoinPresenceLeave(t *testing.T) {
	srv := start(t, signaling.Config{})
	a := testutil.Dial(t, srv.WSURL, nil)
	wa := a.Hello(testutil.MintToken(t, signaling.TokenSpec{User: "ann", Name: "Ann", Rooms: []string{"team-*"}, TTL: time.Hour}))
	b := testutil.Dial(t, srv.WSURL, nil)
	wb := b.Hello(testutil.MintToken(t, signaling.TokenSpec{User: "bo", Rooms: []string{"team-red"}, TTL: time.Hour}))

	j := a.Join("team-red")
	if peers := j["peers"].([]any); len(peers) != 0 {
		t.Fatalf("first joiner sees peers %v", peers)
	}
	j = b.Join("team-red")
	peers := j["peers"].([]any)
	if len(peers) != 1 {
		t.Fatalf("joined peers = %v", peers)
	}
	if p := peers[0].(map[string]any); p["peer"] != wa.Str("peer") || p["user"] != "ann" || p["name"] != "Ann" {
		t.Errorf("peer entry %v", p)
	}
	pj := a.Expect("peer-joined")
	if pj.Str("peer") != wb.Str("peer") || pj.Str("user") != "bo" || pj.Str("room") != "team-red" {
		t.Errorf("peer-joined %v", pj)
	}

	// Grants: a pattern grants a prefix; rooms outside it are forbidden.
	b.Send(map[string]any{"type": "join", "room": "team-blue", "id": "x"})
	if e := b.ExpectError("forbidden"); e.Str("id") != "x" {
		t.Errorf("forbidden reply id %v", e["id"])
	}
	a.Join("team-blue")

	// Leaving tells the others; leaving a room one is not in is not_found.
	b.Send(map[string]any{"type": "leave", "room": "team-red", "id": 7})
	if ack := b.Expect("ack"); ack.Num("id") != 7 {
		t.Errorf("ack id %v", ack["id"])
	}
	if pl := a.Expect("peer-left"); pl.Str("peer") != wb.Str("peer") || pl.Str("room") != "team-red" {
		t.Errorf("peer-left %v", pl)
	}
	b.Send(map[string]any{"type": "leave", "room": "team-red", "id": 8})
	b.ExpectError("not_found")

	// Closing the connection leaves every room.
	b.Join("team-red")
	a.Expect("peer-joined")
	b.Close()
	if pl := a.Expect("peer-left"); pl.Str("peer") != wb.Str("peer") {
		t.Errorf("peer-left after close %v", pl)
	}
	// Joining again answers with the room as it is, without a second peer-joined.
	c, _ := connect(t, srv, "cy")
	c.Join("team-red")
	a.Expect("peer-joined")
	again := c.Join("team-red")
	if len(again["peers"].([]any)) != 1 {
		t.Errorf("rejoin peers %v", again["peers"])
	}
	a.Quiet(100 * time.Millisecond)
}

func TestSignalRelay(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, pa := connect(t, srv, "a")
	b, pb := connect(t, srv, "b")
	c, pc := connect(t, srv, "c")
	a.Join("r")
	b.Join("r")
	a.Expect("peer-joined")
	c.Join("elsewhere")

	// data is opaque and arrives byte for byte; the server stamps from.
	data := `{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n","type":"offer","n":[1,2.5e3,null,true],"u":"\u00e9\u2028"}`
	a.SendRaw([]byte(`{"type":"signal","room":"r","to":"` + pb + `","from":"forged","data":` + data + `,"id":"s1"}`))
	if ack := a.Expect("ack"); ack.Str("id") != "s1" {
		t.Fatalf("ack %v", ack)
	}
	raw := b.NextRaw()
	var got struct {
		Type, Room, From string
		Data             json.RawMessage
		Seq              uint64
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "signal" || got.Room != "r" || got.From != pa || string(got.Data) != data {
		t.Fatalf("relayed %s", raw)
	}

	// Without an id there is no ack, only the delivery.
	b.Send(map[string]any{"type": "signal", "room": "r", "to": pa, "data": "answer"})
	if m := a.Expect("signal"); m["data"] != "answer" || m.Str("from") != pb {
		t.Fatalf("relayed %v", m)
	}
	a.Quiet(50 * time.Millisecond)

	// A target not in that room with the sender is not_found.
	a.Send(map[string]any{"type": "signal", "room": "r", "to": pc, "data": 1, "id": "s2"})
	if e := a.ExpectError("not_found"); e.Str("id") != "s2" {
		t.Errorf("id %v", e["id"])
	}
	a.Send(map[string]any{"type": "signal", "room": "r", "to": "nobody", "data": 1, "id": "s3"})
	a.ExpectError("not_found")
	// A sender not in the room is not_found too, even if the target is there.
	c.Send(map[string]any{"type": "signal", "room": "r", "to": pa, "data": 1, "id": "s4"})
	c.ExpectError("not_found")
	a.Quiet(50 * time.Millisecond)
}

func TestBroadcast(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, pa := connect(t, srv, "a")
	b, _ := connect(t, srv, "b")
	c, _ := connect(t, srv, "c")
	d, _ := connect(t, srv, "d")
	a.Join("r")
	b.Join("r")
	a.Expect("peer-joined")
	c.Join("r")
	a.Expect("peer-joined")
	b.Expect("peer-joined")
	d.Join("other")

	a.Send(map[string]any{"type": "broadcast", "room": "r", "data": map[string]any{"x": 1}, "id": "b1"})
	a.Expect("ack")
	for _, cl := range []*testutil.Client{b, c} {
		m := cl.Expect("broadcast")
		if m.Str("from") != pa || m.Str("room") != "r" || m["data"].(map[string]any)["x"] != 1.0 {
			t.Errorf("broadcast %v", m)
		}
	}
	a.Quiet(50 * time.Millisecond) // never back to the sender
	d.Quiet(10 * time.Millisecond) // nor to other rooms
	d.Send(map[string]any{"type": "broadcast", "room": "r", "data": 1, "id": "b2"})
	d.ExpectError("not_found")
}

func TestPingPong(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, _ := connect(t, srv, "a")
	a.Send(map[string]any{"type": "ping"})
	if p := a.Expect("pong"); p["id"] != nil {
		t.Errorf("pong %v", p)
	}
	a.SendRaw([]byte(`{"type":"ping","id":12345678901}`))
	if raw := a.NextRaw(); !bytes.Contains(raw, []byte(`"id":12345678901`)) {
		t.Errorf("pong %s does not echo the numeric id verbatim", raw)
	}
}

// Every frame with an id gets exactly one reply with that id; seq counts up by one.
func TestRepliesAndSeq(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, _ := connect(t, srv, "a")
	b, pb := connect(t, srv, "b")
	b.Join("r")
	frames := []map[string]any{
		{"type": "join", "room": "r", "id": 1},
		{"type": "signal", "room": "r", "to": pb, "data": 1, "id": 2},
		{"type": "broadcast", "room": "r", "data": 1, "id": 3},
		{"type": "ping", "id": 4},
		{"type": "join", "room": "forbidden\u0001", "id": 5},
		{"type": "nope", "id": 6},
		{"type": "leave", "room": "r", "id": 7},
		{"type": "leave", "room": "r", "id": 8},
	}
	for _, f := range frames {
		a.Send(f)
	}
	want := []string{"joined", "ack", "ack", "pong", "error", "error", "ack", "error"}
	var last float64
	for i, typ := range want {
		m := a.Expect(typ)
		if m.Num("id") != float64(i+1) {
			t.Errorf("reply %d: %v", i+1, m)
		}
		if s := m.Num("seq"); s != last+1 {
			t.Errorf("seq %v after %v", s, last)
		} else {
			last = s
		}
	}
	a.Quiet(100 * time.Millisecond)
}

// Messages to one client arrive in the order they were sent.
func TestOrdering(t *testing.T) {
	// A queue that holds the whole burst: this test is about order, and a
	// busy machine must not turn it into the slow-consumer test.
	srv := start(t, signaling.Config{Rate: 10000, Burst: 10000, SendQueueFrames: 4096})
	a, _ := connect(t, srv, "a")
	b, pb := connect(t, srv, "b")
	a.Join("r")
	b.Join("r")
	a.Expect("peer-joined")
	const n = 2000
	for i := range n {
		a.Send(map[string]any{"type": "signal", "room": "r", "to": pb, "data": i})
	}
	for i := range n {
		if m := b.Expect("signal"); m["data"] != float64(i) {
			t.Fatalf("signal %d arrived as %v", i, m["data"])
		}
	}
}

func TestServerPingsAndDropsSilentClients(t *testing.T) {
	srv := start(t, signaling.Config{PingInterval: 50 * time.Millisecond, PongTimeout: 300 * time.Millisecond, ResumeGrace: 200 * time.Millisecond})
	// A client that reads answers pings (gorilla does it while reading) and stays.
	a, _ := connect(t, srv, "a")
	a.Quiet(600 * time.Millisecond)
	a.Send(map[string]any{"type": "ping", "id": 1})
	a.Expect("pong")
	// A client that never reads never answers pings and is dropped (after
	// the resume grace period).
	testutil.DialHello(t, srv.WSURL, srv.Token(t, "b", "*"))
	waitFor(t, func() bool { return srv.App.Signaling().Sessions() == 2 }, "two sessions")
	waitFor(t, func() bool { return srv.App.Signaling().Sessions() == 1 }, "silent session dropped")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(testutil.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The welcome carries the ICE servers the server hands out; a session gets
// fresh ones unasked when a quarter of their lifetime is left, and on request.
func TestICEServers(t *testing.T) {
	var calls atomic.Int32
	srv := start(t, signaling.Config{
		PingInterval: 50 * time.Millisecond,
		ICEServers: func(user, host string) ([]byte, time.Time) {
			n := calls.Add(1)
			list, _ := json.Marshal([]map[string]any{{"urls": []string{"turn:" + host}, "username": user, "credential": strconv.Itoa(int(n))}})
			return list, time.Now().Add(400 * time.Millisecond)
		},
	})
	c := testutil.Dial(t, srv.WSURL, nil)
	w := c.Hello(srv.Token(t, "alice", "*"))
	list, ok := w["iceServers"].([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("welcome iceServers = %v", w["iceServers"])
	}
	first := list[0].(map[string]any)
	host := strings.TrimPrefix(srv.URL, "http://")
	if first["username"] != "alice" || first["urls"].([]any)[0] != "turn:"+host {
		t.Errorf("iceServers[0] = %v, want user alice and the host the client dialled (%s)", first, host)
	}
	if w.Num("iceServersExpire") < float64(time.Now().Unix()) {
		t.Errorf("iceServersExpire = %v", w["iceServersExpire"])
	}
	// Pushed before expiry (at 300 ms of 400), with seq like any frame.
	push := c.Expect("ice-servers")
	if push["id"] != nil || push.Num("seq") < 1 {
		t.Errorf("pushed ice-servers = %v", push)
	}
	if got := push["iceServers"].([]any)[0].(map[string]any)["credential"]; got == first["credential"] {
		t.Errorf("pushed credential %v is not fresh", got)
	}
	c.Send(map[string]any{"type": "ice-servers", "id": "q"})
	for {
		m := c.Expect("ice-servers")
		if m["id"] == "q" {
			break
		}
	}
}

// Without ICE servers configured, welcome has none and a request gets an empty list.
func TestICEServersNone(t *testing.T) {
	srv := start(t, signaling.Config{})
	c, _ := connect(t, srv, "a")
	c.Send(map[string]any{"type": "ice-servers", "id": 1})
	m := c.Expect("ice-servers")
	if l, ok := m["iceServers"].([]any); !ok || len(l) != 0 || m.Num("id") != 1 {
		t.Errorf("ice-servers = %v", m)
	}
}
