package turn

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// allocKey identifies one allocation across pion's callbacks: the client's
// transport address and the server port it reached. pion reports every
// allocation with protocol "UDP" whatever the transport, so the address
// type (*net.TCPAddr) is what tells TCP and TLS clients apart.
type allocKey struct {
	tcp  bool
	src  netip.AddrPort
	port uint16 // the server's listening port
}

// srcKey is what pion's QuotaHandler and OnAllocationError know of a
// request: the client's transport address, without the server port.
type srcKey struct {
	tcp bool
	src netip.AddrPort
}

// clientAddr turns a client's net.Addr into a map key, IPv4-mapped
// addresses unmapped so the key is the same whichever form a socket gave.
func clientAddr(a net.Addr) (srcKey, bool) {
	var ap netip.AddrPort
	var tcp bool
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap, tcp = a.AddrPort(), true
	default:
		return srcKey{}, false
	}
	return srcKey{tcp: tcp, src: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, true
}

func portOf(a net.Addr) uint16 {
	switch a := a.(type) {
	case *net.UDPAddr:
		return uint16(a.Port) //nolint:gosec // ports fit
	case *net.TCPAddr:
		return uint16(a.Port) //nolint:gosec // ports fit
	}
	return 0
}

// quota counts allocations in total and per user, and distinct peer IPs per
// allocation, from pion's QuotaHandler, PermissionHandler and EventHandler.
//
// pion asks the QuotaHandler and creates the allocation a moment later, and
// several read loops do so concurrently, so an accepted request holds a
// pending place until OnAllocationCreated confirms it or OnAllocationError
// (the same request failing after the quota check: relay socket, lifetime
// 0, TCP relay off) gives it back. Without that, N simultaneous requests of
// one user would all pass a check that counts only created allocations.
type quota struct {
	s                          *Server
	maxTotal, maxUser, maxPerm int

	mu       sync.Mutex
	total    int // created allocations
	pending  map[srcKey]pendingAlloc
	npending atomic.Int64   // len(pending), read without mu by allocError
	users    map[string]int // created and pending, per user id
	allocs   map[allocKey]*allocInfo
	empty    chan struct{} // closed while total == 0
}

type pendingAlloc struct {
	user  string
	since time.Time
}

type allocInfo struct {
	user, transport string
	sock            interface{ Close() error } // its relay socket, nil if gone already
	perms           map[netip.Addr]struct{}
	hardExpiry      *time.Timer // see lifetimeCap; nil while pion's own timer suffices
	hardDeadline    time.Time
}

// pendingTimeout returns a pending place no callback resolved. It is a
// safety net: every path after the quota check ends in one of the two.
const pendingTimeout = 10 * time.Second

func newQuota(s *Server, maxTotal, maxUser, maxPerm int) *quota {
	empty := make(chan struct{})
	close(empty)
	return &quota{s: s, maxTotal: maxTotal, maxUser: maxUser, maxPerm: maxPerm,
		pending: map[srcKey]pendingAlloc{}, users: map[string]int{}, allocs: map[allocKey]*allocInfo{}, empty: empty}
}

// allow is pion's QuotaHandler; a refusal is answered with 486 (Allocation
// Quota Reached).
func (q *quota) allow(user, _ string, src net.Addr) bool {
	k, ok := clientAddr(src)
	if !ok {
		return false
	}
	now := time.Now()
	q.mu.Lock()
	for pk, p := range q.pending {
		if now.Sub(p.since) > pendingTimeout {
			q.releaseLocked(pk)
		}
	}
	reason := ""
	switch {
	case q.total+len(q.pending) >= q.maxTotal:
		reason = "quota_total"
	case q.users[user] >= q.maxUser:
		reason = "quota_user"
	default:
		if _, dup := q.pending[k]; dup {
			q.releaseLocked(k)
		}
		q.pending[k] = pendingAlloc{user: user, since: now}
		q.npending.Add(1)
		q.users[user]++
	}
	q.mu.Unlock()
	if reason != "" {
		q.s.m.allocsRefused.WithLabelValues(reason).Inc()
		q.s.log.Debug("TURN allocation refused", "reason", reason, "user", clip(user), "client", src.String())
		return false
	}
	return true
}

