package signaling

import (
	"sync"
	"time"
)

// Every room's mode lives in a roomState from its first member's join to its
// last member's leave: its mode (fixed at creation, or for an auto room the
// one it switched to last), the switch under way, and the timer that moves a
// shrunk auto room back to a mesh. A room's joins, leaves and switches are
// serialized by its state's lock, which is taken before the Bus's (never
// from inside a Bus call), so that a switch is announced to exactly the
// members it concerns and before any later joiner's peer-joined.
//
// This is one node's view: with several nodes (issue 17) the state moves to
// the shared store and the lock becomes the room's there.

// switchTimeout is how long a switch waits for its members' mode-acks before
// it counts as timed out.
const switchTimeout = 30 * time.Second

type roomTable struct {
	srv *Server
	mu  sync.Mutex
	m   map[RoomKey]*roomState
}

type roomState struct {
	k  RoomKey
	mu sync.Mutex

	gone     bool // deleted from the table: lock again for a fresh one
	members  int  // members this node admitted and not yet removed
	mode     RoomMode
	auto     bool
	switchID uint64
	hold     *time.Timer // an auto room on the SFU that shrank: back to a mesh when it fires
	holdGen  uint64      // tells a stopped hold's late callback from the current one's
	run      *switchRun  // the latest switch, until every member acked it
}

// switchRun follows one switch until its members have acked it.
type switchRun struct {
	id      uint64
	to      RoomMode
	start   time.Time
	pending map[string]bool // members that have not acked
	partial bool            // some ack named failed peers
	timer   *time.Timer
}

func newRoomTable(srv *Server) *roomTable {
	return &roomTable{srv: srv, m: map[RoomKey]*roomState{}}
}

// lock returns room k's state, locked, made for the room if it has none.
func (t *roomTable) lock(k RoomKey) *roomState {
	for {
		t.mu.Lock()
		st := t.m[k]
		if st == nil {
			st = &roomState{k: k}
			t.m[k] = st
		}
		t.mu.Unlock()
		st.mu.Lock()
		if !st.gone {
			return st
		}
		st.mu.Unlock() // emptied meanwhile: a new room
	}
}

// unlock releases st, forgetting the room when it has no member left.
func (t *roomTable) unlock(st *roomState) {
	if st.members <= 0 && !st.gone {
		st.gone = true
		if st.hold != nil {
			st.hold.Stop()
			st.hold = nil
		}
		if st.run != nil {
			t.finish(st, "")
		}
		if st.mode != "" {
			t.srv.m.roomsByMode(st.mode).Dec()
		}
		t.mu.Lock()
		if t.m[st.k] == st {
			delete(t.m, st.k)
		}
		t.mu.Unlock()
	}
	st.mu.Unlock()
}

// create sets the mode of a new room, whose first joiner is ident.
func (t *roomTable) create(st *roomState, ident *Identity) {
	mode := ModeMesh
	if t.srv.cfg.SFU != nil {
		var ok bool
		if mode, ok = matchMode(ident.Modes, st.k.Room); !ok {
			mode = t.srv.cfg.RoomModes.Mode(st.k.Room)
		}
	}
	st.auto = mode == ModeAuto
	if st.auto {
		mode = ModeMesh
	}
	st.mode = mode
	st.switchID = 0
	t.srv.m.roomsByMode(mode).Inc()
}

func (st *roomState) view() roomView {
	return roomView{mode: st.mode, auto: st.auto, switchID: st.switchID}
}

// joining returns the mode room st has for one more member: an auto mesh
// that would hold more than MeshMax moves to the SFU (switched).
func (t *roomTable) joining(st *roomState) (mode RoomMode, switched bool) {
	if st.auto && st.mode == ModeMesh && st.members+1 > t.srv.cfg.RoomModes.meshMax() {
		return ModeSFU, true
	}
	return st.mode, false
}

