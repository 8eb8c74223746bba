package signaling

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
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

// Deliver implements Mailbox: it queues frame for the client and never blocks.
// A client whose queue is full is disconnected (it cannot keep up, and must
// not slow down anybody else); a detached session whose buffer is full ends.
func (se *Session) Deliver(frame []byte, kind FrameKind) bool {
	l, start, ok := se.enqueue(frame, kind)
	if start {
		go se.writeLoop(l)
	}
	return ok
}

// enqueue queues frame; start says that the caller must run the writer for
// l (Deliver starts a goroutine; the clock, which has one, runs it inline).
func (se *Session) enqueue(frame []byte, kind FrameKind) (l *link, start, ok bool) {
	se.mu.Lock()
	if se.closed {
		se.mu.Unlock()
		return nil, false, false
	}
	cfg := &se.srv.cfg
	keep := se.srv.resumeOn && se.welcomed && kind < kindPing
	l = se.link
	if keep && se.keptFullLocked(len(frame)) {
		if l != nil && !se.appAcks {
			// A busy client: drop what its last pong confirmed without
			// waiting for the confirmation to age (see confirm).
			se.trimLocked(se.ponged)
		}
		if l == nil || se.keptFullLocked(len(frame)) {
			return nil, false, se.overflowLocked(l)
		}
	}
	if l != nil && (len(se.queue) >= cfg.SendQueueFrames || se.queued+se.inflight+len(frame) > cfg.SendQueueBytes) {
		return nil, false, se.overflowLocked(l)
	}
	f := outFrame{b: frame, kind: kind}
	if se.welcomed && kind < kindPing {
		se.seq++
		f.seq = se.seq
	}
	if kind == KindWelcome {
		se.welcomed = true
	}
	if keep {
		se.kept = append(se.kept, f)
		se.keptBytes += len(frame)
	}
	if kind == kindPing {
		f.seq = se.seq
		se.pingOut = true
	}
	if l != nil && !l.broken {
		se.queue = append(se.queue, f)
		se.queued += len(frame)
		// Ask for a confirmation early when frames pile up, so that a busy
		// session keeps about a round trip's worth.
		if keep && !se.pingOut && (len(se.kept) >= se.srv.pingFrames || se.keptBytes >= se.srv.pingBytes) {
			se.pingOut = true
			se.queue = append(se.queue, outFrame{kind: kindPing, seq: se.seq})
		}
		if !l.writing {
			l.writing = true
			start = true
			se.srv.wg.Add(1) // under mu: the reader's cleanup takes mu before its wg.Done, so the count cannot reach zero in between
		}
	}
	se.mu.Unlock()
	se.srv.m.framesOut[kind].Inc()
	return l, start, true
}

// keptFullLocked reports whether the kept frames leave no room for n more
// bytes: the send queue's limits, plus the replay not yet confirmed.
func (se *Session) keptFullLocked(n int) bool {
	cfg := &se.srv.cfg
	return len(se.kept) >= cfg.SendQueueFrames+se.replayed || se.keptBytes+n > cfg.SendQueueBytes+se.replayedBytes
}

// overflowLocked ends a session that cannot take another frame: an attached
// one is too slow for what it is sent, a detached one was away too long for
// its buffer. It unlocks se.mu.
func (se *Session) overflowLocked(l *link) bool {
	se.closed = true
	se.overflow = true
	se.srv.wg.Add(1) // under mu, as in Deliver
	queued := max(len(se.queue), len(se.kept))
	se.mu.Unlock()
	if l == nil {
		// Deliver runs under the Bus's locks, and ending leaves rooms.
		go se.overflowed()
		return false
	}
	l.closing.Store(true)
	se.srv.log.Warn("client too slow, disconnecting", "peer", se.peer, "remote", l.remote, "queued_frames", queued)
	go se.abort(l, ClosePolicyViolation, "send queue full")
	return false
}

