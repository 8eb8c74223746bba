package signaling_test

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// resumer is a session as a resuming client sees it: its peer id, the
// resume token of its last welcome and the last seq it processed.
type resumer struct {
	t       *testing.T
	srv     *testutil.Server
	user    string
	c       *testutil.Client
	peer    string
	tok     string
	lastSeq float64
	room    string // the room it joined last
}

func newResumer(t *testing.T, srv *testutil.Server, user string) *resumer {
	t.Helper()
	r := &resumer{t: t, srv: srv, user: user}
	r.c = testutil.Dial(t, srv.WSURL, nil)
	w := r.c.Hello(srv.Token(t, user, "*"))
	r.peer, r.tok = w.Str("peer"), w.Str("resume")
	if w["resumed"] != false || len(r.tok) < 22 || w.Num("resumeGrace") <= 0 {
		t.Fatalf("fresh welcome: %v", w)
	}
	return r
}

// next reads a frame of type typ (any, if "") and checks that its seq
// follows the last one.
func (r *resumer) next(typ string) testutil.Msg {
	r.t.Helper()
	m := r.c.Next()
	if typ != "" && m.Type() != typ {
		r.t.Fatalf("%s: want a %q frame, got %v", r.user, typ, m)
	}
	if m.Num("seq") != r.lastSeq+1 {
		r.t.Fatalf("%s: %v has seq %v, want %v", r.user, m, m["seq"], r.lastSeq+1)
	}
	r.lastSeq++
	return m
}

// hello reconnects and asks to resume with the given token and lastSeq,
// returning the welcome; a fresh session it starts becomes r's session.
func (r *resumer) hello(tok string, lastSeq float64, token string) testutil.Msg {
	r.t.Helper()
	r.c = testutil.Dial(r.t, r.srv.WSURL, nil)
	r.c.Send(map[string]any{"type": "hello", "token": token, "resume": tok, "lastSeq": lastSeq})
	w := r.c.Expect("welcome")
	if w["resumed"] != true {
		r.peer, r.lastSeq = w.Str("peer"), 0
	}
	if w.Str("resume") == "" || w.Str("resume") == tok {
		r.t.Fatalf("welcome without a new resume token: %v", w)
	}
	r.tok = w.Str("resume")
	return w
}

// resume reconnects with the session's token and lastSeq and fails unless
// the session is resumed.
func (r *resumer) resume() testutil.Msg {
	r.t.Helper()
	peer, last := r.peer, r.lastSeq
	w := r.hello(r.tok, r.lastSeq, r.srv.Token(r.t, r.user, "*"))
	if w["resumed"] != true || w.Str("peer") != peer || w.Num("lastSeq") < last {
		r.t.Fatalf("%s: want the session resumed, got %v", r.user, w)
	}
	if _, ok := w["seq"]; ok {
		r.t.Errorf("resumed welcome carries seq: %v", w)
	}
	return w
}

// refused reconnects with tok and fails unless the resume is refused with code.
func (r *resumer) refused(tok string, lastSeq float64, token, code string) testutil.Msg {
	r.t.Helper()
	old := r.peer
	w := r.hello(tok, lastSeq, token)
	e, _ := w["resumeError"].(map[string]any)
	if w["resumed"] != false || e["code"] != code || e["message"] == "" || w.Str("peer") == old {
		r.t.Fatalf("%s: want a fresh session refused with %q, got %v", r.user, code, w)
	}
	return w
}

func (r *resumer) join(room string) {
	r.t.Helper()
	r.c.Send(map[string]any{"type": "join", "room": room, "id": "j"})
	r.next("joined")
	r.room = room
}

// signal sends a signal in r's room.
func (r *resumer) signal(to string, data any, id string) {
	r.t.Helper()
	r.c.Send(map[string]any{"type": "signal", "room": r.room, "to": to, "data": data, "id": id})
}

// passes checks that a signal from one peer of a pair reaches the other,
// acked, next in line on both sides.
func passes(t *testing.T, from, to *resumer, data string) {
	t.Helper()
	from.signal(to.peer, data, "p")
	from.next("ack")
	if m := to.next("signal"); m.Str("data") != data || m.Str("from") != from.peer {
		t.Fatalf("%s sent %q to %s, who got %v", from.user, data, to.user, m)
	}
}

