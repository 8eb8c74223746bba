//go:build linux && (amd64 || arm64)

package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rtc/switchboard/internal/mmsg"
	"github.com/switchboard-rtc/switchboard/internal/uring"
)

// relayPoller runs the poller loops, one per UDP listener socket (see
// poll.go). Each loop is a goroutine blocked in epoll_wait on a set of its
// own (level-triggered): its listener and the relay sockets of the
// allocations made through it. The relay sockets are duplicated off Go's
// network poller, so nothing else wakes for them.
type relayPoller struct {
	s     *Server
	loops []*pollLoop
	wake  int // an eventfd in every loop's set: written, it stops them
	wg    sync.WaitGroup
	once  sync.Once
}

// pollBatch is how many datagrams a loop takes with one recvmmsg, and
// queues for clients before one sendmmsg.
const pollBatch = 64

// relayHead is the room left in front of a datagram read from a relay
// socket, for the header the client gets: 4 bytes of ChannelData, or a
// Data indication's 20-byte STUN header, XOR-PEER-ADDRESS (at most 24
// bytes, IPv6) and the DATA attribute's 4.
const relayHead = 48

// relayMaxPayload is the largest datagram relayed, as pion's 1,600-byte
// buffers allow; longer ones are dropped (reason too_large), not cut.
const relayMaxPayload = 1600

// epoll tokens (EpollEvent.Pad): what Fd indexes.
const (
	tokRelay    = 0 // Fd is a slot of relay sockets
	tokListener = 1 // Fd indexes listeners
	tokWake     = 2
)

type pollLoop struct {
	p    *relayPoller
	epfd int

	ep     *os.File        // epfd in Go's network poller, for wait
	rc     syscall.RawConn // ep's
	pollFn func(uintptr) bool
	nev    int
	everr  error

	mu        sync.RWMutex // the loop holds it shared while it handles events
	slots     []*polledRelay
	free      []int32
	listeners []*udpListener
	closed    bool // epfd is closed

	// Used by the loop's goroutine only. Relay datagrams are read at
	// bufs[i][relayHead:] and queued for clients in place, at [0, queued).
	events       []unix.EpollEvent
	bufs         [][]byte
	rhdr, shdr   []mmsg.Hdr
	riov, siov   []unix.Iovec
	raddr, saddr []unix.RawSockaddrInet6
	sout         []*udpListener // the listener each queued datagram leaves from
	queued       int
	lbufs        [][]byte // listener datagrams
	lhdr         []mmsg.Hdr
	liov         []unix.Iovec
	laddr        []unix.RawSockaddrInet6
	rng          *rand.PCG // transaction IDs of Data indications

	// The relay sockets' reads and the sends to peers of one wake-up go to
	// the kernel together, in one io_uring submission (see submit): each
	// is on a socket of its own, where recvmmsg and sendmmsg take one.
	// Reads land in slots [queued, queued+nrecv) of bufs (rrelay: whose);
	// sends point into lbufs, with headers phdr.
	ring     *uring.Ring
	complete func(tag uint64, res int32) // l.completed, made once
	rrelay   []*polledRelay
	nrecv    int
	phdr     []unix.Msghdr
	piov     []unix.Iovec
	paddr    []unix.RawSockaddrInet6
	plen     []int
	nsend    int

	lastWake time.Time // when the last wake-up's work ended (linger)

	// counts not yet added to the metrics
	pktsTo, bytesTo, pktsFrom, bytesFrom int
}

// newRelayPoller makes a loop for each of s's UDP listener sockets on the
// host's network and starts them.
func newRelayPoller(s *Server) (*relayPoller, error) {
	p := &relayPoller{s: s, wake: -1}
	var err error
	if p.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("turn: poller: eventfd: %w", err)
	}
	for _, u := range s.udp {
		l, err := p.newLoop(u)
		if err != nil {
			p.close()
			return nil, err
		}
		p.loops = append(p.loops, l)
	}
	for _, l := range p.loops {
		for _, u := range l.listeners {
			u.loop = l
			u.ctl = make(chan ctlPacket, ctlQueue)
			u.closed = make(chan struct{})
		}
		p.wg.Add(1)
		go l.run()
	}
	return p, nil
}

