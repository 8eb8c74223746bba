package testutil

import (
	"context"
	"errors"
	mathrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/server"
)

// RestartableServer is a Switchboard on 127.0.0.1 that a test can restart,
// as an operator restarts the process: Restart shuts the running server
// down (every session gets the 1001 close of a shutdown, the TURN server
// closes) and starts a fresh one, with no sessions, rooms or metrics, on
// the same address with the same JWT secret, so clients reconnect to the
// same URL and their tokens stay valid. TURN, when configured, listens on
// new free ports after a restart unless Options.TURN names fixed ones.
//
// The embedded *Server always describes the server running now (App
// changes on Restart; URL, WSURL and Secret do not). Use it from the test's
// goroutine only.
type RestartableServer struct {
	*Server
	t    testing.TB
	opts Options
	addr string
	done chan error // Serve's result for the running server; nil when stopped
	// Restarts counts completed restarts.
	Restarts int
}

// StartRestartableServer starts a server like StartServer, on a free port
// outside the kernel's ephemeral range (see restartablePort), and shuts down
// whichever server is running in t.Cleanup.
func StartRestartableServer(t testing.TB, opts Options) *RestartableServer {
	t.Helper()
	s := &RestartableServer{t: t, opts: opts, addr: restartablePort(t)}
	s.start()
	s.addr = strings.TrimPrefix(s.URL, "http://") // the port it got, for every later start
	t.Cleanup(func() {
		if s.done != nil {
			s.stop()
		}
	})
	return s
}

// Restart stops the running server and starts a new one on the same address.
func (s *RestartableServer) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
	s.Restarts++
}

// Stop shuts the running server down and waits for it to end. Clients see
// the server go away and try to reconnect, and fail until Start.
func (s *RestartableServer) Stop() {
	s.t.Helper()
	if s.done == nil {
		s.t.Fatal("RestartableServer.Stop: not running")
	}
	s.stop()
}

// Start starts a new server on the address of the first one.
func (s *RestartableServer) Start() {
	s.t.Helper()
	if s.done != nil {
		s.t.Fatal("RestartableServer.Start: already running")
	}
	s.start()
}

func (s *RestartableServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := s.App.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
	if err := <-s.done; err != nil {
		s.t.Errorf("serve: %v", err)
	}
	s.done = nil
}

func (s *RestartableServer) start() {
	t := s.t
	t.Helper()
	app, err := server.New(serverConfig(s.opts, s.addr))
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := listenRetry(app)
	if err != nil {
		// server.New may have started TURN already.
		if serr := app.Shutdown(context.Background()); serr != nil {
			t.Logf("shutdown after failed listen: %v", serr)
		}
		t.Fatalf("listen on %s: %v", s.addr, err)
	}
	s.done = make(chan error, 1)
	go func(done chan<- error) { done <- app.Serve(ln) }(s.done)
	base := "http://" + ln.Addr().(*net.TCPAddr).String()
	s.Server = &Server{URL: base, WSURL: "ws" + strings.TrimPrefix(base, "http") + "/ws", Secret: TestSecret, App: app}
}

// restartablePort returns "127.0.0.1:<port>" for a port that is free now
// and lies below the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range). A port from that range ("127.0.0.1:0")
// could be taken while the server is stopped: the browser's outgoing
// connections get their source ports from it, and one of them may land on
// the server's port, so that Start cannot listen again. Ports below the
// range are only ever taken by an explicit bind. Falls back to
// "127.0.0.1:0" when the range cannot be read or leaves no room below it.
func restartablePort(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	const floor = 20000
	if low <= floor+100 {
		t.Logf("restartable server: ephemeral ports start at %d; using any free port", low)
		return "127.0.0.1:0"
	}
	for range 200 {
		port := floor + mathrand.IntN(low-floor)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		if err := ln.Close(); err != nil {
			continue
		}
		return addr
	}
	t.Logf("restartable server: no free port in %d..%d; using any free port", floor, low-1)
	return "127.0.0.1:0"
}

// ephemeralLow is the lowest port of the kernel's ephemeral range, or 0
// when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 0 || low > 65535 {
		return 0
	}
	return low
}

// listenRetry listens on the server's address. A port the previous server
// just closed is free again at once on Linux (Go sets SO_REUSEADDR), and
// restartablePort keeps it out of the way of outgoing connections, but
// allow a moment for a slow close all the same.
func listenRetry(app *server.Server) (net.Listener, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		ln, err := app.Listen()
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
