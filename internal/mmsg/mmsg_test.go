//go:build linux && (amd64 || arm64)

package mmsg

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An address comes back from its sockaddr form as it went in, with the
// port in network order, and an IPv6 address cannot be written for an
// AF_INET socket.
func TestSockaddr(t *testing.T) {
	for _, tc := range []struct {
		ap   string
		v6   bool
		want uint32
	}{
		{"192.0.2.1:1", false, 16},
		{"192.0.2.1:65535", true, 28},
		{"[2001:db8::1]:3478", true, 28},
		{"[2001:db8::1]:3478", false, 0},
	} {
		ap := netip.MustParseAddrPort(tc.ap)
		var rsa unix.RawSockaddrInet6
		sa := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(&rsa))
		got := PutSockaddr(&rsa, ap, tc.v6, 0)
		if got != tc.want {
			t.Fatalf("%v v6=%v: length %d, want %d", ap, tc.v6, got, tc.want)
		}
		if got == 0 {
			continue
		}
		back := AddrPort(&rsa)
		if netip.AddrPortFrom(back.Addr().Unmap(), back.Port()) != ap {
			t.Fatalf("%v came back as %v", ap, back)
		}
		if port := binary.BigEndian.Uint16(sa[2:]); port != ap.Port() {
			t.Fatalf("port bytes %d, want %d (network order)", port, ap.Port())
		}
	}
}
