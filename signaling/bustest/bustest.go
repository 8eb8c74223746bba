// Package bustest is the contract suite every signaling.Bus implementation
// must pass: the in-memory bus today, a shared (Redis) bus later. It checks
// rooms, presence, delivery and the ordering guarantees of docs/protocol.md
// through the Bus interface alone.
//
// The suite does not assume that delivery is synchronous: it waits for frames
// to arrive, and it proves that a frame did not arrive by sending a later one
// to the same recipient and relying on per-recipient order (a Bus must deliver
// the frames for one recipient in the order its methods were called).
package bustest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// Wait bounds how long the suite waits for a delivery.
const Wait = 5 * time.Second

// Run runs the contract suite. newBus must return a new, empty Bus that no
// other test shares; it is called once per subtest. Run the suite with -race.
//
// Besides what the Bus interface documents, the suite holds a Bus to what the
// session relies on: Join calls reply exactly once, before it returns, and
// only when the join succeeds (the reply captures the request id, which
// aliases the session's read buffer); the members a reply lists, and Members,
// are oldest first (docs/protocol.md); replies are delivered as KindJoined,
// join notices as KindPeerJoined, leave notices as KindPeerLeft, and Send and
// Broadcast deliver with the kind they are given; a member whose Mailbox
// refuses a frame stays a member until it leaves.
func Run(t *testing.T, newBus func(t *testing.T) signaling.Bus) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b signaling.Bus)
	}{
		{"Empty", testEmpty},
		{"JoinRepliesAndNotifies", testJoinRepliesAndNotifies},
		{"RoomFull", testRoomFull},
		{"JoinTwice", testJoinTwice},
		{"Members", testMembers},
		{"Leave", testLeave},
		{"LastLeaveRemovesRoom", testLastLeaveRemovesRoom},
		{"Send", testSend},
		{"Broadcast", testBroadcast},
		{"Namespaces", testNamespaces},
		{"JoinOrderUnderConcurrency", testJoinOrderUnderConcurrency},
		{"OrderUnderConcurrentSenders", testOrderUnderConcurrentSenders},
		{"ConcurrentRooms", testConcurrentRooms},
		{"RefusingMailbox", testRefusingMailbox},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBus(t)
			if b == nil {
				t.Fatal("newBus returned nil")
			}
			tc.fn(t, b)
		})
	}
}

// ---------------------------------------------------------------- recorder

// Delivery is one frame a Recorder took.
type Delivery struct {
	Frame string
	Kind  signaling.FrameKind
}

func (d Delivery) String() string { return fmt.Sprintf("%s(kind %d)", d.Frame, d.Kind) }

// Recorder is a Mailbox that records every frame it is given. It is safe for
// concurrent use. Deliver returns false while Refuse is set (it still records
// the frame), as a full or closing session's mailbox does.
type Recorder struct {
	Name string

	mu     sync.Mutex
	got    []Delivery
	refuse bool
	wake   chan struct{} // one pending wake-up for the waiter
}

// NewRecorder returns an empty Recorder.
func NewRecorder(name string) *Recorder {
	return &Recorder{Name: name, wake: make(chan struct{}, 1)}
}

// Deliver implements signaling.Mailbox.
func (r *Recorder) Deliver(frame []byte, kind signaling.FrameKind) bool {
	r.mu.Lock()
	r.got = append(r.got, Delivery{Frame: string(frame), Kind: kind}) // string copies: the bus shares frames
	ok := !r.refuse
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return ok
}

// Refuse makes Deliver report false (true) or true (false).
func (r *Recorder) Refuse(v bool) {
	r.mu.Lock()
	r.refuse = v
	r.mu.Unlock()
}

// Frames returns a copy of what the recorder got so far.
func (r *Recorder) Frames() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// WaitFor waits until a delivered frame satisfies pred and returns everything
// delivered up to and including it.
func (r *Recorder) WaitFor(t testing.TB, what string, pred func(Delivery) bool) []Delivery {
	t.Helper()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for {
		got := r.Frames()
		if i := slices.IndexFunc(got, pred); i >= 0 {
			return got[:i+1]
		}
		select {
		case <-r.wake:
		case <-timer.C:
			t.Fatalf("%s: no %s within %v; got %v", r.Name, what, Wait, got)
			return nil
		}
	}
}

// WaitFrame waits for a frame equal to frame and returns everything delivered
// up to and including it.
func (r *Recorder) WaitFrame(t testing.TB, frame string) []Delivery {
	t.Helper()
	return r.WaitFor(t, strconv.Quote(frame), func(d Delivery) bool { return d.Frame == frame })
}

// ---------------------------------------------------------------- helpers

func member(peer string) signaling.Member {
	return signaling.Member{Peer: peer, User: "user-" + peer, Name: "Name " + peer}
}

func peersOf(ms []signaling.Member) string {
	ps := make([]string, len(ms))
	for i, m := range ms {
		ps[i] = m.Peer
	}
	return strings.Join(ps, ",")
}

