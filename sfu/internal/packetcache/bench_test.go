package packetcache

import "testing"

func BenchmarkStore(b *testing.B) {
	c, _ := New(Config{})
	pkt := packet(0, 1200)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	seq := uint16(0)
	for b.Loop() {
		seq++
		_ = c.Store(seq, pkt)
	}
}

func BenchmarkGet(b *testing.B) {
	c, _ := New(Config{})
	for seq := range uint16(512) {
		_ = c.Store(seq, packet(seq, 1200))
	}
	dst := make([]byte, 1500)
	b.SetBytes(1200)
	b.ReportAllocs()
	seq := uint16(0)
	for b.Loop() {
		seq++
		_ = c.Get(seq&511, dst)
	}
}

// BenchmarkGetWhileStoring is Get from parallel readers while one writer
// stores without pause.
func BenchmarkGetWhileStoring(b *testing.B) {
	c, _ := New(Config{})
	pkt := packet(0, 1200)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.Store(seq, pkt)
		}
	}()
	b.SetBytes(1200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 1500)
		i := uint16(0)
		for pb.Next() {
			i++
			last, _ := c.Last()
			_ = c.Get(last-i%256, dst)
		}
	})
	close(stop)
	<-stopped
}
