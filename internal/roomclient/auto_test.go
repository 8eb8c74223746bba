package roomclient_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/roomclient"
	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// The acceptance tests of issue 16 with pion peers: a real server with
// auto rooms (mesh up to 4, back to a mesh after a 1 s hold), real
// sockets, every client publishing synthetic video and broadcasting a
// numbered message every talkEvery.

const (
	talkEvery = 25 * time.Millisecond
	// gapBound is the longest media gap a subscriber may see across a
	// switch: generous for -race on 2 shared cores (the packets come
	// every 20 ms; the target, 300 ms, is the benchmark's).
	gapBound = 2 * time.Second
	settle   = 45 * time.Second
)

func autoServer(t *testing.T) *testutil.Server {
	return testutil.StartServer(t, testutil.Options{RoomModes: signaling.RoomModes{
		Default: signaling.ModeAuto, MeshMax: 4, MeshHold: time.Second}})
}

func names(cs []*roomclient.Client) map[string]bool {
	m := map[string]bool{}
	for _, c := range cs {
		m[c.ID()] = true
	}
	return m
}

// switched waits until every client has seen switch id at least.
func switched(t *testing.T, cs []*roomclient.Client, id int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("switch %d at everyone", id), settle, func() error {
		for _, c := range cs {
			if _, s := c.Mode(); s < id {
				return fmt.Errorf("%s is at switch %d", c.Name(), s)
			}
		}
		return nil
	})
}

// firstSwitch waits (closely) for any client to see switch id.
func firstSwitch(t *testing.T, c *roomclient.Client, id int) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		if _, s := c.Mode(); s >= id {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never saw switch %d", c.Name(), id)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ackedClean checks that every client acked switch id without failed peers.
func ackedClean(t *testing.T, cs []*roomclient.Client, id int) {
	t.Helper()
	for _, c := range cs {
		for _, e := range c.Events() {
			if e.Kind == roomclient.EventAcked && e.Switch == id {
				t.Logf("%s acked switch %d (%v) after %v", c.Name(), id, e.Mode, e.Since.Round(time.Millisecond))
				if len(e.Failed) > 0 {
					t.Errorf("%s: switch %d failed for %v", c.Name(), id, e.Failed)
				}
			}
		}
	}
}

// noMesh waits until no client keeps a mesh link; noSFU until none is an
// SFU participant.
func noMesh(t *testing.T, cs []*roomclient.Client) {
	t.Helper()
	waitFor(t, "the mesh links to close", settle, func() error {
		for _, c := range cs {
			for id, ps := range c.Peers() {
				if ps.Mesh && !ps.Left {
					return fmt.Errorf("%s still has a mesh link to %s", c.Name(), id)
				}
			}
		}
		return nil
	})
}

func noSFU(t *testing.T, cs []*roomclient.Client) {
	t.Helper()
	waitFor(t, "everyone to leave the SFU", settle, func() error {
		for _, c := range cs {
			if c.InSFU() {
				return fmt.Errorf("%s is still in the SFU", c.Name())
			}
		}
		return nil
	})
}

// meshOfFour starts four clients (prefix0..3, changed by change if set)
// in room, waits for their mesh and makes them talk.
func meshOfFour(t *testing.T, srv *testutil.Server, prefix, room string, change func(int, *roomclient.Config)) ([]*roomclient.Client, *talker) {
	t.Helper()
	var cs []*roomclient.Client
	for i := range 4 {
		cs = append(cs, dialWith(t, srv, fmt.Sprintf("%s%d", prefix, i), room, func(cfg *roomclient.Config) {
			if change != nil {
				change(i, cfg)
			}
		}))
	}
	waitFor(t, "a mesh of four", settle, settled(cs, roomclient.PathMesh))
	for _, c := range cs {
		if m, s := c.Mode(); m != roomclient.PathMesh || s != 0 {
			t.Fatalf("%s: mode %v switch %d, want mesh 0", c.Name(), m, s)
		}
	}
	return cs, talk(t, cs)
}

// talk makes cs talk in a new phase; gaps count from its start.
func talk(t *testing.T, cs []*roomclient.Client) *talker {
	tk := startTalking(t, cs, talkEvery)
	time.Sleep(300 * time.Millisecond)
	resetGaps(cs)
	return tk
}

// joinTalking dials a client that talks along with tk's.
func joinTalking(t *testing.T, srv *testutil.Server, tk *talker, name, room string) *roomclient.Client {
	t.Helper()
	c := dial(t, srv, name, room)
	tk.add(c)
	return c
}

// onSFU waits until cs are all on the SFU with no mesh link left; onMesh
// until they are all on a mesh at switch id with no SFU participant left.
func onSFU(t *testing.T, cs []*roomclient.Client) {
	t.Helper()
	waitFor(t, "everyone on the SFU", settle, settled(cs, roomclient.PathSFU))
	noMesh(t, cs)
}

func onMesh(t *testing.T, cs []*roomclient.Client, id int) {
	t.Helper()
	switched(t, cs, id)
	waitFor(t, "everyone on a mesh", settle, settled(cs, roomclient.PathMesh))
	noSFU(t, cs)
	for _, c := range cs {
		if m, s := c.Mode(); m != roomclient.PathMesh || s != id {
			t.Errorf("%s: mode %v switch %d, want mesh %d", c.Name(), m, s, id)
		}
	}
}

// finish ends a phase: the talking stops, and every message and the
// media gaps are checked.
func finish(t *testing.T, tk *talker, cs []*roomclient.Client, early map[string]bool) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	sent := drain(t, tk, cs)
	checkData(t, tk, cs, sent, early)
	gaps(t, cs, gapBound)
}