func (q *quota) releaseLocked(k srcKey) {
	p, ok := q.pending[k]
	if !ok {
		return
	}
	delete(q.pending, k)
	q.npending.Add(-1)
	q.userDoneLocked(p.user)
}

func (q *quota) userDoneLocked(user string) {
	if q.users[user] <= 1 {
		delete(q.users, user)
	} else {
		q.users[user]--
	}
}

// allocError is EventHandler.OnAllocationError: pion calls it for any
// request that failed, so it gives back a pending place if the client had
// one (an Allocate that failed after the quota check). Garbage from a
// flood lands here too, hence the check without the lock first.
func (q *quota) allocError(src, _ net.Addr, _, _ string) {
	if q.npending.Load() == 0 {
		return
	}
	k, ok := clientAddr(src)
	if !ok {
		return
	}
	q.mu.Lock()
	q.releaseLocked(k)
	q.mu.Unlock()
}

func (q *quota) created(src, dst net.Addr, _, user, _ string, relay net.Addr, _ int) {
	sk, ok := clientAddr(src)
	if !ok {
		return
	}
	k := allocKey{tcp: sk.tcp, src: sk.src, port: portOf(dst)}
	transport := q.s.transportOf(k)
	if sk.tcp {
		q.s.markAllocated(sk.src)
	} else {
		q.s.allocReported(src, dst, relay)
	}
	// The socket itself, not its port: once it closes, another allocation
	// may take the port while pion still reports events for this one.
	sock := q.s.relays.get(relayKeyOf(relay))
	q.mu.Lock()
	if _, ok := q.pending[sk]; ok {
		delete(q.pending, sk) // confirmed: the place moves from pending to total
		q.npending.Add(-1)
	} else {
		q.users[user]++ // its pending place had timed out
	}
	if old, dup := q.allocs[k]; dup {
		// Two allocations on one key would make the first one's place leak
		// for good when the second replaces it: give it back now.
		if old.hardExpiry != nil {
			old.hardExpiry.Stop()
		}
		q.userDoneLocked(old.user)
		q.total--
		q.s.m.allocs.WithLabelValues(old.transport).Dec()
		q.s.log.Warn("TURN allocation replaced another on the same client address and port", "client", src.String())
	} else if q.total == 0 {
		q.empty = make(chan struct{})
	}
	q.total++
	q.allocs[k] = &allocInfo{user: user, transport: transport, sock: sock, perms: map[netip.Addr]struct{}{}}
	// The gauge moves with total, under the lock: Close, which waits for
	// total to reach 0, then finds it at 0 too.
	q.s.m.allocs.WithLabelValues(transport).Inc()
	q.mu.Unlock()
	q.s.m.allocsCreated.WithLabelValues(transport).Inc()
	q.s.log.Debug("TURN allocation created", "user", clip(user), "transport", transport, "client", src.String(), "relay", addrString(relay))
}

func (q *quota) deleted(src, dst net.Addr, _, user, _ string) {
	sk, ok := clientAddr(src)
	if !ok {
		return
	}
	k := allocKey{tcp: sk.tcp, src: sk.src, port: portOf(dst)}
	q.mu.Lock()
	info, ok := q.allocs[k]
	if ok {
		delete(q.allocs, k)
		if info.hardExpiry != nil {
			info.hardExpiry.Stop()
		}
		q.userDoneLocked(info.user)
		q.total--
		q.s.m.allocs.WithLabelValues(info.transport).Dec()
		if q.total == 0 {
			close(q.empty)
		}
	}
	q.mu.Unlock()
	if !ok {
		return
	}
	q.s.log.Debug("TURN allocation deleted", "user", clip(user), "transport", info.transport, "client", src.String())
}

