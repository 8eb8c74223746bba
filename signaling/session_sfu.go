package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
)

// A session in an sfu room is a participant of the SFU too (Config.SFU):
// it joins the SFU's room before the signaling room, carries the client's
// "sfu" frames to SFU.Message and the SFU's messages back in "sfu" frames,
// and leaves the SFU when it leaves the room or ends (a detached session
// stays in its rooms, so a resumed one keeps its participant).
//
// The SFU admits the peer first, so that a refusal (a limit) leaves no
// trace in the room: nobody was told of the joiner, and the joiner gets
// only the error. What the SFU sends meanwhile (its first offer) is held
// until the "joined" is queued, so the client always sees "joined" first.

// sfuPart is a session's participant in the SFU side of one room. Its send
// is the send func the SFU got; the SFU may call it from any goroutine.
type sfuPart struct {
	se   *Session
	k    RoomKey
	room string // SFURoomID(k)

	mu    sync.Mutex
	state partState
	held  [][]byte // sfu frames sent before the joined was queued
}

type partState uint8

const (
	partHeld partState = iota // joining: frames wait for the joined
	partOpen                  // frames go to the session
	partGone                  // left: frames are dropped
)

// send queues msg for the client in an sfu frame; it never blocks.
func (p *sfuPart) send(msg []byte) bool {
	if len(msg) == 0 {
		p.se.srv.log.Error("the SFU sent an empty message", "peer", p.se.peer, "room", p.room)
		return true
	}
	frame := encodeSFU(p.k, msg)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case partHeld:
		if len(p.held) >= p.se.srv.cfg.SendQueueFrames {
			return false
		}
		p.held = append(p.held, frame)
		return true
	case partGone:
		return false
	}
	// Under mu, so that frames keep the order of the calls. Deliver never
	// blocks, and takes only the session's lock.
	return p.se.Deliver(frame, KindSFU)
}

// open passes on what was held, then lets frames through.
func (p *sfuPart) open() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = partOpen
	for _, f := range p.held {
		p.se.Deliver(f, KindSFU)
	}
	p.held = nil
}

// close drops whatever the SFU sends from now on.
func (p *sfuPart) close() {
	p.mu.Lock()
	p.state = partGone
	p.held = nil
	p.mu.Unlock()
}

// sfuJoin admits the session to the SFU side of room k; its frames are held
// until open.
func (se *Session) sfuJoin(k RoomKey) (*sfuPart, error) {
	p := &sfuPart{se: se, k: k, room: SFURoomID(k)}
	if err := se.srv.cfg.SFU.Join(p.room, se.peer, p.send); err != nil {
		p.close()
		return nil, sfuError(err, "")
	}
	return p, nil
}

// sfuLeave ends p: its frames stop, and the SFU lets the peer go.
func (se *Session) sfuLeave(p *sfuPart) {
	p.close()
	se.srv.cfg.SFU.Leave(p.room, se.peer)
}

// sfuPartOf returns the session's participant in room k (nil: k is not an
// sfu room of the session's). Reader-owned, as the room list.
func (se *Session) sfuPartOf(k RoomKey) (*sfuPart, int) {
	for i, p := range se.sfu {
		if p.k == k {
			return p, i
		}
	}
	return nil, -1
}

// leaveSFU leaves the SFU side of room k, if the session is in it.
func (se *Session) leaveSFU(k RoomKey) {
	p, i := se.sfuPartOf(k)
	if p == nil {
		return
	}
	se.sfu = append(se.sfu[:i], se.sfu[i+1:]...)
	se.sfuLeave(p)
}

// leaveAllSFU leaves the SFU side of every room (the session ends).
func (se *Session) leaveAllSFU() {
	for _, p := range se.sfu {
		se.sfuLeave(p)
	}
	se.sfu = nil
}

// sfuMessage hands the data of the client's sfu frame for room k to the SFU.
func (se *Session) sfuMessage(k RoomKey, data []byte) error {
	if se.inRoom(k) < 0 {
		return errorf(CodeNotFound, "not in room %q", k.Room)
	}
	p, _ := se.sfuPartOf(k)
	if p == nil {
		return errorf(CodeBadRequest, "room %q: not an SFU participant (a mesh room, or an auto room without sfu-join)", k.Room)
	}
	// A copy: data lives in the read buffer, which the next frame reuses,
	// and the SFU may keep what it is given.
	if err := se.srv.cfg.SFU.Message(p.room, se.peer, bytes.Clone(data)); err != nil {
		return sfuError(err, CodeBadRequest)
	}
	return nil
}

