package roomclient

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// state is what the loop owns.
type state struct {
	auto     bool
	mode     Path // the room's mode, as the server last said
	switchID int
	switchAt time.Time // when the current switch's mode frame came
	acked    bool      // mode-ack sent for switchID (a joiner has nothing to ack)
	failed   []string  // the peers named failed in that ack
	allMoved bool      // EventMoved sent for switchID
	early    map[int]map[string]peerAck
	remotes  map[string]*remote
	order    []string // remote ids, in the order they came
	sfu      *sfuLink
	leaving  map[string]*sfuLink // by sfu-leave id: links that close at its ack
	seq      uint32              // the last number given to a reliable message
	joins    int                 // sfu-join requests sent, for their ids
	refused  int                 // the switch in which the SFU refused this client (no retry until the next)
	leaveAt  time.Time           // when every ack allowed sfu-leave (it then waits for the FENCEs)
	out      []Message
}

func newState() *state {
	return &state{early: map[int]map[string]peerAck{}, remotes: map[string]*remote{}, leaving: map[string]*sfuLink{}}
}

// peerAck is a remote peer's mode-ack.
type peerAck struct {
	mode    Path
	failsMe bool // it named this client in failed
}

// remote is one other peer of the room.
type remote struct {
	id, user string
	mesh     *meshLink
	send     Path // the path this client's data to it takes
	rx       *receiver
	media    *peerMedia
	mediaOn  [3]bool // media came on the current mesh link / SFU link
	inSwitch bool    // there when the current switch began: its ack counts
	ack      *peerAck
	ackAt    time.Time // when ack came
	failed   bool      // this client gave up moving it in the current switch
	moved    bool      // EventPeerMoved sent for the current switch
}

// EventKind says what an Event is about.
type EventKind uint8

// Event kinds.
const (
	EventMode      EventKind = iota + 1 // a mode frame: a switch began
	EventPeerMoved                      // one peer's data and media are on the switch's path
	EventMoved                          // every peer has moved (or failed)
	EventAcked                          // this client sent its mode-ack
	EventSFULeft                        // this client left the SFU (sfu-leave)
	EventError                          // something went wrong (Err)
)

func (k EventKind) String() string {
	return [...]string{"?", "mode", "peer-moved", "moved", "acked", "sfu-left", "error"}[k]
}

// Event is something that happened to the client.
type Event struct {
	Kind   EventKind
	Switch int
	Mode   Path
	Peer   string        // EventPeerMoved
	Failed []string      // EventAcked, EventMoved: peers left on the old path
	At     time.Time     // when it happened
	Since  time.Duration // since the switch's mode frame
	Err    error
}

// PeerState is what the client knows of one remote peer.
type PeerState struct {
	Data      Path      // the path this client's data to it takes
	Media     Path      // the path its media is shown from
	Mesh      bool      // a mesh link to it exists
	LastMedia time.Time // the last media packet from it, on any path
	MaxGap    time.Duration
	Packets   int // media packets from it on the path shown
	Left      bool
}

// public is the copy of the state the loop shows other goroutines.
type public struct {
	mu       sync.Mutex
	mode     Path
	switchID int
	sfu      bool
	paths    map[string][2]Path // data, media
	meshes   map[string]bool
	media    map[string]*peerMedia
	left     map[string]bool
	messages map[string][]Message
	events   []Event
	changed  chan struct{} // closed and replaced at each change
}

func (p *public) init() {
	p.paths, p.meshes, p.media, p.left = map[string][2]Path{}, map[string]bool{}, map[string]*peerMedia{}, map[string]bool{}
	p.messages = map[string][]Message{}
	p.changed = make(chan struct{})
}

// notify wakes the waiters (under p.mu).
func (p *public) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// publish copies the state for the getters.
func (c *Client) publish() {
	st := c.st
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	c.pub.mode, c.pub.switchID, c.pub.sfu = st.mode, st.switchID, st.sfu != nil
	clear(c.pub.paths)
	clear(c.pub.meshes)
	for id, r := range st.remotes {
		c.pub.paths[id] = [2]Path{r.send, r.media.shownPath()}
		c.pub.meshes[id] = r.mesh != nil
	}
	for _, m := range st.out {
		c.pub.messages[m.From] = append(c.pub.messages[m.From], m)
		if c.cfg.OnMessage != nil {
			c.cfg.OnMessage(m)
		}
	}
	st.out = st.out[:0]
	c.pub.notify()
}

// emit records an event and hands it to Config.OnEvent (on the loop).
func (c *Client) emit(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Switch == 0 {
		e.Switch, e.Mode = c.st.switchID, c.st.mode
	}
	if !c.st.switchAt.IsZero() {
		e.Since = e.At.Sub(c.st.switchAt)
	}
	c.pub.mu.Lock()
	c.pub.events = append(c.pub.events, e)
	c.pub.mu.Unlock()
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}

// Mode returns the room's mode and the latest switch's id.
func (c *Client) Mode() (Path, int) {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	return c.pub.mode, c.pub.switchID
}

// InSFU reports whether the client is an SFU participant.
func (c *Client) InSFU() bool {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	return c.pub.sfu
}

// Peers returns what the client knows of each remote peer, those that
// left included (Left).
func (c *Client) Peers() map[string]PeerState {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	out := make(map[string]PeerState, len(c.pub.media))
	for id, m := range c.pub.media {
		ps := m.snapshot()
		p := c.pub.paths[id]
		ps.Data, ps.Mesh, ps.Left = p[0], c.pub.meshes[id], c.pub.left[id]
		out[id] = ps
	}
	return out
}

// ResetGaps forgets the longest media gaps so far (a test measures one
// phase).
func (c *Client) ResetGaps() {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	for _, m := range c.pub.media {
		m.resetGap()
	}
}

// Messages returns the data messages delivered from peer, in order.
func (c *Client) Messages(peer string) []Message {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	return slices.Clone(c.pub.messages[peer])
}

// Events returns the events so far.
func (c *Client) Events() []Event {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	return slices.Clone(c.pub.events)
}

// Changed is closed at the next change of what the getters show.
func (c *Client) Changed() <-chan struct{} {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	return c.pub.changed
}

// RemoteIDs returns the ids of the peers in the room now.
func (c *Client) RemoteIDs() []string {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	return slices.Sorted(maps.Keys(c.pub.paths))
}
