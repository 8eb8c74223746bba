//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// wrap listens on addr ("127.0.0.1:0", "[::]:0") and wraps the socket.
func wrap(t testing.TB, network, addr string) *Conn {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	w, _, err := Wrap(pc)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := w.(*Conn)
	if !ok {
		t.Fatalf("Wrap(%T) = %T, want *Conn", pc, w)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// receiver is a socket that records what arrives: per sender, the
// numbers (the first 8 bytes) in the order they came.
type receiver struct {
	pc   *net.UDPConn
	mu   sync.Mutex
	got  map[netip.AddrPort][]uint64
	size map[int]int // datagram length -> count
	n    int
	done chan struct{}
}

func newReceiver(t testing.TB, addr string) *receiver {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadBuffer(8 << 20)
	r := &receiver{pc: pc, got: map[netip.AddrPort][]uint64{}, size: map[int]int{}, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.n++
			r.size[n]++
			if n >= 8 {
				from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
				r.got[from] = append(r.got[from], binary.BigEndian.Uint64(buf))
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-r.done })
	return r
}

func (r *receiver) addr() netip.AddrPort { return r.pc.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// waitFor waits until n datagrams have arrived.
func (r *receiver) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d datagrams arrived, want %d", r.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func datagram(seq uint64, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, seq)
	return b
}

// Writes while the socket is held are queued, not sent, and all leave at
// Release, in the order written, to their own addresses: more than a
// batch's worth, on an IPv4 and on a dual-stack socket.
func TestHoldRelease(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp", "[::]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			c := wrap(t, tc.network, tc.addr)
			a, b := newReceiver(t, "127.0.0.1:0"), newReceiver(t, "127.0.0.1:0")
			const n = 3*MaxBatch + 5
			c.Hold()
			for i := range n {
				to := a
				if i%3 == 0 {
					to = b
				}
				if k, err := c.WriteToAddrPort(datagram(uint64(i), 1200), to.addr()); err != nil || k != 1200 {
					t.Fatalf("write %d: %d, %v", i, k, err)
				}
			}
			// Only full batches went while held.
			if st := c.Stats(); st.Sent != 3*MaxBatch {
				t.Fatalf("%d sent while held, want %d (the full batches)", st.Sent, 3*MaxBatch)
			}
			c.Release()
			a.waitFor(t, n-(n+2)/3)
			b.waitFor(t, (n+2)/3)
			from := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			for _, r := range []*receiver{a, b} {
				for src, seqs := range r.got {
					if src.Port() != from {
						t.Fatalf("datagrams from %v, want port %d", src, from)
					}
					for i := 1; i < len(seqs); i++ {
						if seqs[i] <= seqs[i-1] {
							t.Fatalf("out of order: %d after %d", seqs[i], seqs[i-1])
						}
					}
				}
			}
			if st := c.Stats(); st != (Stats{Sent: n, Batches: 4}) {
				t.Fatalf("stats %+v, want %d sent in 4 batches, none dropped", st, n)
			}
		})
	}
}

// Without a Hold a write leaves at once; a datagram longer than a queue
// slot, written while held, leaves after what was queued before it.
func TestUnheldAndLong(t *testing.T) {
	c := wrap(t, "udp4", "127.0.0.1:0")
	r := newReceiver(t, "127.0.0.1:0")
	if _, err := c.WriteToAddrPort(datagram(0, 100), r.addr()); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 1)
	c.Hold()
	_, _ = c.WriteToAddrPort(datagram(1, 100), r.addr())
	if _, err := c.WriteToAddrPort(datagram(2, maxDatagram+1), r.addr()); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 3) // the long one flushed the queue before it
	_, _ = c.WriteToAddrPort(datagram(3, 100), r.addr())
	c.Release()
	r.waitFor(t, 4)
	for _, seqs := range r.got {
		if fmt.Sprint(seqs) != "[0 1 2 3]" {
			t.Fatalf("arrived %v, want [0 1 2 3]", seqs)
		}
	}
	if r.size[maxDatagram+1] != 1 {
		t.Fatalf("sizes %v: the long datagram was cut", r.size)
	}
}

// Goroutines that hold the socket at the same time each see their own
// datagrams arrive in the order they wrote them, and none is lost.
func TestConcurrentHolders(t *testing.T) {
	c := wrap(t, "udp4", "127.0.0.1:0")
	r := newReceiver(t, "127.0.0.1:0")
	const writers, rounds, per = 4, 50, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				c.Hold()
				for j := range per {
					seq := uint64(w)<<32 | uint64(i*per+j)
					if _, err := c.WriteToAddrPort(datagram(seq, 200), r.addr()); err != nil {
						t.Error(err)
					}
				}
				c.Release()
			}
		}()
	}
	wg.Wait()
	r.waitFor(t, writers*rounds*per)
	last := map[uint64]int64{}
	for _, seqs := range r.got {
		for _, s := range seqs {
			w, i := s>>32, int64(s&0xffffffff)
			if prev, ok := last[w]; ok && i <= prev {
				t.Fatalf("writer %d: %d after %d", w, i, prev)
			}
			last[w] = i
		}
	}
}

// An IPv6 destination on an IPv4 socket is refused while held, as a
// direct write refuses it; a queue sent after Close counts as dropped.
func TestErrors(t *testing.T) {
	c := wrap(t, "udp4", "127.0.0.1:0")
	c.Hold()
	if _, err := c.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:9")); err == nil {
		t.Fatal("an IPv6 address queued on an IPv4 socket")
	}
	_, _ = c.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9"))
	_ = c.Close()
	c.Release()
	if st := c.Stats(); st.Dropped != 1 {
		t.Fatalf("%d dropped after Close, want 1", st.Dropped)
	}
	if _, err := c.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
}

// WriteTo with a *net.UDPAddr (pion's STUN path) goes the same way.
func TestWriteTo(t *testing.T) {
	c := wrap(t, "udp4", "127.0.0.1:0")
	r := newReceiver(t, "127.0.0.1:0")
	c.Hold()
	if _, err := c.WriteTo(datagram(7, 20), net.UDPAddrFromAddrPort(r.addr())); err != nil {
		t.Fatal(err)
	}
	c.Release()
	r.waitFor(t, 1)
}

// A socket that is not a *net.UDPConn is handed back with a Batcher that
// does nothing.
func TestWrapOther(t *testing.T) {
	pc := fakePacketConn{}
	w, b, err := Wrap(pc)
	if err != nil || w != net.PacketConn(pc) || b != None {
		t.Fatalf("Wrap = %T, %T, %v", w, b, err)
	}
}

type fakePacketConn struct{ net.PacketConn }

// Queueing a write allocates nothing.
func TestQueueAllocations(t *testing.T) {
	c := wrap(t, "udp4", "127.0.0.1:0")
	r := newReceiver(t, "127.0.0.1:0")
	b, to := datagram(1, 1200), r.addr()
	c.Hold()
	defer c.Release()
	if a := testing.AllocsPerRun(MaxBatch/2, func() { _, _ = c.WriteToAddrPort(b, to) }); a != 0 {
		t.Fatalf("%v allocations per queued write", a)
	}
}
