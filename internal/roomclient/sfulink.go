package roomclient

import (
	"encoding/json"
	"fmt"

	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

// sfuLink is this client's participation in the room's SFU: an
// sfuclient whose messages travel in sfu frames. Its methods run on the
// loop.
type sfuLink struct {
	c         *Client
	cl        *sfuclient.Client
	joinID    string // the sfu-join's id; "" for a joiner of an sfu-mode room
	accepting bool   // sfu frames are for this link (after the sfu-join's ack)
	open      bool   // both data channels are open
	published bool
	queue     [][]byte // reliable envelopes waiting for the channel
	done      chan struct{}
	stopped   bool // no longer this client's path (an sfu-leave went out)
	closed    bool
}

// newSFULink makes the link; join sends an sfu-join first (a joiner of a
// room in sfu mode is a participant already).
func (c *Client) newSFULink(join bool) (*sfuLink, error) {
	s := &sfuLink{c: c, done: make(chan struct{}), accepting: !join}
	cl, err := sfuclient.New(sfuclient.Config{
		API: c.cfg.API,
		Send: func(msg []byte) error {
			return c.write(map[string]any{"type": "sfu", "room": c.cfg.Room, "data": json.RawMessage(msg)})
		},
		OnTrack: func(t *sfuclient.Track) {
			c.post(func() { c.sfuTrack(s, t) })
		},
		OnData: func(d sfuclient.Data) { c.post(func() { c.sfuData(s, d) }) },
		OnError: func(code, msg string) {
			c.post(func() { c.fail(fmt.Errorf("%w: SFU error %s: %s", ErrSignaling, code, msg)) })
		},
	})
	if err != nil {
		return nil, err
	}
	s.cl = cl
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-cl.DataOpen():
			c.post(func() { s.opened() })
		case <-s.done:
		}
	}()
	if join {
		c.st.joins++
		s.joinID = fmt.Sprintf("sfu-join-%d", c.st.joins)
		c.log.Debug("sfu-join", "id", s.joinID, "switch", c.st.switchID)
		if err := c.write(map[string]any{"type": "sfu-join", "room": c.cfg.Room, "id": s.joinID}); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// handle takes an sfu frame's data.
func (s *sfuLink) handle(data json.RawMessage) {
	if !s.accepting || s.closed {
		return // the SFU's messages to an earlier participation
	}
	if err := s.cl.Handle(data); err != nil {
		s.c.fail(fmt.Errorf("sfu: %w", err))
		return
	}
	if !s.published && s.c.video != nil && !s.c.cfg.NoSFUVideo {
		s.published = true
		if _, err := s.cl.Publish(s.c.video); err != nil {
			s.c.fail(fmt.Errorf("sfu publish: %w", err))
		}
	}
}

func (s *sfuLink) opened() {
	if s.closed || s.stopped {
		return
	}
	s.open = true
	for _, b := range s.queue {
		_ = s.cl.SendEnvelope(b, true)
	}
	s.queue = nil
}

func (s *sfuLink) sendReliable(b []byte) {
	if s.open {
		if err := s.cl.SendEnvelope(b, true); err == nil {
			return
		}
	}
	s.queue = append(s.queue, b)
}

// publishes reports whether the SFU's last offer forwards a track of peer.
func (s *sfuLink) publishes(peer string) bool {
	for _, info := range s.cl.Tracks() {
		if info.Peer == peer {
			return true
		}
	}
	return false
}

func (s *sfuLink) close() {
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	c := s.c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = s.cl.Close()
	}()
}

// sfuTrack: a forwarded track started.
func (c *Client) sfuTrack(s *sfuLink, t *sfuclient.Track) {
	peer := t.Info.Peer
	c.readTrack(t.Remote, c.mediaFor(peer, PathSFU), PathSFU, func() {
		if r := c.st.remotes[peer]; r != nil && c.st.sfu == s {
			r.mediaOn[PathSFU] = true
		}
	})
}
