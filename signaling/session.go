package signaling

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// closeGrace is how long the server waits for a client's close reply.
const closeGrace = 2 * time.Second

// Session is one client's session: its peer id, rooms and outbox. It
// outlives its connection by the resume grace period (docs/protocol.md,
// Session resume): a client that reconnects in time carries on with the
// same Session on a new link.
//
// The reader goroutine of the attached link owns the session's room list
// and handles every client frame in order; everything the client receives
// goes through the outbox (queue), which a writer goroutine drains. The
// writer runs only while there is something to write, so an idle session
// holds no goroutine but its reader, and a detached one none at all.
type Session struct {
	srv  *Server
	host string // the Host the client first asked for, for ICE server URLs (only with Config.ICEServers)

	// Set once by the handshake, read-only afterwards (but Grants and
	// Expires, which the reader replaces on refresh and resume).
	ident *Identity
	peer  string
	id    string

	// Owned by the reader goroutine of the attached link; passed on to the
	// next reader by a resume.
	rooms      []RoomKey
	sfu        []*sfuPart // the session's participants in the SFU, one per sfu room it is in (session_sfu.go)
	limiter    *rate.Limiter
	nsLimiters map[string]*rate.Limiter
	// confirm frames in the second since confirmsFrom (unix nanoseconds)
	confirmsFrom int64
	confirms     int

	iceRefresh atomic.Int64 // unix nanoseconds after which the pinger pushes fresh ICE servers (0: never)
	expires    atomic.Int64 // unix nanoseconds when the token expires (0: never); the reader sets it, the clock reads it

	mu       sync.Mutex // guards what follows
	link     *link      // the connection the session is on; nil while detached
	queue    []outFrame // what the link's writer has still to write
	queued   int        // bytes in queue
	inflight int        // bytes taken by the writer and not yet written
	seq      uint64
	welcomed bool // frames after welcome carry seq
	closed   bool // nothing more is accepted: the session ends with its link
	ended    bool // the session has left its rooms and is gone
	pinger   *time.Timer
	nextPing time.Time
	warned   bool // token-expiring sent for the current token

	// Session resume (see resume.go).
	kept      []outFrame // seq'd frames the client has not confirmed, oldest first
	keptBytes int
	pingOut   bool   // a ping is out whose pong will confirm frames
	confirmed uint64 // the seq of a pong not yet confirmWithin old (see confirm)
	confirmAt int64  // when it came, unix nanoseconds (0: none)
	ponged    uint64 // the seq of the latest pong
	appAcks   bool   // the client confirms what its app processed (confirm frames): pongs trim nothing
	// The replay of the last resume, not yet confirmed: headroom over the
	// buffer limit, so that what was kept does not make the client "slow".
	replayed, replayedBytes int
	graceEnd                time.Time // while detached: when the session ends
	away                    bool      // detached, counted in switchboard_signaling_sessions_detached
	overflow                bool      // closed because its buffer overflowed
	taken                   bool      // a hello is resuming the session: the grace clock stands still
	resumeTok               string    // the newest token that resumes this session (guarded by srv.mu)
	heldTok                 string    // the token the client surely holds, until it shows it has the newest (guarded by srv.mu)
}

// link is one WebSocket connection of a session.
type link struct {
	conn    *websocket.Conn
	raw     *batchConn // under conn: lets the writer send a batch in one write
	remote  string
	closing atomic.Bool // a close frame is queued or the connection is ending
	heard   bool        // the client has sent something on this link since its welcome (reader-owned)

	// Guarded by the session's mu.
	writing   bool          // a writer goroutine is running for this link
	broken    bool          // a write failed: nothing more is written
	closeSent bool          // a close frame went out
	done      chan struct{} // set by a resume taking the session over; closed when the link's reader is through
}

type outFrame struct {
	b    []byte
	kind FrameKind
	seq  uint64 // 0: none; for a ping, the last seq queued before it
	code int    // close code for kindClose
}

// run is the reader goroutine of a new connection: the handshake, then
// frames on the session the hello started or resumed.
func (se *Session) run() {
	l := se.link
	l.conn.SetReadLimit(int64(se.srv.cfg.MaxFrameBytes))
	owner, err := se.handshake(l)
	if err != nil {
		reason := se.handshakeFailed(l, err)
		l.closeConn()
		se.srv.release(se)
		se.srv.log.Debug("connection ended before a session began", "remote", l.remote, "reason", reason)
		se.srv.wg.Done()
		return
	}
	// Verifying the token grew this goroutine's stack to 8 KiB, and the
	// runtime shrinks a parked goroutine's stack only by halves: a fresh
	// goroutine reads the session's frames instead, so an idle session keeps
	// a small stack. The WaitGroup count passes to it.
	go owner.serve(l)
}

// serve reads frames from l until it ends, then detaches or ends the session.
func (se *Session) serve(l *link) {
	defer se.srv.wg.Done()
	reason, final := se.readLoop(l)
	se.srv.linkEnded(se, l, reason, final)
}

// end leaves the session's rooms and forgets it. It runs once, when no
// reader runs for the session (its last reader, or a detached session's
// clock or buffer).
func (se *Session) end(reason string) {
	se.mu.Lock()
	if se.ended {
		se.mu.Unlock()
		return
	}
	se.ended = true
	se.closed = true
	if se.pinger != nil {
		se.pinger.Stop()
	}
	se.kept = nil
	se.keptBytes = 0
	se.queue = nil
	se.mu.Unlock()
	se.srv.mu.Lock()
	draining := se.srv.draining
	se.srv.mu.Unlock()
	for _, k := range se.rooms {
		var notify []byte
		if !draining {
			notify = encodePeerLeft(k, se.peer)
		}
		// While the server drains, everyone is told to reconnect: a
		// peer-left to a client whose close is not queued yet would make it
		// drop a link that its rejoin would keep.
		se.leaveRoom(k, notify)
	}
	se.leaveAllSFU() // none left: leaveRoom took each room's
	se.rooms = nil
	se.srv.release(se)
	se.srv.m.disconnects.WithLabelValues(reason).Inc()
	se.srv.log.Debug("session ended", "peer", se.peer, "user", se.ident.User, "reason", reason)
}

// maxConfirmsPerSecond caps confirm frames (the SDK sends at most about 5).
const maxConfirmsPerSecond = 20
