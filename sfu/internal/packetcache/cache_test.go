package packetcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// packet returns a packet of n bytes whose first two bytes are seq and the
// rest a pattern of seq, so that a torn or misplaced copy shows.
func packet(seq uint16, n int) []byte {
	p := make([]byte, n)
	fill(p, seq)
	return p
}

func fill(p []byte, seq uint16) {
	binary.BigEndian.PutUint16(p, seq)
	for i := 2; i < len(p); i++ {
		p[i] = byte(seq) + byte(i)
	}
}

// isPacket reports whether p is packet(seq, n).
func isPacket(p []byte, seq uint16, n int) bool {
	if len(p) != n || binary.BigEndian.Uint16(p) != seq {
		return false
	}
	for i := 2; i < n; i++ {
		if p[i] != byte(seq)+byte(i) {
			return false
		}
	}
	return true
}

func newCache(t *testing.T, slots int) *Cache {
	t.Helper()
	c, err := New(Config{Slots: slots})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want error
	}{
		{Config{}, nil},
		{Config{Slots: 2, MaxPacketSize: 1}, nil},
		{Config{Slots: 1 << 15, MaxPacketSize: 1<<16 - 1}, nil},
		{Config{Slots: 1}, ErrBadSlots},
		{Config{Slots: 100}, ErrBadSlots},
		{Config{Slots: 1 << 16}, ErrBadSlots},
		{Config{Slots: -4}, ErrBadSlots},
		{Config{MaxPacketSize: -1}, ErrBadPacketSize},
		{Config{MaxPacketSize: 1 << 16}, ErrBadPacketSize},
	} {
		c, err := New(tc.cfg)
		if !errors.Is(err, tc.want) {
			t.Errorf("New(%+v) = %v, want %v", tc.cfg, err, tc.want)
		}
		if err == nil && (c.Slots() == 0 || c.MaxPacketSize() == 0) {
			t.Errorf("New(%+v): zero size", tc.cfg)
		}
	}
	c := newCache(t, 0)
	if c.Slots() != DefaultSlots || c.MaxPacketSize() != DefaultMaxPacketSize {
		t.Errorf("defaults: %d slots of %d bytes", c.Slots(), c.MaxPacketSize())
	}
}

// TestStoreGet stores sequences of packets and checks which ones Get finds.
func TestStoreGet(t *testing.T) {
	seqs := func(from uint16, n int) []uint16 {
		s := make([]uint16, n)
		for i := range s {
			s[i] = from + uint16(i)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		store   []uint16
		found   []uint16
		missing []uint16
		last    uint16
	}{
		{"in order", seqs(100, 8), seqs(100, 8), []uint16{99, 108, 1000}, 107},
		{"wraparound", seqs(65530, 12), seqs(65530, 12), []uint16{65529, 6}, 5},
		{"overwritten", seqs(0, 20), seqs(4, 16), seqs(0, 4), 19},
		{"late within window", []uint16{10, 12, 11, 9}, []uint16{9, 10, 11, 12}, []uint16{8, 13}, 12},
		{"late across wraparound", []uint16{1, 65535, 0}, []uint16{65535, 0, 1}, []uint16{2, 65534}, 1},
		// After a jump the slots still hold the old packets, but their
		// numbers are out of the window: never returned.
		{"jump forgets", []uint16{1, 2, 3, 1000}, []uint16{1000}, []uint16{1, 2, 3, 1 + 16, 999}, 1000},
		{"jump of a whole cycle", []uint16{5, 20000, 40000, 60000, 5}, []uint16{5}, []uint16{20000, 40000, 60000}, 5},
		{"duplicate", []uint16{7, 7}, []uint16{7}, []uint16{6, 8}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, 16)
			for _, s := range tc.store {
				if err := c.Store(s, packet(s, 100+int(s%50))); err != nil {
					t.Fatalf("Store(%d): %v", s, err)
				}
			}
			dst := make([]byte, c.MaxPacketSize())
			for _, s := range tc.found {
				want := packet(s, 100+int(s%50))
				if n := c.Get(s, dst); !bytes.Equal(dst[:n], want) {
					t.Errorf("Get(%d) = %d bytes, want the packet's %d", s, n, len(want))
				}
				if !c.Has(s) {
					t.Errorf("Has(%d) = false", s)
				}
			}
			for _, s := range tc.missing {
				if n := c.Get(s, dst); n != 0 {
					t.Errorf("Get(%d) = %d bytes, want 0", s, n)
				}
				if c.Has(s) {
					t.Errorf("Has(%d) = true", s)
				}
			}
			if last, ok := c.Last(); !ok || last != tc.last {
				t.Errorf("Last() = %d, %v; want %d", last, ok, tc.last)
			}
		})
	}
}

