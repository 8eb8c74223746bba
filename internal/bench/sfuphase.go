package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// sfuCloseWait is the pause after a phase's participants leave, so that
// the server has let them go before the next phase.
const sfuCloseWait = 3 * time.Second

// sfuPhase is one room: its publishers, its receivers and what they saw.
type sfuPhase struct {
	r       *sfuRunner
	mode    string // "video-fanout" or "audio"
	n       int    // subscribers (video) or talkers (audio)
	room    string
	pubs    int // participants 0..pubs-1 publish
	streams []*sfuStream

	mu    sync.Mutex
	peers []*sfuPeer // by participant index; nil: failed to join

	// The window, in ns since the run's start: a packet counts when its
	// send stamp is in [winFrom, winTo).
	winFrom, winTo atomic.Int64
	copies         hist // every copy's latency, publisher write to subscriber read

	behind, writeErrs, badPackets, joinFails atomic.Int64
	keyframes                                atomic.Int64 // keyframe requests answered
	notSFU                                   atomic.Bool  // the room is not an sfu room: stop
}

func (ph *sfuPhase) inWindow(s int64) bool { return s >= ph.winFrom.Load() && s < ph.winTo.Load() }

// counted reports whether participant i's reception is measured: video
// subscribers, every audio talker.
func (ph *sfuPhase) counted(i int) bool { return ph.mode == "audio" || i >= ph.pubs }

func (r *sfuRunner) newPhase(mode string, n int) *sfuPhase {
	cfg := &r.cfg
	ph := &sfuPhase{r: r, mode: mode, n: n, room: fmt.Sprintf("%s%s-%s-n%d", cfg.RoomPrefix, r.runID, mode, n)}
	ph.winFrom.Store(math.MaxInt64)
	ph.winTo.Store(math.MaxInt64)
	long := cfg.Warmup + cfg.Window + cfg.Drain
	add := func(owner, track int, kind, rid string, pps float64) {
		ph.streams = append(ph.streams, &sfuStream{num: uint16(len(ph.streams)), owner: owner, track: track, kind: kind, rid: rid, //nolint:gosec // few
			last: make([]atomic.Uint64, ringFor(pps, long))})
	}
	if mode == "audio" {
		ph.pubs = n
		for i := range n {
			add(i, i, "audio", "", 50)
		}
		return ph
	}
	ph.pubs = cfg.Publishers
	for i := range cfg.Publishers {
		pps := newVideoFrames(cfg.Codec, cfg.Bitrate, cfg.FPS, cfg.MaxPayload, cfg.Keyframe).pps(cfg.FPS)
		if cfg.Simulcast {
			for _, l := range simulcastLayers {
				add(i, 2*i, "video", l.rid, pps)
			}
		} else {
			add(i, 2*i, "video", "", pps)
		}
		if cfg.Audio {
			add(i, 2*i+1, "audio", "", 50)
		}
	}
	return ph
}

// participants is how many join the phase's room.
func (ph *sfuPhase) participants() int {
	if ph.mode == "audio" {
		return ph.n
	}
	return ph.pubs + ph.n
}

