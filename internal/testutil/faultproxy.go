package testutil

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultProxy forwards TCP connections on 127.0.0.1 to a target and cuts them
// on demand. It stands where a real network fails: between a client and the
// server, so that neither side gets a WebSocket close frame, only a dead
// connection, possibly in the middle of a frame. Session-resume tests put it
// in front of StartServer.
//
// A cut closes both of the proxy's sockets of a connection at once (the
// bytes already forwarded arrive, then the connection ends without a close
// frame), so each side sees an unexpected EOF or a reset, as after a network
// failure that both ends notice.
type FaultProxy struct {
	Addr string // 127.0.0.1:port

	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	mu       sync.Mutex
	conns    map[*proxyConn]struct{} // forwarding now
	down     bool                    // accept only to close at once
	closed   bool                    // the test is over
	rng      *rand.Rand              // Chaos's budgets; nil when Chaos is off
	maxBytes int
	cuts     int
	refused  int // connections closed at once while Down
}

// proxyConn is one forwarded connection: the client's side (accepted) and
// the target's side (dialed).
type proxyConn struct {
	client, server net.Conn
	// budget is how many bytes (both directions together) Chaos lets through
	// before it cuts; chaos false means no limit.
	chaos  bool
	budget atomic.Int64
}

// proxyDialTimeout bounds the dial to the target; the target is on loopback.
const proxyDialTimeout = 5 * time.Second

// proxyBuffer is the size of each copy loop's buffer: one read forwards at
// most this much, and Chaos may cut anywhere inside it.
const proxyBuffer = 32 << 10

// StartFaultProxy listens on a random port of 127.0.0.1 and forwards every
// connection to target (host:port). In t.Cleanup it closes the listener and
// every connection and waits for all its goroutines, so the leak check sees
// none of them.
func StartFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: listen: %v", err)
	}
	p := &FaultProxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's address as an http:// base URL.
func (p *FaultProxy) URL() string { return "http://" + p.Addr }

// WSURL is the signaling endpoint through the proxy.
func (p *FaultProxy) WSURL() string { return "ws://" + p.Addr + "/ws" }

// Cut abruptly closes every open connection, both sides, and returns how
// many it closed. New connections are forwarded as before.
func (p *FaultProxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutAllLocked()
}

// Down cuts every connection and, until Up, closes new connections as soon
// as they are accepted (the client sees its connection end before the
// WebSocket handshake; those are not counted as cuts).
func (p *FaultProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	p.cutAllLocked()
}

// Up forwards new connections again after Down.
func (p *FaultProxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Chaos makes the proxy cut each connection accepted from now on after a
// random number of forwarded bytes in [1, maxBytes], counted over both
// directions together. The cut comes in the middle of a write when the
// budget ends there, so mostly in the middle of a WebSocket frame (or of
// the HTTP upgrade). The budgets come from seed, in the order connections
// are accepted. maxBytes 0 turns Chaos off for new connections; those
// already open keep their budget.
func (p *FaultProxy) Chaos(seed uint64, maxBytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if maxBytes <= 0 {
		p.rng, p.maxBytes = nil, 0
		return
	}
	p.rng, p.maxBytes = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), maxBytes
}

// Conns is how many connections are being forwarded now.
func (p *FaultProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Refused is how many connections came while Down and were closed at once.
func (p *FaultProxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// Cuts is how many connections Cut, Down and Chaos have cut so far.
func (p *FaultProxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *FaultProxy) close() {
	p.ln.Close() // ends the accept loop
	p.mu.Lock()
	p.closed = true
	p.cutAllLocked()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *FaultProxy) cutAllLocked() int {
	n := 0
	for c := range p.conns {
		p.cutLocked(c)
		n++
	}
	return n
}

// cutLocked closes both sides of c, once, and counts the cut. The copy
// loops see their reads and writes fail and end.
func (p *FaultProxy) cutLocked(c *proxyConn) {
	if _, open := p.conns[c]; !open {
		return // cut already, or ended by itself
	}
	delete(p.conns, c)
	p.cuts++
	c.client.Close()
	c.server.Close()
}

func (p *FaultProxy) cut(c *proxyConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked(c)
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return // the listener is closed: the test is over
		}
		p.wg.Add(1)
		go p.serve(conn)
	}
}

// serve dials the target for one accepted connection and forwards both
// ways until either side ends or the connection is cut.
func (p *FaultProxy) serve(client net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	refuse := p.down || p.closed
	if p.down {
		p.refused++
	}
	p.mu.Unlock()
	if refuse {
		client.Close()
		return
	}
	server, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
	if err != nil {
		client.Close()
		return
	}
	c := &proxyConn{client: client, server: server}
	p.mu.Lock()
	if p.down || p.closed { // Down or the end of the test came during the dial
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	if p.rng != nil {
		c.chaos = true
		c.budget.Store(1 + p.rng.Int64N(int64(p.maxBytes)))
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()

	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); p.pipe(c, client, server) }()
	go func() { defer pipes.Done(); p.pipe(c, server, client) }()
	pipes.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	client.Close()
	server.Close()
}

// pipe copies src to dst. An orderly end of src (EOF) is passed on as a
// half-close, so a WebSocket closing handshake and the TCP close behind it
// go through unharmed when nothing is cut; any other failure ends both
// sides, as a broken connection would.
func (p *FaultProxy) pipe(c *proxyConn, src, dst net.Conn) {
	buf := make([]byte, proxyBuffer)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			k := n
			if c.chaos {
				k = c.take(n)
			}
			if k > 0 {
				if _, werr := dst.Write(buf[:k]); werr != nil {
					p.end(c)
					return
				}
			}
			if c.chaos && (k < n || c.budget.Load() == 0) {
				p.cut(c) // the budget ran out here, possibly mid-chunk
				return
			}
		}
		if errors.Is(err, net.ErrClosed) {
			return // cut, or the other pipe ended both sides
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				_ = tc.CloseWrite()
				return
			}
			p.end(c)
			return
		}
	}
}

// take reserves up to n bytes of c's budget and returns how many it got.
func (c *proxyConn) take(n int) int {
	for {
		left := c.budget.Load()
		if left <= 0 {
			return 0
		}
		k := min(left, int64(n))
		if c.budget.CompareAndSwap(left, left-k) {
			return int(k)
		}
	}
}

// end closes both sides of a connection that failed by itself (not a cut).
func (p *FaultProxy) end(c *proxyConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, open := p.conns[c]; open {
		delete(p.conns, c)
		c.client.Close()
		c.server.Close()
	}
}
