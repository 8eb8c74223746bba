package turn

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// The batch reader hands out every queued datagram once, in order, with its
// sender, over IPv4 and IPv6 sockets, and cuts one longer than the buffer.
func TestBatchReader(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "udp6" {
				addr = "[::1]:0"
			}
			pc, err := net.ListenPacket(network, addr)
			if err != nil {
				t.Fatalf("listen %s: %v", network, err)
			}
			defer pc.Close()
			conn := pc.(*net.UDPConn)
			src, err := net.DialUDP(network, nil, conn.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			const n = 3*batchSize + 5 // several batches, the last one partial
			for i := range n {
				if _, err := src.Write(bytes.Repeat([]byte{byte(i)}, 1+i*30)); err != nil {
					t.Fatal(err)
				}
			}
			b := newBatchReader(conn)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, maxDatagram)
			for i := range n {
				k, from, err := b.readFrom(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if want := bytes.Repeat([]byte{byte(i)}, 1+i*30); !bytes.Equal(buf[:k], want) {
					t.Fatalf("datagram %d: %d bytes, want %d of %d", i, k, len(want), i)
				}
				if from.String() != src.LocalAddr().String() {
					t.Fatalf("datagram %d from %v, want %v", i, from, src.LocalAddr())
				}
			}
			if _, err := src.Write(make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
			if k, _, err := b.readFrom(make([]byte, 10)); err != nil || k != 10 {
				t.Fatalf("a datagram longer than the buffer: %d bytes, %v; want it cut to 10", k, err)
			}
		})
	}
}
