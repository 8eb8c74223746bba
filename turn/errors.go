package turn

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

var (
	// ErrTCPRelayDisabled refuses an RFC 6062 TCP allocation or Connect
	// while Config.TCPRelay is off. The client sees 508 (Insufficient
	// Capacity), the only code pion lets an allocator failure produce.
	ErrTCPRelayDisabled = errors.New("turn: TCP relay allocations are disabled")
	// ErrTCPRelayOverUDP refuses an RFC 6062 TCP allocation requested over
	// UDP: RFC 6062 section 5.1 requires a TCP or TLS control connection
	// (and a Connect would otherwise dial from a UDP read loop).
	ErrTCPRelayOverUDP = errors.New("turn: TCP relay allocations need a TCP or TLS control connection (RFC 6062)")
	// ErrPeerConnLimit refuses an RFC 6062 Connect when the allocation
	// already has Config.MaxPermissionsPerAllocation peer connections.
	ErrPeerConnLimit = errors.New("turn: too many peer connections on this allocation")
	// ErrNoRelayAddress refuses an allocation of an address family (IPv4 or
	// IPv6) the server has no relay address for.
	ErrNoRelayAddress = errors.New("turn: no relay address of the requested address family")
)

// ListenError is returned by New when a listener cannot be bound. It names
// the transport and the address, and unwraps to the socket error, so
// errors.Is(err, syscall.EADDRINUSE) works.
type ListenError struct {
	Transport string         // "udp", "tcp" or "tls"
	Addr      netip.AddrPort // the address New tried to bind (port 0: any)
	Err       error
}

func (e *ListenError) Error() string {
	what := map[string]string{"udp": "TURN over UDP", "tcp": "TURN over TCP", "tls": "TURN over TLS"}[e.Transport]
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		return fmt.Sprintf("turn: port %d (%s) is already in use on %s: another process (another TURN server?) holds it", e.Addr.Port(), what, e.Addr.Addr())
	}
	return fmt.Sprintf("turn: cannot listen for %s on %s: %v", what, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }
