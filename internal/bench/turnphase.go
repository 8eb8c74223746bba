package bench

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// turnPaceShards is how many goroutines send in a paced phase.
const turnPaceShards = 4

// turnWatchdog is how often a closed-loop phase looks for allocations whose
// packets were all lost (they would never send again) and starts them anew.
const turnWatchdog = 100 * time.Millisecond

// putPacket writes a ChannelData message for a on channel turnChannel
// carrying the send stamp and a's index into b (len 4 + payload).
func (r *turnRunner) putPacket(b []byte, a *turnAlloc) int64 {
	binary.BigEndian.PutUint16(b[0:2], turnChannel)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-4)) //nolint:gosec // at most 1400
	s := r.stamp()
	binary.BigEndian.PutUint64(b[4:12], uint64(s))      //nolint:gosec // positive
	binary.BigEndian.PutUint32(b[12:16], uint32(a.idx)) //nolint:gosec // an index
	return s
}

// send writes b (from putPacket) on a's socket and counts it.
func (r *turnRunner) send(a *turnAlloc, b []byte, s int64) {
	if _, err := a.conn.Write(b); err != nil {
		r.writeErrs.Add(1)
		r.noteErr(err)
		return
	}
	r.sent.Add(1)
	if r.inWindow(s) {
		r.sentWin.Add(1)
	}
}

// onEcho handles a ChannelData message p (header included) that came back
// to a, on a's reader goroutine.
func (r *turnRunner) onEcho(a *turnAlloc, p []byte) {
	a.recv.Add(1)
	s := int64(binary.BigEndian.Uint64(p[4:12])) //nolint:gosec // a stamp
	if int(binary.BigEndian.Uint32(p[12:16])) != a.idx {
		r.misrouted.Add(1)
	}
	if r.inWindow(s) {
		d := time.Duration(r.stamp() - s)
		r.hist.add(d)
		if t := r.tick.Load(); t != nil {
			t.add(d)
		}
		r.delivered.Add(1)
	}
	if r.loop.Load() {
		r.send(a, p, r.putPacket(p, a))
	}
}