// pair starts two resumers in a room of the test's own (subtests share a
// server, and a session of an earlier one may end late), with everything
// up to now read.
func pair(t *testing.T, srv *testutil.Server) (a, b *resumer) {
	t.Helper()
	a, b = newResumer(t, srv, "alice"), newResumer(t, srv, "bob")
	a.join(t.Name())
	b.join(t.Name())
	a.next("peer-joined")
	return a, b
}

func TestResumeReplaysWhatWasMissed(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, b := pair(t, srv)

	// Alice's last request before the cut reaches the server; its ack
	// reaches her socket but not her app (lastSeq stays before it).
	a.signal(b.peer, "before the cut", "s0")
	b.next("signal")
	a.c.Expect("ack")
	a.c.Drop()
	// Bob goes on as if nothing happened: acks as usual, no peer-left.
	for i := range 5 {
		b.signal(a.peer, i, "b"+string(rune('0'+i)))
		if ack := b.next("ack"); ack.Str("id") != "b"+string(rune('0'+i)) {
			t.Fatalf("bob's ack: %v", ack)
		}
	}
	b.c.Quiet(100 * time.Millisecond)

	w := a.resume()
	// The replay: the ack of s0, then bob's five signals, in order, each once.
	if ack := a.next("ack"); ack.Str("id") != "s0" {
		t.Fatalf("first replayed frame %v, want the ack of s0", ack)
	}
	for i := range 5 {
		if m := a.next("signal"); m.Num("data") != float64(i) || m.Str("from") != b.peer {
			t.Fatalf("replayed signal %d: %v", i, m)
		}
	}
	if w.Num("lastSeq") != a.lastSeq {
		t.Errorf("welcome lastSeq %v, replay ended at %v", w["lastSeq"], a.lastSeq)
	}
	// Then new frames, numbering on; the room is as it was.
	passes(t, b, a, "after")
	passes(t, a, b, "hello again")
	a.c.Quiet(50 * time.Millisecond)
	b.c.Quiet(50 * time.Millisecond)
}

func TestResumeTokenWorksOnceAndOnlyForItsUser(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, b := pair(t, srv)
	tok := a.tok
	a.c.Drop()

	// Mallory holds the token but not alice's JWT: refused, and alice's
	// session is untouched (no peer-left, the token still works for her).
	m := &resumer{t: t, srv: srv, user: "mallory"}
	m.refused(tok, 0, srv.Token(t, "mallory", "*"), "session_unknown")
	b.c.Quiet(100 * time.Millisecond)

	a.resume()
	// Once alice shows she read the new welcome (any frame; a pong would
	// do too), the token she resumed with is spent: a second resume with
	// it is a fresh session, and alice's resumed session carries on.
	a.c.Send(map[string]any{"type": "ping", "id": "alive"})
	a.next("pong")
	c := &resumer{t: t, srv: srv, user: "alice"}
	c.refused(tok, a.lastSeq, srv.Token(t, "alice", "*"), "session_unknown")
	passes(t, b, a, "still there")
	b.c.Quiet(50 * time.Millisecond)
}

func TestResumeAfterGraceIsAFreshSession(t *testing.T) {
	srv := start(t, signaling.Config{ResumeGrace: 300 * time.Millisecond})
	a, b := pair(t, srv)
	a.c.Drop()
	// The grace period runs out: the room hears alice leave.
	if pl := b.next("peer-left"); pl.Str("peer") != a.peer {
		t.Fatalf("peer-left %v", pl)
	}
	old := a.peer
	a.refused(a.tok, a.lastSeq, srv.Token(t, "alice", "*"), "session_unknown")
	// The fresh session is in no room: joining again is the client's job.
	a.join(b.room)
	if pj := b.next("peer-joined"); pj.Str("peer") == old || pj.Str("peer") != a.peer {
		t.Fatalf("peer-joined %v", pj)
	}
	waitFor(t, func() bool { return srv.App.Signaling().Sessions() == 2 }, "the expired session gone")
}

