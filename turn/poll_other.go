//go:build !(linux && (amd64 || arm64))

package turn

import (
	"net"
	"net/netip"
)

// Without recvmmsg and epoll (or on 32-bit Linux, whose struct mmsghdr
// poll_linux.go does not describe) pion reads every socket, as on a virtual
// network.

type relayPoller struct{}

type pollLoop struct{}

func newRelayPoller(*Server) (*relayPoller, error) { return nil, nil }

func (*relayPoller) stop()  {}
func (*relayPoller) close() {}

func (*pollLoop) adopt(pc net.PacketConn, _ net.Addr, _ relayKey, _ string, _ *userBandwidth) (*polledRelay, error) {
	_ = pc.Close()
	return nil, net.ErrClosed
}

func (*pollLoop) remove(*polledRelay) {}

func (*polledRelay) closeSocket() {}

func (*polledRelay) sendTo([]byte, netip.AddrPort) (int, error) { return 0, net.ErrClosed }
