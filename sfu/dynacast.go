package sfu

import (
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
)

// Layers nobody watches are paused at the publisher (what LiveKit calls
// dynacast). For each published simulcast video track the housekeeping
// goroutine works out the layers at least one subscriber wants (what its
// size, its quality and its bandwidth budget ask for, whether the layer
// flows now or not), resumes at once a paused layer that is wanted, pauses
// one nobody has wanted for LayerPauseHold, and tells the publisher in a
// "layers" message when that changes. Audio and tracks without simulcast
// are never paused.

const (
	// LayerPauseHold is how long a simulcast layer must be wanted by no
	// subscriber before its publisher is asked to pause it: a subscriber
	// that moves between layers, or a tile resized, would otherwise make
	// the publisher stop and start a layer (a keyframe each) at every
	// move. A layer wanted again is resumed at once.
	LayerPauseHold = 2500 * time.Millisecond
	// layerResumeGrace: a layer resumed (or first seen) less than this ago
	// that does not flow yet is taken for starting. Past it, a layer the
	// publisher is asked to send and does not is taken for stopped by the
	// publisher itself (a browser short of uplink or CPU), and the next
	// lower one is wanted as well, so that its subscribers have something.
	layerResumeGrace = 2 * time.Second
	// layerSteady: a layer's bitrate is remembered (layerRates) once it has
	// flowed this long since it was resumed, when the meter's window
	// (about a second) holds nothing from before.
	layerSteady = 1500 * time.Millisecond
)

// layerRates remembers the bitrate of each layer of a track when it last
// flowed steadily, so that a paused layer (bitrate 0) is not taken for one
// that fits any budget. A leaf lock: taken under participant.mu.
type layerRates struct {
	mu    sync.Mutex
	byRID map[string]uint64
}

func (lr *layerRates) set(rid string, bps uint64) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.byRID == nil {
		lr.byRID = map[string]uint64{}
	}
	lr.byRID[rid] = bps
}

// of returns, for each of rids, the bitrate remembered, else the one in
// now (same order).
func (lr *layerRates) of(rids []string, now []uint64) []uint64 {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	out := make([]uint64, len(rids))
	for i, rid := range rids {
		out[i] = now[i]
		if r := lr.byRID[rid]; r > 0 {
			out[i] = r
		}
	}
	return out
}

// layerSend is what the housekeeping goroutine keeps of a track's layers
// (by their index in published.layers).
type layerSend struct {
	seen     uint32                   // layers met so far
	unwanted [rtc.MaxLayers]time.Time // since when an active layer is wanted by nobody
	resumed  [rtc.MaxLayers]time.Time // when each was last resumed, or first seen
}

// layerView is what wantedLayers needs of a track: its layers, the ones
// paused, when each was resumed, and the time.
type layerView struct {
	layers  []*rtc.UpTrack
	off     uint32
	resumed [rtc.MaxLayers]time.Time
	now     time.Time
}

// pauseLayers pauses and resumes the layers of every simulcast video track
// of the room at its publisher (housekeeping goroutine only).
func (r *room) pauseLayers(now time.Time) {
	type track struct {
		t      *published
		layers []*rtc.UpTrack
	}
	var tracks []track
	r.mu.RLock()
	for up, t := range r.tracks {
		if up == t.up && len(t.layers) > 1 && t.up.Kind() == "video" {
			tracks = append(tracks, track{t, t.layers[:len(t.layers):len(t.layers)]})
		}
	}
	parts := make([]*participant, 0, len(r.parts))
	for _, q := range r.parts {
		parts = append(parts, q)
	}
	r.mu.RUnlock()
	for _, x := range tracks {
		r.pauseTrack(x.t, x.layers, parts, now)
	}
}