func TestStoreRefuses(t *testing.T) {
	c, err := New(Config{Slots: 16, MaxPacketSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store(1, make([]byte, 201)); !errors.Is(err, ErrPacketTooLarge) {
		t.Errorf("201 bytes: %v, want ErrPacketTooLarge", err)
	}
	if err := c.Store(1, nil); !errors.Is(err, ErrEmptyPacket) {
		t.Errorf("empty: %v, want ErrEmptyPacket", err)
	}
	if _, ok := c.Last(); ok {
		t.Error("refused packets made the cache non-empty")
	}
	if err := c.Store(100, packet(100, 200)); err != nil {
		t.Fatal(err)
	}
	// 84 is 16 behind: its slot is 100's.
	if err := c.Store(84, packet(84, 50)); !errors.Is(err, ErrTooOld) {
		t.Errorf("16 behind: %v, want ErrTooOld", err)
	}
	if err := c.Store(85, packet(85, 50)); err != nil {
		t.Errorf("15 behind: %v", err)
	}
	dst := make([]byte, 200)
	if n := c.Get(100, dst); !bytes.Equal(dst[:n], packet(100, 200)) {
		t.Error("a refused packet replaced the one in its slot")
	}
	if n := c.Get(100, dst[:199]); n != 0 {
		t.Errorf("Get into a short dst = %d, want 0", n)
	}
}

func TestReset(t *testing.T) {
	c := newCache(t, 16)
	for s := uint16(0); s < 10; s++ {
		if err := c.Store(s, packet(s, 60)); err != nil {
			t.Fatal(err)
		}
	}
	c.Reset()
	if _, ok := c.Last(); ok {
		t.Error("Last after Reset: not empty")
	}
	// A new source whose numbers are near the old ones: the old packets
	// left in the slots must not be returned for them.
	if err := c.Store(12, packet(1000, 60)); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 1500)
	for s := uint16(0); s < 12; s++ {
		if c.Get(s, dst) != 0 {
			t.Errorf("Get(%d) after Reset returned the old packet", s)
		}
	}
	if n := c.Get(12, dst); !bytes.Equal(dst[:n], packet(1000, 60)) {
		t.Error("Get(12) after Reset: not the new packet")
	}
	c.Reset()
	c.Reset()
	if err := c.Store(12, packet(2000, 60)); err != nil {
		t.Fatal(err)
	}
	if n := c.Get(12, dst); !bytes.Equal(dst[:n], packet(2000, 60)) {
		t.Error("Get(12) after two Resets: not the newest packet")
	}
}

func TestNoAllocs(t *testing.T) {
	c := newCache(t, 512)
	pkt := packet(0, 1200)
	dst := make([]byte, 1500)
	seq := uint16(0)
	if a := testing.AllocsPerRun(1000, func() {
		seq++
		_ = c.Store(seq, pkt)
	}); a != 0 {
		t.Errorf("Store: %v allocations", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		seq--
		_ = c.Get(seq, dst)
		_ = c.Has(seq)
		_, _ = c.Last()
	}); a != 0 {
		t.Errorf("Get: %v allocations", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = c.Store(seq-1000, pkt) }); a != 0 {
		t.Errorf("refused Store: %v allocations", a)
	}
}

// ExampleCache answers a NACK for two packets, one of which is too old.
func ExampleCache() {
	c, _ := New(Config{Slots: 4})
	for seq := uint16(65534); seq != 3; seq++ {
		_ = c.Store(seq, []byte{byte(seq), 0xab})
	}
	buf := make([]byte, c.MaxPacketSize())
	for _, seq := range []uint16{65534, 1} {
		n := c.Get(seq, buf)
		fmt.Printf("seq %d: %d bytes [%x]\n", seq, n, buf[:n])
	}
	last, _ := c.Last()
	fmt.Println("last", last)
	// Output:
	// seq 65534: 0 bytes []
	// seq 1: 2 bytes [01ab]
	// last 2
}
