package signaling_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// The connection that carries a resume hello dies after the server took the
// hello but before the client read the welcome. The new token (R2) went out
// only in that lost welcome, so the token the client holds (R1) must still
// resume the session; the room must not notice.
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
	// but the connection fails before she reads it (nothing reads this
	// connection, so no pong tells the server she has it).
	lost, _, err := websocket.DefaultDialer.Dial(proxy.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lost.Close()
	if err := lost.WriteJSON(map[string]any{"type": "hello", "token": srv.Token(t, "alice", "r"), "resume": r1, "lastSeq": 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return srv.Metric(t, `switchboard_signaling_resumes_total{result="resumed"}`) >= 1
	}, "the server takes the resume hello")
	proxy.Cut()

	// She tries again with the only token she has, well within the grace.
	alice = testutil.Dial(t, proxy.WSURL(), nil)
	alice.Send(map[string]any{"type": "hello", "token": srv.Token(t, "alice", "r"), "resume": r1, "lastSeq": 1})
	if w := alice.Expect("welcome"); w["resumed"] != true || w.Str("peer") != peer {
		t.Errorf("resume after a lost welcome refused: %v", w)
	}
	bob.Quiet(2 * time.Second) // no peer-left when the grace of the lost attempt runs out
}
