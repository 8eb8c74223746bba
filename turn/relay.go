package turn

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// relayGen is the RelayAddressGenerator of every listener. It takes relay
// sockets from pion's port-range generators (one per address family the
// server has a relay address for) and wraps each in the checks pion does
// not make: the peer policy on every packet and connection, the per-user
// bandwidth cap, metrics, and RFC 6062 TCP relaying off unless enabled.
type relayGen struct {
	s      *Server
	v4, v6 *pionturn.RelayAddressGeneratorPortRange
	// udpControl marks the generator of the UDP listeners: RFC 6062 TCP
	// allocations are refused there.
	udpControl bool
	// lis is the UDP listener whose allocations this generator makes (one
	// generator per listener), nil for TCP and TLS.
	lis *udpListener
}

var _ pionturn.RelayAddressGenerator = (*relayGen)(nil)

func (g *relayGen) Validate() error {
	if g.v4 == nil && g.v6 == nil {
		return ErrNoRelayAddress
	}
	for _, r := range []*pionturn.RelayAddressGeneratorPortRange{g.v4, g.v6} {
		if r != nil {
			if err := r.Validate(); err != nil {
				return fmt.Errorf("turn: relay address generator: %w", err)
			}
		}
	}
	return nil
}

func (g *relayGen) pick(network string) (*pionturn.RelayAddressGeneratorPortRange, error) {
	r := g.v4
	if strings.HasSuffix(network, "6") {
		r = g.v6
	}
	if r == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNoRelayAddress, network)
	}
	return r, nil
}

func (g *relayGen) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	r, err := g.pick(c.Network)
	if err != nil {
		g.s.m.allocsRefused.WithLabelValues("relay_socket").Inc()
		return nil, nil, err
	}
	pc, addr, err := r.AllocatePacketConn(c)
	if err != nil {
		g.s.m.allocsRefused.WithLabelValues("relay_socket").Inc()
		g.s.log.Warn("TURN relay socket failed", "err", err)
		return nil, nil, fmt.Errorf("turn: relay socket: %w", err)
	}
	key, bw := relayKeyOf(addr), g.s.bw.acquire(c.UserID)
	if g.lis != nil && g.lis.loop != nil {
		// A client on UDP, on the host's network: the poller reads the
		// socket and relays to the client itself (poll.go).
		pr, err := g.lis.loop.adopt(pc, addr, key, c.UserID, bw)
		if err != nil {
			g.s.bw.release(c.UserID, bw)
			g.s.m.allocsRefused.WithLabelValues("relay_socket").Inc()
			g.s.log.Warn("TURN relay socket failed", "err", err)
			return nil, nil, fmt.Errorf("turn: relay socket: %w", err)
		}
		return pr, addr, nil
	}
	rc := &relayPacketConn{PacketConn: pc, relayCore: relayCore{s: g.s, key: key, user: c.UserID, bw: bw}}
	rc.udp, _ = pc.(*net.UDPConn)
	g.s.relays.add(rc.key, rc)
	return rc, addr, nil
}

