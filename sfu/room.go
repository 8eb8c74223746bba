package sfu

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rtc/switchboard/sfu/internal/conn"
	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
)

// published is a track a participant publishes in its room.
type published struct {
	up      *rtc.UpTrack   // the first layer
	layers  []*rtc.UpTrack // every simulcast layer (up alone without simulcast); under room.mu
	owner   *participant
	downID  string // "<owner>:<track id>", the id subscribers see
	stalled bool   // owned by the housekeeping goroutine
	live    uint32 // the simulcast layers that flow, a bit per layer; owned by the housekeeping goroutine
	paused  int    // subscribers told it is paused (for the gauge)

	// Layers paused at the publisher (dynacast.go):
	sendOff uint32     // the layers it is asked not to send, a bit per layer; written by the housekeeping goroutine under room.mu
	ended   bool       // unpublished (under room.mu)
	pausing layerSend  // housekeeping goroutine only
	rates   layerRates // each layer's bitrate when it last flowed
}

// removeDown takes d out of the fan-out of every layer (under room.mu).
func (t *published) removeDown(d conn.DownTrack) {
	for _, l := range t.layers {
		l.RemoveDown(d)
	}
}

// room is one SFU room. Lock order: SFU.mu, then room.mu, then
// participant.mu; the network is never waited on under room.mu. The
// bandwidth estimate's mutex (rtc.Peer), an UpTrack's bitrate meter's and
// a track's layerRates' are leaves, taken under any of these and holding
// nothing else.
type room struct {
	s  *SFU
	id string

	mu     sync.RWMutex
	parts  map[string]*participant
	tracks map[*rtc.UpTrack]*published

	speakers []string    // housekeeping goroutine only
	poked    atomic.Bool // queued for the housekeeping goroutine (SFU.poke)
}

func newRoom(s *SFU, id string) *room {
	return &room{s: s, id: id, parts: map[string]*participant{}, tracks: map[*rtc.UpTrack]*published{}}
}

// admit reserves peer's place in the room.
func (r *room) admit(peer string, send func([]byte) bool) (*participant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parts[peer] != nil {
		return nil, fmt.Errorf("%w: peer %s in room %s", ErrExists, quoted(peer), quoted(r.id))
	}
	if len(r.parts) >= r.s.cfg.MaxParticipantsPerRoom {
		return nil, fmt.Errorf("%w: %d participants in room %s", ErrLimit, r.s.cfg.MaxParticipantsPerRoom, quoted(r.id))
	}
	p := newParticipant(r, peer, send)
	r.parts[peer] = p
	r.s.m.participants.Inc()
	return p, nil
}

func (r *room) peers() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.parts))
	for id := range r.parts {
		out = append(out, id)
	}
	return out
}

// reservePublisher makes p one of the room's publishers, within the limit;
// added says it was not one before.
func (r *room) reservePublisher(p *participant) (added bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.publisher {
		return false, nil
	}
	n := 0
	for _, q := range r.parts {
		if q.publisher {
			n++
		}
	}
	if n >= r.s.cfg.MaxPublishersPerRoom {
		return false, fmt.Errorf("%w: %d publishers in room %s", ErrLimit, r.s.cfg.MaxPublishersPerRoom, quoted(r.id))
	}
	p.publisher = true
	return true, nil
}

// releasePublisher gives p's publisher place back (it sends nothing, or
// its offer failed).
func (r *room) releasePublisher(p *participant) {
	r.mu.Lock()
	p.publisher = false
	r.mu.Unlock()
}

