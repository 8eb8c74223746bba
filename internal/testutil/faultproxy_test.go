package testutil

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The proxy's own goroutines, and the servers' the tests start, must end with the tests.
func TestMain(m *testing.M) { LeakCheckMain(m) }

// echoTarget is a TCP echo server that also counts, per connection, the
// bytes it received. It ends with the test.
type echoTarget struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	received []int // per connection, in the order they ended
	conns    map[net.Conn]bool
}

func startEchoTarget(t *testing.T) *echoTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoTarget{ln: ln, conns: map[net.Conn]bool{}}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns[c] = true
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				n, _ := io.Copy(c, c)
				c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.received = append(e.received, int(n))
				e.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

// ended waits until n connections have ended at the target and returns their byte counts.
func (e *echoTarget) ended(t *testing.T, n int) []int {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		e.mu.Lock()
		got := append([]int(nil), e.received...)
		e.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections ended at the target, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dialProxy(t *testing.T, p *FaultProxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr, Wait)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads the echo of it.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(Wait))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

// waitEnded fails unless c's next read reports the end of the connection.
func waitEnded(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(Wait))
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); err == nil || ok && ne.Timeout() {
		t.Fatalf("read %d bytes, err %v: want the connection ended", n, err)
	}
}

func TestFaultProxyForwardsAndCuts(t *testing.T) {
	e := startEchoTarget(t)
	p := StartFaultProxy(t, e.ln.Addr().String())
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") || p.URL() != "http://"+p.Addr || p.WSURL() != "ws://"+p.Addr+"/ws" {
		t.Fatalf("addresses %q %q %q", p.Addr, p.URL(), p.WSURL())
	}
	var conns []net.Conn
	for range 3 {
		c := dialProxy(t, p)
		roundTrip(t, c, "hello")
		conns = append(conns, c)
	}
	if n := p.Conns(); n != 3 {
		t.Fatalf("Conns %d, want 3", n)
	}
	if n := p.Cut(); n != 3 {
		t.Fatalf("Cut closed %d, want 3", n)
	}
	for _, c := range conns {
		waitEnded(t, c)
	}
	e.ended(t, 3)
	if p.Conns() != 0 || p.Cuts() != 3 {
		t.Fatalf("after the cut: Conns %d, Cuts %d; want 0, 3", p.Conns(), p.Cuts())
	}

	// New connections go through, and one the client closes is not a cut.
	c := dialProxy(t, p)
	roundTrip(t, c, "again")
	c.Close()
	e.ended(t, 4)
	if p.Cuts() != 3 {
		t.Fatalf("Cuts %d after a normal close, want 3", p.Cuts())
	}
}

func TestFaultProxyDownAndUp(t *testing.T) {
	e := startEchoTarget(t)
	p := StartFaultProxy(t, e.ln.Addr().String())
	c := dialProxy(t, p)
	roundTrip(t, c, "before")
	p.Down()
	waitEnded(t, c)
	for range 3 { // accepted and closed at once, never forwarded
		waitEnded(t, dialProxy(t, p))
	}
	if p.Cuts() != 1 || p.Conns() != 0 {
		t.Fatalf("while down: Cuts %d, Conns %d; want 1, 0", p.Cuts(), p.Conns())
	}
	p.Up()
	roundTrip(t, dialProxy(t, p), "after")
}

func TestFaultProxyChaos(t *testing.T) {
	e := startEchoTarget(t)
	p := StartFaultProxy(t, e.ln.Addr().String())
	const maxBytes, conns = 100, 20
	p.Chaos(7, maxBytes)
	big := bytes.Repeat([]byte("x"), 10*maxBytes)
	echoed := 0
	for range conns {
		c := dialProxy(t, p)
		c.SetDeadline(time.Now().Add(Wait))
		// One write of more than any budget: the proxy forwards part of it
		// and cuts in the middle.
		if _, err := c.Write(big); err != nil {
			t.Fatalf("write: %v", err)
		}
		n, _ := io.Copy(io.Discard, c) // what came back before the cut
		echoed += int(n)
	}
	received := e.ended(t, conns)
	total := echoed
	for _, n := range received {
		if n < 1 || n > maxBytes {
			t.Errorf("the target received %d bytes on a connection, want 1..%d", n, maxBytes)
		}
		total += n
	}
	if total > conns*maxBytes {
		t.Errorf("%d bytes forwarded over %d connections, budget at most %d each", total, conns, maxBytes)
	}
	if p.Cuts() != conns {
		t.Errorf("Cuts %d, want %d", p.Cuts(), conns)
	}

	p.Chaos(0, 0)
	c := dialProxy(t, p)
	roundTrip(t, c, string(big))
	if p.Cuts() != conns {
		t.Errorf("Cuts %d after Chaos off, want %d", p.Cuts(), conns)
	}
}

// Through the proxy a WebSocket works as usual, and a cut ends it without
// a close frame: what a session-resume test needs.
func TestFaultProxyCutsWebSocketWithoutCloseFrame(t *testing.T) {
	srv := StartServer(t, Options{})
	p := StartFaultProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	c := Dial(t, p.WSURL(), nil)
	c.Hello(srv.Token(t, "alice", "lobby"))
	c.Join("lobby")
	if n := p.Cut(); n != 1 {
		t.Fatalf("Cut closed %d connections, want 1", n)
	}
	// 1006 is what gorilla reports for a connection that ended without a
	// close frame; no peer ever sends it.
	if code := c.Closed(); code != -1 && code != websocket.CloseAbnormalClosure {
		t.Fatalf("close code %d (%v), want none", code, c.err)
	}
}
