package signaling_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// bigRooms makes big-* rooms sfu rooms and p2p-* rooms meshes.
var bigRooms = signaling.RoomModes{Rules: []signaling.RoomModeRule{
	{Pattern: "big-*", Mode: signaling.ModeSFU},
	{Pattern: "p2p-*", Mode: signaling.ModeMesh},
}}

func TestParseRoomModeRules(t *testing.T) {
	got, err := signaling.ParseRoomModeRules(" webinar-*=sfu, p2p-*= mesh ,,lobby=sfu,*=mesh")
	if err != nil {
		t.Fatal(err)
	}
	want := []signaling.RoomModeRule{
		{Pattern: "webinar-*", Mode: signaling.ModeSFU},
		{Pattern: "p2p-*", Mode: signaling.ModeMesh},
		{Pattern: "lobby", Mode: signaling.ModeSFU},
		{Pattern: "*", Mode: signaling.ModeMesh},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	for _, empty := range []string{"", " ", ",,"} {
		if r, err := signaling.ParseRoomModeRules(empty); err != nil || len(r) != 0 {
			t.Errorf("%q: %v %v", empty, r, err)
		}
	}
	for _, bad := range []string{"webinar-*", "=sfu", "a=automatic", "a=SFU", "a=sfu,b", "a=", "a=sfu=mesh"} {
		if _, err := signaling.ParseRoomModeRules(bad); !errors.Is(err, signaling.ErrBadConfig) {
			t.Errorf("%q: error %v, want ErrBadConfig", bad, err)
		}
	}
	for s, want := range map[string]signaling.RoomMode{"mesh": signaling.ModeMesh, " sfu ": signaling.ModeSFU, "auto": signaling.ModeAuto} {
		if m, err := signaling.ParseRoomMode(s); err != nil || m != want {
			t.Errorf("ParseRoomMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := signaling.ParseRoomMode("p2p"); !errors.Is(err, signaling.ErrBadConfig) {
		t.Errorf("p2p: %v", err)
	}
}

func TestRoomModesMode(t *testing.T) {
	m := signaling.RoomModes{Rules: []signaling.RoomModeRule{
		{Pattern: "big-*", Mode: signaling.ModeSFU},
		{Pattern: "big-p2p", Mode: signaling.ModeMesh}, // after big-*: never reached
		{Pattern: "p2p-*", Mode: signaling.ModeMesh},
		{Pattern: "stage", Mode: signaling.ModeSFU},
	}}
	for room, want := range map[string]signaling.RoomMode{
		"big-1": signaling.ModeSFU, "big-": signaling.ModeSFU, "big-p2p": signaling.ModeSFU, // first match wins
		"p2p-x": signaling.ModeMesh, "stage": signaling.ModeSFU, "stage-2": signaling.ModeMesh,
		"big": signaling.ModeMesh, "lobby": signaling.ModeMesh, // the zero Default is mesh
	} {
		if got := m.Mode(room); got != want {
			t.Errorf("Mode(%q) = %q, want %q", room, got, want)
		}
	}
	m.Default = signaling.ModeSFU
	if m.Mode("lobby") != signaling.ModeSFU || m.Mode("p2p-x") != signaling.ModeMesh {
		t.Errorf("with default sfu: lobby %q, p2p-x %q", m.Mode("lobby"), m.Mode("p2p-x"))
	}
	if (signaling.RoomModes{}).Mode("x") != signaling.ModeMesh {
		t.Error("the zero RoomModes is not all mesh")
	}
	all := signaling.RoomModes{Rules: []signaling.RoomModeRule{{Pattern: "*", Mode: signaling.ModeSFU}}}
	if all.Mode("") != signaling.ModeSFU || all.Mode("x") != signaling.ModeSFU {
		t.Error(`"*" does not match every room`)
	}
}

func TestRoomModesUses(t *testing.T) {
	sfuRule := []signaling.RoomModeRule{{Pattern: "big-*", Mode: signaling.ModeSFU}}
	meshRule := []signaling.RoomModeRule{{Pattern: "p2p-*", Mode: signaling.ModeMesh}}
	for _, tc := range []struct {
		m         signaling.RoomModes
		mesh, sfu bool
	}{
		{signaling.RoomModes{}, true, false},
		{signaling.RoomModes{Default: signaling.ModeMesh}, true, false},
		{signaling.RoomModes{Rules: meshRule}, true, false},
		{signaling.RoomModes{Rules: sfuRule}, true, true},
		{signaling.RoomModes{Default: signaling.ModeSFU}, false, true},
		{signaling.RoomModes{Default: signaling.ModeSFU, Rules: meshRule}, true, true},
	} {
		if tc.m.Uses(signaling.ModeMesh) != tc.mesh || tc.m.Uses(signaling.ModeSFU) != tc.sfu {
			t.Errorf("%+v: uses mesh %v sfu %v, want %v %v", tc.m, tc.m.Uses(signaling.ModeMesh), tc.m.Uses(signaling.ModeSFU), tc.mesh, tc.sfu)
		}
	}
}

func TestRoomModesValidated(t *testing.T) {
	v, err := signaling.NewHMACVerifier([]byte(testutil.TestSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []signaling.RoomModes{
		{Default: "automatic"},
		{Default: " sfu"},
		{Default: signaling.ModeAuto, MeshMax: -1},
		{Default: signaling.ModeAuto, MeshHold: -time.Second},
		{Rules: []signaling.RoomModeRule{{Pattern: "", Mode: signaling.ModeSFU}}},
		{Rules: []signaling.RoomModeRule{{Pattern: "a", Mode: "p2p"}}},
	} {
		if _, err := signaling.New(signaling.Config{Verifier: v, RoomModes: m}); !errors.Is(err, signaling.ErrBadConfig) {
			t.Errorf("%+v: %v, want ErrBadConfig", m, err)
		}
	}
	if _, err := signaling.New(signaling.Config{Verifier: v, RoomModes: bigRooms}); err != nil {
		t.Errorf("valid modes refused: %v", err)
	}
}
