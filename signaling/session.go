package signaling

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// closeGrace is how long the server waits for a client's close reply.
const closeGrace = 2 * time.Second

// Session is one client connection. Its reader goroutine owns the session's
// room list and handles every client frame in order; everything the client
// receives goes through the outbox (queue), which a writer goroutine drains.
// The writer runs only while there is something to write, so an idle session
// holds no goroutine but its reader.
type Session struct {
	srv    *Server
	conn   *websocket.Conn
	raw    *batchConn // under conn: lets the writer send a batch in one write
	remote string
	host   string // the Host the client asked for, for ICE server URLs (only with Config.ICEServers)

	// Set once by the handshake, read-only afterwards.
	ident *Identity
	peer  string
	id    string

	// Owned by the reader goroutine.
	rooms      []RoomKey
	limiter    *rate.Limiter
	nsLimiters map[string]*rate.Limiter

	closing    atomic.Bool  // a close frame is queued or the connection is ending
	iceRefresh atomic.Int64 // unix nanoseconds after which the pinger pushes fresh ICE servers (0: never)
	expires    atomic.Int64 // unix nanoseconds when the token expires (0: never); the reader sets it, the clock reads it

	mu        sync.Mutex // guards what follows
	queue     []outFrame
	queued    int // bytes in queue
	inflight  int // bytes taken by the writer and not yet written
	seq       uint64
	welcomed  bool // frames after welcome carry seq
	writing   bool // a writer goroutine is running
	closed    bool // nothing more is accepted into the queue
	closeSent bool
	pinger    *time.Timer // the session's one clock: pings, the token's expiry and its warning (see tick)
	nextPing  time.Time
	warned    bool // token-expiring sent for the current token
}

type outFrame struct {
	b    []byte
	kind FrameKind
	seq  uint64 // 0: none
	code int    // close code for kindClose
}

// Deliver implements Mailbox: it queues frame for the client and never blocks.
// A client whose queue is full is disconnected (it cannot keep up, and must
// not slow down anybody else).
func (se *Session) Deliver(frame []byte, kind FrameKind) bool {
	se.mu.Lock()
	if se.closed {
		se.mu.Unlock()
		return false
	}
	cfg := &se.srv.cfg
	if len(se.queue) >= cfg.SendQueueFrames || se.queued+se.inflight+len(frame) > cfg.SendQueueBytes {
		se.closed = true
		se.closing.Store(true)
		// Add under mu: the reader's cleanup takes mu before its wg.Done, so
		// the count cannot reach zero in between.
		se.srv.wg.Add(1)
		queued := len(se.queue)
		se.mu.Unlock()
		se.srv.log.Warn("client too slow, disconnecting", "peer", se.peer, "remote", se.remote, "queued_frames", queued)
		go se.abort(ClosePolicyViolation, "send queue full")
		return false
	}
	f := outFrame{b: frame, kind: kind}
	if se.welcomed && kind < kindPing {
		se.seq++
		f.seq = se.seq
	}
	if kind == KindWelcome {
		se.welcomed = true
	}
	se.queue = append(se.queue, f)
	se.queued += len(frame)
	start := !se.writing
	if start {
		se.writing = true
		se.srv.wg.Add(1) // under mu, as above
	}
	se.mu.Unlock()
	se.srv.m.framesOut[kind].Inc()
	if start {
		go se.writeLoop()
	}
	return true
}

// closeWith queues a close frame after everything already queued; the
// connection ends when the client answers or closeGrace passes.
func (se *Session) closeWith(code int, reason string) {
	se.mu.Lock()
	if se.closed {
		se.mu.Unlock()
		return
	}
	se.closed = true
	se.closing.Store(true)
	se.queue = append(se.queue, outFrame{kind: kindClose, code: code, b: []byte(reason)})
	start := !se.writing
	if start {
		se.writing = true
		se.srv.wg.Add(1) // under mu: see Deliver
	}
	se.mu.Unlock()
	if start {
		go se.writeLoop()
	}
}

// abort sends a close frame out of band (the writer may be stuck) and drops
// the connection.
func (se *Session) abort(code int, reason string) {
	defer se.srv.wg.Done()
	se.srv.m.disconnects.WithLabelValues("slow_consumer").Inc()
	se.sendClose(code, reason)
	se.closeConn()
}

// closeConn sends whatever the writer has collected (a close frame written
// by gorilla or by abort may wait in the batch) and closes the connection.
func (se *Session) closeConn() {
	se.raw.flushPending(time.Now().Add(time.Second))
	se.conn.Close()
}

