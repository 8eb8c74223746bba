package turn

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/transport/v5"
	"golang.org/x/sys/unix"
)

// listeners are the sockets New binds, before pion serves them.
type listeners struct {
	udp []net.PacketConn
	tcp net.Listener
	tls net.Listener // the TCP listener TLS runs on
}

func (b *listeners) close() {
	for _, c := range b.udp {
		_ = c.Close()
	}
	for _, l := range []net.Listener{b.tcp, b.tls} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// portAttempts is how often New tries a fresh port for Port -1 when the
// port the first UDP socket got is taken for TCP.
const portAttempts = 5

// bind opens every listener of cfg. reusePort says whether the sockets are
// the host's (SO_REUSEPORT, several UDP read loops) or a virtual network's
// (one UDP socket).
func bind(cfg Config, reusePort bool) (*listeners, error) {
	b := &listeners{}
	if !cfg.NoUDP || !cfg.NoTCP {
		for i := 1; ; i++ {
			err := b.bindMain(cfg, reusePort)
			if err == nil {
				break
			}
			b.close()
			b = &listeners{}
			if cfg.Port != -1 || i == portAttempts || !errors.Is(err, syscall.EADDRINUSE) {
				return nil, err
			}
		}
	}
	if cfg.TLSCertFile != "" {
		port := max(cfg.TLSPort, 0)
		ln, err := listenTCP(cfg.Net, cfg.ListenIP, port)
		if err != nil {
			b.close()
			return nil, &ListenError{Transport: "tls", Addr: addrPort(cfg.ListenIP, port), Err: err}
		}
		b.tls = ln
	}
	return b, nil
}

// bindMain binds the UDP sockets and the TCP listener on one port: the
// configured one, or for -1 the one the first UDP socket got.
func (b *listeners) bindMain(cfg Config, reusePort bool) error {
	port := max(cfg.Port, 0)
	if !cfg.NoUDP {
		loops := cfg.ReadLoops
		if !reusePort {
			loops = 1
		}
		for range loops {
			pc, err := listenUDP(cfg.Net, reusePort, cfg.ListenIP, port)
			if err != nil {
				return &ListenError{Transport: "udp", Addr: addrPort(cfg.ListenIP, port), Err: err}
			}
			b.udp = append(b.udp, pc)
			port = int(portOf(pc.LocalAddr()))
		}
	}
	if !cfg.NoTCP {
		ln, err := listenTCP(cfg.Net, cfg.ListenIP, port)
		if err != nil {
			return &ListenError{Transport: "tcp", Addr: addrPort(cfg.ListenIP, port), Err: err}
		}
		b.tcp = ln
	}
	return nil
}

func addrPort(ip netip.Addr, port int) netip.AddrPort {
	return netip.AddrPortFrom(ip, uint16(port)) //nolint:gosec // 0..65535
}

// network returns "udp4"/"tcp4" for IPv4, "udp"/"tcp" (dual stack) for ::
// and "udp6"/"tcp6" for another IPv6 address.
func network(proto string, ip netip.Addr) string {
	switch {
	case ip.Is4():
		return proto + "4"
	case ip.IsUnspecified():
		return proto
	}
	return proto + "6"
}

func listenUDP(n transport.Net, reusePort bool, ip netip.Addr, port int) (net.PacketConn, error) {
	addr := addrPort(ip, port).String()
	if !reusePort {
		return n.ListenPacket(network("udp", ip), addr)
	}
	lc := n.CreateListenConfig(&net.ListenConfig{Control: setReusePort})
	pc, err := lc.ListenPacket(context.Background(), network("udp", ip), addr)
	if uc, ok := pc.(*net.UDPConn); ok && err == nil {
		// Every client's requests and ChannelData arrive on these few
		// sockets: with the kernel's default buffer (about 200 KiB, some 200
		// small datagrams) a few milliseconds without a read loop scheduled
		// lose packets at 100k/s. The kernel caps the size at
		// net.core.rmem_max/wmem_max; coturn asks for the same.
		_ = uc.SetReadBuffer(listenerSocketBuffer)
		_ = uc.SetWriteBuffer(listenerSocketBuffer)
	}
	return pc, err
}

// listenerSocketBuffer is the receive and send buffer asked for on the
// UDP listening sockets.
const listenerSocketBuffer = 4 << 20

// setReusePort lets the ReadLoops UDP sockets share one port; the kernel
// spreads clients over them by their address, so a client always reaches
// the same socket (and so the same pion allocation manager).
func setReusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) //nolint:gosec // fds are small
	}); err != nil {
		return err
	}
	return serr
}

func listenTCP(n transport.Net, ip netip.Addr, port int) (net.Listener, error) {
	return n.ListenTCP(network("tcp", ip), net.TCPAddrFromAddrPort(addrPort(ip, port)))
}