func (g *relayGen) AllocateListener(c pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if !g.s.cfg.TCPRelay {
		g.s.m.allocsRefused.WithLabelValues("tcp_relay_disabled").Inc()
		g.s.log.Debug("TURN allocation refused", "reason", "tcp_relay_disabled", "user", clip(c.UserID))
		return nil, nil, ErrTCPRelayDisabled
	}
	if g.udpControl {
		g.s.m.allocsRefused.WithLabelValues("tcp_relay_over_udp").Inc()
		g.s.log.Debug("TURN allocation refused", "reason", "tcp_relay_over_udp", "user", clip(c.UserID))
		return nil, nil, ErrTCPRelayOverUDP
	}
	r, err := g.pick(c.Network)
	if err != nil {
		g.s.m.allocsRefused.WithLabelValues("relay_socket").Inc()
		return nil, nil, err
	}
	// pion binds TCP relay listeners with SO_REUSEPORT (a Connect dials
	// from the same port), so the kernel lets a second allocation bind a
	// port another one listens on and would share its peers' connections
	// between them: a port already taken is given back and another drawn.
	for range tcpRelayPortTries {
		ln, addr, err := r.AllocateListener(c)
		if err != nil {
			g.s.m.allocsRefused.WithLabelValues("relay_socket").Inc()
			g.s.log.Warn("TURN relay listener failed", "err", err)
			return nil, nil, fmt.Errorf("turn: relay listener: %w", err)
		}
		// Not ln.Addr(): pion has rewritten the listener's own address
		// object to the advertised relay address.
		ta, ok := addr.(*net.TCPAddr)
		if !ok {
			_ = ln.Close()
			return nil, nil, fmt.Errorf("turn: relay listener: address %v is not TCP", addr)
		}
		bind := &net.TCPAddr{IP: net.ParseIP(r.Address), Port: ta.Port}
		rl := &relayListener{Listener: ln, s: g.s, key: relayKeyOf(addr), user: c.UserID, bind: bind}
		if g.s.relays.addIfFree(rl.key, rl) {
			return rl, addr, nil
		}
		_ = ln.Close()
	}
	g.s.m.allocsRefused.WithLabelValues("relay_socket").Inc()
	g.s.log.Warn("TURN relay listener failed", "err", "no free port after retries")
	return nil, nil, fmt.Errorf("turn: relay listener: no free relay port in %d tries", tcpRelayPortTries)
}

// tcpRelayPortTries bounds the draws of a TCP relay port already in use.
const tcpRelayPortTries = 16

// AllocateConn dials a peer for an RFC 6062 Connect. pion has already asked
// the PermissionHandler about the IP; the port matters too (the server's
// own listeners), so the full address is checked before dialing.
func (g *relayGen) AllocateConn(c pionturn.AllocateConnConfig) (net.Conn, error) {
	if !g.s.cfg.TCPRelay {
		return nil, ErrTCPRelayDisabled
	}
	if g.udpControl {
		return nil, ErrTCPRelayOverUDP
	}
	ap, ok := peerAddr(c.RemoteAddr)
	if !ok {
		return nil, fmt.Errorf("turn: connect: peer address %v", c.RemoteAddr)
	}
	if err := g.s.policy.PeerTCPAddr(ap); err != nil {
		g.s.m.permsRefused.WithLabelValues(deniedReason(err)).Inc()
		g.s.log.Debug("TURN connect refused", "reason", deniedReason(err), "peer", ap.String(), "user", clip(c.UserID))
		return nil, err
	}
	r, err := g.pick(c.Network)
	if err != nil {
		return nil, err
	}
	owner, _ := g.s.relays.get(relayKeyOf(c.LocalAddr)).(*relayListener)
	if owner == nil {
		return nil, fmt.Errorf("turn: connect: no relay listener at %v", c.LocalAddr)
	}
	if !owner.take() {
		return nil, ErrPeerConnLimit
	}
	// pion binds the outgoing connection to the relay address it hands
	// out, which behind a 1:1 NAT (--turn-public-ip) is not a local
	// address; the address the listener is bound to has the same port and is.
	c.LocalAddr = owner.bind
	conn, err := r.AllocateConn(c)
	if err != nil {
		owner.conns.Add(-1)
		return nil, fmt.Errorf("turn: connect to %s: %w", ap, err)
	}
	return g.s.newRelayConn(conn, c.UserID, owner), nil
}

// peerAddr is a peer's address as received: an IPv4-mapped address stays
// mapped, for the policy to judge in both forms.
func peerAddr(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort(), a.IP != nil
	case *net.TCPAddr:
		return a.AddrPort(), a.IP != nil
	}
	return netip.AddrPort{}, false
}

func deniedReason(err error) string {
	if d, ok := errors.AsType[*DeniedError](err); ok {
		return d.Reason
	}
	return "denied"
}