// leave closes cs after their talking stops.
func leave(tk *talker, cs ...*roomclient.Client) {
	for _, c := range cs {
		tk.quiet(c)
		_ = c.Close()
	}
}

// TestAutoMeshToSFUAndBack: four form a mesh; a fifth joins and all five
// move to the SFU; two leave and after the hold the three move back to a
// mesh. Throughout, media keeps arriving at every subscriber (the longest
// gap per pair is logged and bounded) and the numbered broadcasts of
// every peer arrive once and in order at every other.
func TestAutoMeshToSFUAndBack(t *testing.T) {
	srv := autoServer(t)
	const room = "call-1"
	cs, tk := meshOfFour(t, srv, "p", room, nil)
	early := names(cs)

	// A fifth: everyone moves to the SFU.
	cs = append(cs, joinTalking(t, srv, tk, "p4", room))
	switched(t, cs, 1)
	onSFU(t, cs)
	ackedClean(t, cs[:4], 1)
	finish(t, tk, cs, early)

	// Two leave: after the hold, the three go back to a mesh.
	rest := cs[:3]
	tk = talk(t, rest)
	leave(tk, cs[3:]...)
	onMesh(t, rest, 2)
	ackedClean(t, rest, 2)
	finish(t, tk, rest, names(rest))
}

// TestAutoJoinsRaceSwitch: a sixth joins while the fifth's switch to the
// SFU runs, then three leave and a new fourth joins while the switch back
// to a mesh runs; every pair that was there keeps its media and data.
func TestAutoJoinsRaceSwitch(t *testing.T) {
	srv := autoServer(t)
	const room = "call-2"
	cs, tk := meshOfFour(t, srv, "q", room, nil)
	early := names(cs)

	c5 := joinTalking(t, srv, tk, "q4", room)
	firstSwitch(t, cs[0], 1)
	c6 := joinTalking(t, srv, tk, "q5", room) // the fifth's switch is running
	cs = append(cs, c5, c6)
	onSFU(t, cs)
	ackedClean(t, cs[:4], 1)
	finish(t, tk, cs, early)

	// Three leave; as the switch back to a mesh starts, a new peer joins:
	// the room is at the mesh's size again, and the joiner meets the others
	// on the mesh.
	rest := []*roomclient.Client{cs[0], cs[4], cs[5]}
	tk = talk(t, rest)
	leave(tk, cs[1:4]...)
	firstSwitch(t, rest[0], 2)
	c7 := joinTalking(t, srv, tk, "q6", room)
	all := append(rest, c7)
	onMesh(t, all, 2)
	ackedClean(t, rest, 2)
	finish(t, tk, all, names(rest))
}

// TestAutoShrinkMidSwitch: the room grows to five and, as soon as the
// switch to the SFU starts, two of the first four leave; the three left
// end on a mesh (the switch back supersedes the first if that one has
// not finished) with their media and data intact.
func TestAutoShrinkMidSwitch(t *testing.T) {
	srv := autoServer(t)
	const room = "call-3"
	cs, tk := meshOfFour(t, srv, "r", room, nil)

	c5 := joinTalking(t, srv, tk, "r4", room)
	firstSwitch(t, cs[0], 1)
	leave(tk, cs[2:4]...)
	rest := []*roomclient.Client{cs[0], cs[1], c5}
	onMesh(t, rest, 2)
	finish(t, tk, rest, names(cs[:2]))
}

// TestAutoSwitchFailsForOne: one of five publishes its video on the mesh
// only, so the others never see it through the SFU: at their deadline
// they ack the switch naming it failed, and every pair with it stays on
// the mesh (media and data), while the other pairs move to the SFU.
func TestAutoSwitchFailsForOne(t *testing.T) {
	srv := autoServer(t)
	const room = "call-4"
	short := func(cfg *roomclient.Config) { cfg.AckDeadline = 3 * time.Second }
	cs, tk := meshOfFour(t, srv, "f", room, func(i int, cfg *roomclient.Config) {
		short(cfg)
		cfg.NoSFUVideo = i == 3
	})
	bad := cs[3]
	early := names(cs)

	c5 := dialWith(t, srv, "f4", room, short)
	tk.add(c5)
	cs = append(cs, c5)
	switched(t, cs, 1)
	want := func(a, b *roomclient.Client) roomclient.Path {
		switch {
		case (a == bad && b == c5) || (a == c5 && b == bad):
			// The fifth joined on the SFU and never had a mesh link: it
			// reaches f3 only there, and f3's video not at all.
			return roomclient.PathNone
		case a == bad || b == bad:
			return roomclient.PathMesh
		}
		return roomclient.PathSFU
	}
	waitFor(t, "the pairs with f3 on the mesh, the rest on the SFU", settle, settledPairs(cs, want))
	time.Sleep(500 * time.Millisecond) // the pairs stay put
	if err := settledPairs(cs, want)(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[:3] {
		var failed []string
		for _, e := range c.Events() {
			if e.Kind == roomclient.EventAcked && e.Switch == 1 {
				failed = e.Failed
			}
		}
		if len(failed) != 1 || failed[0] != bad.ID() {
			t.Errorf("%s acked switch 1 with failed %v, want [%s]", c.Name(), failed, bad.ID())
		}
	}
	finish(t, tk, cs, early)
}
