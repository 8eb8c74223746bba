package signaling

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const memoryShards = 64

// MemoryBus is the single-node Bus: rooms live in this process, sharded by
// room so that unrelated rooms never contend on one lock.
type MemoryBus struct {
	seed   maphash.Seed
	rooms  atomic.Int64
	shards [memoryShards]memoryShard
}

type memoryShard struct {
	mu    sync.Mutex
	rooms map[RoomKey]*memoryRoom
}

type memoryRoom struct {
	// A slice, not a map: most rooms hold two to a few peers, and a slice of
	// them costs a fraction of a map's memory.
	members []memoryMember
}

type memoryMember struct {
	Member
	mb Mailbox
}

// NewMemoryBus returns an empty in-memory Bus.
func NewMemoryBus() *MemoryBus {
	b := &MemoryBus{seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].rooms = make(map[RoomKey]*memoryRoom)
	}
	return b
}

func (b *MemoryBus) shard(k RoomKey) *memoryShard {
	var h maphash.Hash
	h.SetSeed(b.seed)
	h.WriteString(k.NS)
	h.WriteByte(0)
	h.WriteString(k.Room)
	return &b.shards[h.Sum64()%memoryShards]
}

func (r *memoryRoom) find(peer string) int {
	for i := range r.members {
		if r.members[i].Peer == peer {
			return i
		}
	}
	return -1
}

// Join implements Bus.
func (b *MemoryBus) Join(k RoomKey, m Member, mb Mailbox, maxPeers int, reply func([]Member) []byte, notify []byte) error {
	s := b.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[k]
	if r == nil {
		r = &memoryRoom{}
		s.rooms[k] = r
		b.rooms.Add(1)
	}
	if r.find(m.Peer) >= 0 {
		return errorf(CodeBadRequest, "already in room")
	}
	if maxPeers > 0 && len(r.members) >= maxPeers { // so the room is not empty
		return errorf(CodeLimitExceeded, "room is full (%d peers)", maxPeers)
	}
	existing := make([]Member, len(r.members))
	for i := range r.members {
		existing[i] = r.members[i].Member
	}
	mb.Deliver(reply(existing), KindJoined)
	for i := range r.members {
		r.members[i].mb.Deliver(notify, KindPeerJoined)
	}
	r.members = append(r.members, memoryMember{Member: m, mb: mb})
	return nil
}

// Members implements Bus.
func (b *MemoryBus) Members(k RoomKey) []Member {
	s := b.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[k]
	if r == nil {
		return nil
	}
	out := make([]Member, len(r.members))
	for i := range r.members {
		out[i] = r.members[i].Member
	}
	return out
}

// Leave implements Bus.
func (b *MemoryBus) Leave(k RoomKey, peer string, notify []byte) bool {
	s := b.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[k]
	if r == nil {
		return false
	}
	i := r.find(peer)
	if i < 0 {
		return false
	}
	last := len(r.members) - 1
	copy(r.members[i:], r.members[i+1:]) // keep join order: peers listed oldest first
	r.members[last] = memoryMember{}
	r.members = r.members[:last]
	if len(r.members) == 0 {
		delete(s.rooms, k)
		b.rooms.Add(-1)
		return true
	}
	if notify != nil {
		for j := range r.members {
			r.members[j].mb.Deliver(notify, KindPeerLeft)
		}
	}
	return true
}

// Send implements Bus.
func (b *MemoryBus) Send(k RoomKey, from, to string, frame []byte, kind FrameKind) error {
	s := b.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[k]
	if r == nil || r.find(from) < 0 {
		return errorf(CodeNotFound, "not in room %q", k.Room)
	}
	i := r.find(to)
	if i < 0 {
		return errorf(CodeNotFound, "no peer %q in room %q", to, k.Room)
	}
	r.members[i].mb.Deliver(frame, kind)
	return nil
}

// Broadcast implements Bus.
func (b *MemoryBus) Broadcast(k RoomKey, from string, frame []byte, kind FrameKind) error {
	s := b.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[k]
	if from == "" && r == nil {
		return nil
	}
	if r == nil || from != "" && r.find(from) < 0 {
		return errorf(CodeNotFound, "not in room %q", k.Room)
	}
	for i := range r.members {
		if r.members[i].Peer != from {
			r.members[i].mb.Deliver(frame, kind)
		}
	}
	return nil
}

// Rooms implements Bus.
func (b *MemoryBus) Rooms() int { return int(b.rooms.Load()) }
