package signaling_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// Reproduction: the connection that carries a resume hello dies after the
// server took the hello but before the client read the welcome (it was in
// flight). The server has used up the token the client holds (R1) and put
// the new one (R2) only in the lost welcome, so the client can never resume:
// its next hello with R1 gets session_unknown, and the room sees the session
// leave when the grace runs out.
func TestResumeAfterALostWelcome(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{Signaling: signaling.Config{ResumeGrace: time.Second}})
	proxy := testutil.StartFaultProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	bob := testutil.Dial(t, srv.WSURL, nil)
	bob.Hello(srv.Token(t, "bob", "r"))
	bob.Join("r")

	alice := testutil.Dial(t, proxy.WSURL(), nil)
	w := alice.Hello(srv.Token(t, "alice", "r"))
	r1, peer := w.Str("resume"), w.Str("peer")
	alice.Join("r") // seq 1
	bob.Expect("peer-joined")
	proxy.Cut() // the network fails: the session waits for alice

	// Alice comes back: the server takes her hello and sends the welcome,
	// but the connection fails before she reads it.
	alice = testutil.Dial(t, proxy.WSURL(), nil)
	alice.Send(map[string]any{"type": "hello", "token": srv.Token(t, "alice", "r"), "resume": r1, "lastSeq": 1})
	for deadline := time.Now().Add(testutil.Wait); counter(t, srv, `switchboard_signaling_resumes_total{result="resumed"}`) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the server did not take the resume hello")
		}
		time.Sleep(5 * time.Millisecond)
	}
	proxy.Cut()

	// She tries again with the only token she has, well within the grace.
	alice = testutil.Dial(t, proxy.WSURL(), nil)
	alice.Send(map[string]any{"type": "hello", "token": srv.Token(t, "alice", "r"), "resume": r1, "lastSeq": 1})
	if w := alice.Expect("welcome"); w["resumed"] != true || w.Str("peer") != peer {
		t.Errorf("resume after a lost welcome refused: %v", w)
	}
	bob.Quiet(2 * time.Second) // no peer-left when the grace of the lost attempt runs out
}
