package rtc

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/internal/packetcache"
)

type count struct{ n float64 }

func (c *count) Add(v float64) { c.n += v }

// A packet that comes again after the original (a retransmission whose
// NACK crossed the original, RTX padding) is dropped; a late packet that
// had not come is a repair, counted as RTX if pion unwrapped it from RTX.
func TestUpTrackDuplicate(t *testing.T) {
	cache, err := packetcache.New(packetcache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dupes, rtx := &count{}, &count{}
	u := &UpTrack{cache: cache, c: (&Counters{DuplicatePackets: dupes, RTXReceived: rtx}).fill()}
	fromRTX := interceptor.Attributes{}
	fromRTX.Set(webrtc.AttributeRtxSsrc, uint32(7))
	for _, s := range []uint16{65534, 65535, 1, 2} { // 0 lost
		if u.duplicate(s, nil) {
			t.Fatalf("%d taken for a duplicate", s)
		}
		_ = cache.Store(s, []byte{0x80, 0, byte(s >> 8), byte(s)})
	}
	for _, c := range []struct {
		seq   uint16
		attrs interceptor.Attributes
		dup   bool
	}{
		{65535, nil, true}, {2, fromRTX, true}, {0, fromRTX, false}, {3, nil, false},
	} {
		if got := u.duplicate(c.seq, c.attrs); got != c.dup {
			t.Fatalf("duplicate(%d) = %v, want %v", c.seq, got, c.dup)
		}
	}
	if dupes.n != 2 || rtx.n != 1 {
		t.Fatalf("%v duplicates, %v RTX repairs; want 2 and 1", dupes.n, rtx.n)
	}
}

// BenchmarkUpTrackLossPath is what RTX and the server's own NACKs add to
// each packet an UpTrack reads, in order: the duplicate check, the loss
// log and its interval check; with the cache's Store of a 12-byte packet
// (Run's already) so that the duplicate check sees the cache move on.
func BenchmarkUpTrackLossPath(b *testing.B) {
	cache, err := packetcache.New(packetcache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	u := &UpTrack{cache: cache, c: (&Counters{}).fill(), nack: true}
	pkt := make([]byte, 12)
	now := time.Now()
	seq := uint16(0)
	_ = cache.Store(seq, pkt)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		if u.duplicate(seq, nil) {
			b.Fatal("a duplicate")
		}
		_ = cache.Store(seq, pkt)
		u.lost.add(seq)
		_ = u.lost.missing(now)
		now = now.Add(time.Millisecond)
	}
}
