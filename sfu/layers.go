package sfu

import (
	"fmt"
	"slices"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
)

// setQuality records the layer p asks for the video of publisher peer, a
// participant of the room (ErrNotFound otherwise: the map holds one entry
// per participant at most, removed when it leaves), and applies it.
func (p *participant) setQuality(peer, quality string) error {
	p.r.mu.RLock()
	defer p.r.mu.RUnlock()
	if p.r.parts[peer] == nil {
		return fmt.Errorf("%w: peer %s in the room", ErrNotFound, quoted(peer))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if quality == "auto" {
		delete(p.quality, peer) // the default
	} else {
		p.quality[peer] = quality
	}
	for _, d := range p.downs {
		if d.from.owner.id == peer {
			p.chooseLayer(d)
		}
	}
	p.r.s.poke(p.r) // a layer paused at the publisher may be wanted now
	return nil
}

// forget drops what p holds about peer, which is leaving (under room.mu).
func (p *participant) forget(peer string) {
	p.mu.Lock()
	delete(p.quality, peer)
	p.mu.Unlock()
}

// addLayer adds a new simulcast layer of t to p's down track (under
// room.mu).
func (p *participant) addLayer(t *published, up *rtc.UpTrack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.downs[t.downID]
	if d == nil || p.closed {
		return
	}
	d.track.AddLayer(up)
	up.AddDown(d.track)
	p.chooseLayer(d)
}

// LayerIdle: a simulcast layer without a packet for this long is taken
// for stopped. A browser stops its top layers when its estimate of the
// uplink or its CPU runs short, and starts them again later; a subscriber
// left on a stopped layer would freeze on its last frame.
const LayerIdle = time.Second

// chooseLayer picks d's simulcast layer from the quality asked for its
// publisher and the size it is shown at, among the layers that flow: the
// best one at or under the one wanted, else the lowest one over it (under
// p.mu). With no layer flowing (the start, or a stalled publisher) it
// picks among all of them. Under a bandwidth budget (bandwidth.go) it
// takes the best of those at or under that one that fits, and pauses a
// video track of which none fits, simulcast or not.
func (p *participant) chooseLayer(d *down) { p.chooseLayerAt(d, time.Now()) }

func (p *participant) chooseLayerAt(d *down, now time.Time) {
	rids := d.track.RIDs()
	if d.from.up.Kind() != "video" {
		return
	}
	if len(rids) < 2 {
		cur := 0
		if d.bwPaused {
			cur = -1
		}
		p.setBandwidthPaused(d, d.fitLayer(d.track.Bitrates(), 0, cur, now) < 0)
		return
	}
	live := d.track.Live(now, LayerIdle)
	if !slices.Contains(live, true) {
		live = nil // nothing flows: judge by rank alone
	}
	// The candidates, by rank; target is the one wanted among them.
	var cands []rankedLayer
	for i, rid := range rids {
		if live == nil || live[i] {
			cands = append(cands, rankedLayer{i, layerRank(rid, i)})
		}
	}
	slices.SortStableFunc(cands, byRank)
	target := nearestLayer(cands, p.wantRank(d))
	bitrates := d.from.rates.of(rids, d.track.Bitrates())
	rates := make([]uint64, len(cands))
	cur := -1
	for k, c := range cands {
		rates[k] = bitrates[c.i]
		if rids[c.i] == d.rid && !d.bwPaused {
			cur = k
		}
	}
	pick := d.fitLayer(rates, target, cur, now)
	if pick >= 0 {
		d.rid = rids[cands[pick].i]
		d.track.SetLayer(d.rid)
	}
	p.setBandwidthPaused(d, pick < 0)
}

// rankedLayer is a layer of a track (i: its index in the order of
// arrival) with its rank (layerRank).
type rankedLayer struct{ i, rank int }

func byRank(a, b rankedLayer) int { return a.rank - b.rank }

// wantRank is the rank of the layer p wants of d's track, from the quality
// asked for its publisher and, under auto, the size d is shown at (under
// p.mu).
func (p *participant) wantRank(d *down) int {
	switch p.quality[d.from.owner.id] {
	case "low":
		return 0
	case "medium":
		return 1
	case "", "auto":
		if d.h >= 0 && d.h <= 240 {
			return 0
		} else if d.h >= 0 && d.h <= 540 {
			return 1
		}
	}
	return 2 // high
}

// nearestLayer returns the index in cands (sorted by rank, at least one)
// of the best layer at or under rank want, else of the lowest one over it.
func nearestLayer(cands []rankedLayer, want int) int {
	target := 0
	for k, c := range cands {
		if c.rank <= want && (cands[target].rank > want || c.rank > cands[target].rank) {
			target = k
		}
	}
	return target
}

// liveLayers returns a mask of t's layers that flow (under room.mu).
func (t *published) liveLayers(now time.Time) uint32 {
	var mask uint32
	for i, l := range t.layers {
		if rtc.Flows(l, now, LayerIdle) {
			mask |= 1 << i
		}
	}
	return mask
}

// relayer chooses again the layer of t that each of its subscribers gets,
// after a layer stopped or started (parts: the room's participants).
func relayer(t *published, parts []*participant) {
	for _, q := range parts {
		q.mu.Lock()
		if d := q.downs[t.downID]; d != nil && !q.closed {
			q.chooseLayer(d)
		}
		q.mu.Unlock()
	}
}

// layerRank orders simulcast RIDs: 0 low, 1 medium, 2 high; unknown names
// by their order of arrival.
func layerRank(rid string, i int) int {
	switch rid {
	case "low", "q", "l":
		return 0
	case "medium", "mid", "h", "m":
		return 1
	case "high", "f":
		return 2
	}
	return min(i, 2)
}

// layerName is the spec's name of a layer.
func layerName(rid string) string {
	return [...]string{"low", "medium", "high"}[layerRank(rid, 2)]
}

// setSize pauses a video track the subscriber does not show (0x0) and
// resumes it when it is shown again, unless it is paused for bandwidth.
func (p *participant) setSize(track string, w, h int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.downs[track]
	if d == nil {
		return fmt.Errorf("%w: track %s", ErrNotFound, quoted(track))
	}
	d.w, d.h = w, h
	d.hidden = w == 0 && h == 0
	p.chooseLayer(d)
	p.applyPause(d)
	p.r.s.poke(p.r) // a layer paused at the publisher may be wanted now
	return nil
}