// Frames of the suite are plain strings that say what they are.
func joinedFrame(k signaling.RoomKey, peer string, existing []signaling.Member) string {
	return fmt.Sprintf("joined %s/%s by %s: [%s]", k.NS, k.Room, peer, peersOf(existing))
}
func peerJoinedFrame(k signaling.RoomKey, peer string) string {
	return fmt.Sprintf("peer-joined %s/%s %s", k.NS, k.Room, peer)
}
func peerLeftFrame(k signaling.RoomKey, peer string) string {
	return fmt.Sprintf("peer-left %s/%s %s", k.NS, k.Room, peer)
}

// joiner holds what one Join call did.
type joiner struct {
	rec      *Recorder
	replies  int                // calls of the reply function
	existing []signaling.Member // what the reply function was given
}

// join makes peer join k with maxPeers, recording into a new Recorder.
func join(t *testing.T, b signaling.Bus, k signaling.RoomKey, peer string, maxPeers int) (*joiner, error) {
	t.Helper()
	return joinWith(t, b, k, peer, NewRecorder(peer), maxPeers)
}

func joinWith(t *testing.T, b signaling.Bus, k signaling.RoomKey, peer string, rec *Recorder, maxPeers int) (*joiner, error) {
	t.Helper()
	j := &joiner{rec: rec}
	err := b.Join(k, member(peer), rec, maxPeers, func(existing []signaling.Member) []byte {
		j.replies++
		j.existing = slices.Clone(existing)
		return []byte(joinedFrame(k, peer, existing))
	}, []byte(peerJoinedFrame(k, peer)))
	return j, err
}

func mustJoin(t *testing.T, b signaling.Bus, k signaling.RoomKey, peer string, maxPeers int) *Recorder {
	t.Helper()
	j, err := join(t, b, k, peer, maxPeers)
	if err != nil {
		t.Fatalf("%s joins %v: %v", peer, k, err)
	}
	if j.replies != 1 {
		t.Fatalf("%s joins %v: reply called %d times, want 1", peer, k, j.replies)
	}
	return j.rec
}

// sentinel sends a marker from a member to rec's peer and waits for it, then
// returns everything rec got up to it. Anything a Bus was told earlier to
// deliver to that peer has arrived by then (per-recipient order).
var sentinels atomic.Int64

func sentinel(t *testing.T, b signaling.Bus, k signaling.RoomKey, from string, rec *Recorder) []Delivery {
	t.Helper()
	mark := fmt.Sprintf("sentinel %s->%s #%d", from, rec.Name, sentinels.Add(1))
	if err := b.Send(k, from, rec.Name, []byte(mark), signaling.KindSignal); err != nil {
		t.Fatalf("sentinel %s->%s in %v: %v", from, rec.Name, k, err)
	}
	return rec.WaitFrame(t, mark)
}

// expectFrames checks that got, sentinels left out, is exactly want.
func expectFrames(t *testing.T, who string, got []Delivery, want ...Delivery) {
	t.Helper()
	got = slices.DeleteFunc(slices.Clone(got), func(d Delivery) bool { return strings.HasPrefix(d.Frame, "sentinel ") })
	if !slices.Equal(got, want) {
		t.Errorf("%s got %v, want %v", who, got, want)
	}
}

func memberPeers(ms []signaling.Member) []string {
	ps := make([]string, len(ms))
	for i, m := range ms {
		ps[i] = m.Peer
	}
	return ps
}

func expectMembers(t *testing.T, b signaling.Bus, k signaling.RoomKey, peers ...string) {
	t.Helper()
	got := b.Members(k)
	if len(peers) == 0 {
		if got != nil {
			t.Errorf("Members(%v) = %v, want nil", k, got)
		}
		return
	}
	if !slices.Equal(memberPeers(got), peers) {
		t.Errorf("Members(%v) = %v, want peers %v (oldest first)", k, got, peers)
	}
	for _, m := range got {
		if m != member(m.Peer) {
			t.Errorf("Members(%v) has %+v, want %+v", k, m, member(m.Peer))
		}
	}
}

func expectNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, signaling.ErrNotFound) {
		t.Errorf("%s: err = %v, want not_found", what, err)
	}
}

var lobby = signaling.RoomKey{Room: "lobby"}

// ---------------------------------------------------------------- tests