// permissionHandler is pion's PermissionHandler for the listener on port:
// the peer policy, then the cap on distinct peer IPs per allocation. pion
// calls it for CreatePermission, ChannelBind (also on refreshes) and
// Connect; a refusal is 403 (401 for ChannelBind, pion's choice).
func (s *Server) permissionHandler(port uint16) pionturn.PermissionHandler {
	return func(client net.Addr, peer net.IP) bool {
		// The address goes to the policy as received, IPv4-mapped or not:
		// the policy checks both forms, and unmapping here first would
		// hide the form a bypass uses.
		ip, ok := netip.AddrFromSlice(peer)
		var err error
		if !ok {
			err = &DeniedError{Reason: "invalid"}
		} else {
			err = s.policy.PeerIP(ip)
		}
		if err != nil {
			reason := "denied"
			if d, ok := errors.AsType[*DeniedError](err); ok {
				reason = d.Reason
			}
			s.m.permsRefused.WithLabelValues(reason).Inc()
			s.log.Debug("TURN permission refused", "reason", reason, "peer", ip.String(), "client", addrString(client))
			return false
		}
		sk, ok := clientAddr(client)
		if !ok {
			return false
		}
		return s.q.permit(allocKey{tcp: sk.tcp, src: sk.src, port: port}, ip.Unmap(), client)
	}
}

// permit refuses a new peer beyond the cap; a peer already permitted (a
// refresh) always passes. It records nothing: the peer counts once pion has
// made the permission (permCreated), so a Connect, which makes none, or a
// ChannelBind that fails after asking, leaves no slot taken for good. A
// client's requests arrive on one read loop, one after another, so two
// cannot both pass for the last slot.
func (q *quota) permit(k allocKey, peer netip.Addr, client net.Addr) bool {
	q.mu.Lock()
	info, ok := q.allocs[k]
	full := false
	if ok {
		_, has := info.perms[peer]
		full = !has && len(info.perms) >= q.maxPerm
	}
	q.mu.Unlock()
	if !ok {
		// pion looks the allocation up before asking, so this means the
		// two disagree on the key: refuse rather than relay uncounted.
		q.s.m.permsRefused.WithLabelValues("no_allocation").Inc()
		q.s.log.Debug("TURN permission refused", "reason", "no_allocation", "peer", peer.String(), "client", addrString(client))
		return false
	}
	if full {
		q.s.m.permsRefused.WithLabelValues("quota").Inc()
		q.s.log.Debug("TURN permission refused", "reason", "quota", "peer", peer.String(), "client", addrString(client), "user", clip(info.user))
		return false
	}
	return true
}

// permCreated is EventHandler.OnPermissionCreated: the peer counts against
// the cap from now on.
func (q *quota) permCreated(src, dst net.Addr, _, _, _ string, _ net.Addr, peer net.IP) {
	q.withPerms(src, dst, peer, func(perms map[netip.Addr]struct{}, ip netip.Addr) { perms[ip] = struct{}{} })
}

// withPerms runs f under the lock on the peer set of the allocation that
// src and dst name, with the peer's unmapped address, and hands the new set
// to the allocation's relay socket.
func (q *quota) withPerms(src, dst net.Addr, peer net.IP, f func(map[netip.Addr]struct{}, netip.Addr)) {
	sk, ok := clientAddr(src)
	ip, ok2 := netip.AddrFromSlice(peer)
	if !ok || !ok2 {
		return
	}
	q.mu.Lock()
	if info, ok := q.allocs[allocKey{tcp: sk.tcp, src: sk.src, port: portOf(dst)}]; ok {
		f(info.perms, ip.Unmap())
		if rc, ok := info.sock.(interface {
			setPeers(map[netip.Addr]struct{})
		}); ok {
			rc.setPeers(info.perms)
		}
	}
	q.mu.Unlock()
}

// permDeleted is EventHandler.OnPermissionDeleted (expiry, or the
// allocation going away): the peer no longer counts against the cap.
func (q *quota) permDeleted(src, dst net.Addr, _, _, _ string, _ net.Addr, peer net.IP) {
	q.withPerms(src, dst, peer, func(perms map[netip.Addr]struct{}, ip netip.Addr) { delete(perms, ip) })
}

// count returns the allocations now (tests).
func (q *quota) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// waitEmpty waits until no allocation is left, or for at most d.
func (q *quota) waitEmpty(d time.Duration) bool {
	q.mu.Lock()
	ch := q.empty
	q.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
