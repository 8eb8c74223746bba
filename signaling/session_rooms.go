package signaling

import (
	"golang.org/x/time/rate"
)

// This file is a session's rooms: namespaces allowed, joins and leaves.

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
