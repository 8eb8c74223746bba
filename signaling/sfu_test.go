package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// startSFU starts a server whose SFU is a recording one, with modes.
func startSFU(t *testing.T, modes signaling.RoomModes, cfg signaling.Config) (*testutil.Server, *recSFU) {
	t.Helper()
	sfu := newRecSFU()
	cfg.SFU, cfg.RoomModes = sfu, modes
	return start(t, cfg), sfu
}

// startBare serves a signaling.Server built from cfg as it is (the full
// server would put its own room modes in), without metrics.
func startBare(t *testing.T, cfg signaling.Config) *testutil.Server {
	t.Helper()
	v, err := signaling.NewHMACVerifier([]byte(testutil.TestSecret))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Verifier = v
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := signaling.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &testutil.Server{URL: hs.URL, WSURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", Secret: testutil.TestSecret}
}

// joinMode joins room (in namespace ns) and returns the joined frame's mode.
func joinMode(t *testing.T, c *testutil.Client, ns, room string) string {
	t.Helper()
	c.Send(map[string]any{"type": "join", "room": room, "ns": ns, "id": room})
	j := c.Expect("joined")
	if j.Str("id") != room || j.Str("room") != room {
		t.Fatalf("joined %v, want the answer to the join of %q", j, room)
	}
	return j.Str("mode")
}

// twoInBig1 connects a and b and has them join big-1, a first.
func twoInBig1(t *testing.T, srv *testutil.Server) (a *testutil.Client, pa string, b *testutil.Client, pb string) {
	t.Helper()
	a, pa = connect(t, srv, "a")
	b, pb = connect(t, srv, "b")
	a.Join("big-1")
	b.Join("big-1")
	a.Expect("peer-joined")
	return a, pa, b, pb
}

func TestJoinedSaysTheRoomMode(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{Namespaces: []signaling.Namespace{{Name: "chat"}}})
	tok := testutil.MintToken(t, signaling.TokenSpec{User: "a", Rooms: []string{"*"}, NS: map[string][]string{"chat": {"*"}}, TTL: time.Hour})
	a := testutil.Dial(t, srv.WSURL, nil)
	pa := a.Hello(tok).Str("peer")
	for room, want := range map[string]string{"big-1": "sfu", "p2p-1": "mesh", "lobby": "mesh"} {
		if got := joinMode(t, a, "", room); got != want {
			t.Errorf("room %q: mode %q, want %q", room, got, want)
		}
	}
	// Joining again answers with the mode too, and joins the SFU only once.
	if got := joinMode(t, a, "", "big-1"); got != "sfu" {
		t.Errorf("second join of big-1: mode %q", got)
	}
	// Namespaces follow the same rules; the SFU names the room ns/room.
	if got := joinMode(t, a, "chat", "big-1"); got != "sfu" {
		t.Errorf("chat/big-1: mode %q", got)
	}
	if n := sfu.count("join", "/big-1", pa); n != 1 {
		t.Errorf("SFU.Join of /big-1: %d calls", n)
	}
	if n := sfu.count("join", "chat/big-1", pa); n != 1 {
		t.Errorf("SFU.Join of chat/big-1: %d calls", n)
	}
	if n := sfu.count("join", "/lobby", pa); n != 0 {
		t.Errorf("a mesh room joined the SFU")
	}

	// With sfu as the default, the rules still win.
	srv2, _ := startSFU(t, signaling.RoomModes{Rules: bigRooms.Rules, Default: signaling.ModeSFU}, signaling.Config{})
	b, _ := connect(t, srv2, "b")
	if got := joinMode(t, b, "", "lobby"); got != "sfu" {
		t.Errorf("default sfu: lobby is %q", got)
	}
	if got := joinMode(t, b, "", "p2p-x"); got != "mesh" {
		t.Errorf("default sfu: p2p-x is %q", got)
	}
}

