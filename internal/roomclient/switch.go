package roomclient

import (
	"fmt"
	"slices"
	"time"
)

// This file is the per-peer make-before-break switch (docs/protocol.md,
// "Auto rooms"). It is level-triggered: after every batch of work the
// loop looks at each peer and takes whatever step its state allows, so a
// superseding switch, a join or a leave mid-switch needs no special path.

// target is the path the pair with r should use now: the room's mode,
// unless either side gave up moving the pair in this switch.
func (c *Client) target(r *remote) Path {
	if r.failed || (r.ack != nil && r.ack.failsMe) {
		return c.st.mode.other()
	}
	return c.st.mode
}

// publishes reports whether r sends media, as far as any path tells.
func (c *Client) publishes(r *remote) bool {
	if r.mediaOn[PathMesh] || r.mediaOn[PathSFU] || (r.mesh != nil && r.mesh.sends) {
		return true
	}
	return c.st.sfu != nil && c.st.sfu.publishes(r.id)
}

// movedTo reports whether r's data and media are on path p.
func (c *Client) movedTo(r *remote, p Path) bool {
	return r.send == p && (r.media.shownPath() == p || !c.publishes(r))
}

func (c *Client) evaluate() {
	st := c.st
	c.ensureSFU()
	for _, id := range st.order {
		r := st.remotes[id]
		switch c.target(r) {
		case PathSFU:
			c.stepToSFU(r)
		case PathMesh:
			c.stepToMesh(r)
		}
		if !r.moved && r.inSwitch && !st.acked && c.movedTo(r, st.mode) {
			r.moved = true
			c.emit(Event{Kind: EventPeerMoved, Peer: r.id})
		}
	}
	c.maybeAck()
	c.maybeLeaveSFU()
}

// ensureSFU joins the SFU when some pair should use it.
func (c *Client) ensureSFU() {
	st := c.st
	if st.sfu != nil || st.refused == st.switchID || !c.wantSFU() {
		return
	}
	s, err := c.newSFULink(true)
	if err != nil {
		c.fail(err)
		return
	}
	st.sfu = s
}

// wantSFU: some pair should use the SFU.
func (c *Client) wantSFU() bool {
	if c.st.mode == PathSFU {
		return true
	}
	for _, r := range c.st.remotes {
		if c.target(r) == PathSFU || r.send == PathSFU {
			return true
		}
	}
	return false
}

// stepToSFU: once r's media comes through the SFU (or it publishes
// nothing) and the SFU's data channel is open, r's data moves there and
// its SFU media is shown; the mesh link closes once r has acked the
// switch without naming this client and the link has nothing left to
// carry (see drained).
func (c *Client) stepToSFU(r *remote) {
	s := c.st.sfu
	if s == nil {
		return
	}
	media := r.mediaOn[PathSFU] || !c.publishes(r)
	if r.send != PathSFU && s.open && media {
		c.moveData(r, PathSFU)
	}
	if r.mediaOn[PathSFU] {
		r.media.show(PathSFU)
	}
	if r.mesh != nil && c.st.mode == PathSFU && c.movedTo(r, PathSFU) &&
		r.ack != nil && r.ack.mode == PathSFU && !r.ack.failsMe &&
		drained(r, PathMesh, r.mesh.buffered(), r.ackAt) {
		c.log.Debug("closing the mesh link", "peer", r.id, "switch", c.st.switchID)
		c.closeMesh(r)
	}
}

// stepToMesh: a mesh link to r; once it carries r's media (or r
// publishes nothing) and its data channel is open, r's data moves there
// and its mesh media is shown.
func (c *Client) stepToMesh(r *remote) {
	if r.mesh == nil {
		if c.id < r.id {
			return // polite: the other side opens the link (meshSignal makes ours)
		}
		l, err := c.newMeshLink(r)
		if err != nil {
			c.fail(err)
			return
		}
		c.setMesh(r, l)
	}
	media := r.mediaOn[PathMesh] || !c.publishes(r)
	if r.send != PathMesh && r.mesh.open && media {
		c.moveData(r, PathMesh)
	}
	if r.mediaOn[PathMesh] {
		r.media.show(PathMesh)
	}
}