func TestResumeBufferOverflowEndsTheSession(t *testing.T) {
	srv := start(t, signaling.Config{SendQueueFrames: 20, Rate: 1000, Burst: 1000})
	a, b := pair(t, srv)
	a.c.Drop()
	// Alice's buffer holds twenty frames: her joined and peer-joined (no
	// ping has confirmed them yet) and eighteen signals.
	for i := range 18 {
		b.signal(a.peer, i, "b")
		b.next("ack")
	}
	// The next one ends her session instead of being dropped: the room
	// hears her leave (the ack and the peer-left race).
	b.signal(a.peer, 18, "b")
	got := map[string]bool{}
	for range 2 {
		m := b.next("")
		got[m.Type()] = true
		if m.Type() == "peer-left" && m.Str("peer") != a.peer {
			t.Fatalf("peer-left %v", m)
		}
	}
	if !got["ack"] || !got["peer-left"] {
		t.Fatalf("want an ack and alice's peer-left, got %v", got)
	}
	a.refused(a.tok, a.lastSeq, srv.Token(t, "alice", "*"), "session_overflow")
	if m := srv.Scrape(t); !strings.Contains(m, `switchboard_signaling_disconnects_total{reason="resume_overflow"} 1`) {
		t.Errorf("metrics lack the overflow:\n%s", grep(m, "disconnects"))
	}
}

func TestResumeWhileTheOtherPeerIsAwayToo(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, b := pair(t, srv)
	a.c.Drop()
	b.signal(a.peer, "to alice while she is away", "b1")
	b.next("ack")
	b.c.Drop()
	a.resume()
	if m := a.next("signal"); m.Str("data") != "to alice while she is away" {
		t.Fatalf("alice's replay: %v", m)
	}
	// Bob is away now: alice's signal is kept for him.
	a.signal(b.peer, "to bob while he is away", "a1")
	a.next("ack")
	b.resume()
	if m := b.next("signal"); m.Str("data") != "to bob while he is away" {
		t.Fatalf("bob's replay: %v", m)
	}
	a.c.Quiet(50 * time.Millisecond)
	b.c.Quiet(50 * time.Millisecond)
}

func TestResumeTakesOverAConnectionStillOpen(t *testing.T) {
	srv := start(t, signaling.Config{})
	a, b := pair(t, srv)
	old := a.c
	// The client gave up on a connection the server still thinks alive.
	a.resume()
	if code := old.Closed(); code != signaling.CloseReplaced {
		t.Errorf("old connection closed with %d, want %d", code, signaling.CloseReplaced)
	}
	passes(t, b, a, "new link")
	b.c.Quiet(50 * time.Millisecond)
}

func TestResumeRefusals(t *testing.T) {
	srv := start(t, signaling.Config{PingInterval: 50 * time.Millisecond})
	t.Run("lastSeq ahead of the server", func(t *testing.T) {
		a, b := pair(t, srv)
		a.c.Drop()
		a.refused(a.tok, a.lastSeq+5, srv.Token(t, "alice", "*"), "seq_out_of_range")
		// A refused resume ends the old session.
		if pl := b.next("peer-left"); pl.Str("room") != b.room {
			t.Fatalf("peer-left %v", pl)
		}
	})
	t.Run("lastSeq behind what the client confirmed", func(t *testing.T) {
		a, b := pair(t, srv)
		// Pings every 50 ms: their pongs confirm what alice has, and a
		// confirmation a second old drops what it confirms. Thirty rounds
		// (1.5 s) after her last frame, all of it is gone.
		pingRounds(t, srv, 30)
		a.c.Drop()
		a.refused(a.tok, 0, srv.Token(t, "alice", "*"), "seq_out_of_range")
		b.next("peer-left")
	})
	t.Run("a client that confirms what its app read is trusted over pongs", func(t *testing.T) {
		a, b := pair(t, srv)
		// Alice's app has read her joined (seq 1), not yet the peer-joined
		// (seq 2) her socket has: pongs must not drop it.
		a.c.Send(map[string]any{"type": "confirm", "lastSeq": 1})
		pingRounds(t, srv, 30)
		a.c.Drop()
		a.lastSeq = 1
		a.resume()
		if m := a.next("peer-joined"); m.Str("peer") != b.peer {
			t.Fatalf("replay %v", m)
		}
		// What she confirmed is gone for good.
		a.c.Drop()
		a.refused(a.tok, 0, srv.Token(t, "alice", "*"), "seq_out_of_range")
		b.next("peer-left")
	})
	t.Run("the new token does not grant the rooms", func(t *testing.T) {
		a, b := pair(t, srv)
		a.c.Drop()
		a.refused(a.tok, a.lastSeq, srv.Token(t, "alice", "elsewhere"), "forbidden")
		b.next("peer-left")
	})
	t.Run("a normal close ends the session at once", func(t *testing.T) {
		a, b := pair(t, srv)
		a.c.Close()
		if pl := b.next("peer-left"); pl.Str("peer") != a.peer {
			t.Fatalf("peer-left %v", pl)
		}
		a.refused(a.tok, a.lastSeq, srv.Token(t, "alice", "*"), "session_unknown")
	})
	t.Run("an abnormal close code keeps it", func(t *testing.T) {
		a, b := pair(t, srv)
		a.c.Conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "test"), time.Now().Add(time.Second))
		a.c.Drop()
		b.c.Quiet(100 * time.Millisecond)
		a.resume()
	})
	if m := srv.Scrape(t); !strings.Contains(m, `switchboard_signaling_resumes_total{result="seq_out_of_range"} 3`) ||
		!strings.Contains(m, `switchboard_signaling_resumes_total{result="resumed"} 2`) {
		t.Errorf("resume metrics:\n%s", grep(m, "resumes_total"))
	}
}