// closeWith queues a close frame after everything already queued; the
// connection ends when the client answers or closeGrace passes, and the
// session with it.
func (se *Session) closeWith(code int, reason string) {
	se.mu.Lock()
	l := se.link
	if se.closed || l == nil {
		se.mu.Unlock()
		return
	}
	se.closed = true
	l.closing.Store(true)
	se.queue = append(se.queue, outFrame{kind: kindClose, code: code, b: []byte(reason)})
	start := !l.writing && !l.broken
	if start {
		l.writing = true
		se.srv.wg.Add(1) // under mu: see Deliver
	}
	se.mu.Unlock()
	if start {
		go se.writeLoop(l)
	}
}

// abort sends a close frame out of band (the writer may be stuck) and drops
// the connection.
func (se *Session) abort(l *link, code int, reason string) {
	defer se.srv.wg.Done()
	se.srv.m.disconnects.WithLabelValues("slow_consumer").Inc()
	se.sendClose(l, code, reason)
	l.closeConn()
}

// closeConn sends whatever the writer has collected (a close frame written
// by gorilla or by abort may wait in the batch) and closes the connection.
func (l *link) closeConn() {
	l.raw.flushPending(time.Now().Add(time.Second))
	l.conn.Close()
}

func (se *Session) sendClose(l *link, code int, reason string) {
	se.mu.Lock()
	sent := l.closeSent
	l.closeSent = true
	se.mu.Unlock()
	if !sent {
		l.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
}

// writeLoop writes the queue to l until it is empty, the link breaks, or
// the session moves to another link.
func (se *Session) writeLoop(l *link) {
	defer se.srv.wg.Done()
	var buf []byte
	timeout := se.srv.cfg.WriteTimeout
	for {
		se.mu.Lock()
		if se.link != l || l.broken || len(se.queue) == 0 {
			l.writing = false
			se.mu.Unlock()
			return
		}
		batch := se.queue
		se.queue = nil
		se.inflight = se.queued
		se.queued = 0
		se.mu.Unlock()
		if len(batch) == 1 && batch[0].kind == kindPing {
			// An idle session's ping: one small write, without taking a
			// batch buffer from the pool (8 KiB) for it.
			if err := se.writeFrame(l, &batch[0], &buf); err != nil {
				se.writeFailed(l)
				return
			}
			continue
		}
		deadline := time.Now().Add(timeout)
		l.conn.SetWriteDeadline(deadline)
		l.raw.begin()
		var err error
		for i := range batch {
			if err = se.writeFrame(l, &batch[i], &buf); err != nil {
				break
			}
			if l.raw.pending() >= maxBatchBytes {
				if err = l.raw.flush(deadline, true); err != nil {
					break
				}
			}
		}
		if ferr := l.raw.flush(deadline, false); err == nil {
			err = ferr
		}
		se.mu.Lock()
		if se.link == l {
			se.inflight = 0
		}
		se.mu.Unlock()
		if err != nil {
			se.writeFailed(l)
			return
		}
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

// writeFailed ends l after a failed write. The reader sees the closed
// connection and detaches or ends the session; what was kept for resume is
// still kept.
func (se *Session) writeFailed(l *link) {
	se.mu.Lock()
	l.broken = true
	l.writing = false
	if se.link == l {
		se.queue = nil
		se.queued = 0
	}
	se.mu.Unlock()
	l.closing.Store(true)
	l.conn.Close()
}

func (se *Session) writeFrame(l *link, f *outFrame, buf *[]byte) error {
	switch f.kind {
	case kindPing:
		// The payload names the last frame queued before the ping: its pong
		// confirms that frame and every one before it.
		var payload []byte
		if se.srv.resumeOn {
			*buf = strconv.AppendUint((*buf)[:0], f.seq, 10)
			payload = *buf
		}
		return l.conn.WriteControl(websocket.PingMessage, payload, time.Now().Add(se.srv.cfg.WriteTimeout))
	case kindClose:
		se.sendClose(l, f.code, string(f.b))
		l.conn.SetReadDeadline(time.Now().Add(closeGrace))
		return nil
	}
	if f.seq == 0 {
		return l.conn.WriteMessage(websocket.TextMessage, f.b)
	}
	// The frame as queued, with "seq" put in front of its closing brace:
	// written in two pieces into one message, so the shared frame is not copied.
	w, err := l.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	*buf = appendSeqSuffix((*buf)[:0], f.seq)
	if _, err := w.Write(f.b[:len(f.b)-1]); err != nil {
		return err
	}
	if _, err := w.Write(*buf); err != nil {
		return err
	}
	return w.Close()
}

func (se *Session) startPinger() {
	se.mu.Lock()
	se.nextPing = time.Now().Add(se.pingDelay())
	se.pinger = time.AfterFunc(se.nextDelayLocked(time.Now()), se.tick)
	se.mu.Unlock()
}

// pingDelay is the ping interval with ±10% jitter, so that sessions that
// connected together do not ping together.
func (se *Session) pingDelay() time.Duration {
	d := se.srv.cfg.PingInterval
	return d - d/10 + rand.N(d/5+1)
}

// nextDelayLocked is how long the clock sleeps from now: until the next
// ping, the token's expiry warning or its expiry, whichever comes first.
func (se *Session) nextDelayLocked(now time.Time) time.Duration {
	next := se.nextPing
	if exp := se.expires.Load(); exp != 0 {
		at := time.Unix(0, exp)
		if !se.warned {
			at = at.Add(-se.srv.cfg.TokenWarning)
		}
		if at.Before(next) {
			next = at
		}
	}
	return max(next.Sub(now), time.Millisecond)
}

// tick is the session's clock: one timer per session serves the WebSocket
// pings, the ICE credentials' refresh, the token's expiry and, while the
// session is detached, the end of its grace period, so an idle session
// holds no other timer.
func (se *Session) tick() {
	now := time.Now()
	se.mu.Lock()
	if se.ended || se.taken {
		se.mu.Unlock() // a resume taking the session over restarts the clock
		return
	}
	if se.link == nil {
		if now.Before(se.graceEnd) {
			se.pinger.Reset(se.graceEnd.Sub(now))
			se.mu.Unlock()
			return
		}
		se.mu.Unlock()
		se.srv.expire(se)
		return
	}
	se.mu.Unlock()
	exp := se.expires.Load()
	if exp != 0 && now.UnixNano() >= exp {
		se.srv.m.errorOut(CodeTokenExpired)
		se.Deliver(encodeError(errorf(CodeTokenExpired, "token expired: send a refresh with a fresh token before it does"), nil), KindError)
		se.closeWith(CloseUnauthorized, string(CodeTokenExpired))
		return
	}
	se.mu.Lock()
	pingDue := !now.Before(se.nextPing)
	warn := exp != 0 && !se.warned && now.UnixNano() >= exp-int64(se.srv.cfg.TokenWarning)
	if warn {
		se.warned = true
	}
	se.mu.Unlock()
	if warn {
		// The token's own exp, as the welcome gave it; the session lasts TokenLeeway longer.
		se.Deliver(encodeExpires(TypeTokenExpiring, time.Unix(0, exp).Add(-TokenLeeway), nil), KindTokenExpiring)
	}
	if pingDue {
		// Written from this goroutine when no writer runs: an idle session
		// starts no goroutine to ping.
		l, start, ok := se.enqueue(nil, kindPing)
		if !ok {
			return
		}
		if start {
			se.writeLoop(l)
		}
		// The clock is also the ICE credentials' clock.
		if r := se.iceRefresh.Load(); r != 0 && now.UnixNano() >= r {
			se.Deliver(se.encodeICEServers(nil), KindICEServers)
		}
	}
	se.mu.Lock()
	if pingDue {
		se.nextPing = now.Add(se.pingDelay())
	}
	if !se.closed && se.link != nil {
		se.pinger.Reset(se.nextDelayLocked(now))
	}
	se.mu.Unlock()
}

// refresh replaces the session's token with f.Token: the same user, not
// expired, granting every room the session is in. The display name other
// peers were told stays. It answers ack with the new expiry.
func (se *Session) refresh(f *Frame) error {
	ident, err := se.srv.cfg.Verifier.Verify(f.Token)
	if err != nil {
		return err
	}
	if err := se.sameUser(ident); err != nil {
		return err
	}
	se.adopt(ident)
	se.mu.Lock()
	if !se.closed && se.pinger != nil {
		se.pinger.Reset(se.nextDelayLocked(time.Now()))
	}
	se.mu.Unlock()
	if f.ID != nil {
		se.Deliver(encodeExpires(TypeAck, ident.Expires, f.ID), KindAck)
	}
	return nil
}

// sameUser checks that ident may carry on this session: the same user,
// granting every room the session is in. Only the session's reader (or a
// resume, while no reader runs) calls it.
func (se *Session) sameUser(ident *Identity) error {
	if ident.User != se.ident.User {
		return errorf(CodeForbidden, "the new token is for user %q, this session is %q's", ident.User, se.ident.User)
	}
	for _, k := range se.rooms {
		if !ident.Grants.Allows(k.NS, k.Room) {
			return errorf(CodeForbidden, "the new token does not grant room %q%s, which this session is in: leave it first", k.Room, nsSuffix(k.NS))
		}
	}
	return nil
}

// adopt takes the grants and expiry of ident, checked by sameUser.
func (se *Session) adopt(ident *Identity) {
	// Grants and Expires are read only by the reader; the clock reads the
	// expiry from se.expires.
	se.ident.Grants, se.ident.Expires = ident.Grants, ident.Expires
	se.expires.Store(sessionEnd(ident))
	se.mu.Lock()
	se.warned = false
	se.mu.Unlock()
}

// sessionEnd is when a session on ident's token ends, in unix nanoseconds
// (0: never): when the token is no longer accepted.
func sessionEnd(ident *Identity) int64 {
	if ident.Expires.IsZero() {
		return 0
	}
	return ident.Expires.Add(TokenLeeway).UnixNano()
}

// nsSuffix names a namespace in a message, "" for the default one.
func nsSuffix(ns string) string {
	if ns == "" {
		return ""
	}
	return fmt.Sprintf(" in namespace %q", ns)
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

// handshake reads the hello frame and answers welcome, or returns why not.
// It returns the session the connection now serves: se, or the session it
// resumed.
func (se *Session) handshake(l *link) (*Session, error) {
	srv := se.srv
	l.conn.SetReadDeadline(time.Now().Add(srv.cfg.HelloTimeout))
	mt, b, err := l.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	if mt != websocket.TextMessage {
		srv.m.frameIn("invalid")
		return nil, errorf(CodeUnauthorized, "the first frame must be a hello text frame")
	}
	f, derr := DecodeFrame(b)
	if derr != nil {
		srv.m.frameIn("invalid")
		return nil, errorf(CodeUnauthorized, "the first frame must be hello: %s", derr.(*Error).Message)
	}
	srv.m.frameIn(f.Type)
	if f.Type != TypeHello {
		return nil, errorf(CodeUnauthorized, "the first frame must be hello, got %q", f.Type)
	}
	ident, err := srv.cfg.Verifier.Verify(f.Token)
	if err != nil {
		return nil, err
	}
	var refused *resumeRefusal
	if f.Resume != "" {
		var old *Session
		old, refused = srv.resume(se, l, ident, f.Resume, f.LastSeq)
		if refused == nil {
			return old, nil
		}
	}
	tok := ""
	if srv.resumeOn {
		tok = randomID()
	}
	if !srv.admit(se, ident.User, tok) {
		return nil, errorf(CodeLimitExceeded, "user %q has %d sessions already", ident.User, srv.cfg.MaxSessionsPerUser)
	}
	se.ident = ident
	se.expires.Store(sessionEnd(ident))
	se.peer = randomID()
	se.id = randomID()
	se.limiter = rate.NewLimiter(rate.Limit(srv.cfg.Rate), srv.cfg.Burst)
	se.Deliver(se.encodeWelcome(tok, false, 0, refused, se.appendICEServers(nil)), KindWelcome)
	se.startPinger()
	srv.log.Debug("session started", "peer", se.peer, "user", ident.User, "remote", l.remote)
	return se, nil
}

// handshakeFailed tells the client why and returns the disconnect reason.
func (se *Session) handshakeFailed(l *link, err error) string {
	var pe *Error
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		se.srv.m.errorOut(pe.Code)
		se.Deliver(encodeError(pe, nil), KindError)
		code := CloseUnauthorized
		if pe.Code == CodeLimitExceeded {
			code = CloseTooManySessions
		}
		se.closeWith(code, string(pe.Code))
		drain(l)
		return string(pe.Code)
	case errors.As(err, &ne) && ne.Timeout():
		se.sendClose(l, CloseHelloTimeout, "no hello in time")
		return "hello_timeout"
	case errors.Is(err, websocket.ErrReadLimit):
		return "frame_too_big" // gorilla has sent close 1009
	}
	return "closed_before_hello"
}

// drain reads and discards until the client closes or closeGrace passes.
func drain(l *link) {
	l.conn.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := l.conn.NextReader(); err != nil {
			return
		}
	}
}

// readLoop is where an idle session waits, so it is kept small: the stack
// a blocked reader needs decides whether the runtime can shrink an idle
// session's stack to 4 KiB or only to 8 KiB. It returns why the connection
// ended and whether that ends the session too (final) or only its link.
func (se *Session) readLoop(l *link) (reason string, final bool) {
	l.conn.SetPongHandler(func(data string) error { se.onPong(l, data); return nil })
	l.alive(se.srv.cfg.PongTimeout)
	for {
		mt, r, err := l.conn.NextReader()
		if err != nil {
			return readErrReason(err)
		}
		if err := se.onFrame(l, mt, r); err != nil {
			return readErrReason(err)
		}
	}
}

// onPong confirms the frames up to the seq the ping carried.
func (se *Session) onPong(l *link, data string) {
	l.alive(se.srv.cfg.PongTimeout)
	if !se.srv.resumeOn {
		return
	}
	n, err := strconv.ParseUint(data, 10, 64)
	if err != nil {
		return // not a pong of ours: an unsolicited one confirms nothing
	}
	se.confirm(n)
}

// alive extends the read deadline: a connection silent for timeout is dropped.
func (l *link) alive(timeout time.Duration) {
	if l.closing.Load() {
		return
	}
	l.conn.SetReadDeadline(time.Now().Add(timeout))
	if l.closing.Load() { // closeWith ran meanwhile: keep its short deadline
		l.conn.SetReadDeadline(time.Now().Add(closeGrace))
	}
}

// onFrame reads one client frame and handles it.
//
//go:noinline
func (se *Session) onFrame(l *link, mt int, r io.Reader) error {
	srv := se.srv
	buf := srv.getBuf()
	defer srv.putBuf(buf)
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	l.alive(srv.cfg.PongTimeout)
	se.heard(l)
	switch {
	case l.closing.Load():
		// closing: only the client's close reply matters now
	case mt != websocket.TextMessage:
		srv.m.frameIn("invalid")
		se.replyError(errorf(CodeBadRequest, "binary frames are not supported"), nil)
	default:
		se.handle(buf.Bytes())
	}
	return nil
}

// readErrReason names why a connection ended, and says whether that ends
// the session: a normal close from the client (1000, or 1001 when a page
// goes away) does, a frame over the limit does; a lost connection, a
// timeout or another close code leaves the session for the client to
// resume.
func readErrReason(err error) (string, bool) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		if ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway {
			return "client_closed", true
		}
		return "client_closed_abnormally", false
	case errors.Is(err, websocket.ErrReadLimit):
		return "frame_too_big", true
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout", false
	}
	return "connection_lost", false
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

func (s *Server) getBuf() *bytes.Buffer {
	if b, ok := s.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (s *Server) putBuf(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	s.bufs.Put(b)
}

// ---------------------------------------------------------------- frames

func (se *Session) replyError(err error, id []byte) {
	var pe *Error
	if !errors.As(err, &pe) {
		se.srv.log.Error("unexpected error handling a frame", "peer", se.peer, "err", err)
		pe = errorf(codeInternal, "internal error")
	}
	se.srv.m.errorOut(pe.Code)
	se.Deliver(encodeError(pe, id), KindError)
}

func (se *Session) handle(b []byte) {
	srv := se.srv
	f, err := DecodeFrame(b)
	// A confirm is not charged to the session's bucket (an app at its rate
	// limit must still be able to free its buffer), but has its own cap.
	var limited bool
	if err == nil && f.Type == TypeConfirm {
		limited = !se.confirmAllowed()
	} else {
		limited = !se.limiter.Allow()
	}
	if err != nil {
		srv.m.frameIn("invalid")
		se.replyError(err, f.ID)
		return
	}
	srv.m.frameIn(f.Type)
	if limited {
		se.replyError(errorf(CodeRateLimited, "more than %v frames per second", srv.cfg.Rate), f.ID)
		return
	}
	if err := se.dispatch(&f); err != nil {
		se.replyError(err, f.ID)
	}
}

func (se *Session) dispatch(f *Frame) error {
	switch f.Type {
	case TypePing:
		se.Deliver(encodeReply(TypePong, f.ID), KindPong)
		return nil
	case TypeHello:
		return errorf(CodeBadRequest, "already authenticated")
	case TypeICEServers:
		se.Deliver(se.encodeICEServers(f.ID), KindICEServers)
		return nil
	case TypeRefresh:
		return se.refresh(f)
	case TypeConfirm:
		se.clientConfirm(f.LastSeq)
		if f.ID != nil {
			se.Deliver(encodeReply(TypeAck, f.ID), KindAck)
		}
		return nil
	}
	ns, ok := se.srv.ns[f.NS]
	if !ok {
		return errorf(CodeNotFound, "no namespace %q", f.NS)
	}
	if err := se.nsAllow(ns); err != nil {
		return err
	}
	k := RoomKey{NS: f.NS, Room: f.Room}
	var err error
	switch f.Type {
	case TypeJoin:
		return se.join(k, ns, f.ID) // join answers with joined
	case TypeLeave:
		err = se.leave(k)
	case TypeSignal:
		err = se.srv.bus.Send(k, se.peer, f.To, encodeRelay(TypeSignal, k, se.peer, f.Data), KindSignal)
	case TypeBroadcast:
		err = se.srv.bus.Broadcast(k, se.peer, encodeRelay(TypeBroadcast, k, se.peer, f.Data), KindBroadcast)
	case TypeSFU:
		err = se.sfuMessage(k, f.Data)
	case TypeSFUJoin:
		return se.sfuJoinAuto(k, f.ID) // answers, then lets the SFU speak
	case TypeSFULeave:
		err = se.sfuLeaveAuto(k)
	case TypeModeAck:
		err = se.modeAck(k, f)
	}
	if err == nil {
		se.ack(f.ID)
	}
	return err
}

// ack answers a frame with an id that succeeded.
func (se *Session) ack(id []byte) {
	if id != nil {
		se.Deliver(encodeReply(TypeAck, id), KindAck)
	}
}

// maxConfirmsPerSecond caps confirm frames (the SDK sends at most about 5).
const maxConfirmsPerSecond = 20

// confirmAllowed counts a confirm frame against its own cap. Reader-owned.
func (se *Session) confirmAllowed() bool {
	now := time.Now().UnixNano()
	if now-se.confirmsFrom >= int64(time.Second) {
		se.confirmsFrom, se.confirms = now, 0
	}
	se.confirms++
	return se.confirms <= maxConfirmsPerSecond
}

func (se *Session) nsAllow(ns *Namespace) error {
	if ns.Limits.Rate <= 0 {
		return nil
	}
	l := se.nsLimiters[ns.Name]
	if l == nil {
		if se.nsLimiters == nil {
			se.nsLimiters = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Limit(ns.Limits.Rate), ns.Limits.Burst)
		se.nsLimiters[ns.Name] = l
	}
	if !l.Allow() {
		return errorf(CodeRateLimited, "more than %v frames per second in namespace %q", ns.Limits.Rate, ns.Name)
	}
	return nil
}

func (se *Session) member() Member {
	return Member{Peer: se.peer, User: se.ident.User, Name: se.ident.Name}
}

func (se *Session) inRoom(k RoomKey) int {
	for i, r := range se.rooms {
		if r == k {
			return i
		}
	}
	return -1
}

func (se *Session) join(k RoomKey, ns *Namespace, id []byte) error {
	if !se.ident.Grants.Allows(k.NS, k.Room) {
		return errorf(CodeForbidden, "token does not grant room %q", k.Room)
	}
	rooms := se.srv.rooms
	if se.inRoom(k) >= 0 { // joining again answers with the room as it is
		others := se.srv.bus.Members(k)
		for i, m := range others {
			if m.Peer == se.peer {
				others = append(others[:i], others[i+1:]...)
				break
			}
		}
		st := rooms.lock(k)
		v := st.view()
		rooms.unlock(st)
		se.Deliver(encodeJoined(k, v, others, id), KindJoined)
		return nil
	}
	n := 0
	for _, r := range se.rooms {
		if r.NS == k.NS {
			n++
		}
	}
	if n >= ns.Limits.RoomsPerSession {
		return errorf(CodeLimitExceeded, "at most %d rooms per session", ns.Limits.RoomsPerSession)
	}
	st := rooms.lock(k)
	defer rooms.unlock(st)
	if st.members == 0 {
		rooms.create(st, se.ident)
	}
	if max := ns.Limits.PeersPerRoom; max > 0 && st.members >= max {
		// Before a switch is announced for a joiner who will not get in.
		return errorf(CodeLimitExceeded, "room is full (%d peers)", max)
	}
	mode, switched := rooms.joining(st)
	var part *sfuPart
	if mode == ModeSFU { // the SFU first: a refusal leaves no trace in the room
		var err error
		if part, err = se.sfuJoin(k); err != nil {
			return err
		}
	}
	if switched {
		// The members hear of the switch before the joiner's peer-joined:
		// they make no mesh link to it.
		rooms.switchTo(st, ModeSFU)
	}
	m := se.member()
	v := st.view()
	err := se.srv.bus.Join(k, m, se, ns.Limits.PeersPerRoom,
		func(peers []Member) []byte { return encodeJoined(k, v, peers, id) },
		encodePeerJoined(k, m))
	if err != nil {
		if part != nil {
			se.sfuLeave(part)
		}
		return err
	}
	rooms.joined(st)
	se.rooms = append(se.rooms, k)
	if part != nil {
		se.sfu = append(se.sfu, part)
		part.open()
	}
	return nil
}

func (se *Session) leave(k RoomKey) error {
	i := se.inRoom(k)
	if i < 0 {
		return errorf(CodeNotFound, "not in room %q", k.Room)
	}
	se.rooms = append(se.rooms[:i], se.rooms[i+1:]...)
	se.leaveRoom(k, encodePeerLeft(k, se.peer))
	return nil
}

// leaveRoom takes the session out of room k, its SFU side included, and
// tells the members left with notify (nil: nobody).
func (se *Session) leaveRoom(k RoomKey, notify []byte) {
	rooms := se.srv.rooms
	st := rooms.lock(k)
	defer rooms.unlock(st)
	se.leaveSFU(k)
	if se.srv.bus.Leave(k, se.peer, notify) {
		rooms.left(st, se.peer)
	}
}

// encodeWelcome builds the welcome: tok is the session's new resume token
// ("" with resume off); resumed and lastSeq say whether this connection
// resumed the session and the last seq queued on it before; refused, why a
// resume the hello asked for was refused; ice, the ICE servers' fields
// (appendICEServers).
func (se *Session) encodeWelcome(tok string, resumed bool, lastSeq uint64, refused *resumeRefusal, ice []byte) []byte {
	cfg := &se.srv.cfg
	b := appendHead(make([]byte, 0, 384), TypeWelcome)
	b = appendField(b, "peer", se.peer)
	b = appendField(b, "session", se.id)
	if tok != "" {
		b = appendField(b, "resume", tok)
		b = append(b, `,"resumeGrace":`...)
		b = appendInt(b, int64((cfg.ResumeGrace+time.Second-1)/time.Second))
	}
	if resumed {
		b = append(b, `,"resumed":true,"lastSeq":`...)
		b = strconv.AppendUint(b, lastSeq, 10)
	} else {
		b = append(b, `,"resumed":false`...)
	}
	if refused != nil {
		b = append(b, `,"resumeError":{"code":`...)
		b = appendString(b, refused.code)
		b = appendField(b, "message", refused.message)
		b = append(b, '}')
	}
	b = appendField(b, "user", se.ident.User)
	if se.ident.Name != "" {
		b = appendField(b, "name", se.ident.Name)
	}
	if !se.ident.Expires.IsZero() {
		b = append(b, `,"expires":`...)
		b = appendInt(b, se.ident.Expires.Unix())
	}
	b = append(b, `,"limits":{"maxFrameBytes":`...)
	b = appendInt(b, int64(cfg.MaxFrameBytes))
	b = append(b, `,"rate":`...)
	b = appendInt(b, int64(cfg.Rate))
	b = append(b, `,"burst":`...)
	b = appendInt(b, int64(cfg.Burst))
	b = append(b, `,"roomsPerSession":`...)
	b = appendInt(b, int64(cfg.Limits.RoomsPerSession))
	b = append(b, `,"peersPerRoom":`...)
	b = appendInt(b, int64(cfg.Limits.PeersPerRoom))
	b = append(b, `},"namespaces":[`...)
	for i, n := range cfg.Namespaces {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, n.Name)
	}
	b = append(b, ']')
	b = append(b, ice...)
	return append(b, '}')
}

// encodeICEServers answers an ice-servers request (id set) or pushes fresh
// servers before the last ones expire (id nil).
func (se *Session) encodeICEServers(id []byte) []byte {
	b := appendHead(make([]byte, 0, 512), TypeICEServers)
	b = se.appendICEServers(b)
	if se.srv.cfg.ICEServers == nil {
		b = append(b, `,"iceServers":[]`...)
	}
	return append(appendID(b, id), '}')
}

// appendICEServers adds "iceServers" and "iceServersExpire" when the server
// hands out ICE servers, and schedules their refresh.
func (se *Session) appendICEServers(b []byte) []byte {
	get := se.srv.cfg.ICEServers
	if get == nil {
		return b
	}
	list, expires := get(se.ident.User, se.host)
	b = append(b, `,"iceServers":`...)
	b = append(b, list...)
	if !expires.IsZero() {
		b = append(b, `,"iceServersExpire":`...)
		b = appendInt(b, expires.Unix())
		now := time.Now()
		se.iceRefresh.Store(now.Add(expires.Sub(now) * 3 / 4).UnixNano())
	}
	return b
}