func (p *relayPoller) newLoop(u *udpListener) (*pollLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("turn: poller: epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("turn: poller: epoll: %w", err)
	}
	l := &pollLoop{p: p, epfd: epfd, listeners: []*udpListener{u}}
	l.ep = os.NewFile(uintptr(epfd), "turn-poller") // non-blocking: Go's poller watches it
	if l.rc, err = l.ep.SyscallConn(); err != nil {
		_ = l.ep.Close()
		return nil, fmt.Errorf("turn: poller: epoll: %w", err)
	}
	l.pollFn = l.pollOnce
	if err := p.watch(epfd, p.wake, tokWake, 0); err != nil {
		_ = l.ep.Close()
		return nil, err
	}
	var cerr error
	if err := controlFD(u.udp, func(fd int) {
		u.fd = fd
		if u.v6, cerr = mmsg.IsV6(fd); cerr == nil {
			cerr = p.watch(epfd, fd, tokListener, 0)
		}
	}); err != nil || cerr != nil {
		_ = l.ep.Close()
		return nil, fmt.Errorf("turn: poller: listener: %w", errors.Join(err, cerr))
	}
	l.events = make([]unix.EpollEvent, 256)
	l.bufs = make([][]byte, pollBatch)
	l.lbufs = make([][]byte, pollBatch)
	for i := range pollBatch {
		l.bufs[i] = make([]byte, relayHead+relayMaxPayload+4) // + DATA padding
		l.lbufs[i] = make([]byte, maxDatagram)
	}
	l.rhdr, l.shdr, l.lhdr = make([]mmsg.Hdr, pollBatch), make([]mmsg.Hdr, pollBatch), make([]mmsg.Hdr, pollBatch)
	l.riov, l.siov, l.liov = make([]unix.Iovec, pollBatch), make([]unix.Iovec, pollBatch), make([]unix.Iovec, pollBatch)
	l.raddr, l.saddr, l.laddr = make([]unix.RawSockaddrInet6, pollBatch), make([]unix.RawSockaddrInet6, pollBatch), make([]unix.RawSockaddrInet6, pollBatch)
	l.sout = make([]*udpListener, pollBatch)
	l.rrelay = make([]*polledRelay, pollBatch)
	l.phdr, l.piov, l.paddr, l.plen = make([]unix.Msghdr, pollBatch), make([]unix.Iovec, pollBatch), make([]unix.RawSockaddrInet6, pollBatch), make([]int, pollBatch)
	for i := range pollBatch {
		l.phdr[i].Iov = &l.piov[i]
		l.phdr[i].SetIovlen(1)
		l.phdr[i].Name = (*byte)(unsafe.Pointer(&l.paddr[i]))
	}
	var rerr error
	if l.ring, rerr = uring.New(2 * pollBatch); rerr != nil {
		p.s.log.Debug("TURN poller: no io_uring; one system call per relay socket read and per send to a peer", "err", rerr)
	}
	l.complete = l.completed
	for i := range pollBatch {
		l.liov[i].Base = &l.lbufs[i][0]
		l.liov[i].SetLen(maxDatagram)
		l.lhdr[i].Hdr.Iov = &l.liov[i]
		l.lhdr[i].Hdr.SetIovlen(1)
		l.lhdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.laddr[i]))
		l.rhdr[i].Hdr.Iov = &l.riov[i]
		l.rhdr[i].Hdr.SetIovlen(1)
		l.rhdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.raddr[i]))
		l.shdr[i].Hdr.Iov = &l.siov[i]
		l.shdr[i].Hdr.SetIovlen(1)
		l.shdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.saddr[i]))
	}
	l.rng = rand.NewPCG(rand.Uint64(), rand.Uint64())
	return l, nil
}

func (p *relayPoller) watch(epfd, fd int, kind, idx int32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: idx, Pad: kind}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("turn: poller: epoll_ctl: %w", err)
	}
	return nil
}

// controlFD runs f with c's descriptor.
func controlFD(c *net.UDPConn, f func(fd int)) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { f(int(fd)) }) //nolint:gosec // descriptors are small
}

// stop ends the loops and waits for them. The relay sockets stay open
// until pion closes its allocations.
func (p *relayPoller) stop() {
	p.once.Do(func() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(p.wake, one[:])
		p.wg.Wait()
	})
}