// interfaceAddrs lists the addresses of the network's interfaces.
func interfaceAddrs(n transport.Net) []netip.Addr {
	ifs, err := n.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch a := a.(type) {
			case *net.IPNet:
				ip = a.IP
			case *net.IPAddr:
				ip = a.IP
			}
			if addr, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, addr.Unmap())
			}
		}
	}
	return out
}

// udpListener is a TURN UDP socket as pion sees it.
type udpListener struct {
	net.PacketConn
	udp   *net.UDPConn // PacketConn when it is the host's socket, nil on a virtual network
	batch *batchReader // reads udp with recvmmsg; nil on a virtual network or when polled
	s     *Server
	port  uint16
	once  sync.Once // the read loop ended

	// With a poller (poll.go), loop reads the socket and queues on ctl
	// what is for pion; closed ends pion's read loop.
	loop      *pollLoop
	fd        int  // the socket's descriptor, used by loop while the server runs
	v6        bool // an AF_INET6 socket
	ctl       chan ctlPacket
	closed    chan struct{}
	closeOnce sync.Once
}

// Close closes the socket and ends pion's read loop.
func (c *udpListener) Close() error {
	if c.closed != nil {
		c.closeOnce.Do(func() { close(c.closed) })
	}
	return c.PacketConn.Close()
}

// ReadFrom ends pion's read loop only when the socket is closed: pion stops
// serving a socket on any read error, and an error reported by the kernel
// (ICMP unreachable, no buffer space) must not take the port down.
func (c *udpListener) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.loop != nil {
		return c.readQueued(p)
	}
	// Let the relay goroutines run before taking the next client datagram:
	// they carry the return leg of what was already relayed. Without it,
	// under overload the read loops (which always find a datagram queued)
	// take most of the CPU, relay packets out to peers whose answers then
	// overflow the relay sockets, and round trips completed at 80 to 90%
	// of the rate with it (docs/benchmarks-log-2026-11.md, TURN relay). With no other
	// goroutine runnable it returns at once.
	runtime.Gosched()
	for {
		var n int
		var addr net.Addr
		var err error
		if c.batch != nil {
			n, addr, err = c.batch.readFrom(p)
		} else {
			n, addr, err = c.PacketConn.ReadFrom(p)
		}
		if err == nil {
			return n, addr, nil
		}
		if errors.Is(err, net.ErrClosed) || c.s.closing.Load() {
			c.once.Do(c.s.loops.Done)
			return n, addr, err
		}
		c.s.log.Debug("TURN UDP read failed; reading on", "err", err)
		select {
		case <-c.s.done:
		case <-time.After(time.Millisecond): // no busy loop on a persistent error
		}
	}
}

// WriteTo applies the lifetime cap and the unauthenticated reply limit to
// what the server sends.
func (c *udpListener) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.s.lifetime != nil {
		p = c.s.lifetime.outgoing(p, addr, c.port)
	}
	if isUnauthReply(p) {
		if ua, ok := addr.(*net.UDPAddr); ok {
			if ip, ok := netip.AddrFromSlice(ua.IP); ok && !c.s.unauth.allow(ip, time.Now()) {
				c.s.m.dropped.WithLabelValues("unauth_rate").Inc()
				return len(p), nil
			}
		}
	}
	if ua, ok := addr.(*net.UDPAddr); ok && c.udp != nil {
		return c.udp.WriteToUDPAddrPort(p, ua.AddrPort()) // no sockaddr allocated per packet
	}
	return c.PacketConn.WriteTo(p, addr)
}

// How long a TCP or TLS client may stay silent: before its first bytes
// (the TLS handshake and the first request), and later. A client holding
// an allocation refreshes it before its lifetime ends, so a connection
// silent for longer than any lifetime holds nothing worth its socket.
const (
	firstReadTimeout = 10 * time.Second
	writeTimeout     = 10 * time.Second
	// allocateTimeout is how long a TCP or TLS connection may stay open
	// without an allocation: bytes alone do not keep a connection slot,
	// so nobody holds the server's slots without credentials. (An RFC 6062
	// data connection has no allocation of its own: its signed
	// ConnectionBind counts as one.)
	allocateTimeout = 30 * time.Second
	// maxConnsPerIP bounds TCP and TLS connections from one source
	// address; generous, because a whole office behind one NAT may use
	// TURN over TCP.
	maxConnsPerIP = 256
)

