package roomclient

import (
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

// Send sends payload on the reliable path to peer to, or to every other
// peer ("" = broadcast), numbered for the switch (docs/protocol.md, "Data
// across a switch"). It returns once the client has queued it.
func (c *Client) Send(to string, payload []byte, text bool) error {
	errc := make(chan error, 1)
	c.post(func() { errc <- c.send(to, payload, text) })
	select {
	case err := <-errc:
		return err
	case <-c.done:
		return ErrClosed
	}
}

// send numbers a message and sends it on each receiver's path: a
// broadcast once on the SFU if any receiver is there, and on the mesh
// link of every receiver still on the mesh.
func (c *Client) send(to string, payload []byte, text bool) error {
	st := c.st
	flags := byte(FlagSeq)
	if text {
		flags |= FlagText
	}
	if to != "" {
		r := st.remotes[to]
		if r == nil {
			return fmt.Errorf("%w: no peer %q in the room", ErrNoPath, to)
		}
		st.seq++
		c.sendOn(r, r.send, flags|FlagDirected, st.seq, payload)
		return nil
	}
	st.seq++
	viaSFU := false
	for _, id := range st.order {
		r := st.remotes[id]
		if r.send == PathSFU {
			viaSFU = true
			continue
		}
		c.sendOn(r, PathMesh, flags, st.seq, payload)
	}
	if viaSFU {
		if err := c.sfuSend(AppendEnvelope(nil, flags, "", st.seq, payload)); err != nil {
			return err
		}
	}
	return nil
}

// sendOn sends one envelope to r on path p (a FENCE too).
func (c *Client) sendOn(r *remote, p Path, flags byte, seq uint32, payload []byte) {
	if p == PathMesh {
		if r.mesh == nil {
			return // no link and no other path: the peer is gone or failed both
		}
		r.mesh.sendReliable(AppendEnvelope(nil, flags, "", seq, payload))
		return
	}
	_ = c.sfuSend(AppendEnvelope(nil, flags|FlagDirected, r.id, seq, payload))
}

func (c *Client) sfuSend(b []byte) error {
	c.ensureSFU() // a peer that joined on the SFU before this client's evaluate
	if c.st.sfu == nil {
		return fmt.Errorf("%w: not an SFU participant", ErrNoPath)
	}
	c.st.sfu.sendReliable(b)
	return nil
}

// moveData moves r's data to path to: a FENCE with the last number on the
// old path, then the new path only.
func (c *Client) moveData(r *remote, to Path) {
	from := r.send
	if from == to {
		return
	}
	c.sendOn(r, from, FlagFence, c.st.seq, nil)
	r.send = to
	c.log.Debug("data moved", "peer", r.id, "to", to, "fence", c.st.seq)
}

// meshData takes a message from a mesh link.
func (c *Client) meshData(l *meshLink, b []byte, reliable bool) {
	e, err := ParseEnvelope(b)
	if err != nil {
		c.fail(fmt.Errorf("mesh data from %s: %w", l.r.id, err))
		return
	}
	c.receive(l.r.id, e, PathMesh, reliable)
}

// sfuData takes a message from the SFU.
func (c *Client) sfuData(s *sfuLink, d sfuclient.Data) {
	if s.closed || s.stopped {
		return
	}
	e, err := parseBody(d.Flags, d.Payload)
	if err != nil {
		c.fail(fmt.Errorf("sfu data from %s: %w", d.From, err))
		return
	}
	c.receive(d.From, e, PathSFU, d.Reliable)
}

// receive hands a message to its sender's receiver.
func (c *Client) receive(from string, e Envelope, p Path, reliable bool) {
	r := c.st.remotes[from]
	if r == nil {
		return // it left
	}
	m := Message{From: from, Seq: e.Seq, Payload: e.Payload, Text: e.Flags&FlagText != 0, Directed: e.Flags&FlagDirected != 0, Path: p}
	switch {
	case e.Fence():
		c.st.out = r.rx.fence(p, time.Now(), c.st.out)
	case !e.Sequenced() || !reliable:
		c.st.out = append(c.st.out, m)
	default:
		c.st.out = r.rx.message(m, time.Now(), c.st.out)
	}
}

// tick lets messages that waited too long for a FENCE go.
func (c *Client) tick(now time.Time) {
	for _, r := range c.st.remotes {
		c.st.out = r.rx.tick(now, c.st.out)
	}
}
