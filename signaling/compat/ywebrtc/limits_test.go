package ywebrtc_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/compat/ywebrtc"
)

// refused dials and expects an error message with code, then close.
func refused(t *testing.T, u, code string, closeCode int) {
	t.Helper()
	c := testutil.Dial(t, u, nil)
	defer c.Drop()
	c.ExpectError(code)
	if got := c.Closed(); got != closeCode {
		t.Fatalf("close code %d, want %d", got, closeCode)
	}
}

// Without --dev or --y-webrtc-public a connection needs a valid token;
// tokens for the default namespace or with a bad signature do not do.
func TestAuthRequired(t *testing.T) {
	srv := start(t, testutil.Options{})
	refused(t, endpoint(srv, ""), "unauthorized", signaling.CloseUnauthorized)
	refused(t, endpoint(srv, "not-a-jwt"), "unauthorized", signaling.CloseUnauthorized)
	forged, _ := signaling.MintHS256([]byte("another-secret-0123456789"), signaling.TokenSpec{User: "x", NS: map[string][]string{ywebrtc.Namespace: {"*"}}, TTL: time.Hour})
	refused(t, endpoint(srv, forged), "unauthorized", signaling.CloseUnauthorized)
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, signaling.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "x", ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
	}}).SignedString([]byte(testutil.TestSecret))
	refused(t, endpoint(srv, expired), "token_expired", signaling.CloseUnauthorized)

	// A token for rooms of the default namespace grants no y-webrtc topic.
	a := dial(t, srv, srv.Token(t, "a", "*"))
	a.Send(map[string]any{"type": "subscribe", "topics": []string{"doc"}})
	if m := a.ExpectError("forbidden"); m.Str("topic") != "doc" {
		t.Fatalf("forbidden without the topic: %v", m)
	}
}

// A subscribe's topics are granted one by one: the forbidden ones get an
// error each, the others work; publishing to a topic one is not subscribed
// to is refused and reaches nobody.
func TestTopicGrants(t *testing.T) {
	srv := start(t, testutil.Options{})
	a := dial(t, srv, token(t, "a", "team-*"))
	spy := dial(t, srv, token(t, "spy", "*"))
	subscribe(spy, "secret")
	a.Send(map[string]any{"type": "subscribe", "topics": []string{"secret", "team-1", ""}})
	if m := a.ExpectError("forbidden"); m.Str("topic") != "secret" {
		t.Fatalf("%v", m)
	}
	a.ExpectError("bad_request") // the empty topic
	a.Send(map[string]any{"type": "publish", "topic": "team-1", "data": "x"})
	if m := a.Expect("publish"); m.Num("clients") != 1 {
		t.Fatalf("%v", m)
	}
	a.Send(map[string]any{"type": "publish", "topic": "secret", "data": "x"})
	if m := a.ExpectError("not_found"); m.Str("topic") != "secret" {
		t.Fatalf("%v", m)
	}
	spy.Quiet(100 * time.Millisecond)
}

// Bad input gets a bad_request error and the connection goes on.
func TestBadInput(t *testing.T) {
	srv := start(t, testutil.Options{})
	a := dial(t, srv, token(t, "a", "*"))
	for _, in := range []string{
		`not json`, `[1,2]`, `null`, `"publish"`, `{}`, `{"type":1}`, `{"type":null}`, `{"type":["ping"]}`,
		`{"type":"subscribe","topics":"doc"}`, `{"type":"subscribe","topics":[1]}`, `{"type":"unsubscribe","topics":{"a":1}}`,
		`{"type":"publish"}`, `{"type":"publish","topic":7}`, `{"type":"publish","topic":""}`,
		`{"type":"hello"}`, `{"type":"pong"}`, `{"TYPE":"ping"}`, `{"type":"ping"`,
	} {
		a.SendRaw([]byte(in))
		m := a.Expect("error")
		if m.Str("code") != "bad_request" || m.Str("message") == "" {
			t.Fatalf("%s: %v", in, m)
		}
	}
	if err := a.Conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	a.ExpectError("bad_request")
	ping(a)
	if n := srv.Metric(t, `switchboard_signaling_compat_frames_in_total{protocol="y-webrtc",type="invalid"}`); n != 17 {
		t.Fatalf("invalid frames counted: %v", n)
	}
	if n := srv.Metric(t, `switchboard_signaling_compat_frames_in_total{protocol="y-webrtc",type="unknown"}`); n != 2 {
		t.Fatalf("unknown frames counted: %v", n)
	}
}

