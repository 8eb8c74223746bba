//go:build linux && (amd64 || arm64)

package udpbatch

import (
	"net"
	"net/netip"
	"testing"
)

// BenchmarkFanout writes one 1,200-byte packet to 200 subscribers (spread
// over four receiving sockets) per op: one sendto each ("direct", the
// unwrapped socket) against the queue and sendmmsg ("batched").
func BenchmarkFanout(b *testing.B) {
	const subs = 200
	var to []netip.AddrPort
	for range 4 {
		r := newReceiver(b, "127.0.0.1:0")
		for range subs / 4 {
			to = append(to, r.addr())
		}
	}
	pkt := datagram(1, 1200)
	b.Run("direct", func(b *testing.B) {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		b.SetBytes(subs * int64(len(pkt)))
		for b.Loop() {
			for _, a := range to {
				_, _ = pc.WriteToUDPAddrPort(pkt, a)
			}
		}
	})
	b.Run("batched", func(b *testing.B) {
		c := wrap(b, "udp4", "127.0.0.1:0")
		b.SetBytes(subs * int64(len(pkt)))
		for b.Loop() {
			c.Hold()
			for _, a := range to {
				_, _ = c.WriteToAddrPort(pkt, a)
			}
			c.Release()
		}
	})
}
