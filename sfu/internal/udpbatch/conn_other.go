//go:build !(linux && (amd64 || arm64))

package udpbatch

import "net"

// Wrap returns pc as it is: without sendmmsg there is nothing to batch.
func Wrap(pc net.PacketConn) (net.PacketConn, Batcher, error) { return pc, nop{}, nil }
