package signaling_test

import (
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// The server's half of auto rooms (docs/protocol.md, Auto rooms): when the
// room switches, who hears it in which order, what sfu-join, sfu-leave and
// mode-ack do, and what is refused. The SFU is the recording one: what a
// real SFU and real clients do across a switch is tested in internal/e2e.

// autoRooms: every room is auto, a mesh up to three peers.
var autoRooms = signaling.RoomModes{Default: signaling.ModeAuto, MeshMax: 3, MeshHold: 300 * time.Millisecond}

// joinAuto joins room and checks the joined frame's mode and switch.
func joinAuto(t *testing.T, c *testutil.Client, room, mode string, sw float64) {
	t.Helper()
	j := c.Join(room)
	if j.Str("mode") != mode || j["auto"] != true || j.Num("switch") != sw {
		t.Fatalf("joined %v, want mode %s, auto, switch %v", j, mode, sw)
	}
}

// expectMode reads the next frame, which must announce switch sw to mode.
func expectMode(t *testing.T, c *testutil.Client, mode string, sw float64) {
	t.Helper()
	m := c.Expect("mode")
	if m.Str("mode") != mode || m.Num("switch") != sw || m.Str("room") != "call" {
		t.Fatalf("mode frame %v, want %s switch %v of call", m, mode, sw)
	}
}

func TestAutoRoomSwitchesBothWays(t *testing.T) {
	srv, sfu := startSFU(t, autoRooms, signaling.Config{})
	a, pa := connect(t, srv, "a")
	b, pb := connect(t, srv, "b")
	c, pc := connect(t, srv, "c")
	d, pd := connect(t, srv, "d")
	joinAuto(t, a, "call", "mesh", 0)
	joinAuto(t, b, "call", "mesh", 0)
	joinAuto(t, c, "call", "mesh", 0)
	a.Expect("peer-joined")
	a.Expect("peer-joined")
	b.Expect("peer-joined")
	if n := sfu.count("join", "/call", pa); n != 0 {
		t.Fatalf("a mesh room's member joined the SFU %d times", n)
	}

	// The fourth moves the room to the SFU: the members hear it before they
	// hear of the joiner, whose own joined says so and who is on the SFU at once.
	joinAuto(t, d, "call", "sfu", 1)
	if sfu.count("join", "/call", pd) != 1 {
		t.Fatal("the joiner of a room on the SFU is no SFU participant")
	}
	for _, m := range []*testutil.Client{a, b, c} {
		expectMode(t, m, "sfu", 1)
		if p := m.Expect("peer-joined"); p.Str("peer") != pd {
			t.Fatalf("peer-joined %v, want d", p)
		}
	}
	if got := srv.Metric(t, `switchboard_rooms_by_mode{mode="sfu"}`); got != 1 {
		t.Errorf("rooms on the SFU: %v, want 1", got)
	}

	// Each member joins the SFU itself; the ack comes before the SFU's first word.
	for _, m := range []struct {
		c    *testutil.Client
		peer string
	}{{a, pa}, {b, pb}, {c, pc}} {
		m.c.Send(map[string]any{"type": "sfu-join", "room": "call", "id": "sj"})
		if ack := m.c.Expect("ack"); ack.Str("id") != "sj" {
			t.Fatalf("sfu-join answered %v", ack)
		}
		if sfu.count("join", "/call", m.peer) != 1 {
			t.Fatalf("sfu-join of %s: the SFU saw no join", m.peer)
		}
		sfu.send(t, "/call", m.peer, `{"kind":"offer"}`)
		if f := m.c.Expect("sfu"); f.Str("room") != "call" {
			t.Fatalf("sfu frame %v", f)
		}
	}
	// Again: nothing changes.
	a.Send(map[string]any{"type": "sfu-join", "room": "call", "id": 2})
	a.Expect("ack")
	if sfu.count("join", "/call", pa) != 1 {
		t.Fatal("a second sfu-join joined the SFU again")
	}

	// mode-acks are relayed to the others; the last one ends the switch.
	a.Send(map[string]any{"type": "mode-ack", "room": "call", "switch": 1, "mode": "sfu"})
	for _, m := range []*testutil.Client{b, c, d} {
		if r := m.Expect("mode-ack"); r.Str("from") != pa || r.Num("switch") != 1 || r.Str("mode") != "sfu" || r["failed"] != nil {
			t.Fatalf("relayed mode-ack %v", r)
		}
	}
	b.Send(map[string]any{"type": "mode-ack", "room": "call", "switch": 1, "mode": "sfu", "failed": []string{pa}})
	if r := c.Expect("mode-ack"); r.Str("from") != pb || len(r["failed"].([]any)) != 1 {
		t.Fatalf("relayed mode-ack %v", r)
	}
	a.Expect("mode-ack")
	d.Expect("mode-ack")
	if got := srv.Metric(t, `switchboard_room_switches_total{direction="to_sfu",outcome="partial"}`); got != 0 {
		t.Fatalf("the switch ended before c acked")
	}
	c.Send(map[string]any{"type": "mode-ack", "room": "call", "switch": 1, "mode": "sfu", "id": "ca"})
	c.Expect("ack")
	waitFor(t, func() bool {
		return srv.Metric(t, `switchboard_room_switches_total{direction="to_sfu",outcome="partial"}`) == 1
	}, "the switch counted as partial (b named a failed peer)")

	// Two leave: the room holds two, at most mesh-max - 1, and after the hold
	// it moves back to a mesh.
	d.Send(map[string]any{"type": "leave", "room": "call"})
	c.Send(map[string]any{"type": "leave", "room": "call"})
	for _, m := range []*testutil.Client{a, b} {
		m.Expect("mode-ack") // c's
		m.Expect("peer-left")
		m.Expect("peer-left")
		expectMode(t, m, "mesh", 2)
	}
	sfu.waitLeaves(t, "/call", pd, 1)
	sfu.waitLeaves(t, "/call", pc, 1)
	if sfu.count("leave", "/call", pa) != 0 {
		t.Fatal("the switch to a mesh took a member off the SFU: the client does that, once its mesh works")
	}
	// The SFU still works for a member that has not left it.
	a.Send(map[string]any{"type": "sfu", "room": "call", "data": map[string]any{"kind": "quality"}, "id": "q"})
	a.Expect("ack")
	a.Send(map[string]any{"type": "mode-ack", "room": "call", "switch": 2, "mode": "mesh"})
	b.Expect("mode-ack")
	b.Send(map[string]any{"type": "mode-ack", "room": "call", "switch": 2, "mode": "mesh"})
	a.Expect("mode-ack")
	for _, m := range []struct {
		c    *testutil.Client
		peer string
	}{{a, pa}, {b, pb}} {
		m.c.Send(map[string]any{"type": "sfu-leave", "room": "call", "id": "sl"})
		m.c.Expect("ack")
		sfu.waitLeaves(t, "/call", m.peer, 1)
	}
	waitFor(t, func() bool {
		return srv.Metric(t, `switchboard_room_switches_total{direction="to_mesh",outcome="ok"}`) == 1
	}, "the switch back counted as ok")
	if got := srv.Metric(t, `switchboard_room_switch_seconds_count{direction="to_mesh"}`); got != 1 {
		t.Errorf("switch durations observed: %v, want 1", got)
	}
	if got := srv.Metric(t, `switchboard_rooms_by_mode{mode="mesh"}`); got != 1 {
		t.Errorf("rooms as a mesh: %v, want 1", got)
	}
	// Off the SFU, an sfu frame is refused.
	a.Send(map[string]any{"type": "sfu", "room": "call", "data": map[string]any{"kind": "quality"}, "id": "q2"})
	a.ExpectError("bad_request")
}

func TestAutoRoomRefusals(t *testing.T) {
	modes := autoRooms
	modes.Rules = []signaling.RoomModeRule{{Pattern: "fixed", Mode: signaling.ModeMesh}}
	srv, _ := startSFU(t, modes, signaling.Config{})
	a, _ := connect(t, srv, "a")
	joinAuto(t, a, "call", "mesh", 0)
	if j := a.Join("fixed"); j["auto"] != nil || j.Str("mode") != "mesh" {
		t.Fatalf("joined %v: a room pinned to mesh is no auto room", j)
	}
	for _, f := range []map[string]any{
		{"type": "sfu-join", "room": "call"},                             // a mesh now
		{"type": "sfu-join", "room": "fixed"},                            // not auto
		{"type": "sfu-leave", "room": "fixed"},                           // not auto
		{"type": "mode-ack", "room": "call", "switch": 1, "mode": "sfu"}, // no such switch yet
		{"type": "mode-ack", "room": "call", "switch": 0, "mode": "sfu"}, // no switch 0
		{"type": "mode-ack", "room": "call", "switch": 1, "mode": "p2p"}, // no such mode
		{"type": "mode-ack", "room": "call", "switch": 1, "mode": "sfu", "failed": "x"},
		{"type": "mode-ack", "room": "call", "switch": 1, "mode": "sfu", "failed": []int{1}},
		{"type": "mode-ack", "room": "call", "switch": -1, "mode": "sfu"},
		{"type": "mode-ack", "room": "fixed", "switch": 1, "mode": "sfu"},
	} {
		f["id"] = "x"
		a.Send(f)
		if e := a.ExpectError("bad_request"); e.Str("id") != "x" {
			t.Fatalf("%v: error %v", f, e)
		}
	}
	for _, typ := range []string{"sfu-join", "sfu-leave"} {
		a.Send(map[string]any{"type": typ, "room": "elsewhere", "id": 1})
		a.ExpectError("not_found")
	}
	a.Send(map[string]any{"type": "mode-ack", "room": "elsewhere", "switch": 1, "mode": "sfu", "id": 1})
	a.ExpectError("not_found")
	// Leaving the SFU of an auto room one is not on is no error.
	a.Send(map[string]any{"type": "sfu-leave", "room": "call", "id": 2})
	a.Expect("ack")
}

// A join while the room is small again stops the hold; a token's modes claim
// pins the rooms its user creates.
func TestAutoRoomHoldAndPins(t *testing.T) {
	modes := autoRooms
	modes.MeshHold = time.Second
	srv, _ := startSFU(t, modes, signaling.Config{})
	var cs []*testutil.Client
	for i, user := range []string{"a", "b", "c", "d"} {
		c, _ := connect(t, srv, user)
		cs = append(cs, c)
		if i < 3 {
			joinAuto(t, c, "call", "mesh", 0)
		} else {
			joinAuto(t, c, "call", "sfu", 1)
		}
	}
	a := cs[0]
	a.Expect("peer-joined")
	a.Expect("peer-joined")
	expectMode(t, a, "sfu", 1)
	a.Expect("peer-joined")
	// d and c leave, which starts the hold; a newcomer within it stops it:
	// no switch.
	cs[3].Send(map[string]any{"type": "leave", "room": "call"})
	a.Expect("peer-left")
	cs[2].Send(map[string]any{"type": "leave", "room": "call"})
	a.Expect("peer-left")
	g, _ := connect(t, srv, "g")
	joinAuto(t, g, "call", "sfu", 1)
	a.Expect("peer-joined")
	a.Quiet(1500 * time.Millisecond)
	// A room created by a token that pins it never switches; the pin of a
	// later joiner's token does not change it.
	tok := testutil.MintToken(t, signaling.TokenSpec{User: "e", Rooms: []string{"*"}, Modes: "pinned-*=mesh", TTL: time.Hour})
	e := testutil.Dial(t, srv.WSURL, nil)
	e.Hello(tok)
	if j := e.Join("pinned-1"); j.Str("mode") != "mesh" || j["auto"] != nil {
		t.Fatalf("joined %v, want a pinned mesh", j)
	}
	for i := range 4 {
		o, _ := connect(t, srv, "o")
		if j := o.Join("pinned-1"); j.Str("mode") != "mesh" || len(j["peers"].([]any)) != i+1 {
			t.Fatalf("joined %v, want the pinned mesh", j)
		}
	}
	for range 4 {
		if f := e.Next(); f.Type() != "peer-joined" {
			t.Fatalf("in a pinned mesh: %v", f)
		}
	}
	e.Quiet(50 * time.Millisecond)
	// A bad modes claim is a bad token.
	bad := testutil.MintToken(t, signaling.TokenSpec{User: "f", Rooms: []string{"*"}, Modes: "x=p2p", TTL: time.Hour})
	f := testutil.Dial(t, srv.WSURL, nil)
	f.Send(map[string]any{"type": "hello", "token": bad})
	f.ExpectError("unauthorized")
}