// publish forwards a new incoming track of owner to everyone else; false:
// it is refused (owner is told why) and not read past pion.
func (r *room) publish(owner *participant, up *rtc.UpTrack) bool {
	r.mu.Lock()
	if r.parts[owner.id] != owner {
		r.mu.Unlock()
		return false // left meanwhile
	}
	mine := 0
	for up2, t := range r.tracks {
		if t.owner != owner || up2 != t.up {
			continue
		}
		if up.RID() != "" && t.up.ID() == up.ID() {
			// Another simulcast layer of a track already forwarded.
			err := t.canAddLayer(up)
			if err == nil {
				err = up.Accept()
			}
			if err != nil {
				r.mu.Unlock()
				owner.sendError(errorCode(err), fmt.Sprintf("layer %s of track %s not forwarded: %v", quoted(up.RID()), quoted(up.ID()), err))
				return false
			}
			t.layers = append(t.layers, up)
			r.tracks[up] = t
			for _, q := range r.parts {
				if q != owner {
					q.addLayer(t, up)
				}
			}
			r.mu.Unlock()
			return true
		}
		mine++
	}
	if mine >= r.s.cfg.MaxTracksPerPublisher {
		r.mu.Unlock()
		owner.sendError("limit", fmt.Sprintf("track %s not forwarded: at most %d tracks per publisher", quoted(up.ID()), r.s.cfg.MaxTracksPerPublisher))
		return false
	}
	if r.s.tracks.Add(1) > int64(r.s.cfg.MaxTracks) {
		r.s.tracks.Add(-1)
		r.mu.Unlock()
		owner.sendError("limit", fmt.Sprintf("track %s not forwarded: the server forwards %d tracks already", quoted(up.ID()), r.s.cfg.MaxTracks))
		return false
	}
	if err := up.Accept(); err != nil {
		r.s.tracks.Add(-1)
		r.mu.Unlock()
		r.s.log.Warn("sfu: a track's cache", "room", r.id, "peer", owner.id, "err", err)
		return false
	}
	t := &published{up: up, layers: []*rtc.UpTrack{up}, owner: owner, downID: owner.id + ":" + up.ID()}
	r.tracks[up] = t
	r.s.m.tracks.Inc()
	var renegotiate []*participant
	for _, q := range r.parts {
		if q != owner && q.addDown(t) {
			renegotiate = append(renegotiate, q)
		}
	}
	r.mu.Unlock()
	for _, q := range renegotiate {
		q.negotiate()
	}
	return true
}

// canAddLayer refuses a second layer with up's RID, or a layer over
// rtc.MaxLayers (under room.mu).
func (t *published) canAddLayer(up *rtc.UpTrack) error {
	if len(t.layers) >= rtc.MaxLayers {
		return fmt.Errorf("%w: at most %d simulcast layers", ErrLimit, rtc.MaxLayers)
	}
	for _, l := range t.layers {
		if l.RID() == up.RID() {
			return fmt.Errorf("%w: a layer with this rid is forwarded already", ErrBadMessage)
		}
	}
	return nil
}

// unpublish ends a track (publisher PC closed or the track stopped).
func (r *room) unpublish(up *rtc.UpTrack) {
	r.mu.Lock()
	renegotiate := r.unpublishLocked(up)
	r.mu.Unlock()
	for _, q := range renegotiate {
		q.negotiate()
	}
}

func (r *room) unpublishLocked(up *rtc.UpTrack) []*participant {
	t := r.tracks[up]
	if t == nil {
		return nil
	}
	delete(r.tracks, up)
	for _, l := range t.layers {
		if r.tracks[l] == t {
			return nil // other layers still live: the track goes on
		}
	}
	r.s.tracks.Add(-1)
	r.s.m.tracks.Dec()
	r.s.m.paused.Sub(float64(t.paused))
	r.s.m.layersPaused.Sub(float64(bits.OnesCount32(t.sendOff)))
	t.ended = true
	var out []*participant
	for _, q := range r.parts {
		if q.removeDown(t.downID) {
			out = append(out, q)
		}
	}
	return out
}

// leave removes peer and everything it published.
func (r *room) leave(peer string) {
	r.mu.Lock()
	p := r.parts[peer]
	if p == nil {
		r.mu.Unlock()
		return
	}
	delete(r.parts, peer)
	r.s.m.participants.Dec()
	for _, q := range r.parts {
		q.forget(peer)
	}
	need := map[*participant]bool{}
	for up, t := range r.tracks {
		if t.owner == p {
			for _, q := range r.unpublishLocked(up) { // nil until its last layer
				need[q] = true
			}
		}
	}
	p.detach()
	r.mu.Unlock()
	p.close()
	for q := range need {
		q.negotiate()
	}
}

// others returns the participants but p.
func (r *room) others(p *participant) []*participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*participant, 0, len(r.parts))
	for _, q := range r.parts {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

func (r *room) get(peer string) *participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.parts[peer]
}
