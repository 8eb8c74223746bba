package signaling

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what one session may do in one namespace. Zero fields take the
// defaults of DefaultLimits.
type Limits struct {
	RoomsPerSession int     // rooms one session may be in at once (default 32)
	PeersPerRoom    int     // members of one room (default 50)
	Rate            float64 // frames per second in this namespace, sustained (default: none beyond the session's)
	Burst           int     // token bucket size for Rate (default 2 x Rate)
}

// Namespace is a named channel of concern ("chat", "notifications") with its
// own grants (the token's "ns" claim) and limits. The default namespace has
// the empty name and always exists.
type Namespace struct {
	Name   string
	Limits Limits
}

// Config configures a Server. Only Verifier is required; every other zero
// field takes the default written next to it.
type Config struct {
	Verifier *Verifier // checks hello tokens (required)

	Limits     Limits      // limits of the default namespace
	Namespaces []Namespace // further namespaces; frames naming any other get not_found

	MaxFrameBytes      int           // largest client frame; larger closes with 1009 (default 64 KiB)
	Rate               float64       // frames per second per session, sustained (default 100)
	Burst              int           // token bucket size (default 300)
	MaxSessions        int           // sessions on this server (default 10,000; the server caps it below RLIMIT_NOFILE)
	MaxSessionsPerUser int           // concurrent sessions of one user id (default 16)
	SendQueueFrames    int           // frames queued for a client before it counts as too slow (default 1024)
	SendQueueBytes     int           // bytes queued for a client before it counts as too slow (default 4 MiB)
	HelloTimeout       time.Duration // time to send hello after connecting (default 10 s)
	PingInterval       time.Duration // WebSocket ping period (default 10 s)
	PongTimeout        time.Duration // a connection silent this long is dropped (default 30 s)
	WriteTimeout       time.Duration // one write to a client (default 10 s)
	// TokenWarning is how long before its token expires a session gets a
	// "token-expiring" frame (default 1 min); a session whose token expires
	// without a "refresh" is closed with token_expired (4401).
	TokenWarning time.Duration
	// ResumeGrace is how long a session whose connection dropped waits for
	// its client to resume it (default 30 s; negative: no resume, a session
	// ends with its connection). See docs/protocol.md, Session resume.
	ResumeGrace time.Duration

	// AllowedOrigins lists the browser origins ("https://app.example.com")
	// allowed to connect besides the server's own; "*" allows any. Requests
	// without an Origin header (non-browser clients) are always allowed.
	AllowedOrigins []string

	// ICEServers, when set, supplies the "iceServers" a session's welcome
	// carries: a JSON array of RTCIceServer objects for the user and for the
	// host the client used to reach signaling, and the time they stop
	// working. A session gets fresh ones in an "ice-servers" frame when a
	// quarter of their lifetime is left, and on request. This function is all
	// that signaling knows of TURN.
	ICEServers func(user, host string) (list []byte, expires time.Time)

	// RoomModes decides, when a session joins a room, whether the room is a
	// mesh or an sfu room (by its name, in every namespace). It matters only
	// with an SFU: without one every room is a mesh.
	RoomModes RoomModes
	// SFU, when set, forwards the media of sfu rooms; signaling carries its
	// messages in "sfu" frames. This interface is all that signaling knows of
	// the SFU. Nil: no SFU, every room is a mesh.
	SFU SFU

	Bus     Bus                   // rooms and delivery (default: NewMemoryBus())
	Logger  *slog.Logger          // default: slog.Default()
	Metrics prometheus.Registerer // where the signaling metrics go (default: none)
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{RoomsPerSession: 32, PeersPerRoom: 50}

var namespaceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

func (l Limits) withDefaults() Limits {
	if l.RoomsPerSession == 0 {
		l.RoomsPerSession = DefaultLimits.RoomsPerSession
	}
	if l.PeersPerRoom == 0 {
		l.PeersPerRoom = DefaultLimits.PeersPerRoom
	}
	if l.Rate > 0 && l.Burst == 0 {
		l.Burst = max(1, int(2*l.Rate))
	}
	return l
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxFrameBytes, 64<<10)
	if c.Rate == 0 {
		c.Rate = 100
	}
	def(&c.Burst, 300)
	def(&c.MaxSessions, 10000)
	def(&c.MaxSessionsPerUser, 16)
	def(&c.SendQueueFrames, 1024)
	def(&c.SendQueueBytes, 4<<20)
	defDur(&c.HelloTimeout, 10*time.Second)
	defDur(&c.PingInterval, 10*time.Second)
	defDur(&c.PongTimeout, 30*time.Second)
	defDur(&c.WriteTimeout, 10*time.Second)
	defDur(&c.TokenWarning, time.Minute)
	defDur(&c.ResumeGrace, 30*time.Second)
	c.Limits = c.Limits.withDefaults()
	ns := make([]Namespace, len(c.Namespaces))
	for i, n := range c.Namespaces {
		ns[i] = Namespace{Name: n.Name, Limits: n.Limits.withDefaults()}
	}
	c.Namespaces = ns
	if c.Bus == nil {
		c.Bus = NewMemoryBus()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if c.Verifier == nil {
		return ErrNoSecret
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	if c.MaxFrameBytes < 1024 {
		return bad("max frame size %d is below 1 KiB", c.MaxFrameBytes)
	}
	if c.Rate < 0 || c.Burst < 1 {
		return bad("rate %v and burst %d must be positive", c.Rate, c.Burst)
	}
	if c.MaxSessions < 1 || c.MaxSessionsPerUser < 1 || c.SendQueueFrames < 1 || c.SendQueueBytes < c.MaxFrameBytes {
		return bad("session and queue limits must be positive (send queue at least one frame)")
	}
	if c.PongTimeout <= c.PingInterval {
		return bad("pong timeout %v must exceed ping interval %v", c.PongTimeout, c.PingInterval)
	}
	seen := map[string]bool{}
	for _, n := range c.Namespaces {
		if !namespaceName.MatchString(n.Name) {
			return bad("namespace name %q: want 1-32 of a-z 0-9 _ - starting with a letter or digit", n.Name)
		}
		if seen[n.Name] {
			return bad("namespace %q declared twice", n.Name)
		}
		seen[n.Name] = true
	}
	if err := c.RoomModes.validate(); err != nil {
		return err
	}
	for _, l := range append([]Limits{c.Limits}, nsLimits(c.Namespaces)...) {
		if l.RoomsPerSession < 0 || l.PeersPerRoom < 0 || l.Rate < 0 || l.Burst < 0 {
			return bad("limits must not be negative")
		}
	}
	return nil
}

func nsLimits(ns []Namespace) []Limits {
	out := make([]Limits, len(ns))
	for i, n := range ns {
		out[i] = n.Limits
	}
	return out
}