// relayCore is what every UDP relay socket shares, whoever reads it: the
// allocation it belongs to, the peers its client has permissions for, and
// the checks on each datagram in either direction.
type relayCore struct {
	s    *Server
	key  relayKey
	user string
	bw   *userBandwidth // nil without a cap

	// peers holds the peer IPs (unmapped) the client has permissions for,
	// kept by the quota's permission events. A datagram from anyone else is
	// dropped before it is metered or charged to the user's bandwidth:
	// pion would drop it too, but only after the charge.
	peers atomic.Pointer[[]netip.Addr]
}

// allowTo applies the peer policy, the client's permissions and the
// bandwidth cap to a datagram of n bytes for ap, counting what it drops.
// The policy sees the whole address, so a packet to a denied peer or to one
// of the server's own ports is dropped whatever permission let it through.
// The permission is checked here because pion does not check it for
// ChannelData: it relays on a bound channel as long as the channel lives
// (10 minutes), though the channel's permission expires after 5 unless
// refreshed (RFC 8656 section 9 wants no relaying without one).
func (r *relayCore) allowTo(ap netip.AddrPort, n int) bool {
	if err := r.s.policy.PeerAddr(ap); err != nil {
		r.s.m.dropped.WithLabelValues(deniedReason(err)).Inc()
		return false
	}
	if !r.permitted(ap.Addr().Unmap()) {
		r.s.m.dropped.WithLabelValues("no_permission").Inc()
		return false
	}
	if r.bw != nil && !r.bw.lim.AllowN(time.Now(), n) {
		r.s.m.dropped.WithLabelValues("bandwidth").Inc()
		return false
	}
	return true
}

// allowToAddr is allowTo for the address pion hands WriteTo.
func (r *relayCore) allowToAddr(addr net.Addr, n int) (netip.AddrPort, bool) {
	ap, ok := peerAddr(addr)
	if !ok {
		r.s.m.dropped.WithLabelValues("invalid").Inc()
		return ap, false
	}
	return ap, r.allowTo(ap, n)
}

// allowFrom applies the peer policy, the client's permissions and the
// bandwidth cap to a datagram of n bytes from ap, counting what it drops.
func (r *relayCore) allowFrom(ap netip.AddrPort, n int) bool {
	if err := r.s.policy.PeerAddr(ap); err != nil {
		r.s.m.dropped.WithLabelValues(deniedReason(err)).Inc()
		return false
	}
	if !r.permitted(ap.Addr().Unmap()) {
		r.s.m.dropped.WithLabelValues("no_permission").Inc()
		return false
	}
	if r.bw != nil && !r.bw.lim.AllowN(time.Now(), n) {
		r.s.m.dropped.WithLabelValues("bandwidth").Inc()
		return false
	}
	return true
}

// permitted reports whether the client has a permission for ip.
func (r *relayCore) permitted(ip netip.Addr) bool {
	if ps := r.peers.Load(); ps != nil {
		return slices.Contains(*ps, ip)
	}
	return false
}

// setPeers replaces the permitted peer IPs (copy on write: the readers
// check them without a lock on every datagram).
func (r *relayCore) setPeers(perms map[netip.Addr]struct{}) {
	ps := slices.Collect(maps.Keys(perms))
	r.peers.Store(&ps)
}

// relayPacketConn is a UDP allocation's relay socket that pion reads, one
// goroutine per allocation: on a virtual network (tests), for clients on
// TCP or TLS, and where the poller does not exist (see poll.go).
type relayPacketConn struct {
	net.PacketConn
	relayCore
	// udp is PacketConn when it is the host's socket (not a virtual
	// network's): its netip calls read and write without allocating.
	udp  *net.UDPConn
	once sync.Once

	// lastFrom is the peer address ReadFrom returned last, returned again
	// while datagrams keep coming from the same peer (nearly always, an
	// allocation talks to one or two). pion's relay loop, the only reader,
	// uses it for that datagram only; it is never modified.
	lastFrom   *net.UDPAddr
	lastFromAP netip.AddrPort
}

// WriteTo sends a client's Send indication or ChannelData payload to a
// peer. Drops report success: pion would only log an error per packet.
func (r *relayPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ap, ok := r.allowToAddr(addr, len(p))
	if !ok {
		return len(p), nil
	}
	var n int
	var err error
	if r.udp != nil {
		n, err = r.udp.WriteToUDPAddrPort(p, ap) // no sockaddr allocated per packet
	} else {
		n, err = r.PacketConn.WriteTo(p, addr)
	}
	if err == nil {
		r.s.m.udpBytesTo.Add(float64(n))
		r.s.m.udpPktsTo.Inc()
	}
	return n, err
}