// pauseTrack decides which layers of t its publisher sends and tells it
// when that changes (housekeeping goroutine only; parts: the room's
// participants).
func (r *room) pauseTrack(t *published, layers []*rtc.UpTrack, parts []*participant, now time.Time) {
	st := &t.pausing
	for i, l := range layers {
		if st.seen&(1<<i) == 0 {
			st.seen |= 1 << i
			st.resumed[i] = now
		}
		if t.sendOff&(1<<i) == 0 && rtc.Flows(l, now, LayerIdle) && now.Sub(st.resumed[i]) >= layerSteady {
			if bps := l.Bitrate(); bps > 0 {
				t.rates.set(l.RID(), bps)
			}
		}
	}
	v := layerView{layers: layers, off: t.sendOff, resumed: st.resumed, now: now}
	var want uint32
	for _, q := range parts {
		if q == t.owner {
			continue
		}
		q.mu.Lock()
		if d := q.downs[t.downID]; d != nil && !q.closed {
			want |= q.wantedLayers(d, v)
		}
		q.mu.Unlock()
	}
	off := t.sendOff
	for i, l := range layers {
		bit := uint32(1) << i
		switch {
		case want&bit != 0:
			st.unwanted[i] = time.Time{}
			if off&bit != 0 {
				off &^= bit
				st.resumed[i] = now
				if l.RequestKeyframe() { // its subscribers start at a keyframe
					r.s.m.pliFwd.Inc()
				}
			}
		case off&bit != 0:
		case st.unwanted[i].IsZero():
			st.unwanted[i] = now
		case now.Sub(st.unwanted[i]) >= LayerPauseHold:
			off |= bit
		}
	}
	if off == t.sendOff {
		return
	}
	r.mu.Lock()
	if t.ended {
		r.mu.Unlock()
		return
	}
	r.s.m.layersPaused.Add(float64(bits.OnesCount32(off)) - float64(bits.OnesCount32(t.sendOff)))
	t.sendOff = off
	r.mu.Unlock()
	msg := layersMessage{Kind: "layers", Track: t.up.ID(), Active: []string{}, Inactive: []string{}}
	for i, l := range layers {
		if off&(1<<i) != 0 {
			msg.Inactive = append(msg.Inactive, l.RID())
		} else {
			msg.Active = append(msg.Active, l.RID())
		}
	}
	t.owner.send(encode(msg))
}

// allOff reports whether every layer of t is paused at its publisher
// (housekeeping goroutine, under room.mu).
func (t *published) allOff() bool {
	return len(t.layers) > 1 && t.sendOff == 1<<len(t.layers)-1
}

// lastSent is when t's publisher last sent a packet of a layer it is
// asked to send, or was asked to resume one (housekeeping goroutine,
// under room.mu): a layer resumed a moment ago has not sent yet, and is
// no stall.
func (t *published) lastSent() time.Time {
	var last time.Time
	for i, l := range t.layers {
		if lp := l.LastPacket(); lp.After(last) {
			last = lp
		}
		if i < rtc.MaxLayers && t.sendOff&(1<<i) == 0 && t.pausing.resumed[i].After(last) {
			last = t.pausing.resumed[i]
		}
	}
	return last
}

// wantedLayers returns the layers of v (bits by index) that d wants its
// publisher to send (under p.mu): none while it is hidden; else the layer
// it gets now and the one it was switched to, kept until it has moved,
// and the one it would choose whether that flows now or not (wantedLayer).
// When that one is sent and still does not flow after layerResumeGrace,
// the publisher stopped it itself: the next lower one too, and so on.
func (p *participant) wantedLayers(d *down, v layerView) uint32 {
	if d.hidden {
		return 0
	}
	index := func(rid string) (uint32, bool) {
		for i, l := range v.layers {
			if l.RID() == rid {
				return 1 << i, true
			}
		}
		return 0, false
	}
	var mask uint32
	if !d.track.Paused() {
		bit, _ := index(d.track.Layer())
		mask |= bit
	}
	if !d.bwPaused {
		bit, _ := index(d.rid)
		mask |= bit
	}
	ranked := make([]rankedLayer, len(v.layers))
	for i, l := range v.layers {
		ranked[i] = rankedLayer{i, layerRank(l.RID(), i)}
	}
	for k := p.wantedLayer(d, v, ranked); k >= 0; k-- {
		i := ranked[k].i
		mask |= 1 << i
		starting := v.off&(1<<i) != 0 || v.now.Sub(v.resumed[i]) < layerResumeGrace
		if starting || rtc.Flows(v.layers[i], v.now, LayerIdle) {
			break
		}
	}
	return mask
}

// wantedLayer returns the index in ranked (v's layers, sorted by rank
// here) of the layer d would choose were every layer flowing, -1 for none
// (under p.mu): the nearest to the rank it wants (chooseLayerAt) and,
// under a bandwidth budget, the best at or under it whose bitrate fits,
// as fitLayer takes it: a layer over the one forwarded needs the headroom
// while d is held down.
func (p *participant) wantedLayer(d *down, v layerView, ranked []rankedLayer) int {
	slices.SortStableFunc(ranked, byRank)
	target := nearestLayer(ranked, p.wantRank(d))
	if d.budget == 0 {
		return target
	}
	rids := make([]string, len(ranked))
	now := make([]uint64, len(ranked))
	cur := -1
	for k, c := range ranked {
		rids[k], now[k] = v.layers[c.i].RID(), v.layers[c.i].Bitrate()
		if rids[k] == d.track.Layer() && !d.track.Paused() {
			cur = k
		}
	}
	rates := d.from.rates.of(rids, now)
	heldDown := d.limited && (cur >= 0 || d.bwPaused)
	for k := target; k >= 0; k-- {
		headroom := 1.0
		if heldDown && k > cur {
			headroom = bwHeadroom
		}
		if float64(rates[k])*headroom <= float64(d.budget) {
			return k
		}
	}
	return -1
}
