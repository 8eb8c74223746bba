package packetcache

import "errors"

var (
	// ErrPacketTooLarge is returned by Store for a packet longer than the
	// cache's MaxPacketSize; the packet is not stored.
	ErrPacketTooLarge = errors.New("packetcache: packet larger than MaxPacketSize")

	// ErrEmptyPacket is returned by Store for a packet of zero bytes.
	ErrEmptyPacket = errors.New("packetcache: empty packet")

	// ErrTooOld is returned by Store for a packet at least Slots sequence
	// numbers older than the newest one stored: its slot belongs to a newer
	// packet, so it is not stored.
	ErrTooOld = errors.New("packetcache: packet older than the cache's window")

	// ErrBadSlots is returned by New when Config.Slots is not a power of two
	// between 2 and 32768.
	ErrBadSlots = errors.New("packetcache: Slots must be a power of two between 2 and 32768")

	// ErrBadPacketSize is returned by New when Config.MaxPacketSize is
	// negative or larger than 65535.
	ErrBadPacketSize = errors.New("packetcache: MaxPacketSize must be between 1 and 65535")
)
