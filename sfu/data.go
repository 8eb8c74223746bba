package sfu

import (
	"errors"
	"time"
)

// onData relays one message of p's data channels (the spec's envelope):
// a broadcast to every other participant, a directed one to its target,
// on the same kind of channel, with p's id as the sender. Anything wrong
// is dropped and counted; nothing is closed.
func (p *participant) onData(reliable bool, b []byte) {
	if p.gone.Load() {
		return // left: pion may still hand over what it had read
	}
	s := p.r.s
	e, err := decodeEnvelope(b, s.cfg.MaxMessageBytes)
	if err != nil {
		reason := "bad"
		if errors.Is(err, ErrLimit) {
			reason = "size"
		}
		s.m.dataDropped.WithLabelValues(reason).Inc()
		return
	}
	if !p.lim.Allow() {
		s.m.dataDropped.WithLabelValues("rate").Inc()
		return
	}
	if !p.bytesLim.AllowN(time.Now(), len(e.payload)) {
		s.m.dataDropped.WithLabelValues("bytes").Inc()
		return
	}
	out := encodeEnvelope(e.flags, p.id, e.payload)
	if e.flags&flagDirected != 0 {
		q := p.r.get(e.peer)
		if q == nil || q == p {
			s.m.dataDropped.WithLabelValues("target").Inc()
			return
		}
		q.deliver(reliable, out)
		return
	}
	for _, q := range p.r.others(p) {
		q.deliver(reliable, out)
	}
}

func (p *participant) deliver(reliable bool, msg []byte) {
	p.mu.Lock()
	sub := p.sub
	p.mu.Unlock()
	if sub == nil || sub.Send(reliable, msg) != nil {
		p.r.s.m.dataDropped.WithLabelValues("full").Inc()
		return
	}
	p.r.s.m.dataRelayed.Inc()
}