func testEmpty(t *testing.T, b signaling.Bus) {
	if n := b.Rooms(); n != 0 {
		t.Errorf("a new bus has %d rooms", n)
	}
	expectMembers(t, b, lobby)
	if b.Leave(lobby, "a", []byte("x")) {
		t.Error("Leave on an empty bus reported the peer present")
	}
	expectNotFound(t, "Send on an empty bus", b.Send(lobby, "a", "b", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Broadcast on an empty bus", b.Broadcast(lobby, "a", []byte("x"), signaling.KindBroadcast))
	if n := b.Rooms(); n != 0 {
		t.Errorf("after refused operations the bus has %d rooms", n)
	}
}

// Join hands the reply function the members already there (oldest first),
// delivers the reply to the joiner only and the notification to the others.
func testJoinRepliesAndNotifies(t *testing.T, b signaling.Bus) {
	ja, err := join(t, b, lobby, "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := join(t, b, lobby, "b", 10)
	if err != nil {
		t.Fatal(err)
	}
	jc, err := join(t, b, lobby, "c", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct {
		name string
		j    *joiner
		want string
	}{{"a", ja, ""}, {"b", jb, "a"}, {"c", jc, "a,b"}} {
		if j.j.replies != 1 {
			t.Errorf("%s: reply called %d times, want 1", j.name, j.j.replies)
		}
		if got := peersOf(j.j.existing); got != j.want {
			t.Errorf("%s: reply got members [%s], want [%s] (oldest first)", j.name, got, j.want)
		}
		for _, m := range j.j.existing {
			if m != member(m.Peer) {
				t.Errorf("%s: reply got member %+v, want %+v", j.name, m, member(m.Peer))
			}
		}
	}
	if n := b.Rooms(); n != 1 {
		t.Errorf("Rooms() = %d, want 1", n)
	}
	expectFrames(t, "a", sentinel(t, b, lobby, "c", ja.rec),
		Delivery{joinedFrame(lobby, "a", nil), signaling.KindJoined},
		Delivery{peerJoinedFrame(lobby, "b"), signaling.KindPeerJoined},
		Delivery{peerJoinedFrame(lobby, "c"), signaling.KindPeerJoined})
	expectFrames(t, "b", sentinel(t, b, lobby, "c", jb.rec),
		Delivery{joinedFrame(lobby, "b", jb.existing), signaling.KindJoined},
		Delivery{peerJoinedFrame(lobby, "c"), signaling.KindPeerJoined})
	expectFrames(t, "c", sentinel(t, b, lobby, "a", jc.rec),
		Delivery{joinedFrame(lobby, "c", jc.existing), signaling.KindJoined})
}

func testRoomFull(t *testing.T, b signaling.Bus) {
	a := mustJoin(t, b, lobby, "a", 2)
	bb := mustJoin(t, b, lobby, "b", 2)
	jc, err := join(t, b, lobby, "c", 2)
	if !errors.Is(err, signaling.ErrLimitExceeded) {
		t.Fatalf("third join of a room of 2: err = %v, want limit_exceeded", err)
	}
	if jc.replies != 0 {
		t.Errorf("refused join called reply %d times", jc.replies)
	}
	expectMembers(t, b, lobby, "a", "b")
	if n := b.Rooms(); n != 1 {
		t.Errorf("Rooms() = %d, want 1", n)
	}
	expectNotFound(t, "Send from the refused joiner", b.Send(lobby, "c", "a", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Send to the refused joiner", b.Send(lobby, "a", "c", []byte("x"), signaling.KindSignal))
	// Nobody heard of c.
	expectFrames(t, "a", sentinel(t, b, lobby, "b", a),
		Delivery{joinedFrame(lobby, "a", nil), signaling.KindJoined},
		Delivery{peerJoinedFrame(lobby, "b"), signaling.KindPeerJoined})
	expectFrames(t, "b", sentinel(t, b, lobby, "a", bb),
		Delivery{joinedFrame(lobby, "b", []signaling.Member{member("a")}), signaling.KindJoined})
	if got := jc.rec.Frames(); len(got) != 0 {
		t.Errorf("refused joiner got %v", got)
	}
	// Once someone leaves, there is room again; a larger limit lets more in.
	if !b.Leave(lobby, "b", []byte(peerLeftFrame(lobby, "b"))) {
		t.Fatal("Leave(b) = false")
	}
	mustJoin(t, b, lobby, "c", 2)
	mustJoin(t, b, lobby, "d", 3)
	if _, err := join(t, b, lobby, "e", 3); !errors.Is(err, signaling.ErrLimitExceeded) {
		t.Errorf("fourth join of a room of 3: err = %v, want limit_exceeded", err)
	}
	expectMembers(t, b, lobby, "a", "c", "d")
}

func testJoinTwice(t *testing.T, b signaling.Bus) {
	a := mustJoin(t, b, lobby, "a", 10)
	bb := mustJoin(t, b, lobby, "b", 10)
	again := NewRecorder("a")
	j, err := joinWith(t, b, lobby, "a", again, 10)
	if err == nil {
		t.Fatal("joining a room twice was accepted")
	}
	if errors.Is(err, signaling.ErrLimitExceeded) {
		t.Errorf("joining twice: err = %v, not a limit", err)
	}
	if j.replies != 0 {
		t.Errorf("refused join called reply %d times", j.replies)
	}
	expectMembers(t, b, lobby, "a", "b")
	// b was not told again; a keeps its first mailbox.
	expectFrames(t, "b", sentinel(t, b, lobby, "a", bb),
		Delivery{joinedFrame(lobby, "b", []signaling.Member{member("a")}), signaling.KindJoined})
	expectFrames(t, "a", sentinel(t, b, lobby, "b", a),
		Delivery{joinedFrame(lobby, "a", nil), signaling.KindJoined},
		Delivery{peerJoinedFrame(lobby, "b"), signaling.KindPeerJoined})
	if got := again.Frames(); len(got) != 0 {
		t.Errorf("the second mailbox got %v", got)
	}
}

func testMembers(t *testing.T, b signaling.Bus) {
	expectMembers(t, b, lobby)
	mustJoin(t, b, lobby, "a", 10)
	expectMembers(t, b, lobby, "a")
	mustJoin(t, b, lobby, "b", 10)
	mustJoin(t, b, lobby, "c", 10)
	expectMembers(t, b, lobby, "a", "b", "c")
	b.Leave(lobby, "b", []byte(peerLeftFrame(lobby, "b")))
	expectMembers(t, b, lobby, "a", "c")
	mustJoin(t, b, lobby, "b", 10) // rejoining puts b last
	expectMembers(t, b, lobby, "a", "c", "b")
	expectMembers(t, b, signaling.RoomKey{Room: "other"})
	// The caller owns the slice it gets.
	ms := b.Members(lobby)
	ms[0] = member("zz")
	expectMembers(t, b, lobby, "a", "c", "b")
}

func testLeave(t *testing.T, b signaling.Bus) {
	a := mustJoin(t, b, lobby, "a", 10)
	bb := mustJoin(t, b, lobby, "b", 10)
	c := mustJoin(t, b, lobby, "c", 10)
	before := sentinel(t, b, lobby, "a", bb)
	if err := b.Broadcast(lobby, "b", []byte("bye from b"), signaling.KindBroadcast); err != nil {
		t.Fatal(err)
	}
	if !b.Leave(lobby, "b", []byte(peerLeftFrame(lobby, "b"))) {
		t.Fatal("Leave(b) = false, want true")
	}
	if b.Leave(lobby, "b", []byte("second leave")) {
		t.Error("leaving twice reported the peer present")
	}
	if b.Leave(lobby, "zz", []byte("stranger leaves")) {
		t.Error("a non-member's Leave reported it present")
	}
	if b.Leave(signaling.RoomKey{Room: "other"}, "a", []byte("leave elsewhere")) {
		t.Error("Leave of a room that does not exist reported the peer present")
	}
	expectMembers(t, b, lobby, "a", "c")
	expectNotFound(t, "Send from a peer that left", b.Send(lobby, "b", "a", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Send to a peer that left", b.Send(lobby, "a", "b", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Broadcast from a peer that left", b.Broadcast(lobby, "b", []byte("x"), signaling.KindBroadcast))
	expectFrames(t, "a", sentinel(t, b, lobby, "c", a),
		Delivery{joinedFrame(lobby, "a", nil), signaling.KindJoined},
		Delivery{peerJoinedFrame(lobby, "b"), signaling.KindPeerJoined},
		Delivery{peerJoinedFrame(lobby, "c"), signaling.KindPeerJoined},
		Delivery{"bye from b", signaling.KindBroadcast},
		Delivery{peerLeftFrame(lobby, "b"), signaling.KindPeerLeft})
	expectFrames(t, "c", sentinel(t, b, lobby, "a", c),
		Delivery{joinedFrame(lobby, "c", []signaling.Member{member("a"), member("b")}), signaling.KindJoined},
		Delivery{"bye from b", signaling.KindBroadcast},
		Delivery{peerLeftFrame(lobby, "b"), signaling.KindPeerLeft})
	// The leaver hears nothing of its own leave. (Not provable by a sentinel,
	// as nothing can be sent to it any more: a frame delivered to it by the
	// time the others got theirs shows up here.)
	if got := bb.Frames(); !slices.Equal(got, before) {
		t.Errorf("the leaver got %v after leaving", got[len(before):])
	}
}

func testLastLeaveRemovesRoom(t *testing.T, b signaling.Bus) {
	other := signaling.RoomKey{Room: "other"}
	a := mustJoin(t, b, lobby, "a", 10)
	mustJoin(t, b, lobby, "b", 10)
	mustJoin(t, b, other, "a", 10)
	if n := b.Rooms(); n != 2 {
		t.Fatalf("Rooms() = %d, want 2", n)
	}
	b.Leave(lobby, "a", []byte(peerLeftFrame(lobby, "a")))
	if n := b.Rooms(); n != 2 {
		t.Errorf("a room with one member left: Rooms() = %d, want 2", n)
	}
	if !b.Leave(lobby, "b", []byte(peerLeftFrame(lobby, "b"))) {
		t.Fatal("Leave(b) = false")
	}
	if n := b.Rooms(); n != 1 {
		t.Errorf("after the last member left: Rooms() = %d, want 1", n)
	}
	expectMembers(t, b, lobby)
	expectNotFound(t, "Broadcast to a removed room", b.Broadcast(lobby, "b", []byte("x"), signaling.KindBroadcast))
	if !b.Leave(other, "a", []byte(peerLeftFrame(other, "a"))) {
		t.Fatal("Leave(other, a) = false")
	}
	if n := b.Rooms(); n != 0 {
		t.Errorf("after every room emptied: Rooms() = %d, want 0", n)
	}
	// The last one out is told nothing, and the room can be made again.
	got := a.Frames()
	if slices.ContainsFunc(got, func(d Delivery) bool { return d.Kind == signaling.KindPeerLeft }) {
		t.Errorf("a got a peer-left after leaving: %v", got)
	}
	c := mustJoin(t, b, lobby, "c", 10)
	d := mustJoin(t, b, lobby, "d", 10)
	if n := b.Rooms(); n != 1 {
		t.Errorf("Rooms() = %d, want 1", n)
	}
	expectFrames(t, "c", sentinel(t, b, lobby, "d", c),
		Delivery{joinedFrame(lobby, "c", nil), signaling.KindJoined},
		Delivery{peerJoinedFrame(lobby, "d"), signaling.KindPeerJoined})
	expectFrames(t, "d", sentinel(t, b, lobby, "c", d),
		Delivery{joinedFrame(lobby, "d", []signaling.Member{member("c")}), signaling.KindJoined})
}

func testSend(t *testing.T, b signaling.Bus) {
	other := signaling.RoomKey{Room: "other"}
	a := mustJoin(t, b, lobby, "a", 10)
	bb := mustJoin(t, b, lobby, "b", 10)
	c := mustJoin(t, b, lobby, "c", 10)
	d := mustJoin(t, b, other, "d", 10)
	mustJoin(t, b, other, "a", 10) // a is in both rooms; its other mailbox is a new Recorder

	if err := b.Send(lobby, "a", "b", []byte("a->b"), signaling.KindSignal); err != nil {
		t.Fatalf("Send a->b: %v", err)
	}
	if err := b.Send(lobby, "c", "b", []byte("c->b bcast kind"), signaling.KindBroadcast); err != nil {
		t.Fatalf("Send c->b: %v", err)
	}
	bb.WaitFrame(t, "c->b bcast kind") // delivered before any error is asked for
	expectNotFound(t, "Send to a non-member", b.Send(lobby, "a", "zz", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Send from a non-member", b.Send(lobby, "zz", "b", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Send to a member of another room", b.Send(lobby, "b", "d", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Send from a member of another room", b.Send(other, "b", "d", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Send in a room that does not exist", b.Send(signaling.RoomKey{Room: "none"}, "a", "b", []byte("x"), signaling.KindSignal))

	// Only b got the two frames, in order and with the kind given.
	expectFrames(t, "b", sentinel(t, b, lobby, "c", bb)[1:], // after its joined
		Delivery{peerJoinedFrame(lobby, "c"), signaling.KindPeerJoined},
		Delivery{"a->b", signaling.KindSignal},
		Delivery{"c->b bcast kind", signaling.KindBroadcast})
	expectFrames(t, "a", sentinel(t, b, lobby, "b", a)[1:],
		Delivery{peerJoinedFrame(lobby, "b"), signaling.KindPeerJoined},
		Delivery{peerJoinedFrame(lobby, "c"), signaling.KindPeerJoined})
	expectFrames(t, "c", sentinel(t, b, lobby, "b", c)[1:])
	expectFrames(t, "d", sentinel(t, b, other, "a", d)[1:],
		Delivery{peerJoinedFrame(other, "a"), signaling.KindPeerJoined})
}

func testBroadcast(t *testing.T, b signaling.Bus) {
	other := signaling.RoomKey{Room: "other"}
	recs := map[string]*Recorder{}
	for _, p := range []string{"a", "b", "c", "d"} {
		recs[p] = mustJoin(t, b, lobby, p, 10)
	}
	o := mustJoin(t, b, other, "o", 10)
	if err := b.Broadcast(lobby, "b", []byte("from b"), signaling.KindBroadcast); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	if err := b.Broadcast(lobby, "d", []byte("from d"), signaling.KindSignal); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	// From the server (""): every member, the sender of nothing.
	if err := b.Broadcast(lobby, "", []byte("from the server"), signaling.KindMode); err != nil {
		t.Fatalf("Broadcast from the server: %v", err)
	}
	if err := b.Broadcast(signaling.RoomKey{Room: "none"}, "", []byte("x"), signaling.KindMode); err != nil {
		t.Errorf("Broadcast from the server to a room that does not exist: %v, want nil", err)
	}
	expectNotFound(t, "Broadcast from a non-member", b.Broadcast(lobby, "o", []byte("x"), signaling.KindBroadcast))
	expectNotFound(t, "Broadcast to a room that does not exist", b.Broadcast(signaling.RoomKey{Room: "none"}, "a", []byte("x"), signaling.KindBroadcast))
	for p, r := range recs {
		var want []Delivery
		for _, q := range []string{"a", "b", "c", "d"} {
			if q > p { // joined after p
				want = append(want, Delivery{peerJoinedFrame(lobby, q), signaling.KindPeerJoined})
			}
		}
		if p != "b" {
			want = append(want, Delivery{"from b", signaling.KindBroadcast})
		}
		if p != "d" {
			want = append(want, Delivery{"from d", signaling.KindSignal})
		}
		want = append(want, Delivery{"from the server", signaling.KindMode})
		from := "a"
		if p == "a" {
			from = "b"
		}
		expectFrames(t, p, sentinel(t, b, lobby, from, r)[1:], want...)
	}
	// A room of one: a broadcast reaches nobody and is no error.
	if err := b.Broadcast(other, "o", []byte("alone"), signaling.KindBroadcast); err != nil {
		t.Errorf("Broadcast in a room of one: %v", err)
	}
	mustJoin(t, b, other, "p", 10)
	expectFrames(t, "o", sentinel(t, b, other, "p", o)[1:],
		Delivery{peerJoinedFrame(other, "p"), signaling.KindPeerJoined})
}

// The same room name in two namespaces is two rooms.
func testNamespaces(t *testing.T, b signaling.Bus) {
	def := signaling.RoomKey{Room: "x"}
	chat := signaling.RoomKey{NS: "chat", Room: "x"}
	news := signaling.RoomKey{NS: "news", Room: "x"}
	a := mustJoin(t, b, def, "a", 2)
	ca := mustJoin(t, b, chat, "a", 2)
	cb := mustJoin(t, b, chat, "b", 2)
	na := mustJoin(t, b, news, "a", 2)
	nc := mustJoin(t, b, news, "c", 2)
	if n := b.Rooms(); n != 3 {
		t.Errorf("Rooms() = %d, want 3", n)
	}
	expectMembers(t, b, def, "a")
	expectMembers(t, b, chat, "a", "b")
	expectMembers(t, b, news, "a", "c")
	// Limits count per namespace: chat is full, the default room is not.
	if _, err := join(t, b, chat, "d", 2); !errors.Is(err, signaling.ErrLimitExceeded) {
		t.Errorf("join of a full room: %v", err)
	}
	dd := mustJoin(t, b, def, "d", 2)
	expectNotFound(t, "Send across namespaces", b.Send(def, "a", "b", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Send across namespaces", b.Send(news, "a", "b", []byte("x"), signaling.KindSignal))
	expectNotFound(t, "Broadcast in a namespace the sender is not in", b.Broadcast(chat, "c", []byte("x"), signaling.KindBroadcast))
	if err := b.Broadcast(chat, "a", []byte("chat from a"), signaling.KindBroadcast); err != nil {
		t.Fatal(err)
	}
	if err := b.Broadcast(news, "c", []byte("news from c"), signaling.KindBroadcast); err != nil {
		t.Fatal(err)
	}
	expectFrames(t, "b", sentinel(t, b, chat, "a", cb)[1:], Delivery{"chat from a", signaling.KindBroadcast})
	expectFrames(t, "a in chat", sentinel(t, b, chat, "b", ca)[1:], Delivery{peerJoinedFrame(chat, "b"), signaling.KindPeerJoined})
	expectFrames(t, "a in news", sentinel(t, b, news, "c", na)[1:],
		Delivery{peerJoinedFrame(news, "c"), signaling.KindPeerJoined},
		Delivery{"news from c", signaling.KindBroadcast})
	expectFrames(t, "c", sentinel(t, b, news, "a", nc)[1:])
	expectFrames(t, "a in default", sentinel(t, b, def, "d", a)[1:], Delivery{peerJoinedFrame(def, "d"), signaling.KindPeerJoined})
	// Leaving one namespace's room leaves the others alone.
	b.Leave(chat, "a", []byte(peerLeftFrame(chat, "a")))
	expectMembers(t, b, def, "a", "d")
	expectMembers(t, b, news, "a", "c")
	expectMembers(t, b, chat, "b")
	expectFrames(t, "b", cb.WaitFrame(t, peerLeftFrame(chat, "a"))[1:],
		Delivery{"chat from a", signaling.KindBroadcast},
		Delivery{peerLeftFrame(chat, "a"), signaling.KindPeerLeft})
	expectFrames(t, "d", sentinel(t, b, def, "a", dd)[1:])
	expectFrames(t, "a in default", sentinel(t, b, def, "d", a)[1:], Delivery{peerJoinedFrame(def, "d"), signaling.KindPeerJoined})
	expectFrames(t, "a in news", sentinel(t, b, news, "c", na)[1:],
		Delivery{peerJoinedFrame(news, "c"), signaling.KindPeerJoined},
		Delivery{"news from c", signaling.KindBroadcast})
}

// Concurrent joiners and a member broadcasting all the while: every joiner's
// reply is the first frame it gets, and every member hears of a joiner (in its
// reply or by a notification, exactly once) before it gets anything the
// joiner sends.
func testJoinOrderUnderConcurrency(t *testing.T, b signaling.Bus) {
	const joiners, hostFrames = 16, 200
	host := mustJoin(t, b, lobby, "host", joiners+1)
	recs := map[string]*Recorder{"host": host}
	peers := []string{"host"}
	for i := range joiners {
		p := "j" + strconv.Itoa(i)
		recs[p] = NewRecorder(p)
		peers = append(peers, p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, joiners+1)
	wg.Go(func() {
		for i := range hostFrames {
			if err := b.Broadcast(lobby, "host", []byte("host "+strconv.Itoa(i)), signaling.KindBroadcast); err != nil {
				errs <- fmt.Errorf("host broadcast %d: %w", i, err)
				return
			}
		}
	})
	for _, p := range peers[1:] {
		wg.Go(func() {
			err := b.Join(lobby, member(p), recs[p], joiners+1, func(existing []signaling.Member) []byte {
				return []byte(joinedFrame(lobby, p, existing))
			}, []byte(peerJoinedFrame(lobby, p)))
			if err != nil {
				errs <- fmt.Errorf("%s joins: %w", p, err)
				return
			}
			if err := b.Broadcast(lobby, p, []byte("hello from "+p), signaling.KindBroadcast); err != nil {
				errs <- fmt.Errorf("%s broadcasts: %w", p, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := b.Broadcast(lobby, "host", []byte("end"), signaling.KindBroadcast); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(lobby, "j0", "host", []byte("end"), signaling.KindSignal); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		got := recs[p].WaitFrame(t, "end")
		checkJoinOrder(t, p, p == "host", got[:len(got)-1], peers, hostFrames)
	}
}

func checkJoinOrder(t *testing.T, p string, first bool, got []Delivery, peers []string, hostFrames int) {
	t.Helper()
	known := map[string]bool{p: true}
	if !first {
		if len(got) == 0 || got[0].Kind != signaling.KindJoined || !strings.HasPrefix(got[0].Frame, "joined /lobby by "+p+": [") {
			t.Errorf("%s: first frame is not its reply: %v", p, got)
			return
		}
		list := strings.TrimSuffix(strings.TrimPrefix(got[0].Frame, "joined /lobby by "+p+": ["), "]")
		if list == "" || !strings.HasPrefix(list, "host") {
			t.Errorf("%s: reply lists [%s], want the host first", p, list)
		}
		for _, q := range strings.Split(list, ",") {
			if known[q] {
				t.Errorf("%s: reply lists %s twice or lists the joiner itself: [%s]", p, q, list)
			}
			known[q] = true
		}
		got = got[1:]
	} else {
		if len(got) == 0 || got[0] != (Delivery{joinedFrame(lobby, p, nil), signaling.KindJoined}) {
			t.Errorf("%s: first frame is not its reply: %v", p, got)
			return
		}
		got = got[1:]
	}
	nextHost := 0
	for _, d := range got {
		switch {
		case strings.HasPrefix(d.Frame, "peer-joined /lobby "):
			q := strings.TrimPrefix(d.Frame, "peer-joined /lobby ")
			if known[q] {
				t.Errorf("%s: told that %s joined, but already knew it", p, q)
			}
			known[q] = true
		case strings.HasPrefix(d.Frame, "hello from "):
			q := strings.TrimPrefix(d.Frame, "hello from ")
			if !known[q] {
				t.Errorf("%s: got %q before hearing that %s joined", p, d.Frame, q)
			}
		case strings.HasPrefix(d.Frame, "host "):
			n, _ := strconv.Atoi(strings.TrimPrefix(d.Frame, "host "))
			if n < nextHost {
				t.Errorf("%s: host frame %d after %d", p, n, nextHost-1)
			}
			nextHost = n + 1
		case strings.HasPrefix(d.Frame, "joined "):
			t.Errorf("%s: a second reply %q", p, d.Frame)
		}
	}
	for _, q := range peers {
		if !known[q] {
			t.Errorf("%s never heard of %s", p, q)
		}
	}
	if first && nextHost != 0 {
		t.Errorf("the host got its own broadcast %d", nextHost-1)
	}
}

// Many senders to one recipient, sends and broadcasts mixed: each recipient
// gets every frame of each sender in the order that sender sent them.
func testOrderUnderConcurrentSenders(t *testing.T, b signaling.Bus) {
	const senders, frames = 8, 300
	sink := mustJoin(t, b, lobby, "sink", senders+1)
	recs := map[string]*Recorder{}
	var names []string
	for i := range senders {
		p := "s" + strconv.Itoa(i)
		names = append(names, p)
		recs[p] = mustJoin(t, b, lobby, p, senders+1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for _, p := range names {
		wg.Go(func() {
			for i := range frames {
				f := []byte(fmt.Sprintf("%s %d", p, i))
				var err error
				if i%2 == 0 {
					err = b.Send(lobby, p, "sink", f, signaling.KindSignal)
				} else {
					err = b.Broadcast(lobby, p, f, signaling.KindBroadcast)
				}
				if err != nil {
					errs <- fmt.Errorf("%s frame %d: %w", p, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(who string, got []Delivery, want map[string]int) {
		t.Helper()
		next := map[string]int{}
		for _, d := range got {
			if d.Kind != signaling.KindSignal && d.Kind != signaling.KindBroadcast {
				continue
			}
			from, num, ok := strings.Cut(d.Frame, " ")
			n, err := strconv.Atoi(num)
			if !ok || err != nil {
				continue // a sentinel
			}
			if n < next[from] {
				t.Errorf("%s: %s's frame %d after its frame %d", who, from, n, next[from]-1)
			}
			next[from] = n + 1
			want[from]--
		}
		for from, n := range want {
			if n != 0 {
				t.Errorf("%s: %d frames of %s missing (negative: extra)", who, n, from)
			}
		}
	}
	want := map[string]int{}
	for _, p := range names {
		want[p] = frames
	}
	check("sink", sentinel(t, b, lobby, "s0", sink), want)
	for _, p := range names {
		want := map[string]int{}
		for _, q := range names {
			if q != p {
				want[q] = frames / 2 // the odd ones were broadcasts
			}
		}
		check(p, sentinel(t, b, lobby, "sink", recs[p]), want)
	}
}

// Rooms come and go concurrently; the count ends at zero.
func testConcurrentRooms(t *testing.T, b signaling.Bus) {
	const workers, rounds = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				k := signaling.RoomKey{NS: []string{"", "chat"}[i%2], Room: fmt.Sprintf("room-%d", (w+i)%5)}
				p := fmt.Sprintf("w%d", w)
				err := b.Join(k, member(p), NewRecorder(p), workers, func([]signaling.Member) []byte { return []byte("joined") }, []byte("peer-joined "+p))
				if err != nil {
					errs <- fmt.Errorf("%s joins %v: %w", p, k, err)
					return
				}
				_ = b.Broadcast(k, p, []byte("hi"), signaling.KindBroadcast)
				if !b.Leave(k, p, []byte("peer-left "+p)) {
					errs <- fmt.Errorf("%s leaves %v: not there", p, k)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := b.Rooms(); n != 0 {
		t.Errorf("Rooms() = %d after every peer left", n)
	}
}

// A mailbox that cannot take a frame (its session is full or closing) does not
// keep the others from getting theirs, and stays a member until its session
// leaves: the others then hear that it left.
func testRefusingMailbox(t *testing.T, b signaling.Bus) {
	a := mustJoin(t, b, lobby, "a", 10)
	full := mustJoin(t, b, lobby, "full", 10)
	c := mustJoin(t, b, lobby, "c", 10)
	full.Refuse(true)
	if err := b.Broadcast(lobby, "a", []byte("bcast 1"), signaling.KindBroadcast); err != nil {
		t.Fatal(err)
	}
	_ = b.Send(lobby, "a", "full", []byte("to full"), signaling.KindSignal) // may or may not report it
	if err := b.Send(lobby, "full", "c", []byte("from full"), signaling.KindSignal); err != nil {
		t.Errorf("Send from the refusing peer: %v", err)
	}
	d := mustJoin(t, b, lobby, "d", 10)
	if err := b.Broadcast(lobby, "c", []byte("bcast 2"), signaling.KindBroadcast); err != nil {
		t.Fatal(err)
	}
	expectFrames(t, "c", sentinel(t, b, lobby, "a", c)[1:],
		Delivery{"bcast 1", signaling.KindBroadcast},
		Delivery{"from full", signaling.KindSignal},
		Delivery{peerJoinedFrame(lobby, "d"), signaling.KindPeerJoined})
	expectFrames(t, "d", sentinel(t, b, lobby, "a", d),
		Delivery{joinedFrame(lobby, "d", []signaling.Member{member("a"), member("full"), member("c")}), signaling.KindJoined},
		Delivery{"bcast 2", signaling.KindBroadcast})
	expectFrames(t, "a", sentinel(t, b, lobby, "c", a)[1:],
		Delivery{peerJoinedFrame(lobby, "full"), signaling.KindPeerJoined},
		Delivery{peerJoinedFrame(lobby, "c"), signaling.KindPeerJoined},
		Delivery{peerJoinedFrame(lobby, "d"), signaling.KindPeerJoined},
		Delivery{"bcast 2", signaling.KindBroadcast})
	expectMembers(t, b, lobby, "a", "full", "c", "d")
	// Its session ends and leaves: the others hear of it.
	if !b.Leave(lobby, "full", []byte(peerLeftFrame(lobby, "full"))) {
		t.Fatal("the refusing peer was no longer a member")
	}
	for _, r := range []*Recorder{a, c, d} {
		r.WaitFrame(t, peerLeftFrame(lobby, "full"))
	}
	expectMembers(t, b, lobby, "a", "c", "d")
}
