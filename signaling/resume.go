package signaling

import (
	"time"
)

// Session resume (docs/protocol.md, Session resume).
//
// A session keeps every frame it numbered (seq) until the client confirms
// it. The confirmation is the pong to a WebSocket ping whose payload is the
// last seq queued before the ping: RFC 6455 clients echo it, so nothing is
// asked of the client and an idle session keeps nothing after one ping.
//
// When a connection drops without a normal close, its reader detaches the
// session instead of ending it: the session stays in its rooms and the Bus
// keeps delivering to it (it is the Mailbox, not the connection), so its
// frames are numbered and kept as usual. A hello with the session's resume
// token takes it over on the new connection: the welcome, then every kept
// frame after the client's lastSeq, then whatever comes next. Nothing
// outside the session changes, so the rooms never notice.

const (
	// A session pings early, so that its pong confirms what it has sent,
	// once this many frames or bytes wait for confirmation (or a quarter of
	// its buffer, if that is less).
	earlyPingFrames = 64
	earlyPingBytes  = 64 << 10
)

// Results of a hello that asks to resume: resumeOK, or the code of the
// welcome's resumeError. They label switchboard_signaling_resumes_total.
const (
	resumeOK         = "resumed"
	refusedUnknown   = "session_unknown"
	refusedOverflow  = "session_overflow"
	refusedSeq       = "seq_out_of_range"
	refusedForbidden = "forbidden"
)

// resumeRefusal says why a hello's resume was refused (the welcome's resumeError).
type resumeRefusal struct{ code, message string }

var refusedUnknownErr = &resumeRefusal{refusedUnknown,
	"no session to resume with this token for this user: the grace period is over, the token was used already, or the server restarted; join your rooms again"}

var refusedOverflowErr = &resumeRefusal{refusedOverflow,
	"the session ended while away: more frames waited for it than its buffer holds (--send-queue); join your rooms again"}

// tombstone remembers, until the grace period would have ended, that a
// detached session ended because its buffer overflowed, so that the resume
// can say so.
type tombstone struct {
	user  string
	until time.Time
}

// confirmWithin is how old a confirmation must be before the frames it
// confirms are dropped (see confirm).
const confirmWithin = time.Second

// confirm takes a pong's seq n: the client's WebSocket has every frame up
// to n. Its app may not have read them yet (a browser drops what it has not
// dispatched when the page closes the socket, say on its own ping
// timeout), so frames go only once a confirmation is confirmWithin old: a
// client whose app lags its socket by less than that still resumes.
func (se *Session) confirm(n uint64) {
	now := time.Now().UnixNano()
	se.mu.Lock()
	se.pingOut = false
	switch {
	case se.appAcks:
		// the client's confirm frames say what its app has
	case n > se.seq:
		// not a seq of ours
	default:
		se.ponged = max(se.ponged, n)
		switch {
		case se.confirmAt == 0:
			se.confirmed, se.confirmAt = n, now
		case now-se.confirmAt >= int64(confirmWithin):
			se.trimLocked(se.confirmed)
			se.confirmed, se.confirmAt = n, now
		}
	}
	se.mu.Unlock()
}

func (se *Session) trimLocked(n uint64) {
	i := 0
	for i < len(se.kept) && se.kept[i].seq <= n {
		se.keptBytes -= len(se.kept[i].b)
		i++
	}
	if i > 0 {
		se.replayed, se.replayedBytes = 0, 0
	}
	switch {
	case i == 0:
	case i == len(se.kept):
		se.kept = nil // an idle session keeps no array
		se.keptBytes = 0
	default:
		clear(se.kept[:i]) // let go of the frames
		se.kept = se.kept[i:]
	}
}

// clientConfirm takes a confirm frame: the client's app has processed every
// frame up to n, so they go at once. From the first one on, the session
// trusts only these, not pongs, which prove less.
func (se *Session) clientConfirm(n uint64) {
	se.mu.Lock()
	if n > 0 && n <= se.seq { // anything else is not about our frames
		se.appAcks = true
		se.trimLocked(n)
	}
	se.mu.Unlock()
}

// confirmedLocked is the highest seq the client has confirmed: the frames
// kept are the ones after it.
func (se *Session) confirmedLocked() uint64 {
	if len(se.kept) > 0 {
		return se.kept[0].seq - 1
	}
	return se.seq
}

