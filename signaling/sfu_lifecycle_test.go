package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

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

	// The room's own limit is checked before the SFU's: the SFU never
	// hears of a joiner the room refuses.
	b, pb := connect(t, srv, "b")
	b.Join("big-1")
	a.Expect("peer-joined")
	d, pd := connect(t, srv, "d")
	d.Send(map[string]any{"type": "join", "room": "big-1", "id": "j"})
	d.ExpectError("limit_exceeded")
	a.Quiet(50 * time.Millisecond)
	b.Quiet(50 * time.Millisecond)
	if n := sfu.count("join", "/big-1", pd) + sfu.count("leave", "/big-1", pd); n != 0 {
		t.Errorf("the SFU saw %d joins and leaves of a joiner the full room refused", n)
	}
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

// A server that shuts down takes every session out of the SFU, the
// connected ones and the ones away.
func TestSFUShutdownLeaves(t *testing.T) {
	srv, sfu := startSFU(t, bigRooms, signaling.Config{})
	_, pa, b, pb := twoInBig1(t, srv)
	b.Drop() // away, within its grace period
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.App.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	sfu.waitLeaves(t, "/big-1", pa, 1)
	sfu.waitLeaves(t, "/big-1", pb, 1)
}
