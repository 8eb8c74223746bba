package packetcache

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

// TestOneWriterManyReaders stores packets without pause while readers ask
// for recent ones: whatever Get returns must be exactly the packet of that
// sequence number, never a torn or a neighbour's one. Run with -race.
func TestOneWriterManyReaders(t *testing.T) {
	lim := test.TimeOut(20 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	c := newCache(t, 64)
	const packets = 3000
	var done atomic.Bool
	var found atomic.Int64
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, 1500)
			for i := 0; !done.Load(); i++ {
				last, ok := c.Last()
				if !ok {
					continue
				}
				seq := last - uint16((i*7+r)%80) // some inside the window, some out
				n := c.Get(seq, dst)
				if n == 0 {
					continue
				}
				if !isPacket(dst[:n], seq, 40+int(seq%900)) {
					t.Errorf("Get(%d) returned another packet", seq)
					return
				}
				found.Add(1)
			}
		}()
	}
	buf := make([]byte, 1500)
	for i := range packets {
		seq := uint16(63000 + i*3/2) // wraps; some numbers come twice
		pkt := buf[:40+int(seq%900)]
		fill(pkt, seq)
		if err := c.Store(seq, pkt); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	if found.Load() == 0 {
		t.Error("the readers found nothing")
	}
}
