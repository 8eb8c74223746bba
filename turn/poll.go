package turn

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The relay's data plane. pion/turn reads every relay socket in a goroutine
// of its own and hands every client datagram to its request handler: per
// relayed datagram a read, a read that finds nothing, a park and a wake-up
// in Go's network poller. On the host's network the server does better
// where the traffic is (poll_linux.go): one poller loop per UDP listener
// socket (one per core) waits on its listener and on the relay sockets of
// the allocations made through it, reads its listener with recvmmsg, and
// relays ChannelData and Data indications itself, sending to clients with
// sendmmsg. The relay sockets of one wake-up are read, and sent to peers
// from, in one io_uring submission where the kernel allows it (a system
// call per socket otherwise). pion stays the control plane: every other datagram (requests,
// Send indications) goes to its read loop through the listener's queue,
// and its answers and events keep the poller's view of each allocation
// (client address, permissions, channels) current.
//
// Elsewhere (virtual networks in tests, clients on TCP or TLS, systems
// without the poller) pion reads the sockets as before (relayPacketConn).

// polledRelay is the relay socket of a UDP allocation whose client is on
// UDP, read by a poller loop. pion's relay goroutine for it waits in
// ReadFrom until the socket closes.
type polledRelay struct {
	relayCore
	loop  *pollLoop
	lis   *udpListener // the listener the allocation was made on
	slot  int32        // index in loop's slots, under loop.mu; -1 when not there
	local net.Addr     // the advertised relay address, as pion handed it out
	v6    bool         // an AF_INET6 socket

	fdMu   sync.RWMutex // held shared to use fd, exclusively to close it
	fd     int          // -1 once closed
	closed chan struct{}
	once   sync.Once

	out   atomic.Pointer[relayClient]    // nil until pion reports the allocation
	chans atomic.Pointer[[]relayChannel] // copy on write, under chMu
	chMu  sync.Mutex
}

// relayClient is where a polled allocation's client is and how to reach it.
type relayClient struct {
	ap    netip.AddrPort // the client's address, unmapped, without a zone
	scope uint32         // the IPv6 zone's interface index, 0 for none
	lis   *udpListener   // the listener its datagrams reach; replies leave from it
	key   allocKey       // its entry in Server.fast
}

// relayChannel is a channel bound on a polled allocation.
type relayChannel struct {
	num  uint16
	peer netip.AddrPort // unmapped
}

var _ net.PacketConn = (*polledRelay)(nil)

// ReadFrom is pion's relay goroutine: the poller relays what peers send, so
// it only waits for the socket to close, which ends the allocation.
func (r *polledRelay) ReadFrom([]byte) (int, net.Addr, error) {
	<-r.closed
	return 0, nil, net.ErrClosed
}

// WriteTo sends what pion relays to a peer itself: Send indications, and
// ChannelData the poller left to pion. Drops report success, as for
// relayPacketConn.
func (r *polledRelay) WriteTo(p []byte, addr net.Addr) (int, error) {
	ap, ok := r.allowToAddr(addr, len(p))
	if !ok {
		return len(p), nil
	}
	n, err := r.sendTo(p, ap)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, err
		}
		// A full socket buffer or a refused destination: a drop, as on the
		// poller's own path, not an error pion logs per packet.
		r.s.m.dropped.WithLabelValues(sendDropReason(err)).Inc()
		return len(p), nil
	}
	r.s.m.udpBytesTo.Add(float64(n))
	r.s.m.udpPktsTo.Inc()
	return n, nil
}

func (r *polledRelay) LocalAddr() net.Addr              { return r.local }
func (r *polledRelay) SetDeadline(time.Time) error      { return nil }
func (r *polledRelay) SetReadDeadline(time.Time) error  { return nil }
func (r *polledRelay) SetWriteDeadline(time.Time) error { return nil }

// Close takes the socket out of its poller loop, closes it and ends pion's
// goroutine for it. It returns nil when already closed, like
// relayPacketConn.
func (r *polledRelay) Close() error {
	r.once.Do(func() {
		close(r.closed) // first: an attach from now on sees it and undoes itself
		r.s.relays.remove(r.key, r)
		if c := r.out.Load(); c != nil {
			r.s.fast.CompareAndDelete(c.key, r)
		}
		r.s.bw.release(r.user, r.bw)
		r.loop.remove(r)
		r.closeSocket()
	})
	return nil
}

// attach records the allocation's client, reported by pion once the
// allocation exists: from then on the client's ChannelData takes the fast
// path and what peers send reaches it.
func (r *polledRelay) attach(src netip.AddrPort, zone string) {
	c := &relayClient{ap: netip.AddrPortFrom(src.Addr().WithZone(""), src.Port()), lis: r.lis}
	if zone != "" {
		if i, err := strconv.ParseUint(zone, 10, 32); err == nil {
			c.scope = uint32(i) // the poller writes zones as interface indexes
		} else if ifc, err := net.InterfaceByName(zone); err == nil {
			c.scope = uint32(ifc.Index) //nolint:gosec // interface indexes are small
		}
	}
	c.key = allocKey{src: c.ap, port: r.lis.port}
	r.out.Store(c)
	r.s.fast.Store(c.key, r)
	select {
	case <-r.closed: // closed meanwhile: take back what Close could not see
		r.s.fast.CompareAndDelete(c.key, r)
	default:
	}
}

