package server_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/server"
	"github.com/switchboard-rtc/switchboard/signaling"
)

var sfuRooms = signaling.RoomModes{Rules: []signaling.RoomModeRule{{Pattern: "big-*", Mode: signaling.ModeSFU}}}

// newServer builds a server from cfg, closed in t.Cleanup; it returns New's error.
func newServer(t *testing.T, cfg server.Config) (*server.Server, error) {
	t.Helper()
	cfg.Logger = quietLogger()
	cfg.JWTSecret = "a secret of thirty-two bytes or more"
	s, err := server.New(cfg)
	if err == nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	return s, err
}

// The SFU runs only when it is on and some room can be an sfu room: the
// default flags (on, every room a mesh) open nothing for it.
func TestSFUStartsOnlyForSFURooms(t *testing.T) {
	on := server.SFUConfig{Enabled: true, UDPPort: 7882, TCPPort: 7881}
	for name, cfg := range map[string]server.Config{
		"defaults":         {SFU: on},
		"mesh rules":       {SFU: on, RoomModes: signaling.RoomModes{Rules: []signaling.RoomModeRule{{Pattern: "p2p-*", Mode: signaling.ModeMesh}}}},
		"sfu off":          {SFU: server.SFUConfig{}, RoomModes: sfuRooms},
		"sfu default, off": {RoomModes: signaling.RoomModes{Default: signaling.ModeSFU}},
	} {
		s, err := newServer(t, cfg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if sc := s.Signaling().Config(); sc.SFU != nil {
			t.Errorf("%s: an SFU runs", name)
		}
	}
	// An sfu room is possible: the SFU runs, on free ports of loopback.
	free := server.SFUConfig{Enabled: true, ListenIP: netip.MustParseAddr("127.0.0.1")}
	for name, modes := range map[string]signaling.RoomModes{"rule": sfuRooms, "default": {Default: signaling.ModeSFU}} {
		s, err := newServer(t, server.Config{SFU: free, RoomModes: modes})
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case s.Signaling().Config().SFU == nil || s.SFUAddrs().UDP == nil || s.SFUAddrs().TCP == nil:
			t.Errorf("%s: sfu rooms possible, but no SFU", name)
		case s.Signaling().Config().RoomModes.Mode("big-1") != signaling.ModeSFU:
			t.Errorf("%s: the room modes did not reach signaling", name)
		}
	}
}

// A port the SFU cannot bind is refused with the flag's name.
func TestSFUPortInUse(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.LocalAddr().(*net.UDPAddr).Port
	_, err = newServer(t, server.Config{RoomModes: sfuRooms,
		SFU: server.SFUConfig{Enabled: true, UDPPort: port, TCPPort: -1, ListenIP: netip.MustParseAddr("127.0.0.1")}})
	if err == nil || !strings.Contains(err.Error(), "--sfu-udp-port") {
		t.Errorf("SFU on a busy port: %v, want an error naming --sfu-udp-port", err)
	}
}

// A caller's own SFU (a test's) is kept, with the modes it came with.
func TestSFUFromTheCaller(t *testing.T) {
	own := nopSFU{}
	s, err := newServer(t, server.Config{Signaling: signaling.Config{SFU: own, RoomModes: sfuRooms}})
	if err != nil {
		t.Fatal(err)
	}
	if sc := s.Signaling().Config(); sc.SFU != own || sc.RoomModes.Mode("big-1") != signaling.ModeSFU {
		t.Errorf("signaling got SFU %v, modes %+v", sc.SFU, sc.RoomModes)
	}
}

type nopSFU struct{}

func (nopSFU) Join(string, string, func([]byte) bool) error { return nil }
func (nopSFU) Message(string, string, []byte) error         { return nil }
func (nopSFU) Leave(string, string)                         {}
