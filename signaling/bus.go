package signaling

// RoomKey names a room within a namespace ("" is the default namespace).
type RoomKey struct {
	NS   string
	Room string
}

// Member is one peer's presence in a room, as the others see it.
type Member struct {
	Peer string
	User string
	Name string
}

// Mailbox takes frames for one peer. Deliver never blocks; it returns false
// when the peer cannot take the frame (its queue is full or it is closing),
// and the peer is then disconnected by its own session.
type Mailbox interface {
	Deliver(frame []byte, kind FrameKind) bool
}

// Bus is the only place that knows which peers are in which rooms and how to
// reach them: rooms, presence and delivery. The in-memory implementation
// serves one node; a shared backend for several nodes implements the same
// interface and passes the same contract suite (signaling/bustest).
//
// Frames handed to a Bus are complete, encoded server frames without "seq";
// the recipient's session numbers them. A Bus must deliver the frames for one
// recipient in the order its methods were called.
type Bus interface {
	// Join adds m to the room unless it already holds maxPeers members
	// (ErrLimitExceeded; maxPeers <= 0 means no limit). Under the room's lock
	// it delivers reply(existing members, oldest first) to mb and notify to
	// every existing member, so that the joiner sees its "joined" before any
	// later event of the room and everyone else sees "peer-joined" before
	// anything the joiner sends. reply is called exactly once, on success,
	// before Join returns (it may use memory the caller reuses afterwards).
	Join(k RoomKey, m Member, mb Mailbox, maxPeers int, reply func([]Member) []byte, notify []byte) error
	// Members lists the members of a room (nil if it does not exist).
	Members(k RoomKey) []Member
	// Leave removes peer from the room and delivers notify to the members
	// left (nil: tells nobody). It reports whether peer was there.
	Leave(k RoomKey, peer string, notify []byte) bool
	// Send delivers frame to peer to, if both from and to are in the room;
	// otherwise ErrNotFound.
	Send(k RoomKey, from, to string, frame []byte, kind FrameKind) error
	// Broadcast delivers frame to every member of the room except from, if
	// from is a member; otherwise ErrNotFound. from "" is the server: every
	// member gets the frame (none: nothing happens, no error).
	Broadcast(k RoomKey, from string, frame []byte, kind FrameKind) error
	// Rooms counts the rooms that have at least one member.
	Rooms() int
}
