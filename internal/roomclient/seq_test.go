package roomclient

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func seqs(ms []Message) []uint32 {
	out := make([]uint32, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func msg(seq uint32, p Path) Message {
	return Message{From: "s", Seq: seq, Path: p, Payload: []byte{byte(seq)}}
}

func TestReceiverWaitsForFence(t *testing.T) {
	now := time.Unix(0, 0)
	r := newReceiver(PathMesh)
	var out []Message
	out = r.message(msg(1, PathMesh), now, out)
	out = r.message(msg(3, PathSFU), now, out) // the sender moved; 2 is still on the mesh
	out = r.message(msg(4, PathSFU), now, out)
	if got := seqs(out); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("before the fence: %v", got)
	}
	out = r.message(msg(2, PathMesh), now, out)
	out = r.fence(PathMesh, now, out)
	out = r.message(msg(5, PathSFU), now, out)
	if got := seqs(out); !slices.Equal(got, []uint32{1, 2, 3, 4, 5}) {
		t.Fatalf("got %v", got)
	}
	if r.cur != PathSFU {
		t.Fatalf("current path %v after the fence", r.cur)
	}
}

func TestReceiverDropsBroadcastCopies(t *testing.T) {
	now := time.Unix(0, 0)
	r := newReceiver(PathMesh)
	var out []Message
	// A broadcast goes on the SFU once and on the mesh to receivers still
	// there: copies come on both paths, in either order.
	out = r.message(msg(1, PathSFU), now, out)
	out = r.message(msg(1, PathMesh), now, out)
	out = r.message(msg(2, PathMesh), now, out)
	out = r.message(msg(2, PathSFU), now, out)
	out = r.message(msg(3, PathSFU), now, out)
	if r.waiting() != 1 {
		t.Fatalf("waiting %d, want only 3", r.waiting())
	}
	out = r.message(msg(3, PathMesh), now, out)
	if r.waiting() != 0 {
		t.Fatalf("copies still waiting: %d", r.waiting())
	}
	out = r.fence(PathMesh, now, out)
	out = r.message(msg(4, PathSFU), now, out)
	if got := seqs(out); !slices.Equal(got, []uint32{1, 2, 3, 4}) {
		t.Fatalf("got %v", got)
	}
}

func TestReceiverTimeoutAndClose(t *testing.T) {
	now := time.Unix(0, 0)
	r := newReceiver(PathMesh)
	out := r.message(msg(5, PathSFU), now, nil)
	out = r.tick(now.Add(fenceWait-time.Millisecond), out)
	if len(out) != 0 {
		t.Fatalf("delivered before the wait: %v", seqs(out))
	}
	out = r.tick(now.Add(fenceWait), out)
	if got := seqs(out); !slices.Equal(got, []uint32{5}) || r.cur != PathSFU {
		t.Fatalf("after the wait: %v, current %v", got, r.cur)
	}
	out = r.message(msg(4, PathMesh), now, out) // too late: dropped
	out = r.message(msg(6, PathMesh), now, out) // waits for the SFU's fence
	out = r.closed(PathMesh, out)               // the waiting path's end: still waits
	if got := seqs(out); !slices.Equal(got, []uint32{5}) {
		t.Fatalf("got %v", got)
	}
	out = r.closed(PathSFU, out) // the current path's end is its fence
	if got := seqs(out); !slices.Equal(got, []uint32{5, 6}) || r.cur != PathMesh {
		t.Fatalf("after the close: %v, current %v", got, r.cur)
	}
}

func TestReceiverJoinerAndBound(t *testing.T) {
	now := time.Unix(0, 0)
	r := newReceiver(PathNone) // joined after the switch: no old path
	out := r.message(msg(7, PathSFU), now, nil)
	if got := seqs(out); !slices.Equal(got, []uint32{7}) {
		t.Fatalf("joiner got %v", got)
	}
	r = newReceiver(PathMesh)
	r.limits.msgs = 3
	out = nil
	for i := uint32(1); i <= 5; i++ {
		out = r.message(msg(10+i, PathSFU), now, out)
	}
	if got := seqs(out); !slices.Equal(got, []uint32{11, 12}) || r.waiting() != 3 {
		t.Fatalf("over the bound: delivered %v, waiting %d", got, r.waiting())
	}
}

// TestReceiverRandomSwitches: a sender numbers messages, some of them
// directed to other receivers (gaps), moves this receiver between the
// paths with FENCEs, and sends broadcasts on both paths while some other
// receiver is on the SFU; the two ordered channels interleave at random.
// The receiver delivers exactly the messages meant for it, in order.
func TestReceiverRandomSwitches(t *testing.T) {
	now := time.Unix(0, 0)
	for run := range 500 {
		rng := rand.New(rand.NewPCG(uint64(run), 1))
		type item struct {
			m     Message
			fence bool
		}
		queues := map[Path][]item{}
		path := PathMesh
		var want []uint32
		for seq := uint32(1); seq <= 60; seq++ {
			switch rng.IntN(10) {
			case 0: // directed to someone else: a gap
				continue
			case 1: // move this receiver to the other path
				queues[path] = append(queues[path], item{fence: true})
				path = path.other()
			}
			queues[path] = append(queues[path], item{m: msg(seq, path)})
			if path == PathMesh && rng.IntN(3) == 0 { // a broadcast copy on the SFU too
				queues[PathSFU] = append(queues[PathSFU], item{m: msg(seq, PathSFU)})
			}
			want = append(want, seq)
		}
		r := newReceiver(PathMesh)
		var out []Message
		for len(queues[PathMesh])+len(queues[PathSFU]) > 0 {
			p := PathMesh
			if len(queues[p]) == 0 || (len(queues[PathSFU]) > 0 && rng.IntN(2) == 0) {
				p = PathSFU
			}
			it := queues[p][0]
			queues[p] = queues[p][1:]
			if it.fence {
				out = r.fence(p, now, out)
			} else {
				out = r.message(it.m, now, out)
			}
		}
		out = r.tick(now.Add(fenceWait), out) // a copy may wait for a fence that never comes
		if got := seqs(out); !slices.Equal(got, want) {
			t.Fatalf("run %d: got %v\nwant %v", run, got, want)
		}
	}
}