// linkEnded runs when the reader of se's link l is through: the session
// ends with it (final, or the server closed it, or resume is off), or waits
// for its client to resume, or is being resumed on another connection.
func (s *Server) linkEnded(se *Session, l *link, reason string, final bool) {
	l.closing.Store(true)
	l.closeConn()
	s.mu.Lock()
	se.mu.Lock()
	if se.link == l {
		se.link = nil
		se.queue = nil
		se.queued = 0
		se.inflight = 0
	}
	switch {
	case se.taken:
		// A hello is resuming the session and waits for this link to end.
		done := l.done
		se.mu.Unlock()
		s.mu.Unlock()
		close(done)
		return
	case se.link != nil:
		// The session is on another link already: this one has nothing
		// more to say about it.
		se.mu.Unlock()
		s.mu.Unlock()
		return
	case !final && !se.closed && s.resumeOn && !s.draining:
		se.away = true
		se.graceEnd = time.Now().Add(s.cfg.ResumeGrace)
		se.pinger.Reset(s.cfg.ResumeGrace)
		s.m.detached.Inc()
		se.mu.Unlock()
		s.mu.Unlock()
		s.log.Debug("session detached, waiting for the client to resume", "peer", se.peer, "user", se.ident.User, "remote", l.remote, "reason", reason)
		return
	}
	se.closed = true
	se.mu.Unlock()
	s.mu.Unlock()
	se.end(reason)
}

// endDetached ends se if it is detached and no resume is taking it over,
// and reports whether it did. A session whose grace period ran out
// (grace_expired) ends only if that is still so; tomb leaves a tombstone
// for its resume token.
func (s *Server) endDetached(se *Session, reason string, tomb bool) bool {
	s.mu.Lock()
	se.mu.Lock()
	if !se.away || se.taken || reason == "grace_expired" && time.Now().Before(se.graceEnd) {
		se.mu.Unlock()
		s.mu.Unlock()
		return false
	}
	se.away = false
	s.m.detached.Dec()
	se.closed = true
	until := se.graceEnd
	se.mu.Unlock()
	if tomb {
		for _, tok := range [2]string{se.resumeTok, se.heldTok} {
			if tok != "" {
				s.bury(tok, se.ident.User, until)
			}
		}
	}
	s.mu.Unlock()
	se.end(reason)
	return true
}

// expire ends a detached session whose grace period is over.
func (s *Server) expire(se *Session) { s.endDetached(se, "grace_expired", false) }

// overflowed ends a detached session whose buffer overflowed (Deliver
// starts it, holding a WaitGroup count for it).
func (se *Session) overflowed() {
	defer se.srv.wg.Done()
	se.srv.endDetached(se, "resume_overflow", true)
}

// bury records a tombstone for tok and forgets expired ones. Under s.mu.
func (s *Server) bury(tok, user string, until time.Time) {
	now := time.Now() // overflows are rare: sweeping on each is cheap
	for k, t := range s.tombs {
		if now.After(t.until) {
			delete(s.tombs, k)
		}
	}
	if len(s.tombs) < s.cfg.MaxSessions {
		s.tombs[tok] = tombstone{user, until}
	}
}

// resume takes over the session that tok resumes, on link l of the new
// connection tmp: the old connection, if still open, is closed; then the
// session is attached to l with a welcome and the frames after lastSeq
// queued. It returns the session, or why it could not be resumed (then any
// session the token named has ended, and the hello starts a fresh one).
func (s *Server) resume(tmp *Session, l *link, ident *Identity, tok string, lastSeq uint64) (*Session, *resumeRefusal) {
	se, refused := s.take(tok, ident.User)
	if refused != nil {
		s.m.resumes[refused.code].Inc()
		return nil, refused
	}
	// No reader runs for se now, and its clock stands still.
	se.mu.Lock()
	switch {
	case se.closed && se.overflow: // while the old link was ending
		refused = refusedOverflowErr
	case se.closed: // the server closed the old link (its token expired, or it is shutting down)
		refused = refusedUnknownErr
	case lastSeq > se.seq || lastSeq < se.confirmedLocked():
		refused = &resumeRefusal{refusedSeq, "lastSeq is outside the frames this session sent and kept"}
	}
	se.mu.Unlock()
	if refused == nil {
		if err := se.sameUser(ident); err != nil {
			refused = &resumeRefusal{refusedForbidden, err.(*Error).Message}
		}
	}
	if refused == nil {
		se.adopt(ident)
		if resumeChecked != nil {
			resumeChecked(se)
		}
		refused = s.attach(tmp, se, l, lastSeq)
	}
	if refused != nil {
		se.mu.Lock()
		se.taken = false
		se.closed = true
		se.mu.Unlock()
		s.m.resumes[refused.code].Inc()
		se.end("resume_refused")
		return nil, refused
	}
	s.m.resumes[resumeOK].Inc()
	s.log.Debug("session resumed", "peer", se.peer, "user", se.ident.User, "remote", l.remote, "last_seq", lastSeq)
	return se, nil
}

// forgetTokens makes every token of se stop working. Under s.mu.
func (s *Server) forgetTokens(se *Session) {
	for _, tok := range [2]string{se.resumeTok, se.heldTok} {
		if tok != "" && s.resumes[tok] == se {
			delete(s.resumes, tok)
		}
	}
	se.resumeTok, se.heldTok = "", ""
}

