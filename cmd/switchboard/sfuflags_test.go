package main

import (
	"flag"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/server"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// parseSFUFlags parses args as serve parses its TURN and SFU flags.
func parseSFUFlags(t *testing.T, args ...string) (server.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tf := addTURNFlags(fs)
	sf := addSFUFlags(fs)
	if err := fs.Parse(args); err != nil {
		return server.Config{}, err
	}
	cfg := server.Config{Listen: ":8080"}
	var err error
	if cfg.TURN, err = tf.config(); err != nil {
		t.Fatal(err)
	}
	return cfg, sf.apply(&cfg, tf.publicIP)
}

func TestSFUFlagDefaults(t *testing.T) {
	cfg, err := parseSFUFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	want := server.SFUConfig{Enabled: true, UDPPort: 7882, TCPPort: 7881}
	if !reflect.DeepEqual(cfg.SFU, want) {
		t.Errorf("SFU %+v, want %+v", cfg.SFU, want)
	}
	// Every room auto: the SFU runs, for rooms of five and more.
	want2 := signaling.RoomModes{Default: signaling.ModeAuto, MeshMax: 4, MeshHold: 10 * time.Second}
	if !reflect.DeepEqual(cfg.RoomModes, want2) || !cfg.RoomModes.Uses(signaling.ModeSFU) {
		t.Errorf("room modes %+v, want %+v", cfg.RoomModes, want2)
	}
	// With every room a mesh, the server starts no SFU and opens no port for it.
	if cfg, err := parseSFUFlags(t, "--room-mode-default", "mesh"); err != nil || cfg.RoomModes.Uses(signaling.ModeSFU) {
		t.Errorf("--room-mode-default mesh: %+v, %v", cfg.RoomModes, err)
	}
}

func TestSFUFlags(t *testing.T) {
	cfg, err := parseSFUFlags(t, "--room-modes", "webinar-*=sfu, p2p-*=mesh", "--room-mode-default", "auto", "--mesh-max", "6", "--mesh-hold", "3s",
		"--sfu-udp-port", "0", "--sfu-tcp-port", "-1", "--turn-public-ip", "203.0.113.7", "--sfu-listen-ip", "127.0.0.1", "--sfu-max-participants", "500", "--sfu-max-publishers", "60")
	if err != nil {
		t.Fatal(err)
	}
	want := signaling.RoomModes{Default: signaling.ModeAuto, Rules: []signaling.RoomModeRule{
		{Pattern: "webinar-*", Mode: signaling.ModeSFU}, {Pattern: "p2p-*", Mode: signaling.ModeMesh}},
		MeshMax: 6, MeshHold: 3 * time.Second}
	if !reflect.DeepEqual(cfg.RoomModes, want) {
		t.Errorf("room modes %+v", cfg.RoomModes)
	}
	if s := cfg.SFU; !s.Enabled || s.UDPPort != 0 || s.TCPPort != -1 || s.PublicIP != netip.MustParseAddr("203.0.113.7") ||
		s.ListenIP != netip.MustParseAddr("127.0.0.1") || s.Limits.MaxParticipantsPerRoom != 500 ||
		s.Limits.MaxPublishersPerRoom != 60 {
		t.Errorf("SFU %+v", s)
	}
	// The public address reaches the SFU without TURN too.
	if cfg, err := parseSFUFlags(t, "--turn=false", "--turn-public-ip", "203.0.113.7"); err != nil || !cfg.SFU.PublicIP.IsValid() {
		t.Errorf("--turn=false: %+v %v", cfg.SFU, err)
	}
	// --sfu=false keeps the modes (the server warns that they are meshes).
	if cfg, err := parseSFUFlags(t, "--sfu=false", "--room-modes", "big-*=sfu"); err != nil || cfg.SFU.Enabled || len(cfg.RoomModes.Rules) != 1 {
		t.Errorf("--sfu=false: %+v %+v %v", cfg.SFU, cfg.RoomModes, err)
	}
}

func TestSFUFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--room-modes", "big-*"}, "--room-modes"},
		{[]string{"--room-modes", "big-*=p2p"}, "--room-modes"},
		{[]string{"--room-modes", "=sfu"}, "--room-modes"},
		{[]string{"--room-mode-default", "p2p"}, "--room-mode-default"},
		{[]string{"--mesh-max", "0"}, "--mesh-max"},
		{[]string{"--mesh-hold", "0s"}, "--mesh-hold"},
		{[]string{"--room-mode-default", ""}, "--room-mode-default"},
		{[]string{"--sfu-udp-port", "-1"}, "--sfu-udp-port -1"},
		{[]string{"--sfu-udp-port", "65536"}, "--sfu-udp-port 65536"},
		{[]string{"--sfu-tcp-port", "-2"}, "--sfu-tcp-port -2"},
		{[]string{"--sfu-tcp-port", "70000"}, "--sfu-tcp-port 70000"},
		{[]string{"--turn=false", "--turn-public-ip", "nowhere"}, "--turn-public-ip"},
		{[]string{"--sfu-listen-ip", "localhost"}, "--sfu-listen-ip"},
		{[]string{"--sfu-max-participants", "-1"}, "--sfu-max-participants"},
		{[]string{"--sfu-max-publishers", "-1"}, "--sfu-max-publishers"},
		// Clashes with the server's other ports, when the SFU would run.
		{[]string{"--room-modes", "big-*=sfu", "--sfu-udp-port", "3478"}, "--turn-port"},
		{[]string{"--room-mode-default", "sfu", "--sfu-tcp-port", "3478"}, "--turn-port"},
		{[]string{"--room-modes", "big-*=sfu", "--sfu-tcp-port", "8080"}, "--listen"},
		{[]string{"--room-modes", "big-*=sfu", "--turn-tls-cert", "c.pem", "--turn-tls-key", "k.pem", "--sfu-tcp-port", "5349"}, "--turn-tls-port"},
	} {
		_, err := parseSFUFlags(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
	// No SFU will run, so no clash: the same ports are fine.
	for _, args := range [][]string{
		{"--room-mode-default", "mesh", "--sfu-udp-port", "3478"},
		{"--sfu=false", "--room-modes", "big-*=sfu", "--sfu-tcp-port", "8080"},
		{"--turn=false", "--room-modes", "big-*=sfu", "--sfu-udp-port", "3478"},
		{"--turn-no-udp", "--room-modes", "big-*=sfu", "--sfu-udp-port", "3478"},
	} {
		if _, err := parseSFUFlags(t, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}
