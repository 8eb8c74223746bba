package signaling

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const internalSecret = "internal-secret-0123456789abcdef"

func internalServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	v, err := NewHMACVerifier([]byte(internalSecret))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Verifier = v
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return s, "ws" + strings.TrimPrefix(hs.URL, "http")
}

func internalToken(t *testing.T, user string) string {
	tok, err := MintHS256([]byte(internalSecret), TokenSpec{User: user, Rooms: []string{"*"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readFrame(t *testing.T, c *websocket.Conn, d time.Duration) (map[string]any, error) {
	c.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m, nil
}

func sessionOf(s *Server, tok string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumes[tok]
}

// The buffer of a taken session overflows after resume() checked se.closed
// but before attach(): attach does not look again, so the client gets
// "resumed":true on a closed session that drops everything from then on.
func TestResumeOverflowWhileAttaching(t *testing.T) {
	s, url := internalServer(t, Config{SendQueueFrames: 8})
	for i := 0; i < 20; i++ {
		if overflowWhileAttaching(t, s, url, "alice"+strconv.Itoa(i)) {
			return
		}
	}
	t.Skip("never got s.mu between take() and attach()")
}

// overflowWhileAttaching reports whether it got the interleaving.
func overflowWhileAttaching(t *testing.T, s *Server, url, user string) bool {
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteJSON(map[string]any{"type": "hello", "token": internalToken(t, user)})
	w, err := readFrame(t, c, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rtok := w["resume"].(string)
	se := sessionOf(s, rtok)
	c.Close() // lost connection: detached
	waitAway(t, se)
	se.mu.Lock()
	se.warned = true // adopt() clears it: shows resume() got past its checks
	se.mu.Unlock()

	c2, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	// take() will block on se.mu holding s.mu; a goroutine queued on s.mu
	// for over a millisecond (starvation mode) gets it straight from take().
	se.mu.Lock()
	c2.WriteJSON(map[string]any{"type": "hello", "token": internalToken(t, user), "resume": rtok, "lastSeq": 0})
	time.Sleep(200 * time.Millisecond)
	got := make(chan struct{})
	go func() {
		for !s.mu.TryLock() {
		}
		close(got)
	}()
	time.Sleep(20 * time.Millisecond)
	se.mu.Unlock()
	<-got
	se.mu.Lock()
	ready := se.taken && se.resumeTok == ""
	se.mu.Unlock()
	if !ready {
		s.mu.Unlock()
		return false
	}
	for {
		se.mu.Lock()
		w := se.warned
		se.mu.Unlock()
		if !w {
			break // adopt() ran: resume() is past its checks
		}
		time.Sleep(50 * time.Microsecond)
	}
	overflowed := false
	for i := 0; i < 20; i++ {
		if !se.Deliver([]byte(`{"type":"signal","data":1}`), KindSignal) {
			overflowed = true
			break
		}
	}
	s.mu.Unlock()
	if !overflowed {
		t.Fatal("no overflow")
	}

	w2, err := readFrame(t, c2, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("welcome after the overflow: resumed=%v resumeError=%v lastSeq=%v", w2["resumed"], w2["resumeError"], w2["lastSeq"])
	if w2["resumed"] == true {
		// Replay, then a ping request that is never answered.
		for {
			m, err := readFrame(t, c2, 300*time.Millisecond)
			if err != nil {
				break
			}
			_ = m
		}
		c2.WriteJSON(map[string]any{"type": "ping", "id": "p"})
		if m, err := readFrame(t, c2, 2*time.Second); err != nil {
			t.Errorf("resumed:true on a session that overflowed: a ping gets no answer and no close (%v)", err)
		} else {
			t.Logf("got %v", m)
		}
	}
	return true
}

// A pong on the old link confirmed frames 3..N just before the cut (its
// confirmation not yet confirmWithin old, so they are kept: the app had not
// read them). The client resumes with lastSeq 2 and gets them replayed; the
// pong to the ping behind the replay, a moment later, finds the stale
// se.confirmed (N) "a second old" and drops 3..N although the app got them
// again only milliseconds ago. A second cut now cannot be resumed.
func TestResumeStaleConfirmation(t *testing.T) {
	s, url := internalServer(t, Config{PingInterval: 300 * time.Millisecond})
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteJSON(map[string]any{"type": "hello", "token": internalToken(t, "carol")})
	w, _ := readFrame(t, c, time.Second)
	rtok := w["resume"].(string)
	se := sessionOf(s, rtok)
	for i := 0; i < 5; i++ {
		se.Deliver([]byte(`{"type":"broadcast","data":1}`), KindBroadcast)
	}
	for i := 0; i < 5; i++ {
		readFrame(t, c, time.Second) // the socket has 1..5, the app only 1..2
	}
	// What a pong "5" 900 ms ago left behind.
	se.mu.Lock()
	se.confirmed, se.confirmAt = 5, time.Now().Add(-900*time.Millisecond).UnixNano()
	se.mu.Unlock()
	c.Close()
	waitAway(t, se)

	c2, _, _ := websocket.DefaultDialer.Dial(url, nil)
	defer c2.Close()
	c2.WriteJSON(map[string]any{"type": "hello", "token": internalToken(t, "carol"), "resume": rtok, "lastSeq": 2})
	w2, _ := readFrame(t, c2, time.Second)
	if w2["resumed"] != true {
		t.Fatalf("first resume: %v", w2)
	}
	// The replay (3..5) reaches the socket; its pong goes out at once (the
	// gorilla reader answers the ping); the next 300 ms ping confirms again.
	// 450 ms later the app has not yet
	// processed the replay and the connection drops again.
	for i := 0; i < 3; i++ {
		readFrame(t, c2, time.Second)
	}
	go func() {
		for {
			if _, _, err := c2.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(450 * time.Millisecond)
	se.mu.Lock()
	first := uint64(0)
	if len(se.kept) > 0 {
		first = se.kept[0].seq
	}
	n := len(se.kept)
	se.mu.Unlock()
	t.Logf("450 ms after the replay: kept %d frames, first seq %d", n, first)
	heldTok := w2["resume"].(string)
	c2.Close()
	waitAway(t, se)
	c3, _, _ := websocket.DefaultDialer.Dial(url, nil)
	defer c3.Close()
	c3.WriteJSON(map[string]any{"type": "hello", "token": internalToken(t, "carol"), "resume": heldTok, "lastSeq": 2})
	w3, _ := readFrame(t, c3, time.Second)
	if w3["resumed"] != true {
		t.Errorf("frames replayed 450 ms ago were dropped on a stale confirmation: %v", w3["resumeError"])
	}
}

// waitAway waits until se is detached (its link ended without a close).
func waitAway(t *testing.T, se *Session) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		se.mu.Lock()
		away := se.away
		se.mu.Unlock()
		if away {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never detached")
		}
	}
}
