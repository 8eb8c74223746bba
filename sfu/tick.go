package sfu

import (
	"slices"
	"strings"
	"time"
)

const (
	// speakersInterval is the housekeeping period: speakers are sent at
	// most this often (4 a second).
	speakersInterval = 250 * time.Millisecond
	// speakerLevel: an audio level (0 loudest, 127 silence) at or under
	// this is speech.
	speakerLevel = 60
	// speakerHold: a level older than this no longer counts.
	speakerHold = 500 * time.Millisecond
)

// tick is the room's periodic work: the tracks' bitrates, stalled
// publishers, layers by bandwidth, active speakers, and (remb) the
// publishers' bitrate limits.
func (r *room) tick(now time.Time, remb bool) {
	type change struct {
		t      *published
		paused bool
	}
	var changes []change
	var relayered []*published
	type speaker struct {
		peer  string
		level uint8
	}
	var speaking []speaker
	videos := map[*participant]int{}

	r.mu.RLock()
	for up, t := range r.tracks {
		up.Sample(now) // every layer
		if up != t.up {
			continue // a simulcast layer: the track is seen through its first
		}
		last := t.lastSent()
		if len(t.layers) > 1 {
			if live := t.liveLayers(now); live != t.live {
				t.live = live
				relayered = append(relayered, t)
			}
		}
		stalled := !last.IsZero() && now.Sub(last) > r.s.cfg.StallTimeout
		if t.allOff() {
			stalled = t.stalled // every layer paused because nobody watches: no news of the publisher
		}
		if stalled != t.stalled {
			t.stalled = stalled
			changes = append(changes, change{t, stalled})
		}
		if lvl, at, ok := t.up.AudioLevel(); ok && !stalled && now.Sub(at) < speakerHold && lvl <= speakerLevel {
			speaking = append(speaking, speaker{t.owner.id, lvl})
		}
		if t.up.Kind() == "video" {
			videos[t.owner]++
		}
	}
	parts := make([]*participant, 0, len(r.parts))
	for _, q := range r.parts {
		parts = append(parts, q)
	}
	r.mu.RUnlock()

	for _, c := range changes {
		r.notifyStall(c.t, c.paused, parts)
	}
	for _, t := range relayered {
		relayer(t, parts)
	}
	for _, q := range parts {
		q.rebudget(now)
	}
	r.pauseLayers(now)

	slices.SortFunc(speaking, func(a, b speaker) int {
		if a.level != b.level {
			return int(a.level) - int(b.level)
		}
		return strings.Compare(a.peer, b.peer)
	})
	peers := []string{}
	for _, s := range speaking {
		if !slices.Contains(peers, s.peer) {
			peers = append(peers, s.peer)
		}
	}
	if !slices.Equal(peers, r.speakers) {
		r.speakers = peers
		msg := encode(speakersMessage{Kind: "speakers", Peers: peers})
		for _, q := range parts {
			q.send(msg)
		}
	}

	if remb {
		r.mu.RLock()
		for up, t := range r.tracks {
			if n := videos[t.owner]; n > 0 && up == t.up && t.up.Kind() == "video" {
				t.up.LimitBitrate(r.s.cfg.MaxBitratePerPublisher / uint64(n))
			}
		}
		r.mu.RUnlock()
	}
}

// notifyStall tells t's subscribers that its publisher stopped (or
// resumed) sending.
func (r *room) notifyStall(t *published, paused bool, parts []*participant) {
	layer := "high"
	if paused {
		layer = "none"
	}
	msg := encode(layerMessage{Kind: "layer", Track: t.downID, Peer: t.owner.id, Layer: layer, Paused: paused})
	var subs, tell []*participant
	for _, q := range parts {
		q.mu.Lock()
		d := q.downs[t.downID]
		// A subscriber that has the track paused of its own (hidden, or
		// short of bandwidth) stays paused as it was told: "resumed"
		// would be false.
		quiet := d != nil && !paused && (d.hidden || d.bwPaused)
		q.mu.Unlock()
		if d != nil {
			subs = append(subs, q)
			if !quiet {
				tell = append(tell, q)
			}
		}
	}
	// The gauge first, so that whoever reads the message sees it counted.
	r.mu.Lock()
	if paused {
		t.paused = len(subs)
		r.s.m.paused.Add(float64(len(subs)))
	} else {
		r.s.m.paused.Sub(float64(t.paused))
		t.paused = 0
	}
	r.mu.Unlock()
	for _, q := range tell {
		q.send(msg)
	}
}