// relayReadRetries bounds how many errors in a row other than a closed
// socket ReadFrom swallows: pion deletes the allocation on any read error,
// and a stray ICMP-reported error must not do that.
const relayReadRetries = 16

// ReadFrom returns the next datagram from an allowed peer, dropping those
// from denied sources and those over the user's bandwidth.
func (r *relayPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	errs := 0
	for {
		var n int
		var addr net.Addr
		var ap netip.AddrPort
		var err error
		if r.udp != nil {
			n, ap, err = r.udp.ReadFromUDPAddrPort(p) // no address allocated per packet
		} else {
			n, addr, err = r.PacketConn.ReadFrom(p)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errs >= relayReadRetries {
				return n, addr, err
			}
			errs++
			continue
		}
		errs = 0
		if r.udp == nil {
			var ok bool
			if ap, ok = peerAddr(addr); !ok {
				r.s.m.dropped.WithLabelValues("invalid").Inc()
				continue
			}
		}
		if !r.allowFrom(ap, n) {
			continue
		}
		r.s.m.udpBytesFrom.Add(float64(n))
		r.s.m.udpPktsFrom.Inc()
		if r.udp != nil {
			if r.lastFrom == nil || ap != r.lastFromAP {
				r.lastFrom, r.lastFromAP = net.UDPAddrFromAddrPort(ap), ap
			}
			addr = r.lastFrom
		}
		return n, addr, nil
	}
}

func (r *relayPacketConn) Close() error {
	var err error // nil when already closed: pion's Manager.Close stops at the first error
	r.once.Do(func() {
		r.s.relays.remove(r.key, r)
		r.s.bw.release(r.user, r.bw)
		err = r.PacketConn.Close()
	})
	return err
}

// relayListener is one RFC 6062 TCP allocation's relay listener.
type relayListener struct {
	net.Listener
	s     *Server
	key   relayKey
	user  string
	once  sync.Once
	conns atomic.Int32 // open peer connections, accepted or connected
	bind  *net.TCPAddr // the local address the listener is bound to
}

// take counts one more peer connection, refusing it beyond the cap (the
// permission cap: a peer IP allows many ports, and each connection holds a
// file descriptor).
func (l *relayListener) take() bool {
	if l.conns.Add(1) > int32(l.s.cfg.MaxPermissionsPerAllocation) { //nolint:gosec // a small configured cap
		l.conns.Add(-1)
		l.s.m.dropped.WithLabelValues("peer_conn_limit").Inc()
		l.s.log.Debug("TURN peer connection refused", "reason", "peer_conn_limit", "user", clip(l.user))
		return false
	}
	return true
}

// Accept drops connections from denied peers before pion sees them (pion
// then checks that the client permitted the peer's IP).
func (l *relayListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, ok := peerAddr(c.RemoteAddr())
		if !ok {
			_ = c.Close()
			continue
		}
		if err := l.s.policy.PeerTCPAddr(ap); err != nil {
			l.s.m.dropped.WithLabelValues(deniedReason(err)).Inc()
			_ = c.Close()
			continue
		}
		if !l.take() {
			_ = c.Close()
			continue
		}
		return l.s.newRelayConn(c, l.user, l), nil
	}
}

func (l *relayListener) Close() error {
	var err error
	l.once.Do(func() {
		l.s.relays.remove(l.key, l)
		err = l.Listener.Close()
	})
	return err
}

// relayConn is an RFC 6062 peer data connection. Bytes over the user's
// bandwidth are delayed, not dropped: TCP cannot lose them.
type relayConn struct {
	net.Conn
	s      *Server
	user   string
	owner  *relayListener // its allocation, which counts it
	bw     *userBandwidth
	closed chan struct{}
	once   sync.Once
}

