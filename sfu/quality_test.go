package sfu_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// quality for a peer not in the room is refused (it used to be stored for
// ever: 2,000 messages grew the heap by 62 MB), as is an id over 255
// bytes; a leaving peer's entries go from everyone.
func TestQualityOnlyForPeersInTheRoom(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/quality"
	a := newPeer(t, s, room, "a", peerOpts{})
	b := newPeer(t, s, room, "b", peerOpts{})
	long := strings.Repeat("x", 30_000)
	for i := range 2000 {
		msg := fmt.Sprintf(`{"kind":"quality","peer":"nobody-%d-%s","quality":"low"}`, i, long[:200])
		if err := s.Message(room, "a", []byte(msg)); !errors.Is(err, sfu.ErrNotFound) {
			t.Fatalf("quality for an unknown peer: %v, want ErrNotFound", err)
		}
	}
	err := s.Message(room, "a", []byte(`{"kind":"quality","peer":"`+long+`","quality":"low"}`))
	if !errors.Is(err, sfu.ErrBadMessage) {
		t.Fatalf("a 30,000-byte peer id: %v, want ErrBadMessage", err)
	}
	if len(err.Error()) > 200 {
		t.Fatalf("the error quotes the whole id: %d bytes", len(err.Error()))
	}
	if n := sfu.QualityEntries(s, room, "a"); n != 0 {
		t.Fatalf("%d entries kept for unknown peers", n)
	}
	if err := a.c.SetQuality("b", "low"); err != nil {
		t.Fatal(err)
	}
	if n := sfu.QualityEntries(s, room, "a"); n != 1 {
		t.Fatalf("entries = %d, want 1", n)
	}
	if err := a.c.SetQuality("b", "auto"); err != nil { // the default: nothing to keep
		t.Fatal(err)
	}
	if err := a.c.SetQuality("b", "medium"); err != nil {
		t.Fatal(err)
	}
	b.leave()
	if n := sfu.QualityEntries(s, room, "a"); n != 0 {
		t.Fatalf("entries = %d after b left, want 0", n)
	}
	eventually(t, "error messages to a", 10*time.Second, func() bool { return a.errorCount() == 2001 })
}
