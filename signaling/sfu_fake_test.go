package signaling_test

import (
	"sync"
	"testing"
	"time"
)

// recSFU is the seam's contract test double: a signaling.SFU that records
// every call and lets the test play the SFU's side (send, refuse, fail).
// The real SFU is tested end to end on top of the same seam.
type recSFU struct {
	mu     sync.Mutex
	calls  []sfuCall
	sends  map[string]func([]byte) bool // by room + " " + peer, from Join
	refuse func(room, peer string) error
	msgErr error
	// onJoin runs inside Join, as an SFU that sends its first offer at once.
	onJoin func(room, peer string, send func([]byte) bool)
}

type sfuCall struct {
	op, room, peer string
	msg            []byte
}

func newRecSFU() *recSFU { return &recSFU{sends: map[string]func([]byte) bool{}} }

func (r *recSFU) Join(room, peer string, send func(msg []byte) bool) error {
	r.mu.Lock()
	refuse, onJoin := r.refuse, r.onJoin
	r.calls = append(r.calls, sfuCall{op: "join", room: room, peer: peer})
	r.mu.Unlock()
	if onJoin != nil {
		onJoin(room, peer, send)
	}
	if refuse != nil {
		if err := refuse(room, peer); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.sends[room+" "+peer] = send
	r.mu.Unlock()
	return nil
}

func (r *recSFU) Message(room, peer string, msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, sfuCall{op: "message", room: room, peer: peer, msg: msg})
	return r.msgErr
}

func (r *recSFU) Leave(room, peer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, sfuCall{op: "leave", room: room, peer: peer})
}

// send plays the SFU sending msg to peer in room; it fails the test if the
// peer never joined.
func (r *recSFU) send(t *testing.T, room, peer, msg string) bool {
	t.Helper()
	r.mu.Lock()
	send := r.sends[room+" "+peer]
	r.mu.Unlock()
	if send == nil {
		t.Fatalf("the SFU has no send func for %s in %s", peer, room)
	}
	return send([]byte(msg))
}

// count counts the calls of op for peer in room.
func (r *recSFU) count(op, room, peer string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.op == op && c.room == room && c.peer == peer {
			n++
		}
	}
	return n
}

// messages returns the messages peer sent in room, in order.
func (r *recSFU) messages(room, peer string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		if c.op == "message" && c.room == room && c.peer == peer {
			out = append(out, string(c.msg))
		}
	}
	return out
}

// waitLeaves waits until peer has left room n times, then checks for a
// moment that no further Leave comes.
func (r *recSFU) waitLeaves(t *testing.T, room, peer string, n int) {
	t.Helper()
	waitFor(t, func() bool { return r.count("leave", room, peer) >= n }, "SFU.Leave")
	time.Sleep(50 * time.Millisecond)
	if got := r.count("leave", room, peer); got != n {
		t.Fatalf("SFU.Leave(%q, %q) called %d times, want %d", room, peer, got, n)
	}
}