// sfuError turns an error of the SFU into the frame's error: a *Error
// (or one wrapping a sentinel such as ErrLimitExceeded) keeps its code;
// any other error gets the code fallback with its text, or, with no
// fallback, is an internal error (logged by replyError).
func sfuError(err error, fallback Code) error {
	var pe *Error
	if errors.As(err, &pe) {
		if pe.Message != "" {
			return pe
		}
		return &Error{Code: pe.Code, Message: strings.TrimPrefix(err.Error(), string(pe.Code)+": ")}
	}
	if fallback == "" {
		return err
	}
	return &Error{Code: fallback, Message: err.Error()}
}

// sfuJoinAuto makes the session an SFU participant of auto room k, which is
// on the SFU now (an sfu-join). The ack goes out before anything the SFU
// sends.
func (se *Session) sfuJoinAuto(k RoomKey, id []byte) error {
	st, err := se.lockAuto(k)
	if err != nil {
		return err
	}
	defer se.srv.rooms.unlock(st)
	if st.mode != ModeSFU {
		return errorf(CodeBadRequest, "auto room %q is a mesh now (switch %d)", k.Room, st.switchID)
	}
	if p, _ := se.sfuPartOf(k); p != nil {
		se.ack(id)
		return nil
	}
	p, err := se.sfuJoin(k)
	if err != nil {
		return err
	}
	se.sfu = append(se.sfu, p)
	se.ack(id)
	p.open()
	return nil
}

// sfuLeaveAuto ends the session's SFU participation in auto room k (an
// sfu-leave).
func (se *Session) sfuLeaveAuto(k RoomKey) error {
	st, err := se.lockAuto(k)
	if err != nil {
		return err
	}
	defer se.srv.rooms.unlock(st)
	se.leaveSFU(k)
	return nil
}

// lockAuto returns the state of auto room k, which the session is in,
// locked: the caller unlocks it.
func (se *Session) lockAuto(k RoomKey) (*roomState, error) {
	if se.inRoom(k) < 0 {
		return nil, errorf(CodeNotFound, "not in room %q", k.Room)
	}
	st := se.srv.rooms.lock(k)
	if !st.auto {
		se.srv.rooms.unlock(st)
		return nil, errorf(CodeBadRequest, "room %q is not an auto room: its mode does not switch", k.Room)
	}
	return st, nil
}

// modeAck records that the client finished switch f.Switch of auto room k,
// and tells the other members.
func (se *Session) modeAck(k RoomKey, f *Frame) error {
	var failed []string
	if f.Failed != nil {
		if err := json.Unmarshal(f.Failed, &failed); err != nil {
			return errorf(CodeBadRequest, `mode-ack "failed" must be an array of peer ids`)
		}
		if len(failed) > MaxFailedPeers {
			return errorf(CodeBadRequest, `mode-ack "failed" lists more than %d peers`, MaxFailedPeers)
		}
		for _, p := range failed {
			if p == "" || len(p) > MaxPeerIDBytes {
				return errorf(CodeBadRequest, `mode-ack "failed" holds a peer id that is empty or longer than %d bytes`, MaxPeerIDBytes)
			}
		}
	}
	st, err := se.lockAuto(k)
	if err != nil {
		return err
	}
	rooms := se.srv.rooms
	defer rooms.unlock(st)
	if f.Switch > st.switchID {
		return errorf(CodeBadRequest, "room %q has had no switch %d (the latest is %d)", k.Room, f.Switch, st.switchID)
	}
	if f.Switch == st.switchID && RoomMode(f.Mode) != st.mode {
		return errorf(CodeBadRequest, "switch %d of room %q is to %s, not %s", f.Switch, k.Room, st.mode, f.Mode)
	}
	if !rooms.acked(st, se.peer, f.Switch, len(failed) > 0) {
		return nil // superseded: nobody needs it
	}
	return se.srv.bus.Broadcast(k, se.peer, encodeModeAck(k, se.peer, f.Switch, st.mode, failed), KindModeAck)
}
