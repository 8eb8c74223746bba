package signaling

import (
	"fmt"
	"strings"
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
)

// RoomModeRule pins the rooms matching Pattern (a room name, a prefix
// ending in "*", or "*", as in tokens) to Mode.
type RoomModeRule struct {
	Pattern string
	Mode    RoomMode
}

// RoomModes picks a room's mode: the first rule whose pattern matches the
// room, else Default. The zero value makes every room a mesh.
type RoomModes struct {
	Rules   []RoomModeRule
	Default RoomMode
}

// ParseRoomMode parses "mesh" or "sfu".
func ParseRoomMode(s string) (RoomMode, error) {
	switch m := RoomMode(strings.TrimSpace(s)); m {
	case ModeMesh, ModeSFU:
		return m, nil
	}
	return "", fmt.Errorf("%w: room mode %q: want mesh or sfu", ErrBadConfig, s)
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

// Mode returns the mode of a room (its name, whatever its namespace).
func (m RoomModes) Mode(room string) RoomMode {
	for _, r := range m.Rules {
		if matchRoom(r.Pattern, room) {
			return r.Mode
		}
	}
	if m.Default == "" {
		return ModeMesh
	}
	return m.Default
}

// Uses reports whether some room can be of the given mode: the default or a
// rule's. A server starts its SFU only when some room can be an sfu room.
func (m RoomModes) Uses(mode RoomMode) bool {
	if m.Default == mode || m.Default == "" && mode == ModeMesh {
		return true
	}
	for _, r := range m.Rules {
		if r.Mode == mode {
			return true
		}
	}
	return false
}

func (m RoomModes) validate() error {
	if m.Default != "" && !m.Default.valid() {
		return fmt.Errorf("%w: default room mode %q: want mesh or sfu", ErrBadConfig, m.Default)
	}
	for _, r := range m.Rules {
		if r.Pattern == "" || !r.Mode.valid() {
			return fmt.Errorf("%w: room mode rule %q=%q: want a pattern and mesh or sfu", ErrBadConfig, r.Pattern, r.Mode)
		}
	}
	return nil
}

func (m RoomMode) valid() bool { return m == ModeMesh || m == ModeSFU }

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