// A frame over --max-frame-bytes closes that connection with 1009; a
// flood is rate limited. Neither touches another connection.
func TestHugeFrameAndFlood(t *testing.T) {
	srv := start(t, testutil.Options{Signaling: signaling.Config{MaxFrameBytes: 4096, Rate: 50, Burst: 50, SendQueueFrames: 64, SendQueueBytes: 64 << 10}})
	calm := dial(t, srv, token(t, "calm", "*"))
	subscribe(calm, "t")

	big := testutil.Dial(t, endpoint(srv, token(t, "big", "*")), nil)
	defer big.Drop()
	big.SendRaw([]byte(`{"type":"publish","topic":"t","data":"` + strings.Repeat("x", 5000) + `"}`))
	if code := big.Closed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("huge frame: close %d", code)
	}

	flood := testutil.Dial(t, endpoint(srv, token(t, "flood", "*")), nil)
	defer flood.Drop()
	flood.Send(map[string]any{"type": "subscribe", "topics": []string{"t"}})
	limited := false
	for range 60 {
		flood.Send(map[string]any{"type": "ping"})
	}
	for range 60 {
		if m := flood.Next(); m.Type() == "error" && m.Str("code") == "rate_limited" {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("60 frames at once were not rate limited (burst 50)")
	}
	if n := srv.Metric(t, `switchboard_signaling_disconnects_total{reason="frame_too_big"}`); n != 1 {
		t.Fatalf("disconnects for frame_too_big: %v", n)
	}

	calm.Send(map[string]any{"type": "publish", "topic": "t", "data": "still here"})
	if m := calm.Expect("publish"); m.Str("data") != "still here" {
		t.Fatalf("%v", m)
	}
}

