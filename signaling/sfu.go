package signaling

import (
	"fmt"
	"strings"
	"time"
)

// RoomMode says how a room's media travels.
type RoomMode string

// Room modes.
const (
	// ModeMesh: every peer connects to every other peer (peer-to-peer);
	// signaling only relays their offers, answers and candidates.
	ModeMesh RoomMode = "mesh"
	// ModeSFU: every peer connects to the server's SFU, which forwards
	// media and data between them; signaling carries the "sfu" frames.
	ModeSFU RoomMode = "sfu"
	// ModeAuto: a mesh while the room holds at most RoomModes.MeshMax peers,
	// the SFU when it grows beyond, a mesh again when it has shrunk for
	// RoomModes.MeshHold (docs/protocol.md, Auto rooms). An auto room's mode
	// at any moment is ModeMesh or ModeSFU.
	ModeAuto RoomMode = "auto"
)

// Defaults of RoomModes' auto switching.
const (
	DefaultMeshMax  = 4
	DefaultMeshHold = 10 * time.Second
)

// RoomModeRule pins the rooms matching Pattern (a room name, a prefix
// ending in "*", or "*", as in tokens) to Mode.
type RoomModeRule struct {
	Pattern string
	Mode    RoomMode
}

// RoomModes picks a room's mode when the room is created (its first member
// joins): the first rule of the joiner's token (its "modes" claim) whose
// pattern matches the room, else the first of Rules, else Default. The zero
// value makes every room a mesh.
type RoomModes struct {
	Rules   []RoomModeRule
	Default RoomMode
	// MeshMax is the most peers an auto room holds as a mesh (default 4):
	// the join of one more moves it to the SFU.
	MeshMax int
	// MeshHold is how long an auto room on the SFU must hold MeshMax-1 peers
	// or fewer before it moves back to a mesh (default 10 s).
	MeshHold time.Duration
}

func (m RoomModes) meshMax() int {
	if m.MeshMax <= 0 {
		return DefaultMeshMax
	}
	return m.MeshMax
}

func (m RoomModes) meshHold() time.Duration {
	if m.MeshHold <= 0 {
		return DefaultMeshHold
	}
	return m.MeshHold
}

// ParseRoomMode parses "mesh", "sfu" or "auto".
func ParseRoomMode(s string) (RoomMode, error) {
	switch m := RoomMode(strings.TrimSpace(s)); m {
	case ModeMesh, ModeSFU, ModeAuto:
		return m, nil
	}
	return "", fmt.Errorf("%w: room mode %q: want mesh, sfu or auto", ErrBadConfig, s)
}

// ParseRoomModeRules parses a comma-separated list of pattern=mode pairs, as
// given to --room-modes: "webinar-*=sfu,p2p-*=mesh". An empty string is no
// rules.
func ParseRoomModeRules(s string) ([]RoomModeRule, error) {
	var rules []RoomModeRule
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		pattern, mode, ok := strings.Cut(part, "=")
		pattern = strings.TrimSpace(pattern)
		if !ok || pattern == "" {
			return nil, fmt.Errorf("%w: room mode rule %q: want pattern=mode", ErrBadConfig, part)
		}
		m, err := ParseRoomMode(mode)
		if err != nil {
			return nil, err
		}
		rules = append(rules, RoomModeRule{Pattern: pattern, Mode: m})
	}
	return rules, nil
}

// Mode returns the mode of a room (its name, whatever its namespace) by
// Rules and Default: mesh, sfu or auto.
func (m RoomModes) Mode(room string) RoomMode {
	if mode, ok := matchMode(m.Rules, room); ok {
		return mode
	}
	if m.Default == "" {
		return ModeMesh
	}
	return m.Default
}

// matchMode returns the mode of the first rule matching room.
func matchMode(rules []RoomModeRule, room string) (RoomMode, bool) {
	for _, r := range rules {
		if matchRoom(r.Pattern, room) {
			return r.Mode, true
		}
	}
	return "", false
}

// Uses reports whether some room can be of the given mode by the default or a
// rule (an auto room can be mesh and sfu). A server starts its SFU only when
// some room can be an sfu room.
func (m RoomModes) Uses(mode RoomMode) bool {
	uses := func(m RoomMode) bool {
		return m == mode || m == ModeAuto && (mode == ModeMesh || mode == ModeSFU)
	}
	if uses(m.Default) || m.Default == "" && mode == ModeMesh {
		return true
	}
	for _, r := range m.Rules {
		if uses(r.Mode) {
			return true
		}
	}
	return false
}

func (m RoomModes) validate() error {
	if m.Default != "" && !m.Default.valid() {
		return fmt.Errorf("%w: default room mode %q: want mesh, sfu or auto", ErrBadConfig, m.Default)
	}
	for _, r := range m.Rules {
		if r.Pattern == "" || !r.Mode.valid() {
			return fmt.Errorf("%w: room mode rule %q=%q: want a pattern and mesh, sfu or auto", ErrBadConfig, r.Pattern, r.Mode)
		}
	}
	if m.MeshMax < 0 || m.MeshMax > 1000 {
		return fmt.Errorf("%w: mesh max %d: want 1 to 1000 (0: the default, %d)", ErrBadConfig, m.MeshMax, DefaultMeshMax)
	}
	if m.MeshHold < 0 {
		return fmt.Errorf("%w: mesh hold %v: want a positive duration (0: the default, %v)", ErrBadConfig, m.MeshHold, DefaultMeshHold)
	}
	return nil
}

func (m RoomMode) valid() bool { return m == ModeMesh || m == ModeSFU || m == ModeAuto }

// SFU is all that signaling knows of the media server: a participant joins
// and leaves an SFU room, and messages (JSON values, the "data" of "sfu"
// frames) travel between its client and the SFU. Rooms and peers are named by
// strings so that the calls can be carried to another node (scale-out).
//
// Implementations must be safe for concurrent use. A call for one peer never
// blocks on another peer. Join and Message run on the session's reader
// goroutine, so they return promptly: they start work (a peer connection, a
// negotiation), they do not wait for the network.
type SFU interface {
	// Join admits peer to the SFU side of room (a room key made by
	// SFURoomID). send delivers a message from the SFU to the peer's client
	// in an "sfu" frame; it never blocks, and returns false when the client
	// cannot take it (its session is then disconnected as too slow, or it
	// has left the room). send copies msg, a JSON object, so the SFU may
	// reuse it; it may be called from inside Join (what it sends then
	// reaches the client after its "joined"). A refusal (a limit) is an
	// error that wraps ErrLimitExceeded; an error that is no *Error is
	// answered as internal.
	Join(room, peer string, send func(msg []byte) bool) error
	// Message hands the SFU a message from the peer's client: the "data"
	// object of its sfu frame, byte for byte, in a buffer the SFU may keep.
	// An error goes back to the client as the frame's error (a *Error or a
	// wrapped sentinel keeps its code; anything else is bad_request); it
	// must not affect any other peer.
	Message(room, peer string, msg []byte) error
	// Leave removes peer from the room and ends its media; a no-op when it
	// is not there.
	Leave(room, peer string)
}

// SFURoomID names a signaling room on the SFU: the namespace and the room
// name, separated by a "/" (namespace names cannot hold one).
func SFURoomID(k RoomKey) string {
	return k.NS + "/" + k.Room
}