// phase runs one relay phase over the first cfg.Active allocations: rate >
// 0 paces rate round trips/s in total, rate == 0 keeps cfg.Window packets
// in flight per allocation.
func (r *turnRunner) phase(ctx context.Context, held []*turnAlloc, payload int, rate float64, socks turnSockets) TURNPhase {
	cfg := &r.cfg
	active := held[:min(cfg.Active, len(held))]
	res := TURNPhase{Mode: "relay-sat", Offered: rate, Window: cfg.Window, Payload: payload, Active: len(active)}
	if rate > 0 {
		res.Mode = "relay-paced"
	}
	res.IdleWait, res.WaitTimedOut = r.waitIdle(ctx, res.Mode)
	r.logf("%s: %d allocations, %d-byte payload, offered %.0f round trips/s (0: closed loop, %d in flight each), warm-up %s, measuring %s",
		res.Mode, len(active), payload, rate, cfg.Window, cfg.Warmup, cfg.Duration)
	w0, re0, bp0, mr0, ce0 := r.writeErrs.Load(), r.readErrs.Load(), r.badPackets.Load(), r.misrouted.Load(), r.ctlErrs.Load()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	if rate > 0 {
		for _, shard := range shards(active, turnPaceShards) {
			wg.Add(1)
			go r.pace(shard, payload, rate*float64(len(shard))/float64(len(active)), stop, &wg)
		}
	} else {
		r.loop.Store(true)
		for _, a := range active {
			a.seen = a.recv.Load()
			b := make([]byte, 4+payload)
			for range cfg.Window {
				r.send(a, b, r.putPacket(b, a))
			}
		}
		wg.Add(1)
		go r.watchdog(active, payload, stop, &wg)
	}

	sleepCtx(ctx, cfg.Warmup)
	r.hist.reset()
	r.behind.Store(0)
	r.stalls.Store(0)
	sent0, del0, peer0 := r.sentWin.Load(), r.delivered.Load(), r.peer.inWin.Load()
	drops0, rcv0 := socks.drops(), rcvbufErrors()
	relayed0, dropped0 := r.turnCounters(ctx)
	cpu := startCPUWindow(r.skipPIDs(), r.probe.cpuTicks)
	r.winTo.Store(math.MaxInt64)
	r.winFrom.Store(r.stamp())
	if cfg.Timeline > 0 {
		r.timeline(ctx, cfg.Duration)
	} else {
		sleepCtx(ctx, cfg.Duration)
	}
	r.winTo.Store(r.stamp())
	u := cpu.stop()
	res.Elapsed = u.Elapsed
	relayed1, dropped1 := r.turnCounters(ctx)

	close(stop)
	r.loop.Store(false)
	wg.Wait()
	// Drain: until no echo from the window has come back for 200 ms.
	last, lastChange := r.delivered.Load(), time.Now()
	for end := time.Now().Add(turnDrainWait); time.Now().Before(end) && time.Since(lastChange) < 200*time.Millisecond; {
		time.Sleep(20 * time.Millisecond)
		if d := r.delivered.Load(); d != last {
			last, lastChange = d, time.Now()
		}
	}
	r.winFrom.Store(math.MaxInt64)
	res.Sent = r.sentWin.Load() - sent0
	res.Delivered = r.delivered.Load() - del0
	res.AtPeer = r.peer.inWin.Load() - peer0
	res.Drops = socks.drops().minus(drops0)
	if rcv0 >= 0 {
		res.RcvbufErrors = rcvbufErrors() - rcv0
	}
	res.ServerRelayed, res.ServerDropped = -1, -1
	if relayed0 >= 0 && relayed1 >= 0 {
		res.ServerRelayed = relayed1 - relayed0
	}
	if dropped0 >= 0 && dropped1 >= 0 {
		res.ServerDropped = dropped1 - dropped0
	}
	res.Behind, res.Stalls = r.behind.Load(), r.stalls.Load()
	res.P50, res.P99, res.P999 = r.hist.quantile(0.5), r.hist.quantile(0.99), r.hist.quantile(0.999)
	res.Mean, res.Max = r.hist.mean(), r.hist.maximum()
	res.ServerCPU, res.GenCPU, res.OtherCPU = u.ServerCPU, u.GenCPU, u.OtherCPU
	res.CoreBusy, res.SoftIRQ, res.Steal = u.CoreBusy, u.SoftIRQ, u.Steal
	res.WriteErrors = r.writeErrs.Load() - w0 + r.peer.writeErrs.Swap(0)
	res.ReadErrors = r.readErrs.Load() - re0
	res.BadPackets = r.badPackets.Load() - bp0 + r.misrouted.Load() - mr0
	res.ControlErrors = r.ctlErrs.Load() - ce0
	res.RSS = r.probe.sample(ctx).rss
	return res
}

// pace sends rate round trips/s round-robin over shard until stop closes.
func (r *turnRunner) pace(shard []*turnAlloc, payload int, rate float64, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	b := make([]byte, 4+payload)
	behind := func(k int64) {
		if r.winFrom.Load() != math.MaxInt64 {
			r.behind.Add(k)
		}
	}
	paceRoundRobin(len(shard), rate, 200*time.Microsecond, stop, behind, func(i int) {
		a := shard[i]
		r.send(a, b, r.putPacket(b, a))
	})
}

// watchdog restarts, in a closed loop, allocations that received nothing
// for a whole turnWatchdog: their packets were lost.
func (r *turnRunner) watchdog(active []*turnAlloc, payload int, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	b := make([]byte, 4+payload)
	t := time.NewTicker(turnWatchdog)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, a := range active {
			n := a.recv.Load()
			if n != a.seen {
				a.seen = n
				continue
			}
			r.stalls.Add(1)
			for range r.cfg.Window {
				r.send(a, b, r.putPacket(b, a))
			}
		}
	}
}

// timeline waits d, printing every cfg.Timeline the round trips completed
// in the interval and their latency.
func (r *turnRunner) timeline(ctx context.Context, d time.Duration) {
	runTimeline(ctx, r.out, &r.tick, r.cfg.Timeline, d, "round_trips")
}