// switchTo moves room st to mode and announces it to its members now,
// except the joiner whose join made it switch (not a member yet).
func (t *roomTable) switchTo(st *roomState, mode RoomMode) {
	if st.run != nil {
		t.finish(st, "superseded")
	}
	t.srv.m.roomsByMode(st.mode).Dec()
	t.srv.m.roomsByMode(mode).Inc()
	st.mode = mode
	st.switchID++
	if st.hold != nil {
		st.hold.Stop()
		st.hold = nil
	}
	run := &switchRun{id: st.switchID, to: mode, start: time.Now(), pending: map[string]bool{}}
	for _, m := range t.srv.bus.Members(st.k) {
		run.pending[m.Peer] = true
	}
	st.run = run
	if len(run.pending) == 0 {
		t.finish(st, "")
		return
	}
	run.timer = time.AfterFunc(switchTimeout, func() { t.timedOut(st, run) })
	t.srv.bus.Broadcast(st.k, "", encodeMode(st.k, mode, st.switchID), KindMode)
	t.srv.log.Info("room switched", "room", st.k.Room, "ns", st.k.NS, "mode", mode, "switch", st.switchID, "members", len(run.pending))
}

// finish ends st's switch run: outcome "" is ok, or partial when an ack
// named failed peers.
func (t *roomTable) finish(st *roomState, outcome string) {
	run := st.run
	st.run = nil
	if run.timer != nil {
		run.timer.Stop()
	}
	if outcome == "" {
		outcome = "ok"
		if run.partial {
			outcome = "partial"
		}
	}
	dir := "to_" + string(run.to)
	t.srv.m.switchDone(dir, outcome, time.Since(run.start))
	t.srv.log.Info("room switch done", "room", st.k.Room, "ns", st.k.NS, "mode", run.to, "switch", run.id, "outcome", outcome)
}

func (t *roomTable) timedOut(st *roomState, run *switchRun) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || st.run != run {
		return
	}
	t.finish(st, "timeout")
}

// acked records peer's mode-ack of switch id; it reports whether id is the
// room's latest switch (an older one's ack is neither counted nor relayed).
func (t *roomTable) acked(st *roomState, peer string, id uint64, failed bool) bool {
	if id != st.switchID {
		return false
	}
	if run := st.run; run != nil && run.id == id && run.pending[peer] {
		delete(run.pending, peer)
		run.partial = run.partial || failed
		if len(run.pending) == 0 {
			t.finish(st, "")
		}
	}
	return true
}

// left updates room st after peer left it: the switch under way no longer
// waits for it, and an auto room on the SFU that shrank to MeshMax-1 starts
// its hold.
func (t *roomTable) left(st *roomState, peer string) {
	st.members--
	if run := st.run; run != nil && run.pending[peer] {
		delete(run.pending, peer)
		if len(run.pending) == 0 {
			t.finish(st, "")
		}
	}
	if st.auto && st.mode == ModeSFU && st.members > 0 && st.members <= t.srv.cfg.RoomModes.meshMax()-1 && st.hold == nil {
		st.holdGen++
		gen := st.holdGen
		st.hold = time.AfterFunc(t.srv.cfg.RoomModes.meshHold(), func() { t.holdOver(st, gen) })
	}
}

// joined updates room st after a member joined: a room back at MeshMax stops
// its hold.
func (t *roomTable) joined(st *roomState) {
	st.members++
	if st.hold != nil && st.members > t.srv.cfg.RoomModes.meshMax()-1 {
		st.hold.Stop()
		st.hold = nil
	}
}

// holdOver moves an auto room that stayed small for the hold back to a mesh.
func (t *roomTable) holdOver(st *roomState, gen uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || st.hold == nil || st.holdGen != gen {
		return
	}
	st.hold = nil
	if st.mode == ModeSFU && st.members > 0 && st.members <= t.srv.cfg.RoomModes.meshMax()-1 {
		t.switchTo(st, ModeMesh)
	}
}