// Without an SFU, every room is a mesh whatever the rules say, and sfu
// frames are refused.
func TestNoSFUMeansMesh(t *testing.T) {
	srv := startBare(t, signaling.Config{RoomModes: signaling.RoomModes{Rules: bigRooms.Rules, Default: signaling.ModeSFU}})
	a, _ := connect(t, srv, "a")
	for _, room := range []string{"big-1", "lobby"} {
		if got := joinMode(t, a, "", room); got != "mesh" {
			t.Errorf("room %q without an SFU: mode %q", room, got)
		}
	}
	a.Send(map[string]any{"type": "sfu", "room": "big-1", "data": map[string]any{"kind": "offer"}, "id": 1})
	if e := a.ExpectError("bad_request"); e.Num("id") != 1 {
		t.Errorf("error %v", e)
	}
}

func TestSFUFrameReachesTheSFU(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{})
	a, pa, b, pb := twoInBig1(t, srv)
	// The data as the client wrote it, byte for byte: white space, escapes,
	// key order and all.
	data := `{ "kind":"offer", "pc":"pub","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "x":[1, 2.50, "\u00e9"]}`
	a.SendRaw([]byte(`{"type":"sfu","room":"big-1","data":` + data + `,"id":"o1"}`))
	if ack := a.Expect("ack"); ack.Str("id") != "o1" {
		t.Errorf("ack %v", ack)
	}
	if got := sfu.messages("/big-1", pa); len(got) != 1 || got[0] != data {
		t.Fatalf("SFU.Message got %q, want [%q]", got, data)
	}
	// No id: no ack, and the messages keep their order.
	for i := range 3 {
		a.SendRaw([]byte(fmt.Sprintf(`{"type":"sfu","room":"big-1","data":{"kind":"candidate","n":%d}}`, i)))
	}
	a.Send(map[string]any{"type": "ping", "id": "p"})
	a.Expect("pong")
	got := sfu.messages("/big-1", pa)
	if len(got) != 4 || got[1] != `{"kind":"candidate","n":0}` || got[3] != `{"kind":"candidate","n":2}` {
		t.Errorf("messages %q", got)
	}
	// The SFU speaks for itself: nothing reaches the other peer.
	if n := len(sfu.messages("/big-1", pb)); n != 0 {
		t.Errorf("b's messages: %d", n)
	}
	b.Quiet(50 * time.Millisecond)

	// The SFU's errors are the frame's: a *Error (or a wrapped sentinel)
	// keeps its code, anything else is a bad request, never internal.
	for _, tc := range []struct {
		err       error
		code, msg string
	}{
		{errors.New("sdp: no m= line"), "bad_request", "sdp: no m= line"},
		{fmt.Errorf("%w: 4 tracks already", signaling.ErrLimitExceeded), "limit_exceeded", "4 tracks already"},
		{&signaling.Error{Code: signaling.CodeRateLimited, Message: "slow down"}, "rate_limited", "slow down"},
	} {
		sfu.mu.Lock()
		sfu.msgErr = tc.err
		sfu.mu.Unlock()
		a.Send(map[string]any{"type": "sfu", "room": "big-1", "data": map[string]any{"kind": "offer"}, "id": 9})
		if e := a.ExpectError(tc.code); e.Str("message") != tc.msg || e.Num("id") != 9 {
			t.Errorf("error for %v: %v", tc.err, e)
		}
	}
}

