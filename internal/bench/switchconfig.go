package bench

import "time"

// SwitchConfig configures RunSwitch. Zero fields take the default written
// next to them.
type SwitchConfig struct {
	// URL is the signaling endpoint, ws://127.0.0.1:PORT/ws (required).
	URL string
	// Secret mints a token per participant (HS256, every room); else
	// Token is used for all; else tokens come from the server's
	// /v1/dev/token (serve --dev).
	Secret, Token string
	Label         string // server name in RESULT lines (default "switchboard")
	// RoomPrefix names the rooms (RoomPrefix+run); the server must make
	// them auto rooms (default "switch-").
	RoomPrefix string
	// MeshMax is the server's --mesh-max (default 4): a room grows from
	// MeshMax to MeshMax+1 participants (every one moves to the SFU) and
	// shrinks to MeshMax-1 (back to a mesh after the hold). Rooms of 5
	// and 10 are runs against servers with --mesh-max 4 and 9.
	MeshMax int
	// Hold is the server's --mesh-hold (default 10 s): how long the room
	// waits at MeshMax-1 before it goes back to a mesh.
	Hold time.Duration
	// Switches is how many times the room goes to the SFU and back
	// (default 5; p99 over few samples is their maximum).
	Switches int
	// PacketEvery is the video packet interval of each participant
	// (default 20 ms: 50 packets/s, every packet a keyframe).
	PacketEvery time.Duration
	// Settle is the longest wait for a room to settle on a path (default
	// 30 s, plus Hold for the way back).
	Settle time.Duration
}

func (c SwitchConfig) withDefaults() SwitchConfig {
	orDefault(&c.Label, "switchboard")
	orDefault(&c.RoomPrefix, "switch-")
	orDefault(&c.MeshMax, 4)
	orDefault(&c.Hold, 10*time.Second)
	orDefault(&c.Switches, 5)
	orDefault(&c.PacketEvery, 20*time.Millisecond)
	orDefault(&c.Settle, 30*time.Second)
	return c
}

func (c SwitchConfig) validate() error {
	if err := checkURL(c.URL, "ws"); err != nil {
		return err
	}
	if c.MeshMax < 2 || c.MeshMax > 30 {
		return badConfig("mesh max %d: want 2 to 30 (a mesh of n holds n*(n-1) links)", c.MeshMax)
	}
	if c.Switches < 1 || c.Hold < 0 || c.PacketEvery < time.Millisecond || c.Settle <= 0 {
		return badConfig("switches (1 or more), hold, packet interval (1 ms or more) and settle must make sense")
	}
	return nil
}

// SwitchBudget is how long RunSwitch may take with cfg, about.
func SwitchBudget(cfg SwitchConfig) time.Duration {
	cfg = cfg.withDefaults()
	per := 2*cfg.Settle + cfg.Hold + 10*time.Second
	return time.Duration(cfg.Switches)*per + cfg.Settle + time.Minute
}