// connListener is a TCP or TLS listener as pion sees it. It counts the
// connections pion serves so that Close can end them (pion's Close stops
// accepting but leaves open connections and their goroutines running),
// caps them, and gives each read and write deadlines, which pion does not.
type connListener struct {
	net.Listener
	s           *Server
	port        uint16
	idleTimeout time.Duration
	// firstTimeout and allocTimeout are firstReadTimeout and
	// allocateTimeout; atomic so a test can shorten them.
	firstTimeout atomic.Int64
	allocTimeout atomic.Int64
	once         sync.Once // the accept loop ended

	mu    sync.Mutex
	conns map[*serverConn]struct{}
}

func (l *connListener) Accept() (net.Conn, error) {
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.s.closing.Load() {
				l.once.Do(l.s.loops.Done)
				return nil, err
			}
			// pion's accept loop ends on any error, which would take the
			// port down for good on a passing EMFILE: back off, go on.
			l.s.log.Warn("TURN accept failed; retrying", "port", l.port, "err", err)
			select {
			case <-l.s.done:
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if l.s.conns.Add(1) > int64(l.s.cfg.MaxAllocations) {
			l.s.conns.Add(-1)
			l.s.m.dropped.WithLabelValues("tcp_conn_limit").Inc()
			_ = c.Close()
			continue
		}
		src, _ := clientAddr(c.RemoteAddr())
		if !l.s.perIP.add(src.src.Addr()) {
			l.s.conns.Add(-1)
			l.s.m.dropped.WithLabelValues("tcp_conn_per_ip_limit").Inc()
			_ = c.Close()
			continue
		}
		sc := &serverConn{Conn: c, l: l, src: src.src, allocateBy: time.Now().Add(time.Duration(l.allocTimeout.Load()))}
		l.mu.Lock()
		closing := l.conns == nil
		if !closing {
			l.conns[sc] = struct{}{}
			l.s.loops.Add(1)
		}
		l.mu.Unlock()
		if closing {
			l.s.conns.Add(-1)
			l.s.perIP.remove(src.src.Addr())
			_ = c.Close()
			continue
		}
		l.s.tcpBySrc.Store(sc.src, sc)
		return sc, nil
	}
}

// closeConns closes every connection pion still serves; pion's goroutine
// for each then ends and calls serverConn.Close.
func (l *connListener) closeConns() {
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// serverConn is one TCP or TLS client connection.
type serverConn struct {
	net.Conn
	l          *connListener
	src        netip.AddrPort // the client's address, unmapped
	allocateBy time.Time      // closed then unless it has allocated
	active     atomic.Bool    // some bytes have arrived
	allocated  atomic.Bool    // an allocation was made on it
	once       sync.Once
}

func (c *serverConn) Read(p []byte) (int, error) {
	now := time.Now()
	var dl time.Time
	switch {
	case c.allocated.Load():
		dl = now.Add(c.l.idleTimeout)
	case !c.active.Load():
		dl = now.Add(min(time.Duration(c.l.firstTimeout.Load()), c.allocateBy.Sub(now)))
	default:
		dl = c.allocateBy
	}
	_ = c.Conn.SetReadDeadline(dl)
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.active.Store(true)
	}
	return n, err
}

// Write sends one message (pion writes each whole). A client that stops
// reading is cut off: its relay loop would otherwise block behind it.
func (c *serverConn) Write(p []byte) (int, error) {
	if s := c.l.s; s.lifetime != nil {
		p = s.lifetime.outgoing(p, c.Conn.RemoteAddr(), c.l.port)
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := c.Conn.Write(p)
	if err != nil {
		_ = c.Conn.Close()
	}
	return n, err
}

// markAllocated lifts the allocate deadline of the TCP or TLS connection
// from src: it has allocated, or bound an RFC 6062 peer connection.
func (s *Server) markAllocated(src netip.AddrPort) {
	if c, ok := s.tcpBySrc.Load(src); ok {
		c.(*serverConn).markAllocated() //nolint:forcetypeassert // only *serverConn is stored
	}
}

// markAllocated lifts the allocate deadline, also from a Read blocked on it.
func (c *serverConn) markAllocated() {
	if !c.allocated.Swap(true) {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.idleTimeout))
	}
}

func (c *serverConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.conns != nil {
			delete(c.l.conns, c)
		}
		c.l.mu.Unlock()
		c.l.s.tcpBySrc.CompareAndDelete(c.src, c)
		c.l.s.perIP.remove(c.src.Addr())
		c.l.s.conns.Add(-1)
		c.l.s.loops.Done()
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// ipCounter counts connections per source address.
type ipCounter struct {
	mu sync.Mutex
	m  map[netip.Addr]int
}

func (c *ipCounter) add(ip netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[netip.Addr]int{}
	}
	if c.m[ip] >= maxConnsPerIP {
		return false
	}
	c.m[ip]++
	return true
}

func (c *ipCounter) remove(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[ip] <= 1 {
		delete(c.m, ip)
		return
	}
	c.m[ip]--
}
