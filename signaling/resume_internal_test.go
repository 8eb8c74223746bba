package signaling

import (
	"encoding/json"
	"net/http/httptest"
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

// The buffer of a session being resumed overflows after resume() checked
// it and before attach(): the client must get a refusal that says so, not
// "resumed":true on a session that has ended.
func TestResumeOverflowWhileAttaching(t *testing.T) {
	s, url := internalServer(t, Config{SendQueueFrames: 8})
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteJSON(map[string]any{"type": "hello", "token": internalToken(t, "alice")})
	w, err := readFrame(t, c, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rtok := w["resume"].(string)
	se := sessionOf(s, rtok)
	c.Close() // lost connection: detached
	waitAway(t, se)

	overflowed := false
	resumeChecked = func(se *Session) {
		for range 20 {
			if !se.Deliver([]byte(`{"type":"signal","data":1}`), KindSignal) {
				overflowed = true
				return
			}
		}
	}
	t.Cleanup(func() { resumeChecked = nil })
	c2, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.WriteJSON(map[string]any{"type": "hello", "token": internalToken(t, "alice"), "resume": rtok, "lastSeq": 0})
	w2, err := readFrame(t, c2, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !overflowed {
		t.Fatal("the buffer did not overflow")
	}
	e, _ := w2["resumeError"].(map[string]any)
	if w2["resumed"] != false || e["code"] != refusedOverflow {
		t.Fatalf("welcome after an overflow during the resume: %v", w2)
	}
}

// A pong on the old link confirmed frames 3..N just before the cut (its
// confirmation not yet confirmWithin old, so they are kept: the app had not
// read them). The client resumes with lastSeq 2 and gets them replayed. That
// old confirmation must not drop them a moment later on the new link, where
// the app got them only milliseconds ago: a second cut must still resume.
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
