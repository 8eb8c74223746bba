package rtc

import "time"

// The server NACKs a publisher for the packets it lost on the way in
// itself (it does not wait for every subscriber to find the same hole),
// from the track's reader goroutine, which sees every packet: originals
// and, once pion has unwrapped them, RTX retransmissions. pion's NACK
// generator interceptor cannot do it with RTX: it sees the media stream's
// packets only, so a packet repaired on the RTX stream stays missing for
// it and is asked for again every 100 ms for as long as it is in its
// window (pion/webrtc issue 3063).
const (
	// lossWindow is how far behind the newest packet a loss is still
	// asked for (a power of two, at most the video cache's slots).
	lossWindow = 512
	// NACKInterval is how often a publisher is sent the NACK for what is
	// missing (pion's generator's period).
	NACKInterval = 100 * time.Millisecond
	// maxNACKs is how many times one lost packet is asked for at most,
	// one NACK an interval (Chromium gives up after 10 as well).
	maxNACKs = 10
)

// lossLog tracks which of the last lossWindow sequence numbers of one
// incoming stream arrived, and how often each missing one was asked for.
// Owned by the UpTrack's reader goroutine; 576 bytes, no allocation after
// the first call to missing.
type lossLog struct {
	started bool
	head    uint16 // the newest sequence number
	got     [lossWindow / 64]uint64
	tries   [lossWindow]uint8
	last    time.Time // when missing last ran
	out     []uint16
}

func (l *lossLog) bit(seq uint16) (int, uint64) {
	i := int(seq % lossWindow)
	return i / 64, 1 << (i % 64)
}

func (l *lossLog) set(seq uint16) {
	w, b := l.bit(seq)
	l.got[w] |= b
}

func (l *lossLog) has(seq uint16) bool {
	w, b := l.bit(seq)
	return l.got[w]&b != 0
}

// add records that seq arrived. A jump forward of lossWindow or more
// starts the log again (nothing before the jump is asked for: the
// subscribers' NACKs and keyframe requests cover it); numbers more than
// the window behind are ignored.
func (l *lossLog) add(seq uint16) {
	ahead := seq - l.head
	switch {
	case !l.started || (ahead < 1<<15 && ahead >= lossWindow):
		l.started, l.head = true, seq
		for i := range l.got {
			l.got[i] = ^uint64(0) // nothing before the first packet is missing
		}
		l.tries = [lossWindow]uint8{}
	case ahead == 0:
	case ahead < 1<<15:
		for s := l.head + 1; s != seq; s++ { // the gap: missing, never asked for
			w, b := l.bit(s)
			l.got[w] &^= b
			l.tries[s%lossWindow] = 0
		}
		l.head = seq
		l.set(seq)
	case l.head-seq < lossWindow:
		l.set(seq)
	}
}

// missing returns, at most once per NACKInterval (now being the time of
// the call), the numbers of the window still missing that were asked for
// fewer than maxNACKs times, counting this time; nil otherwise. The slice
// is the log's, valid until the next call.
func (l *lossLog) missing(now time.Time) []uint16 {
	if !l.started || now.Sub(l.last) < NACKInterval {
		return nil
	}
	l.last = now
	l.out = l.out[:0]
	for seq := l.head - lossWindow + 1; seq != l.head; seq++ { // oldest first
		if i := seq % lossWindow; !l.has(seq) && l.tries[i] < maxNACKs {
			l.tries[i]++
			l.out = append(l.out, seq)
		}
	}
	return l.out
}
