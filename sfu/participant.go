package sfu

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
)

// maxEarlyCandidates bounds the candidates kept before a pub offer (the
// publisher PC takes no more than that anyway).
const maxEarlyCandidates = rtc.MaxRemoteCandidates

// down is a track forwarded to a participant.
type down struct {
	track  *rtc.DownTrack
	from   *published
	w, h   int    // the size the subscriber shows it at, -1: not told
	hidden bool   // shown at 0x0: paused (setSize)
	rid    string // the layer chosen last ("" none yet)

	// Bandwidth (bandwidth.go), under participant.mu:
	budget   uint64    // the track's share of the subscriber's estimate, bits/s; 0: no limit
	limited  bool      // the layer chosen is under the one wanted for lack of bandwidth
	fitSince time.Time // since when a higher layer fits with headroom (while limited)
	bwPaused bool      // paused: not even the lowest flowing layer fits
}

// participant is one peer in a room: its subscriber PC (made at Join),
// its publisher PC (made at its first offer) and what it receives.
type participant struct {
	r         *room
	id        string
	sendFn    func([]byte) bool
	lim       *rate.Limiter // data messages
	bytesLim  *rate.Limiter // data payload bytes
	publisher bool          // under room.mu
	gone      atomic.Bool

	mu       sync.Mutex // negotiation state; also orders what is sent
	sub, pub *rtc.Peer
	downs    map[string]*down  // by the id the subscriber sees
	fresh    []*rtc.DownTrack  // added since the last offer: keyframe after the answer
	quality  map[string]string // layer asked for, by publisher (default auto)
	early    [][]byte          // pub candidates that came before the first pub offer
	offering bool              // an offer of sub is outstanding
	again    bool              // tracks changed while offering
	closed   bool
}

func newParticipant(r *room, id string, send func([]byte) bool) *participant {
	cfg := r.s.cfg
	return &participant{r: r, id: id, sendFn: send, downs: map[string]*down{}, quality: map[string]string{},
		lim:      rate.NewLimiter(rate.Limit(cfg.MessageRate), cfg.MessageBurst),
		bytesLim: rate.NewLimiter(rate.Limit(cfg.DataBytesRate), max(2*cfg.DataBytesRate, cfg.MaxMessageBytes))}
}

func (p *participant) send(b []byte) { _ = p.sendFn(b) } // false: signaling drops the slow client

func (p *participant) sendError(code, msg string) {
	p.send(encode(errorMessage{Kind: "error", Code: code, Message: msg}))
}

func (p *participant) peerConfig(pc string) rtc.PeerConfig {
	return rtc.PeerConfig{
		Counters: p.r.s.m.counters(),
		UseREMB:  p.r.s.cfg.UseREMB,
		// pion may call this inside SetLocalDescription (at the end of
		// gathering, again on every renegotiation), so it takes no lock: a
		// candidate can reach the client before the description it belongs
		// to, and clients keep such candidates until that description
		// arrives (the spec's trickle rule, the browser SDK does the same).
		OnCandidate: func(c []byte) {
			if c == nil {
				c = []byte("null")
			}
			if !p.gone.Load() {
				p.send(encode(candidateMessage{Kind: "candidate", PC: pc, Candidate: c}))
			}
		},
		OnData:       p.onData,
		OnTrack:      func(up *rtc.UpTrack) bool { return p.r.publish(p, up) },
		OnTrackEnded: func(up *rtc.UpTrack) { p.r.unpublish(up) },
		OnFailed: func() {
			p.r.s.log.Info("sfu: peer connection failed", "room", p.r.id, "peer", p.id, "pc", pc)
		},
	}
}

// testHookStarting, when set (tests), runs in start once the subscriber
// PC is made, before it is attached.
var testHookStarting func()

