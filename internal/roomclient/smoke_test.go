package roomclient_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/roomclient"
	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// TestMeshRoom: clients in a mesh room connect to each other, see each
// other's video and exchange sequenced data, in order and once.
func TestMeshRoom(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{})
	var cs []*roomclient.Client
	for i := range 3 {
		cs = append(cs, dial(t, srv, fmt.Sprintf("m%d", i), "mesh-1"))
	}
	waitFor(t, "a settled mesh", 20*time.Second, settled(cs, roomclient.PathMesh))
	tk := startTalking(t, cs, 20*time.Millisecond)
	time.Sleep(time.Second)
	sent := drain(t, tk, cs)
	checkData(t, tk, cs, sent, nil)
	gaps(t, cs, 2*time.Second)
}

// TestSFURoom: the same clients in an sfu room get each other's video
// through the SFU.
func TestSFURoom(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{RoomModes: signaling.RoomModes{
		Rules: []signaling.RoomModeRule{{Pattern: "big-*", Mode: signaling.ModeSFU}}}})
	var cs []*roomclient.Client
	for i := range 3 {
		cs = append(cs, dial(t, srv, fmt.Sprintf("s%d", i), "big-1"))
	}
	waitFor(t, "everyone's media through the SFU", 20*time.Second, settled(cs, roomclient.PathSFU))
	gaps(t, cs, 2*time.Second)
}