func TestSFUFrameRefused(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{})
	a, pa := connect(t, srv, "a")
	a.Join("p2p-1")
	for _, tc := range []struct {
		frame string
		code  string
	}{
		{`{"type":"sfu","room":"big-1","data":{"kind":"offer"},"id":1}`, "not_found"},   // not in the room
		{`{"type":"sfu","room":"p2p-1","data":{"kind":"offer"},"id":1}`, "bad_request"}, // a mesh room
		{`{"type":"sfu","room":"big-1","data":[1],"id":1}`, "bad_request"},              // data not an object
		{`{"type":"sfu","room":"big-1","data":"offer","id":1}`, "bad_request"},
		{`{"type":"sfu","room":"big-1","data":7,"id":1}`, "bad_request"},
		{`{"type":"sfu","room":"big-1","data":null,"id":1}`, "bad_request"},
		{`{"type":"sfu","room":"big-1","id":1}`, "bad_request"},
		{`{"type":"sfu","data":{},"id":1}`, "bad_request"},
		{`{"type":"sfu","room":"big-1","ns":"nope","data":{},"id":1}`, "not_found"},
	} {
		a.SendRaw([]byte(tc.frame))
		if e := a.ExpectError(tc.code); e.Num("id") != 1 {
			t.Errorf("%s: error %v", tc.frame, e)
		}
	}
	// Joined now, data not an object is still refused before the SFU sees it.
	a.Join("big-1")
	a.SendRaw([]byte(`{"type":"sfu","room":"big-1","data":[{"kind":"offer"}],"id":2}`))
	a.ExpectError("bad_request")
	if got := sfu.messages("/big-1", pa); len(got) != 0 {
		t.Errorf("SFU got %q", got)
	}
	// The session is fine.
	a.Send(map[string]any{"type": "sfu", "room": "big-1", "data": map[string]any{}, "id": 3})
	a.Expect("ack")
	// The metrics count the well-formed ones as sfu, the others as invalid.
	if n := srv.Metric(t, `switchboard_signaling_frames_in_total{type="sfu"}`); n != 4 {
		t.Errorf("sfu frames in: %v, want 4", n)
	}
}

func TestSFUSendReachesTheClient(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{Namespaces: []signaling.Namespace{{Name: "chat"}}})
	// The SFU offers at once, inside Join: the client sees joined first.
	offer := `{"kind":"offer","pc":"sub","sdp":"v=0\r\n","tracks":{}}`
	sfu.onJoin = func(room, peer string, send func([]byte) bool) {
		if !send([]byte(offer)) {
			t.Errorf("send inside Join refused")
		}
	}
	tok := testutil.MintToken(t, signaling.TokenSpec{User: "a", Rooms: []string{"*"}, NS: map[string][]string{"chat": {"*"}}, TTL: time.Hour})
	a := testutil.Dial(t, srv.WSURL, nil)
	pa := a.Hello(tok).Str("peer")
	j := a.Join("big-1")
	if j.Str("mode") != "sfu" {
		t.Fatalf("joined %v", j)
	}
	raw := a.NextRaw()
	want := `{"type":"sfu","room":"big-1","data":` + offer + `,"seq":` + fmt.Sprint(j.Num("seq")+1) + `}`
	if string(raw) != want {
		t.Fatalf("sfu frame\n got %s\nwant %s", raw, want)
	}
	// Later sends, from any goroutine, keep their order and carry the namespace.
	a.Send(map[string]any{"type": "join", "room": "big-2", "ns": "chat", "id": 1})
	j2 := a.Expect("joined")
	a.Expect("sfu") // the offer of chat/big-2
	done := make(chan bool)
	go func() {
		ok := true
		for i := range 5 {
			ok = ok && sfu.send(t, "chat/big-2", pa, fmt.Sprintf(`{"kind":"candidate","n":%d}`, i))
		}
		done <- ok
	}()
	if !<-done {
		t.Fatal("send refused")
	}
	for i := range 5 {
		m := a.Expect("sfu")
		d, _ := m["data"].(map[string]any)
		if m.Str("room") != "big-2" || m.Str("ns") != "chat" || d["n"] != float64(i) || m.Num("seq") != j2.Num("seq")+2+float64(i) {
			t.Fatalf("sfu frame %d: %v", i, m)
		}
	}
	if n := srv.Metric(t, `switchboard_signaling_frames_out_total{type="sfu"}`); n != 7 {
		t.Errorf("sfu frames out: %v, want 7", n)
	}
}

// sfu frames count against the session's rate like any frame.
func TestSFUFrameRateLimited(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{Rate: 1, Burst: 3})
	a, pa := connect(t, srv, "a")
	a.Join("big-1") // one of the burst
	for i := range 3 {
		a.Send(map[string]any{"type": "sfu", "room": "big-1", "data": map[string]any{"n": i}, "id": i})
	}
	a.Expect("ack")
	a.Expect("ack")
	if e := a.ExpectError("rate_limited"); e.Num("id") != 2 {
		t.Errorf("error %v", e)
	}
	if got := sfu.messages("/big-1", pa); len(got) != 2 {
		t.Errorf("the SFU got %q", got)
	}
}
