//go:build linux && (amd64 || arm64)

package uring

import (
	"errors"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchboard-rtc/switchboard/internal/mmsg"
)

// udpFD opens a non-blocking UDP socket on 127.0.0.1 and returns its fd
// and address.
func udpFD(tb testing.TB) (int, netip.AddrPort) {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	return fd, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port)) //nolint:gosec,forcetypeassert // an AF_INET port
}

// msg is one datagram's header, buffer and address.
type msg struct {
	h   unix.Msghdr
	iov unix.Iovec
	sa  unix.RawSockaddrInet6
	b   [64]byte
}

func (m *msg) set(n int, to netip.AddrPort) {
	m.iov.Base = &m.b[0]
	m.iov.SetLen(n)
	m.h.Iov = &m.iov
	m.h.SetIovlen(1)
	m.h.Name = (*byte)(unsafe.Pointer(&m.sa))
	m.h.Namelen = unix.SizeofSockaddrInet6
	if to.IsValid() {
		m.h.Namelen = mmsg.PutSockaddr(&m.sa, to, false, 0)
	}
}

// Datagrams sent from several sockets in one Submit arrive from each, and
// Recvmsg reads them back with their sources; a socket with nothing to
// read completes with EAGAIN instead of waiting. The same holds with one
// system call per operation.
func TestSendRecv(t *testing.T) {
	r, err := New(8)
	if err != nil {
		t.Log("no io_uring here:", err)
	}
	defer r.Close()
	t.Run("kernel", func(t *testing.T) {
		if !r.Kernel() {
			t.Skip("no io_uring here")
		}
		testSendRecv(t, r)
	})
	t.Run("direct", func(t *testing.T) { testSendRecv(t, Direct(8)) })
}

func testSendRecv(t *testing.T, r *Ring) {
	dst, dstAP := udpFD(t)
	var from [3]netip.AddrPort
	var ms [4]msg
	for i := range 3 {
		var fd int
		fd, from[i] = udpFD(t)
		ms[i].b[0] = byte(i)
		ms[i].set(1+i, dstAP)
		if err := r.Sendmsg(fd, &ms[i].h, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	res := map[uint64]int32{}
	var order []uint64
	if err := r.Submit(func(tag uint64, n int32) { res[tag] = n; order = append(order, tag) }); err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 2 {
		t.Fatalf("completions in order %v, want 0 1 2", order)
	}
	for i := range 3 {
		if res[uint64(i)] != int32(1+i) {
			t.Fatalf("send %d: result %d, want %d", i, res[uint64(i)], 1+i)
		}
	}
	got := map[netip.AddrPort]int{}
	for i := range 4 {
		ms[i] = msg{}
		ms[i].set(64, netip.AddrPort{})
		if err := r.Recvmsg(dst, &ms[i].h, uint64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	clear(res)
	if err := r.Submit(func(tag uint64, n int32) { res[tag] = n }); err != nil {
		t.Fatal(err)
	}
	eagain := 0
	for i := range 4 {
		n := res[uint64(10+i)]
		if n == -int32(unix.EAGAIN) {
			eagain++
			continue
		}
		got[mmsg.AddrPort(&ms[i].sa)] = int(n)
		if int(ms[i].b[0])+1 != int(n) {
			t.Fatalf("datagram %d: first byte %d, length %d", i, ms[i].b[0], n)
		}
	}
	if eagain != 1 || len(got) != 3 {
		t.Fatalf("got %v and %d EAGAIN, want 3 datagrams and 1 EAGAIN", got, eagain)
	}
	for i := range 3 {
		if got[from[i]] != 1+i {
			t.Fatalf("from %v: %d bytes, want %d (all: %v)", from[i], got[from[i]], 1+i, got)
		}
	}
}

// More operations than the ring holds are refused, not overwritten.
func TestFull(t *testing.T) {
	r, err := New(2)
	if err != nil {
		t.Skip("no io_uring here:", err)
	}
	defer r.Close()
	fd, ap := udpFD(t)
	var ms [3]msg
	for i := range ms {
		ms[i].set(1, ap)
	}
	for i := range r.Size() {
		if err := r.Sendmsg(fd, &ms[i].h, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Sendmsg(fd, &ms[2].h, 0); !errors.Is(err, ErrFull) {
		t.Fatalf("one more: %v, want ErrFull", err)
	}
	n := 0
	if err := r.Submit(func(_ uint64, res int32) {
		if res == 1 {
			n++
		}
	}); err != nil || n != r.Size() {
		t.Fatalf("Submit: %v, %d datagrams sent, want %d", err, n, r.Size())
	}
	if r.Queued() != 0 {
		t.Fatalf("%d still queued after Submit", r.Queued())
	}
}

// The cost the TURN poller pays to send k datagrams from k different
// sockets: k sendto calls, or one Submit.
func benchSend(b *testing.B, k int, ring bool) {
	dst, dstAP := udpFD(b)
	go func() { // drain
		buf := make([]byte, 2048)
		for {
			if _, _, err := unix.Recvfrom(dst, buf, 0); err == unix.EBADF {
				return
			}
		}
	}()
	_ = unix.SetsockoptInt(dst, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	fds := make([]int, k)
	ms := make([]msg, k)
	for i := range k {
		fds[i], _ = udpFD(b)
		ms[i].set(64, dstAP)
	}
	r, err := New(64)
	if err != nil && ring {
		b.Skip(err)
	}
	defer r.Close()
	done := func(uint64, int32) {}
	b.ResetTimer()
	for range b.N {
		if ring {
			for i := range k {
				_ = r.Sendmsg(fds[i], &ms[i].h, 0)
			}
			_ = r.Submit(done)
			continue
		}
		for i := range k {
			_, _, _ = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fds[i]), uintptr(unsafe.Pointer(&ms[i].b[0])), 64, 0, uintptr(unsafe.Pointer(&ms[i].sa)), unix.SizeofSockaddrInet4)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/datagram")
}

func BenchmarkSendto1(b *testing.B) { benchSend(b, 1, false) }
func BenchmarkSendto4(b *testing.B) { benchSend(b, 4, false) }
func BenchmarkRing1(b *testing.B)   { benchSend(b, 1, true) }
func BenchmarkRing2(b *testing.B)   { benchSend(b, 2, true) }
func BenchmarkRing4(b *testing.B)   { benchSend(b, 4, true) }
func BenchmarkRing16(b *testing.B)  { benchSend(b, 16, true) }