func TestResumeOff(t *testing.T) {
	srv := start(t, signaling.Config{ResumeGrace: -1})
	a := testutil.Dial(t, srv.WSURL, nil)
	if w := a.Hello(srv.Token(t, "alice", "*")); w["resume"] != nil || w["resumed"] != false {
		t.Errorf("welcome offers resume with resume off: %v", w)
	}
	b, _ := connect(t, srv, "bob")
	a.Join("r")
	b.Join("r")
	a.Expect("peer-joined")
	b.Drop()
	// Without resume a dropped connection ends its session at once.
	if pl := a.Expect("peer-left"); pl.Str("room") != "r" {
		t.Fatalf("peer-left %v", pl)
	}
}

// pingRounds waits until the server has sent n pings for each session.
func pingRounds(t *testing.T, srv *testutil.Server, n int) {
	t.Helper()
	const pings = `switchboard_signaling_frames_out_total{type="ping"}`
	want := srv.Metric(t, pings) + float64(n*srv.App.Signaling().Sessions())
	waitFor(t, func() bool { return srv.Metric(t, pings) >= want }, "ping rounds")
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A client that sends several resume hellos for one session at once (two
// tabs sharing a token, a retry racing the first try): the server neither
// crashes nor serves the session on two connections. Until a connection
// shows it read its welcome, the token still resumes (a welcome may be
// lost), so a later hello may take the session over from an earlier one
// (close 4409); in the end exactly one connection holds it.
func TestResumeRacingHellos(t *testing.T) {
	srv := start(t, signaling.Config{MaxSessionsPerUser: 1000})
	for range 10 {
		a := newResumer(t, srv, "alice")
		a.c.Drop()
		token := srv.Token(t, "alice", "*")
		var mu sync.Mutex
		holders := 0
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				c, _, err := websocket.DefaultDialer.Dial(srv.WSURL, nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				defer func() { // close 1000: the fresh sessions end too
					c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
					c.Close()
				}()
				c.WriteJSON(map[string]any{"type": "hello", "token": token, "resume": a.tok, "lastSeq": 0})
				if racer(t, c) {
					mu.Lock()
					holders++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if holders != 1 {
			t.Fatalf("%d connections hold alice's session, want 1", holders)
		}
	}
	waitFor(t, func() bool { return srv.App.Signaling().Sessions() == 0 }, "every session closed")
}

// racer reads one racing hello's fate: a fresh session, or a connection
// taken over (close 4409, or just closed when the close frame lost the race
// with the close), are fine, and false; true if the connection resumed the
// session and still holds it 300 ms after showing it read the welcome.
func racer(t *testing.T, c *websocket.Conn) bool {
	c.SetReadDeadline(time.Now().Add(testutil.Wait))
	var w testutil.Msg
	if err := c.ReadJSON(&w); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("no welcome and no close: %v", err)
		}
		return false
	}
	if w.Type() != "welcome" {
		t.Errorf("want a welcome, got %v", w)
		return false
	}
	if w["resumed"] != true {
		return false
	}
	c.WriteJSON(map[string]any{"type": "ping", "id": "mine?"})
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		var m testutil.Msg
		err := c.ReadJSON(&m)
		if err != nil {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout() // else taken over
		}
	}
}
