package turn

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchSize is how many datagrams a listener socket takes per recvmmsg.
const batchSize = 16

// batchReader reads a UDP listener socket with recvmmsg: when several
// datagrams are queued (a busy server) one system call takes them all, and
// ReadFrom hands them out one at a time. It is only for the listener
// sockets, which are few: its buffers (batchSize × maxDatagram) would cost
// too much per relay socket.
type batchReader struct {
	conn interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	}
	msgs    []ipv4.Message
	n, next int
}

// maxDatagram is the largest datagram a listener reads whole (pion reads
// into 1,600-byte buffers too; STUN and ChannelData fit in an MTU).
const maxDatagram = 1600

func newBatchReader(c *net.UDPConn) *batchReader {
	b := &batchReader{msgs: make([]ipv4.Message, batchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		b.conn = ipv4.NewPacketConn(c)
	} else {
		b.conn = ipv6.NewPacketConn(c) // ipv6.Message is the same type
	}
	return b
}

// readFrom returns the next datagram, reading a new batch when the last one
// is used up. A datagram longer than p is cut, as ReadFrom would.
func (b *batchReader) readFrom(p []byte) (int, net.Addr, error) {
	if b.next >= b.n {
		n, err := b.conn.ReadBatch(b.msgs, 0)
		if err != nil {
			return 0, nil, err
		}
		b.n, b.next = n, 0
	}
	m := &b.msgs[b.next]
	b.next++
	return copy(p, m.Buffers[0][:m.N]), m.Addr, nil
}
