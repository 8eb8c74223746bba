// Package sfu is Switchboard's selective forwarding unit: participants of
// a room publish tracks over one PeerConnection and receive everyone
// else's over another, negotiated through messages their signaling session
// carries (see docs/sfu.md and the SFU messages in docs/protocol.md).
//
// The room logic here sees media only through the interfaces of
// internal/conn; internal/rtc implements them on pion/webrtc.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
	"github.com/switchboard-rtc/switchboard/sfu/internal/udpbatch"
)

// SFU is the media server. Its methods are safe for concurrent use; a call
// for one participant never waits on another participant's network.
type SFU struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	engine *rtc.Engine
	tracks atomic.Int64 // published tracks on the server

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool

	stop  chan struct{}
	done  chan struct{}
	pokes chan *room // rooms whose layers to pause or resume now (dynacast.go)
}

// New starts an SFU on the sockets of cfg.
func New(cfg Config) (*SFU, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	var engine atomic.Pointer[rtc.Engine] // for the UDP counters, read at a scrape
	if err := registerUDP(cfg.Metrics, func() udpbatch.Stats {
		if e := engine.Load(); e != nil {
			return e.UDPStats()
		}
		return udpbatch.Stats{}
	}); err != nil {
		return nil, err
	}
	own := cfg.UDP == nil
	if own {
		if cfg.UDP, err = net.ListenPacket("udp", fmt.Sprintf(":%d", cfg.UDPPort)); err != nil {
			return nil, fmt.Errorf("sfu: udp port %d: %w", cfg.UDPPort, err)
		}
	}
	e, err := rtc.NewEngine(rtc.EngineConfig{UDP: cfg.UDP, TCP: cfg.TCP, NAT1To1IPs: cfg.NAT1To1IPs, AllowLoopback: cfg.AllowLoopbackPeers})
	if err != nil {
		if own {
			_ = cfg.UDP.Close() // the socket New opened; one handed in stays the caller's
		}
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	engine.Store(e)
	s := &SFU{cfg: cfg, log: cfg.Logger, m: m, engine: e, rooms: map[string]*room{}, stop: make(chan struct{}), done: make(chan struct{}),
		pokes: make(chan *room, 64)}
	go s.housekeeping()
	return s, nil
}

// Join admits peer to room and sends it the server's first subscriber
// offer (with the data channels and every track already published).
// send must not block; it returns false when the client cannot take more.
// It may still be called for a short while after Leave returns (pion
// callbacks and the housekeeping loop finish what they started): it must
// stay safe to call, and may drop the message.
func (s *SFU) Join(roomID, peer string, send func(msg []byte) bool) error {
	if peer == "" || len(peer) > 255 {
		return fmt.Errorf("%w: peer id must be 1 to 255 bytes", ErrBadMessage)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	r := s.rooms[roomID]
	if r == nil {
		if len(s.rooms) >= s.cfg.MaxRooms {
			s.mu.Unlock()
			return fmt.Errorf("%w: %d rooms", ErrLimit, s.cfg.MaxRooms)
		}
		r = newRoom(s, roomID)
		s.rooms[roomID] = r
		s.m.rooms.Inc()
	}
	p, err := r.admit(peer, send) // reserves the place; the PC is made outside the locks
	s.mu.Unlock()
	if err != nil {
		s.dropIfEmpty(r)
		return err
	}
	if err := p.start(); err != nil {
		s.Leave(roomID, peer)
		return err
	}
	return nil
}

// Message handles a message from peer's client. The error (ErrBadMessage,
// ErrBadSDP, ErrLimit, ErrNotFound) concerns that client only.
func (s *SFU) Message(roomID, peer string, msg []byte) error {
	p, err := s.participant(roomID, peer)
	if err != nil {
		return err
	}
	if err := p.handle(msg); err != nil {
		err = clip(err)
		s.m.badMessages.Inc()
		// Also as an error message: a frame without an id gets no reply.
		p.sendError(errorCode(err), err.Error())
		return err
	}
	return nil
}

// errorCode is the code of an error message for err.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrLimit):
		return "limit"
	case errors.Is(err, ErrBadSDP):
		return "bad_sdp"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return "bad_message"
}

// Leave removes peer from room, ends its PeerConnections and the tracks it
// published (the other participants get a new offer without them). A
// no-op when it is not there.
func (s *SFU) Leave(roomID, peer string) {
	s.mu.Lock()
	r := s.rooms[roomID]
	s.mu.Unlock()
	if r == nil {
		return
	}
	r.leave(peer)
	s.dropIfEmpty(r)
}

// Close ends every participant and closes the sockets.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	for _, r := range rooms {
		for _, peer := range r.peers() {
			r.leave(peer)
		}
		s.dropIfEmpty(r)
	}
	return s.engine.Close()
}

func (s *SFU) participant(roomID, peer string) (*participant, error) {
	s.mu.Lock()
	r := s.rooms[roomID]
	s.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("%w: room %s", ErrNotFound, quoted(roomID))
	}
	r.mu.RLock()
	p := r.parts[peer]
	r.mu.RUnlock()
	if p == nil {
		return nil, fmt.Errorf("%w: peer %s in room %s", ErrNotFound, quoted(peer), quoted(roomID))
	}
	return p, nil
}

func (s *SFU) dropIfEmpty(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.RLock()
	empty := len(r.parts) == 0
	r.mu.RUnlock()
	if empty && s.rooms[r.id] == r {
		delete(s.rooms, r.id)
		s.m.rooms.Dec()
	}
}

// housekeeping runs the periodic work of every room: stalled publishers,
// active speakers, bitrate limits, layers paused at publishers; and, when
// poked, a room's layers at once.
func (s *SFU) housekeeping() {
	defer close(s.done)
	t := time.NewTicker(speakersInterval)
	defer t.Stop()
	var n int
	for {
		select {
		case <-s.stop:
			return
		case r := <-s.pokes:
			r.poked.Store(false)
			r.pauseLayers(time.Now())
		case now := <-t.C:
			n++
			s.mu.Lock()
			rooms := make([]*room, 0, len(s.rooms))
			for _, r := range s.rooms {
				rooms = append(rooms, r)
			}
			s.mu.Unlock()
			for _, r := range rooms {
				r.tick(now, n%4 == 0)
			}
		}
	}
}

// poke has the housekeeping goroutine pause and resume r's layers now
// rather than at its next tick (a subscriber asked for another layer);
// never blocks: with the queue full, the tick does it.
func (s *SFU) poke(r *room) {
	if !r.poked.CompareAndSwap(false, true) {
		return // queued already
	}
	select {
	case s.pokes <- r:
	default:
		r.poked.Store(false)
	}
}
