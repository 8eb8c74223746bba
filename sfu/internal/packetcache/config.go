package packetcache

// Defaults of Config.
const (
	// DefaultSlots is the number of packets a video track keeps.
	DefaultSlots = 512
	// DefaultMaxPacketSize is the largest packet stored: an Ethernet MTU,
	// larger than any RTP packet a WebRTC sender emits.
	DefaultMaxPacketSize = 1500
)

// Config sizes a Cache. The zero value gives the defaults.
type Config struct {
	// Slots is how many packets the cache keeps: a power of two from 2 to
	// 32768. Default DefaultSlots (512); audio needs fewer (128 is about
	// 2.5 seconds of 20 ms packets).
	Slots int
	// MaxPacketSize is the size of each slot's buffer in bytes, 1 to 65535;
	// Store refuses longer packets with ErrPacketTooLarge. Default
	// DefaultMaxPacketSize (1500).
	MaxPacketSize int
}

// withDefaults returns cfg with its zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Slots == 0 {
		cfg.Slots = DefaultSlots
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	return cfg
}

func (cfg Config) validate() error {
	if cfg.Slots < 2 || cfg.Slots > 1<<15 || cfg.Slots&(cfg.Slots-1) != 0 {
		return ErrBadSlots
	}
	if cfg.MaxPacketSize < 1 || cfg.MaxPacketSize > 1<<16-1 {
		return ErrBadPacketSize
	}
	return nil
}
