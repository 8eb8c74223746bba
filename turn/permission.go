package turn

import "net/netip"

// permittedTo reports whether the client holds a live permission for the
// peer a datagram is for (RFC 8656 section 9), counting a drop when not.
//
// pion checks the permission for a Send indication but not for ChannelData:
// it relays on a bound channel as long as the channel lives (10 minutes),
// though the channel's permission expires after 5 unless refreshed. So a
// client that stopped refreshing its permission kept sending to the peer;
// the peer's answers were dropped (allowFrom checks the permission). Both
// relay paths, the poller's and pion's, check here before sending.
// permitted scans at most MaxPermissionsPerAllocation addresses and
// allocates nothing.
func (r *relayCore) permittedTo(ap netip.AddrPort) bool {
	if r.permitted(ap.Addr().Unmap()) {
		return true
	}
	r.s.m.dropped.WithLabelValues("no_permission").Inc()
	return false
}
