package roomclient

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// handleJoined takes the room as the join found it.
func (c *Client) handleJoined(f frame) {
	st := c.st
	st.auto, st.mode, st.switchID = f.Auto, parsePath(f.Mode), f.Switch
	if st.mode == PathNone {
		st.mode = PathMesh
	}
	st.acked = true // a joiner has no switch to finish
	st.allMoved = true
	for _, p := range f.Peers {
		c.addRemote(p.Peer, p.User)
	}
	if st.mode == PathSFU {
		s, err := c.newSFULink(false) // the SFU's offer follows the joined
		if err != nil {
			c.fail(err)
			return
		}
		st.sfu = s
	}
}

// handleFrame takes one frame after the joined.
func (c *Client) handleFrame(f frame) {
	if f.Room != "" && f.Room != c.cfg.Room {
		return
	}
	st := c.st
	if f.Type != "signal" && f.Type != "sfu" {
		c.log.Debug("frame", "type", f.Type, "peer", f.Peer, "from", f.From, "mode", f.Mode, "switch", f.Switch, "failed", f.Failed, "code", f.Code, "id", string(f.ID))
	}
	switch f.Type {
	case "peer-joined":
		c.addRemote(f.Peer, f.User)
	case "peer-left":
		c.removeRemote(f.Peer)
	case "signal":
		c.meshSignal(f.From, f.Data)
	case "sfu":
		if st.sfu != nil {
			st.sfu.handle(f.Data)
		}
	case "mode":
		c.startSwitch(f.Switch, parsePath(f.Mode))
	case "mode-ack":
		c.peerAcked(f.From, f.Switch, parsePath(f.Mode), slices.Contains(f.Failed, c.id))
	case "ack":
		if s := st.sfu; s != nil && s.joinID != "" && string(f.ID) == `"`+s.joinID+`"` {
			s.accepting = true
		}
		c.sfuLeft(strings.Trim(string(f.ID), `"`))
	case "error":
		if s := st.sfu; s != nil && s.joinID != "" && string(f.ID) == `"`+s.joinID+`"` {
			// The SFU refused us: stay where we are; the switch's
			// deadline reports every peer failed.
			s.close()
			st.sfu = nil
			st.refused = st.switchID
		}
		c.fail(fmt.Errorf("%w: error %s: %s (id %s)", ErrSignaling, f.Code, f.Message, f.ID))
	}
}

// addRemote takes a peer into the room: its data and media start on the
// room's mode, and it owes no ack for a switch that began before it came.
func (c *Client) addRemote(id, user string) {
	st := c.st
	if id == c.id || st.remotes[id] != nil {
		return
	}
	r := &remote{id: id, user: user, send: st.mode, rx: newReceiver(st.mode), media: c.mediaFor(id, st.mode)}
	r.media.show(st.mode)
	st.remotes[id] = r
	st.order = append(st.order, id)
	c.pub.mu.Lock()
	delete(c.pub.left, id)
	c.pub.mu.Unlock()
}

// mediaFor returns peer's media counters (made at the first call).
func (c *Client) mediaFor(peer string, shown Path) *peerMedia {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	m := c.pub.media[peer]
	if m == nil {
		m = newPeerMedia(shown)
		c.pub.media[peer] = m
	}
	return m
}

func (c *Client) removeRemote(id string) {
	st := c.st
	r := st.remotes[id]
	if r == nil {
		return
	}
	if r.mesh != nil {
		r.mesh.close()
	}
	delete(st.remotes, id)
	st.order = slices.DeleteFunc(st.order, func(s string) bool { return s == id })
	c.pub.mu.Lock()
	c.pub.left[id] = true
	c.pub.mu.Unlock()
}

// startSwitch takes a mode frame: a new switch supersedes the one before.
func (c *Client) startSwitch(id int, mode Path) {
	st := c.st
	if id <= st.switchID || mode == PathNone {
		return
	}
	st.switchID, st.mode, st.switchAt = id, mode, time.Now()
	st.acked, st.failed, st.allMoved, st.leaveAt = false, nil, false, time.Time{}
	early := st.early[id]
	for k := range st.early {
		if k <= id {
			delete(st.early, k)
		}
	}
	for _, r := range st.remotes {
		r.inSwitch, r.ack, r.failed, r.moved = true, nil, false, false
		if a, ok := early[r.id]; ok {
			r.ack, r.ackAt = &a, st.switchAt
		}
	}
	c.emit(Event{Kind: EventMode})
}

// peerAcked takes another peer's mode-ack.
func (c *Client) peerAcked(from string, id int, mode Path, failsMe bool) {
	st := c.st
	a := peerAck{mode: mode, failsMe: failsMe}
	switch {
	case id == st.switchID:
		if r := st.remotes[from]; r != nil {
			r.ack, r.ackAt = &a, time.Now()
		}
	case id > st.switchID: // before our mode frame: keep it for then
		if st.early[id] == nil {
			st.early[id] = map[string]peerAck{}
		}
		st.early[id][from] = a
	}
}
