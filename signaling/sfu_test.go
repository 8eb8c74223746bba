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
	a, pa := connect(t, srv, "a")
	b, pb := connect(t, srv, "b")
	a.Join("big-1")
	b.Join("big-1")
	a.Expect("peer-joined")
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
	if n := counter(t, srv, `switchboard_signaling_frames_in_total{type="sfu"}`); n != 4 {
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
	if n := counter(t, srv, `switchboard_signaling_frames_out_total{type="sfu"}`); n != 7 {
		t.Errorf("sfu frames out: %v, want 7", n)
	}
}

// A dropped connection keeps the session's SFU participant: what the SFU
// sends meanwhile is replayed on resume, and SFU.Leave comes only when the
// session ends.
func TestSFUSurvivesResume(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{})
	a, b := newResumer(t, srv, "alice"), newResumer(t, srv, "bob")
	a.join("big-" + t.Name())
	b.join(a.room)
	a.next("peer-joined")
	room := "/" + a.room
	a.c.Drop()
	for i := range 3 {
		if !sfu.send(t, room, a.peer, fmt.Sprintf(`{"kind":"candidate","n":%d}`, i)) {
			t.Fatal("send to a detached session refused")
		}
	}
	a.resume()
	for i := range 3 {
		if m := a.next("sfu"); m.Str("room") != a.room || m["data"].(map[string]any)["n"] != float64(i) {
			t.Fatalf("replayed sfu frame %d: %v", i, m)
		}
	}
	// Still in the SFU: its messages flow both ways, nobody left.
	a.c.Send(map[string]any{"type": "sfu", "room": a.room, "data": map[string]any{"kind": "answer"}, "id": "x"})
	a.next("ack")
	if got := sfu.messages(room, a.peer); len(got) != 1 {
		t.Errorf("messages after resume: %q", got)
	}
	if sfu.send(t, room, a.peer, `{"kind":"speakers","peers":[]}`); a.next("sfu").Str("room") != a.room {
		t.Fatal("no sfu frame after resume")
	}
	if n := sfu.count("leave", room, a.peer); n != 0 {
		t.Fatalf("a resumed session left the SFU (%d)", n)
	}
	// Its end does.
	a.c.Close()
	b.next("peer-left")
	sfu.waitLeaves(t, room, a.peer, 1)
	if n := sfu.count("join", room, a.peer); n != 1 {
		t.Errorf("SFU.Join called %d times", n)
	}
}

func TestSFULeave(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{ResumeGrace: 300 * time.Millisecond})
	a, pa := connect(t, srv, "a")
	a.Join("big-1")
	a.Join("big-2")
	a.Join("lobby")
	a.Send(map[string]any{"type": "leave", "room": "big-1", "id": 1})
	a.Expect("ack")
	sfu.waitLeaves(t, "/big-1", pa, 1)
	// A late send for the room it left reaches nobody.
	if sfu.send(t, "/big-1", pa, `{"kind":"candidate"}`) {
		t.Error("send after leave accepted")
	}
	a.Quiet(50 * time.Millisecond)
	// Back in: a new participant; leaving a mesh room leaves no SFU room.
	a.Join("big-1")
	a.Send(map[string]any{"type": "leave", "room": "lobby", "id": 2})
	a.Expect("ack")
	// The session's end leaves every sfu room once.
	a.Close()
	sfu.waitLeaves(t, "/big-1", pa, 2)
	sfu.waitLeaves(t, "/big-2", pa, 1)
	if n := sfu.count("leave", "/lobby", pa); n != 0 {
		t.Errorf("left the mesh room lobby in the SFU")
	}

	// A session whose connection drops leaves when its grace period ends.
	b, pb := connect(t, srv, "b")
	b.Join("big-1")
	b.Drop()
	time.Sleep(100 * time.Millisecond)
	if n := sfu.count("leave", "/big-1", pb); n != 0 {
		t.Fatalf("left the SFU %d times during the grace period", n)
	}
	sfu.waitLeaves(t, "/big-1", pb, 1)
}

