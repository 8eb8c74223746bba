package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config (the SFU spec's limits).
const (
	DefaultMaxRooms               = 1000
	DefaultMaxParticipantsPerRoom = 100
	DefaultMaxPublishersPerRoom   = 16
	DefaultMaxTracksPerPublisher  = 4
	DefaultMaxTracks              = 2000
	DefaultMaxBitratePerPublisher = 4_000_000
	DefaultMaxMessageBytes        = 64 << 10
	DefaultMessageRate            = 100
	DefaultMessageBurst           = 300
	DefaultDataBytesRate          = 1 << 20
	DefaultStallTimeout           = 3 * time.Second
	DefaultUDPPort                = 7882
)

// Config configures an SFU. Zero values take the defaults.
type Config struct {
	// UDP carries every participant's ICE over one port. The SFU owns it
	// (Close closes it). When nil, New listens on UDPPort on all
	// addresses.
	UDP net.PacketConn
	// UDPPort is used when UDP is nil (default DefaultUDPPort).
	UDPPort int
	// TCP, when set, accepts ICE-TCP on one port (the SFU owns it).
	// Nil: no ICE-TCP.
	TCP net.Listener
	// NAT1To1IPs are announced as the server's host candidates instead of
	// its local addresses (e.g. --turn-public-ip).
	NAT1To1IPs []string
	// AllowLoopbackPeers lets clients' ICE candidates name loopback
	// addresses (127.0.0.0/8, ::1). Off, they are ignored unless UDP is
	// bound to a loopback address (tests): a client must not make the
	// server send to its own services. Link-local, unspecified and
	// multicast addresses are always ignored; private ranges never are.
	AllowLoopbackPeers bool

	MaxRooms               int    // rooms at once (1000)
	MaxParticipantsPerRoom int    // (100)
	MaxPublishersPerRoom   int    // participants with a publisher PC (16)
	MaxTracksPerPublisher  int    // incoming tracks of one participant (4)
	MaxTracks              int    // incoming tracks on the server (2000)
	MaxBitratePerPublisher uint64 // bits/s, told to publishers by REMB (4 Mbit/s)
	MaxMessageBytes        int    // data channel payload (64 KiB)
	MessageRate            float64
	MessageBurst           int // data messages per participant: rate/s (100) and burst (300)
	// DataBytesRate bounds the data payload bytes a participant may have
	// relayed per second (1 MiB/s; the server's egress for it is at most
	// that times the recipients), with a burst of two seconds' worth (at
	// least one message of MaxMessageBytes).
	DataBytesRate int
	// StallTimeout: a track without RTP for this long is reported paused
	// to its subscribers (3 s).
	StallTimeout time.Duration
	// UseREMB lets a subscriber's REMB cap its bandwidth estimate, beside
	// the loss its receiver reports give. Off by default: a browser
	// computes REMB from the send times of the packets it gets
	// (abs-send-time, which the server does not put on forwarded packets
	// yet), and without them Chromium's REMB stays near its start,
	// measured at 140 to 375 kbit/s on loopback, which would hold every
	// subscriber on the low layer or pause it.
	UseREMB bool

	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics registers the switchboard_sfu_* metrics (nil: not
	// registered anywhere).
	Metrics prometheus.Registerer
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxRooms, DefaultMaxRooms)
	def(&c.MaxParticipantsPerRoom, DefaultMaxParticipantsPerRoom)
	def(&c.MaxPublishersPerRoom, DefaultMaxPublishersPerRoom)
	def(&c.MaxTracksPerPublisher, DefaultMaxTracksPerPublisher)
	def(&c.MaxTracks, DefaultMaxTracks)
	def(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	def(&c.MessageBurst, DefaultMessageBurst)
	def(&c.UDPPort, DefaultUDPPort)
	def(&c.DataBytesRate, DefaultDataBytesRate)
	if c.MaxBitratePerPublisher == 0 {
		c.MaxBitratePerPublisher = DefaultMaxBitratePerPublisher
	}
	if c.MessageRate == 0 {
		c.MessageRate = DefaultMessageRate
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	for name, v := range map[string]int{
		"MaxRooms": c.MaxRooms, "MaxParticipantsPerRoom": c.MaxParticipantsPerRoom,
		"MaxPublishersPerRoom": c.MaxPublishersPerRoom, "MaxTracksPerPublisher": c.MaxTracksPerPublisher,
		"MaxTracks": c.MaxTracks, "MaxMessageBytes": c.MaxMessageBytes, "MessageBurst": c.MessageBurst,
		"DataBytesRate": c.DataBytesRate,
	} {
		if v < 0 {
			return fmt.Errorf("%w: %s is negative", ErrBadConfig, name)
		}
	}
	if c.MaxMessageBytes > 1<<20 {
		return fmt.Errorf("%w: MaxMessageBytes over 1 MiB", ErrBadConfig)
	}
	if c.MessageRate < 0 || c.StallTimeout < 0 || c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("%w: negative rate, timeout or port", ErrBadConfig)
	}
	return nil
}