// maxFastChannels bounds the channels of one allocation the poller relays
// on itself, and so the scan every datagram of the allocation costs the
// loop (all of its allocations share it). A client may bind up to 4,096;
// beyond these, its ChannelData goes through pion and its peers' datagrams
// arrive as Data indications, which clients take as well. Browsers bind one
// channel per peer they talk to.
const maxFastChannels = 32

// setChannel adds (bound) or removes a channel, as pion reports them.
func (r *polledRelay) setChannel(num uint16, peer netip.AddrPort, bound bool) {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	r.chMu.Lock()
	defer r.chMu.Unlock()
	var cs []relayChannel
	if old := r.chans.Load(); old != nil {
		cs = slices.DeleteFunc(slices.Clone(*old), func(c relayChannel) bool { return c.num == num })
	}
	if bound && len(cs) < maxFastChannels {
		cs = append(cs, relayChannel{num: num, peer: peer})
	}
	r.chans.Store(&cs)
}

// channelPeer returns the peer bound to channel num.
func (r *polledRelay) channelPeer(num uint16) (netip.AddrPort, bool) {
	if cs := r.chans.Load(); cs != nil {
		for _, c := range *cs {
			if c.num == num {
				return c.peer, true
			}
		}
	}
	return netip.AddrPort{}, false
}

// channelOf returns the channel bound to peer (unmapped).
func (r *polledRelay) channelOf(peer netip.AddrPort) (uint16, bool) {
	if cs := r.chans.Load(); cs != nil {
		for _, c := range *cs {
			if c.peer == peer {
				return c.num, true
			}
		}
	}
	return 0, false
}

// allocReported is OnAllocationCreated's part for the poller: a polled
// relay learns its client.
func (s *Server) allocReported(src, dst, relay net.Addr) {
	ua, ok := src.(*net.UDPAddr)
	if !ok {
		return
	}
	r, ok := s.relays.get(relayKeyOf(relay)).(*polledRelay)
	if !ok || portOf(dst) != r.lis.port {
		return
	}
	ap := ua.AddrPort()
	r.attach(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ua.Zone)
}

// channelCreated and channelDeleted are pion's OnChannelCreated and
// OnChannelDeleted: the poller relays on the channels pion has bound.
func (s *Server) channelCreated(src, dst net.Addr, _, _, _ string, _, peer net.Addr, num uint16) {
	s.channelEvent(src, dst, peer, num, true)
}

func (s *Server) channelDeleted(src, dst net.Addr, _, _, _ string, _, peer net.Addr, num uint16) {
	s.channelEvent(src, dst, peer, num, false)
}

// The relay is found by its client's address, not by the relay port pion
// reports: that port may already belong to another allocation when the
// events of one whose socket closed arrive.
func (s *Server) channelEvent(src, dst, peer net.Addr, num uint16, bound bool) {
	ua, ok := src.(*net.UDPAddr)
	if !ok {
		return
	}
	ap := ua.AddrPort()
	v, ok := s.fast.Load(allocKey{src: netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), port: portOf(dst)})
	if !ok {
		return
	}
	if pa, ok := peerAddr(peer); ok {
		v.(*polledRelay).setChannel(num, pa, bound) //nolint:forcetypeassert // only *polledRelay is stored
	}
}

// ctlPacket is a datagram a poller loop hands to pion's read loop.
type ctlPacket struct {
	b  []byte
	ap netip.AddrPort
}

// ctlQueue bounds the datagrams waiting for pion on one listener; beyond
// it they are dropped (reason control_queue), as the kernel would drop
// them at a full socket.
const ctlQueue = 1024

// toPion queues a copy of datagram b from ap for pion's read loop.
func (c *udpListener) toPion(b []byte, ap netip.AddrPort) {
	select {
	case c.ctl <- ctlPacket{b: slices.Clone(b), ap: ap}:
	default:
		c.s.m.dropped.WithLabelValues("control_queue").Inc()
	}
}

// readQueued is ReadFrom for a polled listener: the next datagram the
// poller left to pion.
func (c *udpListener) readQueued(p []byte) (int, net.Addr, error) {
	select {
	case m := <-c.ctl:
		return copy(p, m.b), net.UDPAddrFromAddrPort(m.ap), nil
	case <-c.closed:
		c.once.Do(c.s.loops.Done)
		return 0, nil, net.ErrClosed
	}
}

// magicCookie is STUN's magic cookie (RFC 8489 section 5).
const magicCookie = 0x2112A442

// parseChannelData splits a ChannelData message (RFC 8656 section 12.4)
// into its channel number and payload: the first two bits 01, and a length
// that fits in b. Bytes after the payload (padding) are ignored.
func parseChannelData(b []byte) (num uint16, payload []byte, ok bool) {
	if len(b) < 4 || b[0]&0xC0 != 0x40 {
		return 0, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if 4+n > len(b) {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(b), b[4 : 4+n], true
}

// sendDropReason names a failed send in the dropped-packets metric.
func sendDropReason(err error) string {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENOBUFS) {
		return "send_buffer"
	}
	return "send_error"
}
