package signaling

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// This file keeps a session's connection alive and checked: pings, the
// pong timeout, and the clock of a detached session.

func (se *Session) startPinger() {
	se.mu.Lock()
	se.nextPing = time.Now().Add(se.pingDelay())
	se.pinger = time.AfterFunc(se.nextDelayLocked(time.Now()), se.tick)
	se.mu.Unlock()
}

// pingDelay is the ping interval with ±10% jitter, so that sessions that
// connected together do not ping together.
func (se *Session) pingDelay() time.Duration {
	d := se.srv.cfg.PingInterval
	return d - d/10 + rand.N(d/5+1)
}

// nextDelayLocked is how long the clock sleeps from now: until the next
// ping, the token's expiry warning or its expiry, whichever comes first.
func (se *Session) nextDelayLocked(now time.Time) time.Duration {
	next := se.nextPing
	if exp := se.expires.Load(); exp != 0 {
		at := time.Unix(0, exp)
		if !se.warned {
			at = at.Add(-se.srv.cfg.TokenWarning)
		}
		if at.Before(next) {
			next = at
		}
	}
	return max(next.Sub(now), time.Millisecond)
}

// tick is the session's clock: one timer per session serves the WebSocket
// pings, the ICE credentials' refresh, the token's expiry and, while the
// session is detached, the end of its grace period, so an idle session
// holds no other timer.
func (se *Session) tick() {
	now := time.Now()
	se.mu.Lock()
	if se.ended || se.taken {
		se.mu.Unlock() // a resume taking the session over restarts the clock
		return
	}
	if se.link == nil {
		if now.Before(se.graceEnd) {
			se.pinger.Reset(se.graceEnd.Sub(now))
			se.mu.Unlock()
			return
		}
		se.mu.Unlock()
		se.srv.expire(se)
		return
	}
	se.mu.Unlock()
	exp := se.expires.Load()
	if exp != 0 && now.UnixNano() >= exp {
		se.srv.m.errorOut(CodeTokenExpired)
		se.Deliver(encodeError(errorf(CodeTokenExpired, "token expired: send a refresh with a fresh token before it does"), nil), KindError)
		se.closeWith(CloseUnauthorized, string(CodeTokenExpired))
		return
	}
	se.mu.Lock()
	pingDue := !now.Before(se.nextPing)
	warn := exp != 0 && !se.warned && now.UnixNano() >= exp-int64(se.srv.cfg.TokenWarning)
	if warn {
		se.warned = true
	}
	se.mu.Unlock()
	if warn {
		// The token's own exp, as the welcome gave it; the session lasts TokenLeeway longer.
		se.Deliver(encodeExpires(TypeTokenExpiring, time.Unix(0, exp).Add(-TokenLeeway), nil), KindTokenExpiring)
	}
	if pingDue {
		// Written from this goroutine when no writer runs: an idle session
		// starts no goroutine to ping.
		l, start, ok := se.enqueue(nil, kindPing)
		if !ok {
			return
		}
		if start {
			se.writeLoop(l)
		}
		// The clock is also the ICE credentials' clock.
		if r := se.iceRefresh.Load(); r != 0 && now.UnixNano() >= r {
			se.Deliver(se.encodeICEServers(nil), KindICEServers)
		}
	}
	se.mu.Lock()
	if pingDue {
		se.nextPing = now.Add(se.pingDelay())
	}
	if !se.closed && se.link != nil {
		se.pinger.Reset(se.nextDelayLocked(now))
	}
	se.mu.Unlock()
}

// onPong confirms the frames up to the seq the ping carried.
func (se *Session) onPong(l *link, data string) {
	l.alive(se.srv.cfg.PongTimeout)
	if !se.srv.resumeOn {
		return
	}
	n, err := strconv.ParseUint(data, 10, 64)
	if err != nil {
		return // not a pong of ours: an unsolicited one confirms nothing
	}
	se.confirm(n)
}

// alive extends the read deadline: a connection silent for timeout is dropped.
func (l *link) alive(timeout time.Duration) {
	if l.closing.Load() {
		return
	}
	l.conn.SetReadDeadline(time.Now().Add(timeout))
	if l.closing.Load() { // closeWith ran meanwhile: keep its short deadline
		l.conn.SetReadDeadline(time.Now().Add(closeGrace))
	}
}