// start makes the subscriber PC with every track already published and
// sends the first offer.
func (p *participant) start() error {
	sub, err := p.r.s.engine.NewSubscriber(p.peerConfig(pcSub))
	if err != nil {
		return err
	}
	if testHookStarting != nil {
		testHookStarting()
	}
	p.r.mu.RLock()
	p.mu.Lock()
	if p.closed {
		// Left (or the SFU closed) while the PC was being made: close
		// has run and did not see it.
		p.mu.Unlock()
		p.r.mu.RUnlock()
		_ = sub.Close()
		return fmt.Errorf("%w: peer %s left while joining", ErrClosed, quoted(p.id))
	}
	p.sub = sub
	p.mu.Unlock()
	for _, t := range p.r.tracks {
		if t.owner != p {
			p.addDown(t)
		}
	}
	p.r.mu.RUnlock()
	p.negotiate()
	return nil
}

// addDown forwards t to p (called under room.mu); it reports whether p
// needs a new offer.
func (p *participant) addDown(t *published) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub == nil || p.closed || p.downs[t.downID] != nil {
		return false
	}
	d, err := p.sub.AddDown(t.up, t.downID, t.owner.id)
	if err != nil {
		p.r.s.log.Warn("sfu: cannot forward a track", "room", p.r.id, "peer", p.id, "track", t.downID, "err", err)
		return false
	}
	dn := &down{track: d, from: t, w: -1, h: -1}
	p.downs[t.downID] = dn
	p.fresh = append(p.fresh, d)
	d.OnSwitch = func(rid string) {
		p.r.s.m.layerSwitches.Inc()
		p.send(encode(layerMessage{Kind: "layer", Track: t.downID, Peer: t.owner.id, Layer: layerName(rid), Paused: false}))
	}
	for i, l := range t.layers {
		if i > 0 {
			d.AddLayer(l)
		}
		l.AddDown(d)
	}
	p.chooseLayer(dn)
	return true
}

// removeDown stops forwarding a track to p (called under room.mu).
func (p *participant) removeDown(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.downs[id]
	if d == nil {
		return false
	}
	delete(p.downs, id)
	d.from.removeDown(d.track)
	p.dropped(d)
	if p.closed {
		return false
	}
	if err := p.sub.RemoveDown(d.track); err != nil {
		p.r.s.log.Warn("sfu: removing a track", "room", p.r.id, "peer", p.id, "track", id, "err", err)
	}
	return true
}

// detach stops every track forwarded to p (p is leaving; under room.mu).
func (p *participant) detach() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, d := range p.downs {
		d.from.removeDown(d.track)
		p.dropped(d)
		delete(p.downs, id)
	}
	p.closed = true
}

func (p *participant) close() {
	p.gone.Store(true)
	p.mu.Lock()
	p.closed = true
	sub, pub := p.sub, p.pub
	p.mu.Unlock()
	for _, pc := range []*rtc.Peer{sub, pub} {
		if pc != nil {
			_ = pc.Close()
		}
	}
}

// negotiate sends a new subscriber offer, or notes that one is needed
// after the outstanding one is answered: the server is the only offerer
// on sub, with one offer at a time.
func (p *participant) negotiate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.sub == nil {
		return
	}
	if p.offering {
		p.again = true
		return
	}
	sdp, err := p.sub.Offer()
	if errors.Is(err, rtc.ErrClosed) {
		return // closing: the SFU or the participant is going away
	}
	if err != nil {
		p.r.s.log.Warn("sfu: subscriber offer", "room", p.r.id, "peer", p.id, "err", err)
		return
	}
	p.offering = true
	tracks := make(map[string]trackInfo, len(p.downs))
	for id, d := range p.downs {
		tracks[id] = trackInfo{Peer: d.from.owner.id, Kind: d.from.up.Kind(), Stream: d.from.owner.id}
	}
	p.send(encode(offerMessage{Kind: "offer", PC: pcSub, SDP: sdp, Tracks: tracks}))
}

