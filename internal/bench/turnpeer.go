package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// echoPeer is the UDP peer every allocation's channel is bound to: it
// sends each datagram back to where it came from (the relay address). It
// reads with several SO_REUSEPORT sockets on one port, one goroutine each;
// the kernel spreads the relay addresses over them.
type echoPeer struct {
	r     *turnRunner
	addr  netip.AddrPort
	conns []*net.UDPConn
	wg    sync.WaitGroup

	total     atomic.Int64 // datagrams echoed, all phases
	inWin     atomic.Int64 // datagrams sent in the measuring window that reached the peer
	writeErrs atomic.Int64
}

func newEchoPeer(r *turnRunner, ip netip.Addr, n int) (*echoPeer, error) {
	p := &echoPeer{r: r}
	lc := net.ListenConfig{Control: reusePort}
	port := 0
	for range n {
		c, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(ip, uint16(port)).String()) //nolint:gosec // a port
		if err != nil {
			p.close()
			return nil, fmt.Errorf("bench: echo peer on %s: %w", ip, err)
		}
		uc := c.(*net.UDPConn)
		_ = uc.SetReadBuffer(4 << 20)
		_ = uc.SetWriteBuffer(4 << 20)
		p.conns = append(p.conns, uc)
		ap := uc.LocalAddr().(*net.UDPAddr).AddrPort()
		port = int(ap.Port())
		p.addr = netip.AddrPortFrom(ip, ap.Port())
	}
	for _, c := range p.conns {
		p.wg.Add(1)
		go p.serve(c)
	}
	return p, nil
}

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) //nolint:gosec // fds are small
	}); err != nil {
		return err
	}
	return serr
}

func (p *echoPeer) serve(c *net.UDPConn) {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n >= turnMinPayload && p.r.inWindow(int64(binary.BigEndian.Uint64(buf[:8]))) { //nolint:gosec // a stamp
			p.inWin.Add(1)
		}
		p.total.Add(1)
		if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
			p.writeErrs.Add(1)
		}
	}
}

func (p *echoPeer) close() {
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.wg.Wait()
}
