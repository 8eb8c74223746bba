//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rtc/switchboard/internal/mmsg"
)

// Conn is a *net.UDPConn whose writes can be batched. It implements
// net.PacketConn and pion/ice's AddrPortReaderWriter (the mux's
// allocation-free path).
type Conn struct {
	*net.UDPConn
	rc syscall.RawConn
	v6 bool

	mu    sync.Mutex
	holds int
	q     *queue // filled under mu

	sendMu sync.Mutex // held while a queue or a single datagram is sent: keeps them in order
	spare  *queue     // the queue being sent, under sendMu

	sent, batches, dropped atomic.Uint64
}

type queue struct {
	n    int
	hdr  [MaxBatch]mmsg.Hdr
	iov  [MaxBatch]unix.Iovec
	addr [MaxBatch]unix.RawSockaddrInet6
	buf  [MaxBatch * maxDatagram]byte
}

func newQueue() *queue {
	q := &queue{}
	for i := range q.hdr {
		q.hdr[i].Hdr.Iov = &q.iov[i]
		q.hdr[i].Hdr.SetIovlen(1)
		q.hdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&q.addr[i]))
	}
	return q
}

// add copies b for ap into the queue, which has room (n < MaxBatch).
// It reports false for an address the socket's family cannot reach.
func (q *queue) add(b []byte, ap netip.AddrPort, v6 bool) bool {
	i := q.n
	l := mmsg.PutSockaddr(&q.addr[i], ap, v6, 0)
	if l == 0 {
		return false
	}
	slot := q.buf[i*maxDatagram : i*maxDatagram+len(b)]
	copy(slot, b)
	q.hdr[i].Hdr.Namelen = l
	q.iov[i].Base = &slot[0]
	q.iov[i].SetLen(len(b))
	q.n++
	return true
}

// Wrap returns pc ready for batching and its Batcher: a *Conn when pc is
// a *net.UDPConn, else pc itself and a Batcher that does nothing.
func Wrap(pc net.PacketConn) (net.PacketConn, Batcher, error) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return pc, nop{}, nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	c := &Conn{UDPConn: uc, rc: rc, q: newQueue(), spare: newQueue()}
	var ierr error
	if err := rc.Control(func(fd uintptr) { c.v6, ierr = mmsg.IsV6(int(fd)) }); err != nil || ierr != nil { //nolint:gosec // fd is small
		return nil, nil, errors.Join(err, ierr)
	}
	return c, c, nil
}

// Hold starts queueing the socket's writes.
func (c *Conn) Hold() {
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// Release ends a Hold and sends what is queued.
func (c *Conn) Release() {
	c.sendMu.Lock()
	c.mu.Lock()
	c.holds--
	c.flushLocked()
}

// flushLocked sends the queue; called with sendMu and mu held, it
// releases both.
func (c *Conn) flushLocked() {
	q := c.q
	c.q, c.spare = c.spare, q
	c.mu.Unlock()
	c.send(q)
	c.sendMu.Unlock()
}

func (c *Conn) send(q *queue) {
	if q.n == 0 {
		return
	}
	from := 0
	err := c.rc.Write(func(fd uintptr) bool {
		for from < q.n {
			n, err := mmsg.Send(int(fd), q.hdr[from:q.n]) //nolint:gosec // fd is small
			switch {
			case err == nil:
				from += n
			case errors.Is(err, unix.EINTR):
			case errors.Is(err, unix.EAGAIN):
				return false // wait until the socket can take more
			default: // the first datagram failed: as a sendto's error, it is that one's alone
				c.dropped.Add(1)
				from++
			}
		}
		return true
	})
	if err != nil { // the socket is closed
		c.dropped.Add(uint64(q.n - from))
	}
	c.sent.Add(uint64(from))
	c.batches.Add(1)
	q.n = 0
}

// WriteToAddrPort queues b while the socket is held, else sends it.
func (c *Conn) WriteToAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	for {
		c.mu.Lock()
		if c.holds == 0 || len(b) > maxDatagram {
			c.mu.Unlock()
			c.sendMu.Lock()
			c.mu.Lock()
			if c.q.n > 0 { // queued by a holder: those go first
				c.flushLocked()
				c.sendMu.Lock()
			} else {
				c.mu.Unlock()
			}
			n, err := c.WriteToUDPAddrPort(b, ap)
			c.sendMu.Unlock()
			return n, err
		}
		if c.q.n < MaxBatch {
			ok := c.q.add(b, ap, c.v6)
			c.mu.Unlock()
			if !ok {
				return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(ap), Err: errors.New("address family not supported by the socket")}
			}
			return len(b), nil
		}
		// Full: send it now and queue again.
		c.mu.Unlock()
		c.sendMu.Lock()
		c.mu.Lock()
		c.flushLocked()
	}
}

// WriteTo is WriteToAddrPort for a *net.UDPAddr (pion's STUN path).
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr) // its error says why
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// ReadFromAddrPort reads a datagram (pion's allocation-free path).
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// Stats are the datagrams sent through the queue, the sendmmsg batches
// that carried them, and the queued datagrams the kernel refused.
func (c *Conn) Stats() (sent, batches, dropped uint64) {
	return c.sent.Load(), c.batches.Load(), c.dropped.Load()
}
