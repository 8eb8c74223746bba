package signaling

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// This file is a session's identity: the hello and welcome handshake,
// token refresh, and the welcome's contents.

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
