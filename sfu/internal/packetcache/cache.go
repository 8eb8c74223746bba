package packetcache

import (
	"sync"
	"sync/atomic"
)

// Cache is a fixed ring of the recent packets of one track. See the package
// documentation for its memory cost and concurrency contract.
type Cache struct {
	slots []slot
	bufs  []byte // len(slots)*size bytes: slot i's buffer is bufs[i*size:(i+1)*size]
	size  int    // MaxPacketSize
	mask  uint16 // len(slots)-1

	// head is the extended sequence number of the newest packet stored, or
	// 0 when the cache is empty. Extended numbers count wraparounds above the
	// low 16 bits; they start at 1<<16 or more, so 0 is never one. Only the
	// writer changes head, after the packet is in its slot.
	head atomic.Uint64
	// prev is head before the last Reset: the next first packet is numbered
	// above it, so that no packet left in a slot can match again.
	prev uint64
}

type slot struct {
	mu  sync.Mutex
	ext uint64 // extended sequence number of the packet in the slot; 0 if none
	n   int    // its length
}

// New returns an empty cache sized by cfg, with every buffer allocated.
func New(cfg Config) (*Cache, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Cache{
		slots: make([]slot, cfg.Slots),
		bufs:  make([]byte, cfg.Slots*cfg.MaxPacketSize),
		size:  cfg.MaxPacketSize,
		mask:  uint16(cfg.Slots - 1),
	}, nil
}

// Slots returns the number of packets the cache can hold.
func (c *Cache) Slots() int { return len(c.slots) }

// MaxPacketSize returns the size of the largest packet Store accepts.
func (c *Cache) MaxPacketSize() int { return c.size }

// Store copies pkt, the packet with sequence number seq, into the cache.
// A packet newer than the newest one stored (by less than half the 16-bit
// space) becomes the newest, whatever the gap; an older one is stored if it
// is less than Slots behind the newest (a late or retransmitted packet),
// otherwise it is refused with ErrTooOld. Storing a sequence number again
// replaces the packet. Store must not be called concurrently with itself or
// Reset.
func (c *Cache) Store(seq uint16, pkt []byte) error {
	if len(pkt) > c.size {
		return ErrPacketTooLarge
	}
	if len(pkt) == 0 {
		return ErrEmptyPacket
	}
	head := c.head.Load()
	var ext uint64
	switch ahead := seq - uint16(head); {
	case head == 0:
		// First packet: above every number used before a Reset.
		ext = (c.prev>>16+2)<<16 | uint64(seq)
	case ahead != 0 && ahead < 1<<15:
		ext = head + uint64(ahead)
	case -ahead <= c.mask: // behind by less than Slots (or equal to head)
		ext = head - uint64(-ahead)
	default:
		return ErrTooOld
	}

	i := int(seq & c.mask)
	s := &c.slots[i]
	s.mu.Lock()
	s.n = copy(c.bufs[i*c.size:(i+1)*c.size], pkt)
	s.ext = ext
	s.mu.Unlock()

	if ext > head {
		c.head.Store(ext)
	}
	return nil
}

// Get copies the packet with sequence number seq into dst and returns its
// length. It returns 0 if the packet is not in the cache (never stored,
// overwritten by a newer one, too old, or newer than the newest) or if dst
// is shorter than the packet: dst of MaxPacketSize bytes always suffices.
func (c *Cache) Get(seq uint16, dst []byte) int {
	i, ext, ok := c.locate(seq)
	if !ok {
		return 0
	}
	s := &c.slots[i]
	s.mu.Lock()
	n := 0
	if s.ext == ext && s.n <= len(dst) {
		off := i * c.size
		n = copy(dst, c.bufs[off:off+s.n])
	}
	s.mu.Unlock()
	return n
}

// Has reports whether the packet with sequence number seq is in the cache,
// that is, whether Get would return it at this moment.
func (c *Cache) Has(seq uint16) bool {
	i, ext, ok := c.locate(seq)
	if !ok {
		return false
	}
	s := &c.slots[i]
	s.mu.Lock()
	has := s.ext == ext
	s.mu.Unlock()
	return has
}

// Last returns the sequence number of the newest packet stored, and false
// if the cache is empty.
func (c *Cache) Last() (seq uint16, ok bool) {
	head := c.head.Load()
	return uint16(head), head != 0
}

// Reset empties the cache, for a new source whose sequence numbers have
// nothing to do with the old one's. It allocates nothing and, like Store,
// must be called by the writer.
func (c *Cache) Reset() {
	if head := c.head.Load(); head != 0 {
		c.prev = head
	}
	c.head.Store(0)
}

// locate returns the slot and extended sequence number that seq must have
// to be in the cache, and false if it is outside the window of the last
// Slots sequence numbers up to the newest.
func (c *Cache) locate(seq uint16) (int, uint64, bool) {
	head := c.head.Load()
	behind := uint16(head) - seq
	if head == 0 || behind > c.mask {
		return 0, 0, false
	}
	return int(seq & c.mask), head - uint64(behind), true
}
