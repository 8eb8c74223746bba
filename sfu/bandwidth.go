package sfu

import (
	"time"
)

const (
	// bwHeadroom: a layer is moved up to only when its bitrate times this
	// fits the track's share of the estimate (moving down needs only that
	// the layer forwarded no longer fits).
	bwHeadroom = 1.2
	// bwUpHold is how long a higher layer must fit with headroom before a
	// subscriber held down by its bandwidth is moved up to it (or
	// resumed): an estimate that wobbles around a layer's bitrate would
	// otherwise switch layers, each switch costing a keyframe, every tick.
	bwUpHold = 2 * time.Second
)

// rebudget shares p's bandwidth estimate among its video tracks and
// chooses their layers again (housekeeping, every tick). The share of a
// video track is the estimate less what p's audio tracks take, split
// evenly over the video tracks it shows (a hidden one takes nothing):
// simple, and fair between the publishers a subscriber watches. With no
// estimate, the share is 0, no limit, and layers are chosen as before.
// While a budget applies, every video track is chosen again at each tick:
// the layers' bitrates move as much as the estimate.
func (p *participant) rebudget(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.sub == nil {
		return
	}
	var sending, audio uint64
	var shown []*down
	for _, d := range p.downs {
		if !d.track.Paused() {
			sending += d.track.Bitrate()
		}
		switch {
		case d.from.up.Kind() != "video":
			audio += d.from.up.Bitrate()
		case !d.hidden:
			shown = append(shown, d)
		}
	}
	p.sub.SetSending(sending)
	est, ok := p.sub.Estimate(now)
	var budget uint64
	if ok {
		p.r.s.m.estimate.Observe(float64(est))
		budget = 1 // less than anything: a known estimate under the audio's rate leaves nothing to video
		if est > audio && len(shown) > 0 {
			budget = max((est-audio)/uint64(len(shown)), 1)
		}
	}
	for _, d := range shown {
		if budget == 0 && d.budget == 0 {
			continue // no limit, before or now
		}
		d.budget = budget
		p.chooseLayerAt(d, now)
	}
}

// fitLayer chooses, among candidate layers (rates: their bitrates, in
// the order of rank), the one to forward under d's budget: the best one
// at or under the one wanted (want, an index of rates) that fits, or none
// (-1, paused for bandwidth). cur is the candidate forwarded now (-1:
// paused for bandwidth, or not a candidate any more). Moving down is at
// once; moving up, when d is held down by its budget, takes a layer that
// fits with headroom for bwUpHold. Under p.mu.
func (d *down) fitLayer(rates []uint64, want, cur int, now time.Time) int {
	if d.budget == 0 {
		d.limited, d.fitSince = false, time.Time{}
		return want
	}
	fits := func(i int, headroom float64) bool { return float64(rates[i])*headroom <= float64(d.budget) }
	fit := -1
	for i := want; i >= 0; i-- {
		if fits(i, 1) {
			fit = i
			break
		}
	}
	pick := fit
	heldDown := d.limited && (cur >= 0 || d.bwPaused)
	if heldDown && fit > cur {
		up := -1
		for i := want; i > cur; i-- {
			if fits(i, bwHeadroom) {
				up = i
				break
			}
		}
		switch {
		case up < 0:
			d.fitSince, pick = time.Time{}, cur
		case d.fitSince.IsZero():
			d.fitSince, pick = now, cur
		case now.Sub(d.fitSince) < bwUpHold:
			pick = cur
		default:
			d.fitSince, pick = time.Time{}, up
		}
	} else {
		d.fitSince = time.Time{}
	}
	d.limited = pick < want
	return pick
}

// setBandwidthPaused records whether d is paused for bandwidth, for the
// gauge, and applies the pause (under p.mu).
func (p *participant) setBandwidthPaused(d *down, paused bool) {
	if d.bwPaused != paused {
		d.bwPaused = paused
		if paused {
			p.r.s.m.bwPaused.Inc()
		} else {
			p.r.s.m.bwPaused.Dec()
		}
		now := time.Now()
		est, _ := p.sub.Estimate(now)
		loss, delay := p.sub.EstimateParts(now)
		p.r.s.log.Debug("sfu: video paused for bandwidth", "paused", paused, "room", p.r.id, "peer", p.id,
			"track", d.from.downID, "share", d.budget, "estimate", est, "loss_based", loss, "delay_based", delay)
	}
	p.applyPause(d)
}

// applyPause pauses d while it is hidden or short of bandwidth, the two
// reasons kept apart so that one ending does not undo the other, and
// tells the subscriber when that changes (under p.mu).
func (p *participant) applyPause(d *down) {
	paused := d.hidden || d.bwPaused
	if d.track.Paused() == paused {
		return
	}
	d.track.SetPaused(paused)
	layer := layerName(d.track.Layer())
	if paused {
		layer = "none"
	}
	p.send(encode(layerMessage{Kind: "layer", Track: d.from.downID, Peer: d.from.owner.id, Layer: layer, Paused: paused}))
}

// dropped forgets d, which is no longer forwarded to p (under p.mu).
func (p *participant) dropped(d *down) {
	if d.bwPaused {
		d.bwPaused = false
		p.r.s.m.bwPaused.Dec()
	}
}
