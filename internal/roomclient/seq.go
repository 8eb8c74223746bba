package roomclient

import (
	"time"
)

// This file is the data path's sequencing across a switch, as pure logic
// (docs/protocol.md, "Data across a switch"): the numbers a sender puts
// on its reliable messages, and the receiver that delivers each sender's
// messages in number order, once, waiting for the old path's FENCE.

// Path is how a pair of peers reaches each other.
type Path uint8

// Paths.
const (
	PathNone Path = iota
	PathMesh      // a peer connection of their own
	PathSFU       // through the server's SFU
)

func (p Path) String() string {
	switch p {
	case PathMesh:
		return "mesh"
	case PathSFU:
		return "sfu"
	}
	return "none"
}

// other is the path a switch from p goes to.
func (p Path) other() Path {
	if p == PathMesh {
		return PathSFU
	}
	return PathMesh
}

// parsePath reads a room mode of the protocol.
func parsePath(s string) Path {
	switch s {
	case "mesh":
		return PathMesh
	case "sfu":
		return PathSFU
	}
	return PathNone
}

// Message is a data channel message delivered to the app.
type Message struct {
	From     string
	Seq      uint32 // 0 on the unreliable channel
	Payload  []byte
	Text     bool
	Directed bool
	Path     Path // the path it came on
}

// Receiver limits (the contract's).
const (
	fenceWait     = 5 * time.Second
	maxWaitMsgs   = 1000
	maxWaitBytes  = 4 << 20
	ackDeadline   = 10 * time.Second
	unknownSender = PathNone
)

// receiver orders one sender's reliable messages. The sender uses one
// path at a time to this receiver and ends each stretch (a segment) with
// a FENCE on that path, so each path's ordered channel carries its
// segments in order, and the FENCEs say where one ends and the next, on
// the other path, begins. The receiver delivers the current path's
// messages at once and keeps what comes on the other path, FENCEs
// included, in arrival order, until the current path's FENCE (or its end,
// or fenceWait) moves it over. A number already delivered is dropped (a
// broadcast may come on both paths); gaps are normal (messages directed
// to other peers share the counter).
type receiver struct {
	cur       Path
	delivered uint32
	queue     [3][]rxItem // by path: what waits on the path that is not current
	owed      [3]int      // FENCEs still to come on a path the receiver left without one (timeout)
	msgs      int         // messages waiting
	bytes     int         // their payload bytes
	limits    rxLimits
}

type rxItem struct {
	m     Message
	fence bool
	at    time.Time
}

type rxLimits struct {
	wait         time.Duration
	msgs, nbytes int
}

func newReceiver(cur Path) *receiver {
	return &receiver{cur: cur, limits: rxLimits{wait: fenceWait, msgs: maxWaitMsgs, nbytes: maxWaitBytes}}
}

// message takes a sequenced message; what is now deliverable is appended
// to out, in order.
func (r *receiver) message(m Message, now time.Time, out []Message) []Message {
	if m.Seq <= r.delivered {
		return out // a copy of one delivered
	}
	if r.cur == PathNone {
		r.cur = m.Path // the first path this sender used
	}
	if m.Path == r.cur {
		return r.deliver(m, out)
	}
	r.queue[m.Path] = append(r.queue[m.Path], rxItem{m: m, at: now})
	r.msgs++
	r.bytes += len(m.Payload)
	for r.msgs > r.limits.msgs || r.bytes > r.limits.nbytes {
		out = r.popOldest(out) // bounded memory over order
	}
	return out
}

// fence takes a FENCE that came on path p.
func (r *receiver) fence(p Path, now time.Time, out []Message) []Message {
	if r.cur == PathNone {
		r.cur = p
	}
	if p != r.cur {
		r.queue[p] = append(r.queue[p], rxItem{fence: true, at: now})
		return out
	}
	if r.owed[p] > 0 {
		r.owed[p]-- // late: the receiver moved on without it
		return out
	}
	return r.switchTo(p.other(), out)
}

// closed: nothing more comes on path p. The current path's end is as good
// as its FENCE; what came on another path still waits its turn.
func (r *receiver) closed(p Path, out []Message) []Message {
	r.owed[p] = 0
	if p != r.cur {
		return out
	}
	return r.switchTo(p.other(), out)
}

// tick moves to the other path when what waits there has waited too long
// for the current path's FENCE.
func (r *receiver) tick(now time.Time, out []Message) []Message {
	if r.cur == PathNone {
		return out
	}
	q := r.queue[r.cur.other()]
	if len(q) == 0 || now.Sub(q[0].at) < r.limits.wait {
		return out
	}
	r.owed[r.cur]++
	return r.switchTo(r.cur.other(), out)
}

// switchTo makes p current and delivers what waited on it, up to the next
// FENCE there (which switches back, and so on).
func (r *receiver) switchTo(p Path, out []Message) []Message {
	r.cur = p
	for {
		q := r.queue[r.cur]
		if len(q) == 0 {
			r.queue[r.cur] = nil
			return out
		}
		it := q[0]
		r.queue[r.cur] = q[1:]
		if it.fence {
			if r.owed[r.cur] > 0 {
				r.owed[r.cur]--
				continue
			}
			r.cur = r.cur.other()
			continue
		}
		r.msgs--
		r.bytes -= len(it.m.Payload)
		if it.m.Seq > r.delivered {
			out = r.deliver(it.m, out)
		}
	}
}

// deliver hands m out; copies waiting at the head of the other path's
// queue are dropped.
func (r *receiver) deliver(m Message, out []Message) []Message {
	r.delivered = m.Seq
	out = append(out, m)
	o := r.cur.other()
	q := r.queue[o]
	for len(q) > 0 && !q[0].fence && q[0].m.Seq <= r.delivered {
		r.msgs--
		r.bytes -= len(q[0].m.Payload)
		q = q[1:]
	}
	r.queue[o] = q
	return out
}

// popOldest delivers the head of the other path's queue out of turn.
func (r *receiver) popOldest(out []Message) []Message {
	o := r.cur.other()
	q := r.queue[o]
	for len(q) > 0 {
		it := q[0]
		q = q[1:]
		if it.fence {
			continue
		}
		r.msgs--
		r.bytes -= len(it.m.Payload)
		if it.m.Seq > r.delivered {
			r.delivered = it.m.Seq
			out = append(out, it.m)
		}
		break
	}
	r.queue[o] = q
	return out
}

// waiting is how many messages wait.
func (r *receiver) waiting() int { return r.msgs }