// A client that sends and never reads fills its queue and is dropped;
// the others go on.
func TestSlowConsumer(t *testing.T) {
	srv := start(t, testutil.Options{Signaling: signaling.Config{Rate: 1e6, Burst: 1e6, SendQueueFrames: 64, SendQueueBytes: 256 << 10}})
	calm := dial(t, srv, token(t, "calm", "*"))
	subscribe(calm, "t")
	deaf, _, err := websocket.DefaultDialer.Dial(endpoint(srv, token(t, "deaf", "*")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer deaf.Close()
	deaf.WriteJSON(map[string]any{"type": "subscribe", "topics": []string{"deaf"}})
	frame := []byte(`{"type":"publish","topic":"deaf","data":"` + strings.Repeat("p", 8000) + `"}`)
	for i := 0; i < 50000; i++ { // each comes back to the sender: 400 MB if it were never dropped
		deaf.SetWriteDeadline(time.Now().Add(time.Second))
		if deaf.WriteMessage(websocket.TextMessage, frame) != nil {
			break
		}
	}
	testutil.WaitFor(t, "the deaf client dropped", func() bool { return srv.App.Signaling().Sessions() == 1 })
	calm.Send(map[string]any{"type": "publish", "topic": "t", "data": "still here"})
	if m := calm.Expect("publish"); m.Str("data") != "still here" {
		t.Fatalf("%v", m)
	}
}

// Limits shared with /ws: sessions per user (y-webrtc and /ws sessions
// together), topics per connection and peers per topic (the default
// namespace's), the origin check.
func TestLimits(t *testing.T) {
	srv := start(t, testutil.Options{Signaling: signaling.Config{
		MaxSessionsPerUser: 2, Limits: signaling.Limits{RoomsPerSession: 2, PeersPerRoom: 2},
	}})
	tok := token(t, "u", "*")
	a := dial(t, srv, tok)
	ping(a) // admitted before the /ws session says hello
	ws := testutil.Dial(t, srv.WSURL, nil)
	t.Cleanup(ws.Close)
	ws.Hello(tok)
	refused(t, endpoint(srv, tok), "limit_exceeded", signaling.CloseTooManySessions)

	a.Send(map[string]any{"type": "subscribe", "topics": []string{"t1", "t2", "t3"}})
	if m := a.ExpectError("limit_exceeded"); m.Str("topic") != "t3" {
		t.Fatalf("%v", m)
	}
	b := dial(t, srv, token(t, "b", "*"))
	c := dial(t, srv, token(t, "c", "*"))
	subscribe(b, "t1")
	c.Send(map[string]any{"type": "subscribe", "topics": []string{"t1"}})
	c.ExpectError("limit_exceeded")

	_, err := testutil.TryDial(t, endpoint(srv, tok), http.Header{"Origin": {"https://evil.example"}})
	var de *testutil.DialError
	if !errors.As(err, &de) || de.Status != http.StatusForbidden {
		t.Fatalf("foreign origin: %v", err)
	}
}

// --dev lets a connection without a token use every topic; the public
// endpoint lets anonymous clients in with their own topics, apart from
// token holders', and tighter limits.
func TestDevAndPublic(t *testing.T) {
	dev := start(t, testutil.Options{Dev: true})
	a := dial(t, dev, "")
	subscribe(a, "any")
	a.Send(map[string]any{"type": "publish", "topic": "any", "data": 1})
	a.Expect("publish")

	pub := start(t, testutil.Options{YWebRTC: ywebrtc.Config{Public: true, PublicLimits: signaling.GateConfig{MaxConnsPerUser: 2}}})
	anon := dial(t, pub, "")
	holder := dial(t, pub, token(t, "h", "*"))
	subscribe(anon, "doc")
	subscribe(holder, "doc")
	anon.Send(map[string]any{"type": "publish", "topic": "doc", "data": 1})
	if m := anon.Expect("publish"); m.Num("clients") != 1 {
		t.Fatalf("anonymous and token topics mixed: %v", m)
	}
	holder.Quiet(100 * time.Millisecond)
	topics := make([]string, 9)
	for i := range topics {
		topics[i] = fmt.Sprint("t", i)
	}
	anon.Send(map[string]any{"type": "subscribe", "topics": topics})
	if m := anon.ExpectError("limit_exceeded"); m.Str("topic") != "t7" { // "doc" and t0..t6 make 8
		t.Fatalf("%v", m)
	}
	ping(dial(t, pub, ""))                                                          // admitted before the next one dials
	refused(t, endpoint(pub, ""), "limit_exceeded", signaling.CloseTooManySessions) // 2 per address
}

// Frames are counted by protocol and type; connections count as sessions.
func TestMetrics(t *testing.T) {
	srv := start(t, testutil.Options{})
	a := dial(t, srv, token(t, "a", "*"))
	subscribe(a, "t")
	a.Send(map[string]any{"type": "publish", "topic": "t", "data": 1})
	a.Expect("publish")
	for name, want := range map[string]float64{
		`switchboard_signaling_compat_frames_in_total{protocol="y-webrtc",type="subscribe"}`: 1,
		`switchboard_signaling_compat_frames_in_total{protocol="y-webrtc",type="publish"}`:   1,
		`switchboard_signaling_compat_frames_in_total{protocol="y-webrtc",type="ping"}`:      1,
		`switchboard_signaling_compat_frames_out_total{protocol="y-webrtc",type="publish"}`:  1,
		`switchboard_signaling_compat_frames_out_total{protocol="y-webrtc",type="pong"}`:     1,
		`switchboard_signaling_sessions`:       1,
		`switchboard_signaling_sessions_total`: 1,
		`switchboard_signaling_rooms`:          1,
	} {
		if got := srv.Metric(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	a.Close()
	testutil.WaitFor(t, "the session counted out", func() bool {
		return srv.Metric(t, `switchboard_signaling_disconnects_total{reason="client_closed"}`) == 1 &&
			srv.Metric(t, `switchboard_signaling_sessions`) == 0 && srv.Metric(t, `switchboard_signaling_rooms`) == 0
	})
}

// A shutdown closes y-webrtc connections with 1001, as /ws sessions.
func TestShutdown(t *testing.T) {
	srv := start(t, testutil.Options{})
	a := testutil.Dial(t, endpoint(srv, token(t, "a", "*")), nil)
	defer a.Drop()
	ping(a)
	go srv.App.Signaling().Shutdown(t.Context())
	if code := a.Closed(); code != websocket.CloseGoingAway {
		t.Fatalf("close %d", code)
	}
}

// y-webrtc connections count against --max-sessions with /ws sessions; the
// public endpoint has a cap of its own below it.
func TestServerFull(t *testing.T) {
	srv := start(t, testutil.Options{Signaling: signaling.Config{MaxSessions: 2},
		YWebRTC: ywebrtc.Config{Public: true, PublicLimits: signaling.GateConfig{MaxConns: 1}}})
	ping(dial(t, srv, ""))
	full := func(u string) {
		t.Helper()
		_, err := testutil.TryDial(t, u, nil)
		var de *testutil.DialError
		if !errors.As(err, &de) || de.Status != http.StatusServiceUnavailable {
			t.Fatalf("dial when full: %v", err)
		}
	}
	full(endpoint(srv, "")) // the public endpoint's one connection is taken
	ws := testutil.Dial(t, srv.WSURL, nil)
	t.Cleanup(ws.Close)
	ws.Hello(srv.Token(t, "w", "*"))
	full(endpoint(srv, token(t, "a", "*"))) // the server's two are taken
	if n := srv.Metric(t, `switchboard_signaling_connections_refused_total{reason="full"}`); n != 2 {
		t.Fatalf("refused as full: %v", n)
	}
}

// The y-webrtc namespace is the endpoint's own: a /ws session cannot join
// its topics, and a server that declares it for /ws does not start.
func TestNamespaceIsOwn(t *testing.T) {
	srv := start(t, testutil.Options{})
	tok := token(t, "a", "*")
	y := dial(t, srv, tok)
	subscribe(y, "t")
	ws := testutil.Dial(t, srv.WSURL, nil)
	t.Cleanup(ws.Close)
	ws.Hello(tok)
	ws.Send(map[string]any{"type": "join", "ns": ywebrtc.Namespace, "room": "t", "id": 1})
	ws.ExpectError("not_found")

	sig, err := signaling.New(signaling.Config{Verifier: mustVerifier(t), Namespaces: []signaling.Namespace{{Name: ywebrtc.Namespace}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ywebrtc.New(sig, ywebrtc.Config{}); !errors.Is(err, signaling.ErrBadConfig) {
		t.Fatalf("declared y-webrtc namespace: %v", err)
	}
}

func mustVerifier(t *testing.T) *signaling.Verifier {
	t.Helper()
	v, err := signaling.NewHMACVerifier([]byte(testutil.TestSecret))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
