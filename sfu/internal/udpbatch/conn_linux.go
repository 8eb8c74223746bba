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
	spare  *queue     // the queue being sent, under sendMu (swapped with q under both)

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
	c.flush(-1)
	c.sendMu.Unlock()
}

// flush adds delta to the holds and sends what is queued, in one step
// under mu, so that nothing queued is left behind by the last Release; it
// returns with sendMu held, so that a write sent at once follows what was
// queued before it.
func (c *Conn) flush(delta int) {
	c.sendMu.Lock()
	c.mu.Lock()
	c.holds += delta
	q := c.q
	c.q, c.spare = c.spare, q
	c.mu.Unlock()
	c.send(q)
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

// WriteToAddrPort queues b while the socket is held, else sends it, after
// anything queued.
func (c *Conn) WriteToAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	for {
		c.mu.Lock()
		queue := c.holds > 0 && len(b) <= maxDatagram
		if queue && c.q.n < MaxBatch {
			ok := c.q.add(b, ap, c.v6)
			c.mu.Unlock()
			if !ok {
				return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(ap), Err: errors.New("address family not supported by the socket")}
			}
			return len(b), nil
		}
		c.mu.Unlock()
		c.flush(0) // the queue is full, or b goes at once after it
		if !queue {
			n, err := c.WriteToUDPAddrPort(b, ap)
			c.sendMu.Unlock()
			return n, err
		}
		c.sendMu.Unlock()
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

// Stats counts the batched writes so far.
func (c *Conn) Stats() Stats {
	return Stats{Sent: c.sent.Load(), Batches: c.batches.Load(), Dropped: c.dropped.Load()}
}