// join connects participants from..to-1 at cfg.JoinRate a second; each
// publisher among them publishes and starts sending.
func (ph *sfuPhase) join(ctx context.Context, from, to int, stop <-chan struct{}, senders *sync.WaitGroup) {
	cfg := &ph.r.cfg
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := from; i < to && ctx.Err() == nil && !ph.notSFU.Load(); i++ {
		if cfg.JoinRate > 0 {
			sleepCtx(ctx, time.Until(start.Add(time.Duration(float64(i-from)/cfg.JoinRate*float64(time.Second)))))
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := ph.joinOne(ctx, i, stop, senders); err != nil {
				ph.joinFails.Add(1)
				if errors.Is(err, ErrNotSFU) {
					ph.notSFU.Store(true)
				}
				ph.r.noteErr(fmt.Errorf("participant %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
}

func (ph *sfuPhase) joinOne(ctx context.Context, i int, stop <-chan struct{}, senders *sync.WaitGroup) error {
	p, err := ph.dialPeer(ctx, i)
	if err != nil {
		return err
	}
	ph.mu.Lock()
	ph.peers[i] = p
	ph.mu.Unlock()
	if i >= ph.pubs {
		return nil
	}
	snd, err := ph.publish(ctx, p)
	if err != nil {
		return err
	}
	senders.Add(1)
	go snd.run(ph, stop, senders)
	return nil
}

// ready reports how many counted participants receive every track meant
// for them (a simulcast track: any of its layers).
func (ph *sfuPhase) ready() int {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	n := 0
	for i, p := range ph.peers {
		if p == nil || !ph.counted(i) {
			continue
		}
		got := map[int]bool{}
		want := map[int]bool{}
		for _, s := range ph.streams {
			if x := p.rx[s.num]; x != nil {
				want[s.track] = true
				if x.any.Load() > 0 {
					got[s.track] = true
				}
			}
		}
		if len(got) == len(want) {
			n++
		}
	}
	return n
}

// run runs the phase: join, wait for media everywhere, warm up, measure,
// leave.
func (ph *sfuPhase) run(ctx context.Context) SFUPhase {
	r, cfg := ph.r, &ph.r.cfg
	total := ph.participants()
	ph.peers = make([]*sfuPeer, total)
	res := SFUPhase{Mode: ph.mode, N: ph.n, Publishers: ph.pubs, Streams: len(ph.streams)}
	r.logf("%s n=%d: room %s, %d participants joining at %.0f/s", ph.mode, ph.n, ph.room, total, cfg.JoinRate)

	stop := make(chan struct{})
	var senders sync.WaitGroup
	defer ph.leave(stop, &senders)
	t0 := time.Now()
	if ph.mode == "audio" {
		ph.join(ctx, 0, total, stop, &senders)
	} else {
		ph.join(ctx, 0, ph.pubs, stop, &senders)
		ph.join(ctx, ph.pubs, total, stop, &senders)
	}
	res.Joined = total - int(ph.joinFails.Load())
	if ph.notSFU.Load() {
		res.NotSFU = true
		return res
	}
	want := total
	if ph.mode != "audio" {
		want = ph.n
	}
	if err := waitFor(ctx, cfg.readyWait(total), func() bool { return ph.ready() >= want-int(ph.joinFails.Load()) }); err != nil {
		r.logf("only %d of %d receivers got media in %s: measuring anyway", ph.ready(), want, cfg.readyWait(total))
	}
	res.Ready = ph.ready()
	res.JoinTime = time.Since(t0)
	r.logf("%d joined, %d receiving after %.1f s; warm-up %s, measuring %s", res.Joined, res.Ready, res.JoinTime.Seconds(), cfg.Warmup, cfg.Window)
	sleepCtx(ctx, cfg.Warmup)
	if ctx.Err() != nil {
		return res
	}

	m0 := r.sfuCounters(ctx)
	cpu := startCPUWindow(r.skipPIDs(), r.probe.cpuTicks)
	drops := startSFUDrops(r.probe.pid)
	ph.winFrom.Store(r.stamp())
	for end := time.Now().Add(cfg.Window); time.Now().Before(end) && ctx.Err() == nil; {
		sleepCtx(ctx, min(time.Second, time.Until(end)))
		res.RSS = max(res.RSS, r.probe.sample(ctx).rss)
	}
	ph.winTo.Store(r.stamp())
	u := cpu.stop()
	res.ServerUDPDrops, res.GenUDPDrops = drops.stop()
	m1 := r.sfuCounters(ctx)
	sleepCtx(ctx, cfg.Drain)
	res.Elapsed = u.Elapsed
	res.ServerCPU, res.GenCPU, res.OtherCPU = u.ServerCPU, u.GenCPU, u.OtherCPU
	res.CoreBusy, res.SoftIRQ, res.Steal = u.CoreBusy, u.SoftIRQ, u.Steal
	res.Server = m1.minus(m0)
	ph.collect(&res)
	return res
}

// collect fills in what the receivers saw over the window.
func (ph *sfuPhase) collect(res *SFUPhase) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	for _, s := range ph.streams {
		res.Sent += s.sentWin.Load()
	}
	for i, p := range ph.peers {
		if !ph.counted(i) {
			continue
		}
		var exp, got int64
		if p != nil {
			var tracks int
			exp, got, tracks = ph.expected(p)
			res.Forwarded += tracks
		} else {
			// never joined: it got nothing of what it should have
			for _, s := range ph.streams {
				if s.owner != i && (s.rid == "" || s.rid == "high") {
					exp += s.sentWin.Load()
				}
			}
		}
		res.Expected += exp
		res.Received += got
		loss := pct(exp-got, exp)
		if exp == 0 {
			loss = 100
		}
		res.SubLoss = append(res.SubLoss, loss)
		if p != nil && exp > 0 && got == exp {
			res.Lossless++
		}
		if p != nil && ph.onTop(p) {
			res.OnTop++
		}
		if p != nil {
			for _, x := range p.rx {
				if x != nil {
					res.Dups += x.dups.Load()
				}
			}
		}
	}
	var last hist
	for _, s := range ph.streams {
		for i := range s.last {
			if v := s.last[i].Load(); v > 0 {
				last.add(time.Duration(v-1) * time.Microsecond)
			}
		}
	}
	res.LastP50, res.LastP99, res.LastMax = last.quantile(0.5), last.quantile(0.99), last.maximum()
	res.CopyP50, res.CopyP99 = ph.copies.quantile(0.5), ph.copies.quantile(0.99)
	res.Behind, res.WriteErrors, res.BadPackets = ph.behind.Load(), ph.writeErrs.Load(), ph.badPackets.Load()
	res.JoinFailures = int(ph.joinFails.Load())
	res.Keyframes = ph.keyframes.Load()
}

// onTop reports whether p got, of every simulcast track, the top layer
// more than any other over the window.
func (ph *sfuPhase) onTop(p *sfuPeer) bool {
	top := map[int]int64{}
	other := map[int]int64{}
	for _, s := range ph.streams {
		x := p.rx[s.num]
		if x == nil || s.rid == "" {
			continue
		}
		if s.rid == simulcastLayers[len(simulcastLayers)-1].rid {
			top[s.track] += x.recv.Load()
		} else {
			other[s.track] = max(other[s.track], x.recv.Load())
		}
	}
	for t, n := range top {
		if n == 0 || n <= other[t] {
			return false
		}
	}
	return true
}

// expected is what p should have received over the window and what it
// did, and of how many tracks: of a simulcast track, the layer it got the
// most of.
func (ph *sfuPhase) expected(p *sfuPeer) (exp, got int64, tracks int) {
	best := map[int]*sfuStream{}
	for _, s := range ph.streams {
		x := p.rx[s.num]
		if x == nil {
			continue
		}
		if b := best[s.track]; b == nil || x.recv.Load() > p.rx[b.num].recv.Load() ||
			(x.recv.Load() == p.rx[b.num].recv.Load() && s.rid == "high") {
			best[s.track] = s
		}
	}
	for _, s := range best {
		exp += s.sentWin.Load()
		got += min(p.rx[s.num].recv.Load(), s.sentWin.Load())
	}
	return exp, got, len(best)
}

// leave stops the senders and closes every participant, 32 at a time.
func (ph *sfuPhase) leave(stop chan struct{}, senders *sync.WaitGroup) {
	close(stop)
	senders.Wait()
	ph.mu.Lock()
	peers := append([]*sfuPeer(nil), ph.peers...)
	ph.mu.Unlock()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, p := range peers {
		if p == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer func() { <-sem; wg.Done() }(); p.close() }()
	}
	wg.Wait()
	time.Sleep(sfuCloseWait)
}
