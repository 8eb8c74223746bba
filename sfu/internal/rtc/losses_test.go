package rtc

import (
	"slices"
	"testing"
	"time"
)

// The loss log asks for the gaps behind the newest packet, oldest first,
// once an interval, at most maxNACKs times each, and forgets what came
// late (a plain retransmission or an RTX repair, the same to it).
func TestLossLog(t *testing.T) {
	var l lossLog
	now := time.Now()
	tick := func() []uint16 {
		now = now.Add(NACKInterval)
		return slices.Clone(l.missing(now))
	}
	for _, s := range []uint16{65530, 65531, 65534, 2, 3} { // 65532, 65533, 65535, 0, 1 lost across the wrap
		l.add(s)
	}
	if got, want := tick(), []uint16{65532, 65533, 65535, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	if got := l.missing(now.Add(NACKInterval / 2)); got != nil {
		t.Fatalf("asked again within the interval: %v", got)
	}
	l.add(65533) // repaired
	l.add(0)
	l.add(65000) // far behind the window: ignored
	if got, want := tick(), []uint16{65532, 65535, 1}; !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	for range maxNACKs - 2 {
		tick()
	}
	if got := tick(); len(got) != 0 {
		t.Fatalf("asked for %v more than %d times", got, maxNACKs)
	}
	// A new gap is asked for although the old ones are given up.
	l.add(5)
	if got, want := tick(), []uint16{4}; !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	// A jump of the window or more starts again: nothing before it is
	// asked for.
	l.add(5 + lossWindow + 10)
	if got := tick(); len(got) != 0 {
		t.Fatalf("after a jump: missing %v", got)
	}
	l.add(5 + lossWindow + 12)
	if got, want := tick(), []uint16{5 + lossWindow + 11}; !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
}

// Nothing is asked for before the first packet, nor allocated once the
// list has its room.
func TestLossLogAllocations(t *testing.T) {
	var l lossLog
	now := time.Now()
	l.add(100)
	if got := l.missing(now); len(got) != 0 {
		t.Fatalf("missing %v before any gap", got)
	}
	for s := uint16(102); s < 102+2*lossWindow; s += 2 {
		l.add(s)
	}
	now = now.Add(NACKInterval)
	if len(l.missing(now)) == 0 {
		t.Fatal("no loss seen")
	}
	seq := uint16(102 + 2*lossWindow)
	allocs := testing.AllocsPerRun(1000, func() {
		l.add(seq)
		seq += 2
		now = now.Add(NACKInterval)
		_ = l.missing(now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

// FuzzLossLog feeds any sequence of numbers (a publisher chooses them)
// and checks the log against a model that remembers every number: what
// it asks for is behind the newest by less than the window, did not
// arrive since it went missing, and is asked for at most maxNACKs times.
func FuzzLossLog(f *testing.F) {
	f.Add([]byte{0, 1, 0, 3, 0, 2, 0, 9})
	f.Add([]byte{0xff, 0xfe, 0, 2, 0xff, 0xff, 2, 0x10, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l lossLog
		now := time.Now()
		got := map[uint16]bool{}
		asked := map[uint16]int{}
		var head uint16
		started := false
		for i := 0; i+1 < len(b); i += 2 {
			s := uint16(b[i])<<8 | uint16(b[i+1])
			if ahead := s - head; !started || ahead < 1<<15 && ahead >= lossWindow {
				clear(got)
				clear(asked)
				head, started = s, true
			} else if ahead != 0 && ahead < 1<<15 {
				for x := head + 1; x != s; x++ { // a new gap (a number seen a wrap ago is not there)
					delete(got, x)
					delete(asked, x)
				}
				head = s
			}
			got[s] = true
			l.add(s)
			now = now.Add(NACKInterval)
			for _, m := range l.missing(now) {
				if behind := head - m; behind == 0 || behind >= lossWindow {
					t.Fatalf("asked for %d, head %d", m, head)
				}
				if got[m] {
					t.Fatalf("asked for %d, which arrived", m)
				}
				if asked[m]++; asked[m] > maxNACKs {
					t.Fatalf("asked for %d %d times", m, asked[m])
				}
			}
		}
	})
}
