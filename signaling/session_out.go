package signaling

import (
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// This file is a session's way out: the queue of frames for its client,
// what is kept for a resume, and the writer goroutine that drains them.

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
