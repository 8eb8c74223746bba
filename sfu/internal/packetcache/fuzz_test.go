package packetcache

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzCache decodes its input as stores (new, late, far behind, after a
// jump), Resets and look-ups on a cache of 16 slots, against a model that
// keeps every packet ever stored under the extended number the generator
// gave it. Get must return exactly the last packet stored under the number
// the window gives seq, or 0 if there is none; Store must refuse exactly
// what is Slots or more behind the newest.
func FuzzCache(f *testing.F) {
	f.Add([]byte{})
	r := rand.New(rand.NewPCG(15, 2))
	for range 6 {
		seed := make([]byte, 400)
		for i := range seed {
			seed[i] = byte(r.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const slots = 16
		c, err := New(Config{Slots: slots, MaxPacketSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		model := map[int64]byte{} // extended number -> content byte of the last store
		var head, next int64 = -1, 1<<20 + 65530
		dst := make([]byte, 64)
		for i := 0; i+1 < len(data); i += 2 {
			op, arg := data[i], data[i+1]
			switch op % 4 {
			case 0, 1: // store: new, or behind the newest
				ext := next
				switch {
				case op&0x80 == 0:
					next += 1 + int64(arg%4)
					if arg > 250 {
						next += 20000
					}
				case head >= 0:
					ext = head - int64(arg%(2*slots))
				}
				pkt := dst[:1+int(arg%63)]
				pkt[0] = op ^ arg
				err := c.Store(uint16(ext), pkt)
				tooOld := head >= 0 && head-ext >= slots
				if tooOld != errors.Is(err, ErrTooOld) || (!tooOld && err != nil) {
					t.Fatalf("Store(ext %d, newest %d) = %v", ext, head, err)
				}
				if err == nil {
					model[ext], head = op^arg, max(head, ext)
				}
			case 2: // look up seq at some distance from the newest
				if head < 0 {
					continue
				}
				want := head - int64(arg%(2*slots)) + 4
				got := c.Get(uint16(want), dst)
				b, stored := model[want]
				if want > head || head-want >= slots {
					stored = false
				}
				if (got != 0) != stored || stored && dst[0] != b {
					t.Fatalf("Get(ext %d, newest %d) = %d bytes %x, model has %v %x", want, head, got, dst[0], stored, b)
				}
				if c.Has(uint16(want)) != stored {
					t.Fatalf("Has(ext %d) != %v", want, stored)
				}
			case 3:
				if arg < 16 {
					c.Reset()
					clear(model)
					head, next = -1, next+int64(arg)-8 // the new source may reuse numbers
				}
			}
			if last, ok := c.Last(); ok != (head >= 0) || ok && last != uint16(head) {
				t.Fatalf("Last() = %d %v, newest %d", last, ok, head)
			}
		}
	})
}