func (se *Session) sendClose(code int, reason string) {
	se.mu.Lock()
	sent := se.closeSent
	se.closeSent = true
	se.mu.Unlock()
	if !sent {
		se.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
}

func (se *Session) writeLoop() {
	defer se.srv.wg.Done()
	var buf []byte
	timeout := se.srv.cfg.WriteTimeout
	for {
		se.mu.Lock()
		batch := se.queue
		se.queue = nil
		se.inflight = se.queued
		se.queued = 0
		if len(batch) == 0 {
			se.writing = false
			se.mu.Unlock()
			return
		}
		se.mu.Unlock()
		deadline := time.Now().Add(timeout)
		se.conn.SetWriteDeadline(deadline)
		se.raw.begin()
		var err error
		for i := range batch {
			if err = se.writeFrame(&batch[i], &buf); err != nil {
				break
			}
			if se.raw.pending() >= maxBatchBytes {
				if err = se.raw.flush(deadline, true); err != nil {
					break
				}
			}
		}
		if ferr := se.raw.flush(deadline, false); err == nil {
			err = ferr
		}
		se.mu.Lock()
		se.inflight = 0
		se.mu.Unlock()
		if err != nil {
			// The reader sees the closed connection and cleans up.
			se.mu.Lock()
			se.closed = true
			se.queue = nil
			se.writing = false
			se.mu.Unlock()
			se.closing.Store(true)
			se.conn.Close()
			return
		}
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

func (se *Session) writeFrame(f *outFrame, buf *[]byte) error {
	switch f.kind {
	case kindPing:
		return se.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(se.srv.cfg.WriteTimeout))
	case kindClose:
		se.sendClose(f.code, string(f.b))
		se.conn.SetReadDeadline(time.Now().Add(closeGrace))
		return nil
	}
	if f.seq == 0 {
		return se.conn.WriteMessage(websocket.TextMessage, f.b)
	}
	// The frame as queued, with "seq" put in front of its closing brace:
	// written in two pieces into one message, so the shared frame is not copied.
	w, err := se.conn.NextWriter(websocket.TextMessage)
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
// pings, the ICE credentials' refresh, and the token's expiry, so an idle
// session holds no other timer.
func (se *Session) tick() {
	now := time.Now()
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
		if !se.Deliver(nil, kindPing) {
			return
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
	if !se.closed {
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
	if ident.User != se.ident.User {
		return errorf(CodeForbidden, "the new token is for user %q, this session is %q's", ident.User, se.ident.User)
	}
	for _, k := range se.rooms {
		if !ident.Grants.Allows(k.NS, k.Room) {
			return errorf(CodeForbidden, "the new token does not grant room %q%s, which this session is in: leave it first", k.Room, nsSuffix(k.NS))
		}
	}
	// Grants and Expires are read only here, on the reader goroutine; the
	// clock reads the expiry from se.expires.
	se.ident.Grants, se.ident.Expires = ident.Grants, ident.Expires
	se.expires.Store(sessionEnd(ident))
	se.mu.Lock()
	se.warned = false
	if !se.closed && se.pinger != nil {
		se.pinger.Reset(se.nextDelayLocked(time.Now()))
	}
	se.mu.Unlock()
	if f.ID != nil {
		se.Deliver(encodeExpires(TypeAck, ident.Expires, f.ID), KindAck)
	}
	return nil
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

// run is the reader goroutine: handshake, frames, cleanup.
func (se *Session) run() {
	se.conn.SetReadLimit(int64(se.srv.cfg.MaxFrameBytes))
	if err := se.handshake(); err != nil {
		se.cleanup(se.handshakeFailed(err))
		se.srv.wg.Done()
		return
	}
	// Verifying the token grew this goroutine's stack to 8 KiB, and the
	// runtime shrinks a parked goroutine's stack only by halves: a fresh
	// goroutine reads the session's frames instead, so an idle session keeps
	// a small stack. The WaitGroup count passes to it.
	go se.serve()
}

// serve reads frames until the connection ends, then cleans up.
func (se *Session) serve() {
	defer se.srv.wg.Done()
	se.cleanup(se.readLoop())
}

// handshake reads the hello frame and answers welcome, or returns why not.
func (se *Session) handshake() error {
	srv := se.srv
	se.conn.SetReadDeadline(time.Now().Add(srv.cfg.HelloTimeout))
	mt, b, err := se.conn.ReadMessage()
	if err != nil {
		return err
	}
	if mt != websocket.TextMessage {
		srv.m.frameIn("invalid")
		return errorf(CodeUnauthorized, "the first frame must be a hello text frame")
	}
	f, derr := DecodeFrame(b)
	if derr != nil {
		srv.m.frameIn("invalid")
		return errorf(CodeUnauthorized, "the first frame must be hello: %s", derr.(*Error).Message)
	}
	srv.m.frameIn(f.Type)
	if f.Type != TypeHello {
		return errorf(CodeUnauthorized, "the first frame must be hello, got %q", f.Type)
	}
	ident, err := srv.cfg.Verifier.Verify(f.Token)
	if err != nil {
		return err
	}
	if !srv.admit(ident.User) {
		return errorf(CodeLimitExceeded, "user %q has %d sessions already", ident.User, srv.cfg.MaxSessionsPerUser)
	}
	se.ident = ident
	se.expires.Store(sessionEnd(ident))
	se.peer = randomID()
	se.id = randomID()
	se.limiter = rate.NewLimiter(rate.Limit(srv.cfg.Rate), srv.cfg.Burst)
	se.Deliver(se.encodeWelcome(), KindWelcome)
	se.startPinger()
	srv.log.Debug("session started", "peer", se.peer, "user", ident.User, "remote", se.remote)
	return nil
}

// handshakeFailed tells the client why and returns the disconnect reason.
func (se *Session) handshakeFailed(err error) string {
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
		se.drain()
		return string(pe.Code)
	case errors.As(err, &ne) && ne.Timeout():
		se.sendClose(CloseHelloTimeout, "no hello in time")
		return "hello_timeout"
	case errors.Is(err, websocket.ErrReadLimit):
		return "frame_too_big" // gorilla has sent close 1009
	}
	return "closed_before_hello"
}

// drain reads and discards until the client closes or closeGrace passes.
func (se *Session) drain() {
	se.conn.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := se.conn.NextReader(); err != nil {
			return
		}
	}
}

// readLoop is where an idle session waits, so it is kept small: the stack
// a blocked reader needs decides whether the runtime can shrink an idle
// session's stack to 4 KiB or only to 8 KiB.
func (se *Session) readLoop() string {
	se.conn.SetPongHandler(se.onPong)
	se.alive()
	for {
		mt, r, err := se.conn.NextReader()
		if err != nil {
			return readErrReason(err)
		}
		if err := se.onFrame(mt, r); err != nil {
			return readErrReason(err)
		}
	}
}

func (se *Session) onPong(string) error { se.alive(); return nil }

// alive extends the read deadline: a connection silent for PongTimeout is dropped.
func (se *Session) alive() {
	if se.closing.Load() {
		return
	}
	se.conn.SetReadDeadline(time.Now().Add(se.srv.cfg.PongTimeout))
	if se.closing.Load() { // closeWith ran meanwhile: keep its short deadline
		se.conn.SetReadDeadline(time.Now().Add(closeGrace))
	}
}

// onFrame reads one client frame and handles it.
//
//go:noinline
func (se *Session) onFrame(mt int, r io.Reader) error {
	srv := se.srv
	buf := srv.getBuf()
	defer srv.putBuf(buf)
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	se.alive()
	switch {
	case se.closing.Load():
		// closing: only the client's close reply matters now
	case mt != websocket.TextMessage:
		srv.m.frameIn("invalid")
		se.replyError(errorf(CodeBadRequest, "binary frames are not supported"), nil)
	default:
		se.handle(buf.Bytes())
	}
	return nil
}

func readErrReason(err error) string {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "client_closed"
	case errors.Is(err, websocket.ErrReadLimit):
		return "frame_too_big"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "connection_lost"
}

func (se *Session) cleanup(reason string) {
	se.mu.Lock()
	se.closed = true
	se.closing.Store(true)
	if se.pinger != nil {
		se.pinger.Stop()
	}
	se.mu.Unlock()
	for _, k := range se.rooms {
		se.srv.bus.Leave(k, se.peer, encodePeerLeft(k, se.peer))
	}
	se.rooms = nil
	se.closeConn()
	se.srv.release(se)
	if se.ident != nil {
		se.srv.m.disconnects.WithLabelValues(reason).Inc()
		se.srv.log.Debug("session ended", "peer", se.peer, "user", se.ident.User, "reason", reason)
	}
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
	limited := !se.limiter.Allow()
	f, err := DecodeFrame(b)
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
	}
	if err == nil && f.ID != nil {
		se.Deliver(encodeReply(TypeAck, f.ID), KindAck)
	}
	return err
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
	if se.inRoom(k) >= 0 { // joining again answers with the room as it is
		others := se.srv.bus.Members(k)
		for i, m := range others {
			if m.Peer == se.peer {
				others = append(others[:i], others[i+1:]...)
				break
			}
		}
		se.Deliver(encodeJoined(k, others, id), KindJoined)
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
	m := se.member()
	err := se.srv.bus.Join(k, m, se, ns.Limits.PeersPerRoom,
		func(peers []Member) []byte { return encodeJoined(k, peers, id) },
		encodePeerJoined(k, m))
	if err != nil {
		return err
	}
	se.rooms = append(se.rooms, k)
	return nil
}

func (se *Session) leave(k RoomKey) error {
	i := se.inRoom(k)
	if i < 0 {
		return errorf(CodeNotFound, "not in room %q", k.Room)
	}
	se.rooms = append(se.rooms[:i], se.rooms[i+1:]...)
	se.srv.bus.Leave(k, se.peer, encodePeerLeft(k, se.peer))
	return nil
}

func (se *Session) encodeWelcome() []byte {
	cfg := &se.srv.cfg
	b := appendHead(make([]byte, 0, 384), TypeWelcome)
	b = appendField(b, "peer", se.peer)
	b = appendField(b, "session", se.id)
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
	b = se.appendICEServers(b)
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