// handle is one message from p's client.
func (p *participant) handle(b []byte) error {
	m, err := decodeMessage(b)
	if err != nil {
		return err
	}
	switch m.Kind {
	case "offer":
		return p.publishOffer(m.SDP)
	case "answer":
		return p.subAnswer(m.SDP)
	case "candidate":
		p.mu.Lock()
		pc := p.sub
		if m.PC == pcPub {
			pc = p.pub
			if pc == nil {
				// A client may send a candidate before the offer it
				// belongs to (pion does): keep a few for the PC.
				defer p.mu.Unlock()
				if _, key, err := rtc.ParseCandidate(m.Candidate); err != nil || key == "" {
					return candidateError(err)
				}
				if len(p.early) >= maxEarlyCandidates {
					return fmt.Errorf("%w: more than %d candidates before the first offer", ErrLimit, maxEarlyCandidates)
				}
				p.early = append(p.early, append([]byte(nil), m.Candidate...))
				return nil
			}
		}
		p.mu.Unlock()
		if pc == nil {
			return fmt.Errorf("%w: candidate for pc %s before its offer", ErrBadMessage, quoted(m.PC))
		}
		return candidateError(pc.AddCandidate(m.Candidate))
	case "size":
		return p.setSize(m.Track, m.Width, m.Height)
	case "quality":
		return p.setQuality(m.Peer, m.Quality)
	}
	return nil
}

// sdpError is the SFU's error for a refused description.
func sdpError(err error) error {
	if errors.Is(err, rtc.ErrTooManyCandidates) {
		return fmt.Errorf("%w: %w", ErrLimit, err)
	}
	if errors.Is(err, rtc.ErrBadSDP) {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return err
}

// candidateError is the SFU's error for a refused candidate.
func candidateError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rtc.ErrTooManyCandidates):
		return fmt.Errorf("%w: %w", ErrLimit, err)
	}
	return fmt.Errorf("%w: %w", ErrBadMessage, err)
}

// publishOffer answers the client's publisher offer. A place among the
// room's publishers is taken while the offer is applied and kept only if
// it was: an offer that sends nothing, once answered, gives it back.
func (p *participant) publishOffer(sdp string) (err error) {
	sections, sending, err := rtc.SendTracks(sdp)
	if errors.Is(err, rtc.ErrTooManyLayers) {
		return fmt.Errorf("%w: %w", ErrLimit, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	if max := p.r.s.cfg.MaxTracksPerPublisher; sections > max {
		return fmt.Errorf("%w: %d media sections offered, at most %d per publisher", ErrLimit, sections, max)
	}
	if sending > 0 {
		var added bool
		if added, err = p.r.reservePublisher(p); err != nil {
			return err
		}
		if added {
			defer func() {
				if err != nil {
					p.r.releasePublisher(p)
				}
			}()
		}
	}
	if err = p.answerPub(sdp); err != nil {
		return err
	}
	if sending == 0 {
		p.r.releasePublisher(p)
	}
	return nil
}

// answerPub applies the offer to the publisher PC, made at the first one,
// and sends the answer.
func (p *participant) answerPub(sdp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.pub == nil {
		var err error
		if p.pub, err = p.r.s.engine.NewPublisher(p.peerConfig(pcPub)); err != nil {
			return err
		}
		for _, c := range p.early { // held by the PC until the offer is applied
			_ = p.pub.AddCandidate(c)
		}
		p.early = nil
	}
	answer, err := p.pub.Answer(sdp)
	if err != nil {
		return sdpError(err)
	}
	p.send(encode(sdpMessage{Kind: "answer", PC: pcPub, SDP: answer}))
	return nil
}

func (p *participant) subAnswer(sdp string) error {
	p.mu.Lock()
	if !p.offering {
		p.mu.Unlock()
		return fmt.Errorf("%w: answer without an outstanding offer", ErrBadMessage)
	}
	if err := p.sub.SetAnswer(sdp); err != nil {
		p.mu.Unlock()
		return sdpError(err)
	}
	p.offering = false
	again := p.again
	p.again = false
	fresh := p.fresh
	p.fresh = nil
	p.mu.Unlock()
	for _, d := range fresh {
		if d.RequestKeyframe() { // a new subscriber needs a keyframe to start
			p.r.s.m.pliFwd.Inc()
		}
	}
	if again {
		p.negotiate()
	}
	return nil
}