// maybeAck sends the mode-ack once every peer that was there when the
// switch began has moved, or at the deadline with the rest as failed.
func (c *Client) maybeAck() {
	st := c.st
	if st.acked {
		return
	}
	var failed []string
	for _, id := range st.order {
		r := st.remotes[id]
		if r.inSwitch && !c.movedTo(r, st.mode) {
			failed = append(failed, id)
		}
	}
	late := time.Since(st.switchAt) >= c.cfg.AckDeadline
	if len(failed) > 0 && !late {
		return
	}
	st.acked, st.failed = true, failed
	for _, id := range failed {
		st.remotes[id].failed = true
	}
	c.log.Debug("mode-ack", "switch", st.switchID, "mode", st.mode, "failed", failed)
	msg := map[string]any{"type": "mode-ack", "room": c.cfg.Room, "switch": st.switchID, "mode": st.mode.String()}
	if len(failed) > 0 {
		msg["failed"] = failed
	}
	if err := c.write(msg); err != nil {
		c.fail(err)
	}
	c.emit(Event{Kind: EventAcked, Failed: slices.Clone(failed)})
	if !st.allMoved {
		st.allMoved = true
		c.emit(Event{Kind: EventMoved, Failed: slices.Clone(failed)})
	}
}

// maybeLeaveSFU: back on the mesh with every peer, and every peer that
// was there has acked the switch without naming this client: sfu-leave.
func (c *Client) maybeLeaveSFU() {
	st := c.st
	if st.sfu == nil || st.mode != PathMesh || !st.acked || len(st.failed) > 0 {
		return
	}
	for _, r := range st.remotes {
		if c.target(r) != PathMesh || r.send != PathMesh {
			return
		}
		if r.inSwitch && (r.ack == nil || r.ack.mode != PathMesh || r.ack.failsMe) {
			return
		}
	}
	if st.leaveAt.IsZero() {
		st.leaveAt = time.Now()
	}
	for _, r := range st.remotes {
		if !drained(r, PathSFU, st.sfu.cl.Buffered(), st.leaveAt) {
			return
		}
	}
	c.log.Debug("sfu-leave", "switch", st.switchID)
	st.joins++
	id := fmt.Sprintf("sfu-leave-%d", st.joins)
	if err := c.write(map[string]any{"type": "sfu-leave", "room": c.cfg.Room, "id": id}); err != nil {
		c.fail(err)
		return
	}
	// The peer connections close once the server has taken the sfu-leave:
	// closed first, the SFU saw them die while it still counted this
	// client in and renegotiated with a dead connection.
	st.leaving[id] = st.sfu
	c.closeSFU(false)
	c.emit(Event{Kind: EventSFULeft})
}

// sfuLeft: the server took an sfu-leave; its link's connections close.
func (c *Client) sfuLeft(id string) {
	if s := c.st.leaving[id]; s != nil {
		delete(c.st.leaving, id)
		s.close()
	}
}

// drained reports whether the old path p with r has nothing left to
// carry: r's FENCE on it has come (its mode-ack travels on signaling and
// can overtake its last messages on p) and what this client sent on it
// is acknowledged. After fenceWait from since it is drained regardless.
func drained(r *remote, p Path, buffered uint64, since time.Time) bool {
	if time.Since(since) > fenceWait {
		return true
	}
	return r.rx.cur != p && buffered == 0
}

// closeSFU stops using the SFU link (and closes it unless keep: an
// sfu-leave's ack does).
func (c *Client) closeSFU(close bool) {
	st := c.st
	if close {
		st.sfu.close()
	}
	st.sfu.stopped = true
	st.sfu = nil
	for _, r := range st.remotes {
		r.mediaOn[PathSFU] = false
		st.out = r.rx.closed(PathSFU, st.out)
	}
}

func (c *Client) setMesh(r *remote, l *meshLink) {
	r.mesh = l
	r.mediaOn[PathMesh] = false
}

func (c *Client) closeMesh(r *remote) {
	l := r.mesh
	if l == nil {
		return
	}
	l.close()
	r.mesh = nil
	r.mediaOn[PathMesh] = false
	c.st.out = r.rx.closed(PathMesh, c.st.out)
}

// meshFailed: a link's connection failed or closed. What it delivered
// may still be on its way to the loop, so the path is not over for the
// receiver until the reliable channel says so (meshChannelClosed).
func (c *Client) meshFailed(l *meshLink) {
	if r := l.r; r.mesh == l && c.st.remotes[r.id] == r {
		l.close()
		r.mesh = nil
		r.mediaOn[PathMesh] = false
	}
}

// meshChannelClosed: a link's reliable channel closed after its last
// message: the mesh path with that peer is over, unless a newer link
// carries it.
func (c *Client) meshChannelClosed(l *meshLink) {
	r := l.r
	if c.st.remotes[r.id] != r || (r.mesh != nil && r.mesh != l) {
		return
	}
	if r.mesh == l {
		c.closeMesh(r)
		return
	}
	c.st.out = r.rx.closed(PathMesh, c.st.out)
}