// close releases the epoll sets and the eventfd, once the loops have
// stopped (or never started).
func (p *relayPoller) close() {
	for _, l := range p.loops {
		l.mu.Lock()
		if !l.closed {
			l.closed = true
			_ = l.ep.Close()
			l.ring.Close()
		}
		l.mu.Unlock()
	}
	if p.wake >= 0 {
		_ = unix.Close(p.wake)
		p.wake = -1
	}
}

// adopt takes pion's new relay socket pc off Go's network poller (a
// duplicate descriptor, the original closed) and into loop l.
func (l *pollLoop) adopt(pc net.PacketConn, addr net.Addr, key relayKey, user string, bw *userBandwidth) (*polledRelay, error) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("relay socket is a %T", pc)
	}
	fd, v6 := -1, false
	var derr error
	err := controlFD(uc, func(orig int) {
		if fd, derr = unix.FcntlInt(uintptr(orig), unix.F_DUPFD_CLOEXEC, 0); derr != nil { //nolint:gosec // descriptors are small
			return
		}
		v6, derr = mmsg.IsV6(orig)
	})
	_ = uc.Close()
	if err = errors.Join(err, derr); err != nil {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return nil, err
	}
	r := &polledRelay{relayCore: relayCore{s: l.p.s, key: key, user: user, bw: bw},
		loop: l, lis: l.listeners[0], slot: -1, local: addr, v6: v6, fd: fd, closed: make(chan struct{})}
	if err := l.add(r); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	l.p.s.relays.add(r.key, r)
	return r, nil
}

func (l *pollLoop) add(r *polledRelay) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return net.ErrClosed
	}
	var i int32
	if n := len(l.free); n > 0 {
		i, l.free = l.free[n-1], l.free[:n-1]
		l.slots[i] = r
	} else {
		i = int32(len(l.slots)) //nolint:gosec // bounded by the allocation limit
		l.slots = append(l.slots, r)
	}
	r.slot = i
	if err := l.p.watch(l.epfd, r.fd, tokRelay, i); err != nil {
		l.slots[i], r.slot = nil, -1
		l.free = append(l.free, i)
		return err
	}
	return nil
}

// remove takes r out of the loop. The loop holds mu while it handles
// events, so once remove returns it no longer reads r's socket.
func (l *pollLoop) remove(r *polledRelay) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.slot < 0 || l.slots[r.slot] != r {
		return
	}
	l.slots[r.slot] = nil
	l.free = append(l.free, r.slot)
	r.slot = -1
	if !l.closed {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
	}
}

func (r *polledRelay) closeSocket() {
	r.fdMu.Lock()
	if r.fd >= 0 {
		_ = unix.Close(r.fd)
		r.fd = -1
	}
	r.fdMu.Unlock()
}

