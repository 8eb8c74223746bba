//go:build linux && (amd64 || arm64)

// Package mmsg sends and receives many UDP datagrams per system call
// (sendmmsg, recvmmsg) on 64-bit Linux, with socket addresses written and
// read in place: nothing is allocated per datagram. The TURN poller and
// the SFU's batched writer use it.
package mmsg

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Hdr is struct mmsghdr on 64-bit Linux: a message header and, after the
// call, the number of bytes the kernel sent or received for it.
type Hdr struct {
	Hdr unix.Msghdr
	N   uint32
	_   [4]byte
}

// Recv is recvmmsg(2) without flags on a non-blocking fd.
func Recv(fd int, hs []Hdr) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), 0, 0, 0) //nolint:gosec // fd is small
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Send is sendmmsg(2) without flags: it returns how many of hs went, or
// the error of the first one that could not.
func Send(fd int, hs []Hdr) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), 0, 0, 0) //nolint:gosec // fd is small
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// PutSockaddr writes ap as the socket address for a socket of the given
// family (IPv4-mapped on an AF_INET6 one) and returns its length, 0 when
// an AF_INET socket cannot reach it.
func PutSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, v6 bool, scope uint32) uint32 {
	if v6 {
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16(), Scope_id: scope}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], ap.Port())
		return unix.SizeofSockaddrInet6
	}
	ip := ap.Addr().Unmap()
	if !ip.Is4() {
		return 0
	}
	s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	*s4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:], ap.Port())
	return unix.SizeofSockaddrInet4
}

// AddrPort reads the address recvmmsg wrote.
func AddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	case unix.AF_INET6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 { // a link-local client: replies need the interface
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(ip, port)
	}
	return netip.AddrPort{}
}

// IsV6 reports whether fd is an AF_INET6 socket (whose addresses are
// written IPv4-mapped for IPv4 peers).
func IsV6(fd int) (bool, error) {
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	return dom == unix.AF_INET6, err
}
