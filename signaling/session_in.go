package signaling

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// This file is a session's way in: the reader loop, frame decoding and
// dispatch, acks and error replies.

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

// confirmAllowed counts a confirm frame against its own cap. Reader-owned.
func (se *Session) confirmAllowed() bool {
	now := time.Now().UnixNano()
	if now-se.confirmsFrom >= int64(time.Second) {
		se.confirmsFrom, se.confirms = now, 0
	}
	se.confirms++
	return se.confirms <= maxConfirmsPerSecond
}