// sendTo sends p to ap from the relay socket.
func (r *polledRelay) sendTo(p []byte, ap netip.AddrPort) (int, error) {
	var sa unix.RawSockaddrInet6
	salen := mmsg.PutSockaddr(&sa, ap, r.v6, 0)
	if salen == 0 {
		return 0, fmt.Errorf("turn: peer %v: %w", ap, syscall.EAFNOSUPPORT)
	}
	r.fdMu.RLock()
	defer r.fdMu.RUnlock()
	if r.fd < 0 {
		return 0, net.ErrClosed
	}
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(r.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0, //nolint:gosec // fd is small
			uintptr(unsafe.Pointer(&sa)), uintptr(salen))
		switch e {
		case 0:
			return len(p), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

func (l *pollLoop) run() {
	defer l.p.wg.Done()
	var pause time.Duration
	for {
		n, err := l.wait()
		if err != nil {
			// Not expected while the epoll set is open; a loop that gave
			// up would leave its listener unread for good.
			l.p.s.log.Error("TURN poller: waiting for sockets failed; retrying", "err", err)
			pause = min(max(2*pause, time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		l.mu.RLock()
		for i := range n {
			ev := &l.events[i]
			switch ev.Pad {
			case tokWake:
				l.mu.RUnlock()
				return
			case tokListener:
				l.readListener(l.listeners[ev.Fd])
			default:
				if r := l.slots[ev.Fd]; r != nil {
					l.readRelay(r)
				}
			}
		}
		l.submit()
		l.flush()
		l.mu.RUnlock()
		l.addMetrics()
		l.linger(n)
	}
}

// Under load the loop is woken for a datagram or two at a time, and every
// wake-up costs the same few system calls however little it carries. A
// loop that handled few sockets, woken again within lingerAfter of the
// previous wake-up, first sleeps lingerFor, so that the next wake-up finds
// more: a server under load then relays in larger batches, for at most
// lingerFor (plus the kernel's timer slack) more latency; one that is not
// under load never waits. The sleep holds the loop's thread, not any lock.
const (
	lingerAfter = 200 * time.Microsecond
	lingerFor   = 50 * time.Microsecond
	lingerBelow = 8 // sockets ready
)

func (l *pollLoop) linger(ready int) {
	now := time.Now()
	last := l.lastWake
	l.lastWake = now
	if ready >= lingerBelow || now.Sub(last) > lingerAfter {
		return
	}
	ts := unix.NsecToTimespec(int64(lingerFor))
	_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
	l.lastWake = time.Now()
}

// wait returns the next events: at once when some are ready, else after
// parking in Go's network poller until the epoll set is readable. Neither
// blocks a thread in a system call, which would make the runtime hand the
// loop's P to another thread and take it back, with a thread wake-up each
// way. (All the loop's system calls are RawSyscalls for the same reason:
// the sockets are non-blocking, so none of them waits.)
func (l *pollLoop) wait() (int, error) {
	// rc.Read tries pollOnce before it parks: one epoll_pwait when
	// something is ready, two when the loop has to wait.
	if err := l.rc.Read(l.pollFn); err != nil {
		return 0, err
	}
	return l.nev, l.everr
}

// pollOnce takes the ready events without waiting; false asks the runtime
// to wait for more.
func (l *pollLoop) pollOnce(uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0) //nolint:gosec // epfd is small
	switch e {
	case 0:
		l.nev, l.everr = int(n), nil
		return n > 0
	case unix.EINTR:
		return false
	}
	l.nev, l.everr = 0, e
	return true
}

func (l *pollLoop) addMetrics() {
	m := l.p.s.m
	if l.pktsTo > 0 {
		m.udpPktsTo.Add(float64(l.pktsTo))
		m.udpBytesTo.Add(float64(l.bytesTo))
		l.pktsTo, l.bytesTo = 0, 0
	}
	if l.pktsFrom > 0 {
		m.udpPktsFrom.Add(float64(l.pktsFrom))
		m.udpBytesFrom.Add(float64(l.bytesFrom))
		l.pktsFrom, l.bytesFrom = 0, 0
	}
}

// readListener reads what clients sent, one batch per wake-up (the epoll
// set is level-triggered: what is left makes the next wake-up), so that
// the relay sockets of the loop, which carry the answers to what was
// already relayed, get their turn before more new datagrams come in.
// ChannelData on a channel the poller knows goes straight to the peer, the
// rest to pion.
func (l *pollLoop) readListener(u *udpListener) {
	if l.nsend > 0 {
		l.submit() // the sends queued point into lbufs
	}
	for i := range l.lhdr {
		l.lhdr[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	n, err := mmsg.Recv(u.fd, l.lhdr)
	if err != nil {
		l.readFailed("TURN UDP read failed; reading on", err)
		return
	}
	for i := range n {
		b := l.lbufs[i][:l.lhdr[i].N]
		ap := mmsg.AddrPort(&l.laddr[i])
		if !l.channelData(u, ap, b) {
			u.toPion(b, ap)
		}
	}
}

// readFailed logs a read error other than "nothing to read" and pauses a
// millisecond, so that an error that persists (the set is level-triggered)
// does not spin the loop.
func (l *pollLoop) readFailed(msg string, err error) {
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	l.p.s.log.Debug(msg, "err", err)
	time.Sleep(time.Millisecond)
}

// channelData relays ChannelData b from client ap to the channel's peer,
// and reports whether it did; what it leaves goes to pion, which answers
// or drops it as it would any datagram.
func (l *pollLoop) channelData(u *udpListener, ap netip.AddrPort, b []byte) bool {
	num, payload, ok := parseChannelData(b)
	if !ok {
		return false
	}
	v, ok := l.p.s.fast.Load(allocKey{src: netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), port: u.port})
	if !ok {
		return false
	}
	r := v.(*polledRelay) //nolint:forcetypeassert // only *polledRelay is stored
	peer, ok := r.channelPeer(num)
	if !ok {
		return false
	}
	// Dropped here, not left to pion: it would relay on the channel
	// without a permission (see allowTo).
	if !r.allowTo(peer, len(payload)) {
		return true
	}
	if r.loop == l {
		l.queueSend(r, payload, peer)
		return true
	}
	// Another loop's relay (not expected: a client's datagrams reach the
	// listener its allocation was made on), whose socket that loop may
	// close meanwhile: sent under its lock.
	if _, err := r.sendTo(payload, peer); err != nil {
		l.p.s.m.dropped.WithLabelValues(sendDropReason(err)).Inc()
		return true
	}
	l.pktsTo++
	l.bytesTo += len(payload)
	return true
}

// queueSend queues payload for peer from r's socket, which stays open
// while the loop holds mu (remove waits for it). The payload is in lbufs,
// which the next listener read reuses: readListener submits first.
func (l *pollLoop) queueSend(r *polledRelay, payload []byte, peer netip.AddrPort) {
	i := l.nsend
	salen := mmsg.PutSockaddr(&l.paddr[i], peer, r.v6, 0)
	if salen == 0 {
		l.p.s.m.dropped.WithLabelValues("send_error").Inc()
		return
	}
	l.phdr[i].Namelen = salen
	l.piov[i].Base = unsafe.SliceData(payload)
	l.piov[i].SetLen(len(payload))
	l.plen[i] = len(payload)
	if err := l.ring.Sendmsg(r.fd, &l.phdr[i], uint64(i)); err != nil { //nolint:gosec // an index
		l.submit()
		l.queueSend(r, payload, peer) // the ring is empty now
		return
	}
	l.nsend++
}

// recvTag marks a read in the ring's tags; sends are tagged with their
// index in phdr, reads with this plus their slot in bufs.
const recvTag = 1 << 16

// submit makes the queued sends and reads, and handles their results
// (completed) in the order they were queued.
func (l *pollLoop) submit() {
	if l.ring.Queued() == 0 {
		return
	}
	if err := l.ring.Submit(l.complete); err != nil {
		l.p.s.log.Warn("TURN poller: io_uring failed; one system call per operation from now on", "err", err)
	}
	l.nsend, l.nrecv = 0, 0
}

// completed handles the result of one send or read.
func (l *pollLoop) completed(tag uint64, res int32) {
	if tag < recvTag {
		if res < 0 {
			l.p.s.m.dropped.WithLabelValues(sendDropReason(syscall.Errno(-res))).Inc()
			return
		}
		l.pktsTo++
		l.bytesTo += l.plen[tag]
		return
	}
	i := int(tag - recvTag) //nolint:gosec // a slot
	r := l.rrelay[i]
	l.rrelay[i] = nil
	if res < 0 {
		l.readFailed("TURN relay read failed; reading on", syscall.Errno(-res))
		return
	}
	l.relayed(r, i, int(res))
}

// readRelay queues a read of the next datagram a peer sent to r's
// socket, in the next free slot of bufs; completed hands it to relayed.
// One datagram per socket and wake-up: the epoll set is level-triggered,
// so a socket with more is reported again.
func (l *pollLoop) readRelay(r *polledRelay) {
	if l.queued+l.nrecv == pollBatch {
		l.submit()
		if l.queued == pollBatch {
			l.flush()
		}
	}
	i := l.queued + l.nrecv
	l.riov[i].Base = &l.bufs[i][relayHead]
	l.riov[i].SetLen(relayMaxPayload + 1) // a byte more: longer ones are dropped, not cut
	l.rhdr[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	l.rhdr[i].Hdr.Flags = 0
	l.rrelay[i] = r
	if err := l.ring.Recvmsg(r.fd, &l.rhdr[i].Hdr, uint64(recvTag+i)); err != nil { //nolint:gosec // a slot
		l.submit()
		l.readRelay(r) // the ring is empty now
		return
	}
	l.nrecv++
}

// relayed queues the size bytes a peer sent to r, read into slot i, for
// the client: as ChannelData on a bound channel, else as a Data
// indication. The slots before i are done with, so the datagram moves to
// the end of the queue, at or before i.
func (l *pollLoop) relayed(r *polledRelay, i, size int) {
	if size > relayMaxPayload {
		l.p.s.m.dropped.WithLabelValues("too_large").Inc()
		return
	}
	out := r.out.Load()
	if out == nil {
		l.p.s.m.dropped.WithLabelValues("no_permission").Inc()
		return
	}
	ap := mmsg.AddrPort(&l.raddr[i])
	if !r.allowFrom(ap, size) {
		return
	}
	j := l.queued
	l.bufs[i], l.bufs[j] = l.bufs[j], l.bufs[i]
	if !l.frame(j, r, out, netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), size) {
		return
	}
	l.queued++
	l.pktsFrom++
	l.bytesFrom += size
}

// frame puts the header in front of the n bytes at bufs[j][relayHead:] and
// addresses them to the client.
func (l *pollLoop) frame(j int, r *polledRelay, out *relayClient, peer netip.AddrPort, n int) bool {
	salen := mmsg.PutSockaddr(&l.saddr[j], out.ap, out.lis.v6, out.scope)
	if salen == 0 {
		return false
	}
	b := l.bufs[j]
	start, end := 0, relayHead+n
	if num, ok := r.channelOf(peer); ok {
		start = relayHead - 4
		binary.BigEndian.PutUint16(b[start:], num)
		binary.BigEndian.PutUint16(b[start+2:], uint16(n)) //nolint:gosec // n <= relayMaxPayload
	} else {
		start, end = l.dataIndication(b, peer, n)
	}
	l.siov[j].Base = &b[start]
	l.siov[j].SetLen(end - start)
	l.shdr[j].Hdr.Namelen = salen
	l.sout[j] = out.lis
	return true
}

// dataIndication writes a Data indication (RFC 8656 section 11.3: no
// integrity, as pion sends them) around the n payload bytes at
// b[relayHead:], and returns where the message starts and ends.
func (l *pollLoop) dataIndication(b []byte, peer netip.AddrPort, n int) (start, end int) {
	ip := peer.Addr()
	alen := 8
	if ip.Is6() {
		alen = 20
	}
	pad := (4 - n%4) % 4
	start = relayHead - (20 + 4 + alen + 4)
	h := b[start:]
	binary.BigEndian.PutUint16(h[0:], 0x0017)                     // Data indication
	binary.BigEndian.PutUint16(h[2:], uint16(4+alen+4+n+pad))     //nolint:gosec // small
	binary.BigEndian.PutUint32(h[4:], magicCookie)                // magic cookie
	binary.LittleEndian.PutUint64(h[8:], l.rng.Uint64())          // transaction ID
	binary.LittleEndian.PutUint32(h[16:], uint32(l.rng.Uint64())) //nolint:gosec // random bits
	a := h[20:]
	binary.BigEndian.PutUint16(a[0:], 0x0012)       // XOR-PEER-ADDRESS
	binary.BigEndian.PutUint16(a[2:], uint16(alen)) //nolint:gosec // 8 or 20
	a[4] = 0
	binary.BigEndian.PutUint16(a[6:], peer.Port()^uint16(magicCookie>>16))
	if ip.Is4() {
		a[5] = 1
		x := ip.As4()
		for k := range x {
			a[8+k] = x[k] ^ h[4+k]
		}
	} else {
		a[5] = 2
		x := ip.As16()
		for k := range x {
			a[8+k] = x[k] ^ h[4+k] // the cookie, then the transaction ID
		}
	}
	d := a[4+alen:]
	binary.BigEndian.PutUint16(d[0:], 0x0013)    // DATA
	binary.BigEndian.PutUint16(d[2:], uint16(n)) //nolint:gosec // n <= relayMaxPayload
	end = relayHead + n + pad
	clear(b[relayHead+n : end])
	return start, end
}

// flush sends what is queued for clients, one sendmmsg per run of
// datagrams leaving from the same listener.
func (l *pollLoop) flush() {
	for i := 0; i < l.queued; {
		lis := l.sout[i]
		j := i + 1
		for j < l.queued && l.sout[j] == lis {
			j++
		}
		l.send(lis.fd, i, j)
		i = j
	}
	l.queued = 0
}

func (l *pollLoop) send(fd, from, to int) {
	for from < to {
		n, err := mmsg.Send(fd, l.shdr[from:to])
		switch {
		case err == nil:
			from += n
		case err == unix.EINTR:
		case err == unix.EAGAIN || err == unix.ENOBUFS:
			l.p.s.m.dropped.WithLabelValues("send_buffer").Add(float64(to - from))
			return
		default: // this datagram failed (sendmmsg reports an error for the first one it could not send)
			l.p.s.m.dropped.WithLabelValues("send_error").Inc()
			from++
		}
	}
}