func (s *Server) newRelayConn(c net.Conn, user string, owner *relayListener) *relayConn {
	return &relayConn{Conn: c, s: s, user: user, owner: owner, bw: s.bw.acquire(user), closed: make(chan struct{})}
}

func (c *relayConn) Read(p []byte) (int, error) {
	if c.bw != nil && len(p) > c.bw.lim.Burst() {
		p = p[:c.bw.lim.Burst()]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.s.m.tcpBytesFrom.Add(float64(n))
		if werr := c.wait(n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (c *relayConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p
		if c.bw != nil && len(chunk) > c.bw.lim.Burst() {
			chunk = chunk[:c.bw.lim.Burst()]
		}
		if err := c.wait(len(chunk)); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(chunk)
		written += n
		c.s.m.tcpBytesTo.Add(float64(n))
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// wait holds the caller until the user's bucket has n bytes.
func (c *relayConn) wait(n int) error {
	if c.bw == nil {
		return nil
	}
	res := c.bw.lim.ReserveN(time.Now(), n)
	d := res.Delay()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.closed:
		res.Cancel()
		return net.ErrClosed
	}
}

func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		c.s.bw.release(c.user, c.bw)
		c.owner.conns.Add(-1)
		err = c.Conn.Close()
	})
	return err
}

// relayKey names a relay socket by its port, transport and address family:
// what pion's OnAllocationCreated reports as the relay address. With an IPv4
// and an IPv6 relay address the same port number can be taken in each.
type relayKey struct {
	tcp, v6 bool
	port    uint16
}

func relayKeyOf(a net.Addr) relayKey {
	var ip net.IP
	tcp := false
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip, tcp = a.IP, true
	}
	return relayKey{tcp: tcp, v6: ip != nil && ip.To4() == nil, port: portOf(a)}
}

// relaySet finds an allocation's relay socket by port, so the server can
// end an allocation pion would keep (see lifetimeCap): closing the socket
// makes pion's relay loop delete the allocation. It also answers the
// policy's LiveRelays without a lock: a bit per port, per transport and
// family, set while a socket is in the set. Sockets leave the set before
// they close, so a port is never live once another process may bind it.
type relaySet struct {
	mu   sync.Mutex
	m    map[relayKey]interface{ Close() error }
	live [2][2]portBits // [tcp][v6]
}

var _ LiveRelays = (*relaySet)(nil)

// portBits is a set of ports: 8 KiB, read with atomic loads.
type portBits [65536 / 64]atomic.Uint64

func (b *portBits) set(port uint16, on bool) {
	w, bit := &b[port/64], uint64(1)<<(port%64)
	if on {
		w.Or(bit)
	} else {
		w.And(^bit)
	}
}

func (b *portBits) has(port uint16) bool { return b[port/64].Load()&(uint64(1)<<(port%64)) != 0 }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Live reports whether a relay socket of a live allocation is at port.
func (r *relaySet) Live(tcp, v6 bool, port uint16) bool {
	return r.live[b2i(tcp)][b2i(v6)].has(port)
}

func (r *relaySet) putLocked(k relayKey, c interface{ Close() error }) {
	if r.m == nil {
		r.m = map[relayKey]interface{ Close() error }{}
	}
	r.m[k] = c
	r.live[b2i(k.tcp)][b2i(k.v6)].set(k.port, true)
}

func (r *relaySet) add(k relayKey, c interface{ Close() error }) {
	r.mu.Lock()
	r.putLocked(k, c)
	r.mu.Unlock()
}

// addIfFree adds c under k unless another socket holds k.
func (r *relaySet) addIfFree(k relayKey, c interface{ Close() error }) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.m[k]; taken {
		return false
	}
	r.putLocked(k, c)
	return true
}

func (r *relaySet) remove(k relayKey, c interface{ Close() error }) {
	r.mu.Lock()
	if r.m[k] == c {
		delete(r.m, k)
		r.live[b2i(k.tcp)][b2i(k.v6)].set(k.port, false)
	}
	r.mu.Unlock()
}

func (r *relaySet) get(k relayKey) interface{ Close() error } {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[k]
}