// heard notes that the client sent a frame on l. On a resumed link, that
// shows its app read the welcome and holds the new token: the token it
// resumed with stops working. Until then it works on, so that a welcome
// lost to another cut does not cost the session. (A pong would not do: it
// proves only that the socket has the welcome.)
func (se *Session) heard(l *link) {
	if l.heard {
		return
	}
	l.heard = true
	s := se.srv
	s.mu.Lock()
	se.mu.Lock()
	current := se.link == l && !se.taken // not a frame late on a link being replaced
	se.mu.Unlock()
	if tok := se.heldTok; current && tok != "" && s.resumes[tok] == se {
		delete(s.resumes, tok)
		se.heldTok = ""
	}
	s.mu.Unlock()
}

// resumeChecked, set by tests only, runs in resume between its checks and
// attach, where the session is unlocked and its buffer may still overflow.
var resumeChecked func(*Session)

// take finds the session tok resumes, for user, and marks it taken; if its
// old connection is still open, it closes it and waits for its reader.
func (s *Server) take(tok, user string) (*Session, *resumeRefusal) {
	s.mu.Lock()
	if t, ok := s.tombs[tok]; ok && t.user == user {
		delete(s.tombs, tok)
		s.mu.Unlock()
		if time.Now().After(t.until) {
			return nil, refusedUnknownErr
		}
		return nil, refusedOverflowErr
	}
	se := s.resumes[tok]
	if se == nil || se.ident.User != user || s.draining {
		s.mu.Unlock()
		return nil, refusedUnknownErr
	}
	se.mu.Lock()
	if se.taken {
		// Another hello is resuming it right now (a client that sent two):
		// one of them wins, the other starts afresh.
		se.mu.Unlock()
		s.mu.Unlock()
		return nil, refusedUnknownErr
	}
	if se.ended || se.closed {
		overflow := se.overflow
		se.mu.Unlock()
		s.mu.Unlock()
		if overflow { // ending, its tombstone not yet laid
			return nil, refusedOverflowErr
		}
		return nil, refusedUnknownErr
	}
	// The token used is the one the client surely holds; any newer one
	// went out in a welcome the client never read.
	s.forgetTokens(se)
	se.heldTok = tok
	s.resumes[tok] = se
	se.taken = true
	old := se.link
	if se.away {
		se.away = false
		s.m.detached.Dec()
	}
	var done chan struct{}
	if old != nil {
		done = make(chan struct{})
		old.done = done
	}
	se.mu.Unlock()
	s.mu.Unlock()
	if old == nil {
		return se, nil
	}
	// The client noticed the loss before the server did: the old
	// connection goes now.
	se.sendClose(old, CloseReplaced, "session resumed on another connection")
	old.closing.Store(true)
	old.conn.Close()
	<-done
	return se, nil
}

// attach puts se, taken by a resume, on the new connection's link l (tmp
// is the session the connection started with, now dropped): a new resume
// token, the welcome, the kept frames after lastSeq, then the clock.
func (s *Server) attach(tmp, se *Session, l *link, lastSeq uint64) *resumeRefusal {
	tok := randomID()
	// The ICE servers come from the operator's callback: not under a lock
	// that Deliver, and so every sender to this session, waits for.
	ice := se.appendICEServers(nil)
	s.mu.Lock()
	se.mu.Lock()
	switch {
	case s.draining:
		se.mu.Unlock()
		s.mu.Unlock()
		return refusedUnknownErr
	case se.closed: // its buffer overflowed while this hello was checked
		se.mu.Unlock()
		s.mu.Unlock()
		return refusedOverflowErr
	}
	delete(s.conns, tmp)
	s.conns[se] = struct{}{}
	s.resumes[tok] = se
	se.resumeTok = tok
	s.mu.Unlock()
	l.heard = false // until then, heldTok resumes too (see heard)

	now := time.Now()
	se.taken = false
	se.trimLocked(lastSeq)
	welcome := se.encodeWelcome(tok, true, se.seq, nil, ice)
	q := make([]outFrame, 0, 2+len(se.kept))
	q = append(q, outFrame{b: welcome, kind: KindWelcome})
	q = append(q, se.kept...)
	// A ping right behind the replay, whose pong confirms it.
	q = append(q, outFrame{kind: kindPing, seq: se.seq})
	se.pingOut = true
	// Pongs on the old link say nothing about what this one got, and the
	// replay is in flight: it does not count against the buffer until the
	// client has confirmed something.
	se.confirmed, se.confirmAt, se.ponged = 0, 0, 0
	se.replayed, se.replayedBytes = len(se.kept), se.keptBytes
	se.link = l
	se.queue = q
	se.queued = len(welcome) + se.keptBytes
	l.writing = true
	s.wg.Add(1) // under mu: see Deliver
	se.nextPing = now.Add(se.pingDelay())
	se.pinger.Reset(se.nextDelayLocked(now))
	se.mu.Unlock()
	s.m.framesOut[KindWelcome].Inc()
	go se.writeLoop(l)
	return nil
}