// The SFU admits a joiner before the room does: when it refuses, the joiner
// gets only the error, and the others never hear of it.
func TestSFUJoinRefused(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{Limits: signaling.Limits{PeersPerRoom: 2}})
	a, pa := connect(t, srv, "a")
	a.Join("big-1")
	c, pc := connect(t, srv, "c")
	sfu.mu.Lock()
	sfu.onJoin = func(room, peer string, send func([]byte) bool) {
		if peer == pc {
			send([]byte(`{"kind":"offer","pc":"sub","sdp":"v=0"}`)) // sent, then refused
		}
	}
	sfu.refuse = func(room, peer string) error {
		if peer == pc {
			return fmt.Errorf("%w: at most 1 participant", signaling.ErrLimitExceeded)
		}
		return nil
	}
	sfu.mu.Unlock()
	c.Send(map[string]any{"type": "join", "room": "big-1", "id": "j"})
	if e := c.ExpectError("limit_exceeded"); e.Str("id") != "j" || e.Str("message") != "at most 1 participant" {
		t.Errorf("error %v", e)
	}
	c.Quiet(50 * time.Millisecond) // no joined, no sfu frame
	a.Quiet(50 * time.Millisecond) // no peer-joined, no peer-left
	if n := sfu.count("leave", "/big-1", pc); n != 0 {
		t.Errorf("SFU.Leave for a refused join: %d", n)
	}
	// c is in no room: its frames there are not_found; a's room is as it was.
	c.Send(map[string]any{"type": "sfu", "room": "big-1", "data": map[string]any{}, "id": 1})
	c.ExpectError("not_found")
	c.Send(map[string]any{"type": "broadcast", "room": "big-1", "data": 1, "id": 2})
	c.ExpectError("not_found")
	// A mesh room is no business of the SFU's: c joins it.
	if got := joinMode(t, c, "", "p2p-1"); got != "mesh" {
		t.Errorf("p2p-1: %q", got)
	}

	// The room's own limit, after the SFU admitted the joiner: the SFU
	// lets it go again, once.
	b, pb := connect(t, srv, "b")
	b.Join("big-1")
	a.Expect("peer-joined")
	d, pd := connect(t, srv, "d")
	d.Send(map[string]any{"type": "join", "room": "big-1", "id": "j"})
	d.ExpectError("limit_exceeded")
	sfu.waitLeaves(t, "/big-1", pd, 1)
	a.Quiet(50 * time.Millisecond)
	b.Quiet(50 * time.Millisecond)
	if sfu.count("join", "/big-1", pb) != 1 || sfu.count("leave", "/big-1", pa) != 0 {
		t.Error("the members' SFU participants changed")
	}

	// An SFU failure that is not a limit is an internal error.
	sfu.mu.Lock()
	sfu.refuse = func(string, string) error { return errors.New("no more sockets") }
	sfu.mu.Unlock()
	d.Send(map[string]any{"type": "join", "room": "big-9", "id": "k"})
	if e := d.ExpectError("internal"); strings.Contains(e.Str("message"), "sockets") {
		t.Errorf("internal error leaks its cause: %v", e)
	}
}

// The SFU sends without pause from another goroutine while the client
// joins and leaves the room again and again: every sfu frame comes after
// the room's joined (the first being the one sent inside Join) and before
// the ack of its leave, never outside.
func TestSFUSendRacesJoinAndLeave(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{Rate: 1e6, Burst: 1e6})
	sfu.onJoin = func(_, _ string, send func([]byte) bool) { send([]byte(`{"kind":"first"}`)) }
	a, pa := connect(t, srv, "a")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sfu.mu.Lock()
			send := sfu.sends["/big-1 "+pa]
			sfu.mu.Unlock()
			if send != nil {
				send([]byte(fmt.Sprintf(`{"kind":"candidate","n":%d}`, i)))
			}
			if i%4 == 0 { // a few thousand a second: well within the client's queue
				time.Sleep(time.Millisecond)
			}
		}
	}()
	const rounds = 30
	sfuFrames := 0
	for round := range rounds {
		a.Send(map[string]any{"type": "join", "room": "big-1", "id": round})
		a.Expect("joined")
		if m := a.Expect("sfu"); m["data"].(map[string]any)["kind"] != "first" {
			t.Fatalf("round %d: the first sfu frame is %v", round, m)
		}
		// Leave once the SFU's sends come through, so that they race it.
		for a.Expect("sfu")["data"].(map[string]any)["kind"] != "candidate" {
		}
		a.Send(map[string]any{"type": "leave", "room": "big-1", "id": round})
		for left := false; !left; {
			switch m := a.Next(); m.Type() {
			case "ack":
				left = true
			case "sfu":
				sfuFrames++
			default:
				t.Fatalf("round %d: %v", round, m)
			}
		}
		// Out of the room: nothing comes until the next join.
		if round%10 == 0 {
			a.Quiet(20 * time.Millisecond)
		}
	}
	close(stop)
	<-done
	a.Quiet(50 * time.Millisecond)
	if sfu.count("join", "/big-1", pa) != rounds || sfu.count("leave", "/big-1", pa) != rounds {
		t.Errorf("joins %d, leaves %d, want %d each", sfu.count("join", "/big-1", pa), sfu.count("leave", "/big-1", pa), rounds)
	}
	t.Logf("%d sfu frames between the first candidate and the leave's ack, in %d rounds", sfuFrames, rounds)
}

// A client that does not read what the SFU sends is too slow like any
// other: send reports it, the session ends and leaves the SFU, once.
func TestSFUSendToASlowClient(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{SendQueueFrames: 32})
	slow := testutil.DialHello(t, srv.WSURL, srv.Token(t, "slow", "*"))
	if err := slow.WriteJSON(map[string]any{"type": "join", "room": "big-1", "id": 1}); err != nil {
		t.Fatal(err)
	}
	var peer string
	waitFor(t, func() bool {
		sfu.mu.Lock()
		defer sfu.mu.Unlock()
		for _, c := range sfu.calls {
			if c.op == "join" {
				peer = c.peer
			}
		}
		return peer != "" && sfu.sends["/big-1 "+peer] != nil
	}, "the slow client in the SFU")
	msg := `{"kind":"offer","pc":"sub","sdp":"` + strings.Repeat("a", 32<<10) + `"}`
	refused := false
	for i := 0; i < 10000 && !refused; i++ {
		refused = !sfu.send(t, "/big-1", peer, msg)
	}
	if !refused {
		t.Fatal("send never refused a client that reads nothing")
	}
	sfu.waitLeaves(t, "/big-1", peer, 1)
	waitFor(t, func() bool { return srv.App.Signaling().Sessions() == 0 }, "the slow session gone")
	if sfu.send(t, "/big-1", peer, `{"kind":"speakers","peers":[]}`) {
		t.Error("send to an ended session accepted")
	}
}
