package bwe

import "time"

const (
	trendWindow    = 20  // groups in the trendline's regression
	trendSmoothing = 0.9 // of the accumulated delay
	trendGain      = 4.0 // the slope's gain (libwebrtc's threshold gain)
	// overuseTime: a trend over the threshold this long is overuse (the
	// draft's 10 ms; see minQueue for why longer).
	overuseTime   = 300 * time.Millisecond
	thresholdInit = 12.5 // ms, the adaptive threshold's start
	thresholdMin  = 6.0
	thresholdMax  = 600.0
	kUp           = 0.0087 // the threshold's adaptation rates, per ms
	kDown         = 0.039
	maxAdaptStep  = 100 * time.Millisecond
	// minQueue: overuse needs the smoothed delay to have risen this much
	// (ms) from its lowest in the window: a queue, not the milliseconds a
	// busy receiver's scheduling or garbage collection adds. Neither it
	// nor the 300 ms of overuseTime is in the draft: in the SFU benchmark
	// (200 pion receivers and the server on two cores) the draft's rules
	// cut 374 to 447 times in a run, at rises of 2 to 22 ms, each cut a
	// layer switch; with 30 ms, still 156; with both, none. A real
	// bottleneck's queue grows for seconds and by far more.
	minQueue = 30.0
)

// Usage is what the overuse detector concludes from the delay trend.
type Usage int

// The detector's signals.
const (
	Normal Usage = iota
	Overuse
	Underuse
)

func (u Usage) String() string {
	switch u {
	case Overuse:
		return "overuse"
	case Underuse:
		return "underuse"
	}
	return "normal"
}

// trendline is the delay trend and the overuse detector: the slope of the
// smoothed accumulated delay variation over the last trendWindow groups,
// times the number of groups seen (up to 60) and a gain, against a
// threshold that follows it slowly (draft-ietf-rmcat-gcc 5.4, 5.5), and
// a queue of at least minQueue built in the window.
type trendline struct {
	accDelay, smoothed float64 // ms
	firstArrival       time.Duration
	points             [trendWindow][2]float64 // (arrival ms, smoothed delay ms), a ring
	n                  int                     // points added
	trend, prevTrend   float64
	thr                float64 // ms; 0: thresholdInit
	thrAt              time.Duration
	overFor            time.Duration // how long the trend has been over the threshold; -1: it was under
	overCount          int
	usage              Usage
}

func (t *trendline) reset() { *t = trendline{} }

// add feeds the trend one group's delay variation v (ms), the group's
// arrival time and its send-time delta.
func (t *trendline) add(v float64, arrived, sendDelta time.Duration) {
	if t.n == 0 {
		t.firstArrival = arrived
	}
	t.accDelay += v
	t.smoothed = trendSmoothing*t.smoothed + (1-trendSmoothing)*t.accDelay
	t.points[t.n%trendWindow] = [2]float64{ms(arrived - t.firstArrival), t.smoothed}
	t.n++
	if t.n >= trendWindow {
		if s, ok := slope(t.points[:]); ok {
			t.trend = s
		}
	}
	t.detect(arrived, sendDelta)
}

// slope is the least-squares slope of the points (x, y).
func slope(pts [][2]float64) (float64, bool) {
	var sx, sy float64
	for _, p := range pts {
		sx += p[0]
		sy += p[1]
	}
	n := float64(len(pts))
	mx, my := sx/n, sy/n
	var num, den float64
	for _, p := range pts {
		num += (p[0] - mx) * (p[1] - my)
		den += (p[0] - mx) * (p[0] - mx)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

// rise is how much the smoothed delay rose from its lowest in the window
// to now, in ms: the queue built lately.
func (t *trendline) rise() float64 {
	n := min(t.n, trendWindow)
	if n == 0 {
		return 0
	}
	low := t.smoothed
	for _, p := range t.points[:n] {
		low = min(low, p[1])
	}
	return t.smoothed - low
}

// detect compares the trend with the threshold, then adapts the
// threshold.
func (t *trendline) detect(arrived, sendDelta time.Duration) {
	if t.n < 2 {
		t.usage = Normal
		return
	}
	if t.thr == 0 {
		t.thr, t.thrAt = thresholdInit, arrived
	}
	m := float64(min(t.n, 60)) * t.trend * trendGain
	switch {
	case m > t.thr:
		if t.overFor == -1 {
			t.overFor = sendDelta / 2
		} else {
			t.overFor += sendDelta
		}
		t.overCount++
		if t.overFor > overuseTime && t.overCount > 1 && t.trend >= t.prevTrend && t.rise() >= minQueue {
			t.overFor, t.overCount = 0, 0
			t.usage = Overuse
		}
	case m < -t.thr:
		t.overFor, t.overCount = -1, 0
		t.usage = Underuse
	default:
		t.overFor, t.overCount = -1, 0
		t.usage = Normal
	}
	t.prevTrend = t.trend
	t.adapt(m, arrived)
}

// adapt moves the threshold towards |m|: fast down, slowly up, not at
// all for an outlier far over it (a sudden jump is not the network's new
// normal).
func (t *trendline) adapt(m float64, arrived time.Duration) {
	if m < 0 {
		m = -m
	}
	if m > t.thr+15 {
		t.thrAt = arrived
		return
	}
	k := kUp
	if m < t.thr {
		k = kDown
	}
	dt := min(max(arrived-t.thrAt, 0), maxAdaptStep)
	t.thr = min(max(t.thr+k*(m-t.thr)*ms(dt), thresholdMin), thresholdMax)
	t.thrAt = arrived
}
