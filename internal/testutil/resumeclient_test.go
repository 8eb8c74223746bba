package testutil

import (
	"strings"
	"testing"
	"time"
)

// nextFrame waits for c's next frame.
func nextFrame(t *testing.T, c *ResumeClient) Msg {
	t.Helper()
	select {
	case m := <-c.Frames():
		return m
	case <-time.After(Wait):
		t.Fatalf("no frame within %v (stats %+v)", Wait, c.Stats())
	}
	return nil
}

// A ResumeClient behind a proxy that goes down and comes back: what is sent
// to it meanwhile arrives once, what it sends meanwhile goes out after the
// resume, and the other peer never notices.
func TestResumeClientComesBack(t *testing.T) {
	srv := StartServer(t, Options{})
	p := StartFaultProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	rc := StartResumeClient(t, ResumeConfig{Name: "alice", URL: p.WSURL(), Token: srv.Token(t, "alice", "lobby")})
	bob := Dial(t, srv.WSURL, nil)
	bob.Hello(srv.Token(t, "bob", "lobby"))
	bob.Join("lobby")
	rc.Send(map[string]any{"type": "join", "room": "lobby", "id": "j"})
	if m := nextFrame(t, rc); m.Type() != "joined" || m.Str("id") != "j" {
		t.Fatalf("want joined, got %v", m)
	}
	bob.Expect("peer-joined")

	p.Down()
	bob.Send(map[string]any{"type": "signal", "room": "lobby", "to": rc.Peer(), "data": 1, "id": "b1"})
	bob.Expect("ack")
	rc.Send(map[string]any{"type": "signal", "room": "lobby", "to": "no-such-peer", "data": 2, "id": "bad"})
	// A few redials, refused while the proxy is down.
	for deadline := time.Now().Add(Wait); p.Refused() < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d redials refused while down, want 3", p.Refused())
		}
	}
	if rc.Live() || rc.Pending() != 1 {
		t.Fatalf("while down: live %v, pending %d; want false, 1", rc.Live(), rc.Pending())
	}
	p.Up()

	if m := nextFrame(t, rc); m.Type() != "signal" || m.Num("data") != 1 {
		t.Fatalf("want bob's signal, got %v", m)
	}
	// The request written after the resume reached the server: its reply
	// (not_found: no such peer) came, once.
	if m := nextFrame(t, rc); m.Type() != "error" || m.Str("id") != "bad" || m.Str("code") != "not_found" {
		t.Fatalf("want the reply to the request sent while down, got %v", m)
	}
	st := rc.Stats()
	if st.Resumed != 1 || st.Refused != 0 || st.Duplicates+st.Gaps+st.DupReplies != 0 || rc.Pending() != 0 {
		t.Fatalf("stats %+v, pending %d", st, rc.Pending())
	}
	bob.Quiet(200 * time.Millisecond) // no peer-left
}
