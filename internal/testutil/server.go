package testutil

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/server"
	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/compat/ywebrtc"
	"github.com/switchboard-rtc/switchboard/turn"
)

// Options configures StartServer.
type Options struct {
	Dev       bool
	Signaling signaling.Config // limits, namespaces, origins (Verifier, Logger, Metrics are set by the server)
	// TURN, when set, runs the embedded TURN server too. Zero ports become
	// free ports on 127.0.0.1 (Port and TLSPort -1, ListenIP 127.0.0.1), so
	// tests can run side by side; read the bound addresses from App.TURN().Addrs().
	TURN *turn.Config
	// RoomModes makes rooms sfu rooms; then the SFU runs, on free ports of
	// 127.0.0.1 (UDP and ICE-TCP), with SFULimits (zero: defaults).
	RoomModes signaling.RoomModes
	SFULimits sfu.Config
	// YWebRTC configures the /y-webrtc endpoint (its Dev follows Dev).
	YWebRTC ywebrtc.Config
}

// Server is a running Switchboard on 127.0.0.1 with a random port.
type Server struct {
	URL    string // http://127.0.0.1:PORT
	WSURL  string // ws://127.0.0.1:PORT/ws
	Secret string // HS256 secret the server verifies
	App    *server.Server
}

// TestSecret is the JWT secret test servers use.
const TestSecret = "test-secret-0123456789"

// TestTURNSecret is the TURN REST API secret test servers use unless the
// test sets one.
const TestTURNSecret = "test-turn-secret-0123456789"

// shutdownWait bounds a test server's graceful shutdown. net/http closes a
// connection that has not sent a request (Chromium opens spare ones ahead
// of time) only once it has been idle for 5 s, so the wait must be longer.
const shutdownWait = 15 * time.Second

// StartServer starts the full HTTP server (signaling, web pages, metrics, dev
// token endpoint when Dev) and shuts it down in t.Cleanup. Set SWITCHBOARD_TEST_LOG=1
// to see its logs.
func StartServer(t testing.TB, opts Options) *Server {
	t.Helper()
	app, err := server.New(serverConfig(opts, "127.0.0.1:0"))
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := app.Listen()
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	base := "http://" + addr.String()
	return &Server{URL: base, WSURL: "ws" + strings.TrimPrefix(base, "http") + "/ws", Secret: TestSecret, App: app}
}

// Token mints an HS256 token for user granting rooms (default namespace) valid for an hour.
func (s *Server) Token(t testing.TB, user string, rooms ...string) string {
	t.Helper()
	return MintToken(t, signaling.TokenSpec{User: user, Rooms: rooms, TTL: time.Hour})
}

// MintToken signs spec with TestSecret.
func MintToken(t testing.TB, spec signaling.TokenSpec) string {
	t.Helper()
	tok, err := signaling.MintHS256([]byte(TestSecret), spec)
	if err != nil {
		t.Fatalf("mint token: %v", err)
	}
	return tok
}

// serverConfig is the server.Config StartServer builds from opts, listening
// on listen.
func serverConfig(opts Options, listen string) server.Config {
	var out io.Writer = io.Discard
	if os.Getenv("SWITCHBOARD_TEST_LOG") != "" {
		out = os.Stderr
	}
	var tc *turn.Config
	if opts.TURN != nil {
		c := *opts.TURN
		if !c.ListenIP.IsValid() {
			c.ListenIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		if c.Port == 0 {
			c.Port = -1
		}
		if c.TLSPort == 0 {
			c.TLSPort = -1
		}
		if c.Secret == nil {
			c.Secret = []byte(TestTURNSecret)
		}
		tc = &c
	}
	return server.Config{
		Listen:    listen,
		Dev:       opts.Dev,
		JWTSecret: TestSecret,
		Signaling: opts.Signaling,
		YWebRTC:   opts.YWebRTC,
		TURN:      tc,
		RoomModes: opts.RoomModes,
		SFU: server.SFUConfig{Enabled: true, ListenIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}),
			Limits: opts.SFULimits},
		Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// Metric reads one sample from the server's /metrics, as its exposition
// line names it (`name{label="v"}`); 0 when absent.
func (s *Server) Metric(t testing.TB, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(s.Scrape(t), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", l, err)
			}
			return f
		}
	}
	return 0
}

// Scrape returns the server's /metrics page.
func (s *Server) Scrape(t testing.TB) string {
	t.Helper()
	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return string(b)
}

// WaitFor polls cond until it holds, failing the test after Wait.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
