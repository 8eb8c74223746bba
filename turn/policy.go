package turn

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// Policy decides which peer addresses the server relays to. Safe for
// concurrent use after construction; AddOwn may be called before serving
// starts (and, being copy-on-write, also while serving).
//
// An address is checked in its original form and, when it embeds an IPv4
// address, in its Canonical form too, and is refused when either form is:
// otherwise ::ffff:127.0.0.1, 64:ff9b::a9fe:a9fe or 2002:7f00:1:: would
// reach loopback and the metadata service through a NAT64 gateway, a 6to4
// tunnel or the dual-stack socket of the relay. For each form the
// precedence is: an explicit deny range refuses; else a default range
// (defaultPeerDeny) refuses unless an explicit allow range contains that
// form. Allowing an IPv4 range therefore allows its embedded forms too,
// while allowing only an IPv6 range that embeds IPv4 (64:ff9b::/96, say)
// allows none of the IPv4 ranges behind it.
//
// The zero Policy, and a nil *Policy, apply the default ranges only.
type Policy struct {
	allow, deny []netip.Prefix
	mu          sync.Mutex // serialises AddOwn; readers use own without it
	own         atomic.Pointer[policyOwn]
	relays      atomic.Pointer[policyRelays]
}

// LiveRelays tells the policy where the server's allocations are: whether
// a relay socket of a live allocation is open at port, for one transport
// (tcp: an RFC 6062 relay listener, else UDP) and address family. It is
// asked on the per-packet path, so it must answer without a lock.
type LiveRelays interface {
	Live(tcp, v6 bool, port uint16) bool
}

// policyRelays is replaced, never modified, like policyOwn.
type policyRelays struct {
	ips  []netip.Addr // canonical; the addresses relay sockets are bound to or advertised at
	live LiveRelays
}

// has reports whether c (canonical) is one of the relay addresses.
func (r *policyRelays) has(c netip.Addr) bool {
	for _, ip := range r.ips {
		if ip == c {
			return true
		}
	}
	return false
}

// policyOwn is replaced, never modified, so PeerAddr reads it without a
// lock on the per-packet path.
type policyOwn struct {
	exact    map[netip.AddrPort]struct{} // canonical ip:port
	anyIP    map[uint16]struct{}         // ports of wildcard (0.0.0.0, ::) listeners
	services map[servicePort]struct{}    // media ports of this process that relays may reach (AddService)
}

// servicePort is a port on the server's relay addresses that clients may
// reach through their relay: the SFU's ICE ports.
type servicePort struct {
	tcp  bool
	port uint16
}

// peerRange is one default-deny entry; reason is the DeniedError.Reason,
// a Prometheus label value, so it must stay one of a few stable words.
type peerRange struct {
	prefix netip.Prefix
	reason string
}

// defaultPeerDeny is what is refused unless allowed explicitly: everything
// that is not globally reachable unicast (IANA special-purpose registries),
// because a relay standing inside a network must not become a way into it.
// IPv6 forms that embed IPv4 (::ffff:0:0/96, ::/96, 64:ff9b::/96,
// 64:ff9b:1::/48, 2002::/16, 2001::/32) are not listed: Canonical maps
// them onto the IPv4 entries, so an IPv4 allow range covers them as well.
var defaultPeerDeny = []peerRange{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},     // "this network", RFC 791, RFC 1122; Linux delivers 0.0.0.0 to the local host
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},        // RFC 1918
	{netip.MustParsePrefix("100.64.0.0/10"), "shared"},      // carrier-grade NAT shared space, RFC 6598
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},      // RFC 1122
	{netip.MustParsePrefix("169.254.0.0/16"), "link_local"}, // RFC 3927; holds the cloud metadata service 169.254.169.254
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},     // RFC 1918
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},     // IETF protocol assignments (DS-Lite, NAT64 discovery), RFC 6890
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved"},     // TEST-NET-1 documentation, RFC 5737
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved"},   // 6to4 relay anycast, deprecated, RFC 7526
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},    // RFC 1918
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},    // benchmarking, RFC 2544
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved"},  // TEST-NET-2 documentation, RFC 5737
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved"},   // TEST-NET-3 documentation, RFC 5737
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},     // RFC 5771
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},      // future use, RFC 1112; holds the limited broadcast 255.255.255.255, RFC 919

	// IPv6.
	{netip.MustParsePrefix("::/128"), "unspecified"},       // RFC 4291
	{netip.MustParsePrefix("::1/128"), "loopback"},         // RFC 4291
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "reserved"}, // IPv4-translated (SIIT), RFC 2765, obsoleted; an IPv4 embedding Canonical does not map
	{netip.MustParsePrefix("100::/64"), "reserved"},        // discard-only, RFC 6666
	{netip.MustParsePrefix("2001:2::/48"), "reserved"},     // benchmarking, RFC 5180
	{netip.MustParsePrefix("2001:10::/28"), "reserved"},    // ORCHID, deprecated, RFC 4843
	{netip.MustParsePrefix("2001:20::/28"), "reserved"},    // ORCHIDv2, RFC 7343
	{netip.MustParsePrefix("2001:db8::/32"), "reserved"},   // documentation, RFC 3849
	{netip.MustParsePrefix("3fff::/20"), "reserved"},       // documentation, RFC 9637
	{netip.MustParsePrefix("fc00::/7"), "private"},         // unique local, RFC 4193
	{netip.MustParsePrefix("fe80::/10"), "link_local"},     // RFC 4291
	{netip.MustParsePrefix("fec0::/10"), "private"},        // site-local, deprecated, RFC 3879; old stacks still route it inside a site
	{netip.MustParsePrefix("ff00::/8"), "multicast"},       // RFC 4291
}

// The IPv6 forms that carry an IPv4 address; see Canonical.
var (
	peerCompat     = netip.MustParsePrefix("::/96")
	peerNAT64      = netip.MustParsePrefix("64:ff9b::/96")
	peerNAT64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	peer6to4       = netip.MustParsePrefix("2002::/16")
	peerTeredo     = netip.MustParsePrefix("2001::/32")
)

// NewPolicy returns the policy for the allow (--turn-allow-peers) and deny
// (--turn-deny-peers) ranges. Ranges are masked, and IPv4-mapped ranges
// (::ffff:10.0.0.0/104) are taken as the IPv4 range they denote, so that
// they match however the peer address is written; invalid ones are
// ignored (flag parsing is where they are rejected).
func NewPolicy(allow, deny []netip.Prefix) *Policy {
	return &Policy{allow: peerPrefixes(allow), deny: peerPrefixes(deny)}
}

func peerPrefixes(in []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range in {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// AddOwn records one of the server's own listener addresses (ip:port).
// Relaying to it is always refused, even inside an allowed range: a client
// must not reach the server's own TURN/STUN/signaling ports through the
// relay. Only the exact ip:port is refused, not the whole IP: relay-to-relay
// between two allocations on the same server (another allocation's relay
// port on the same IP) must keep working.
//
// An unspecified ip (0.0.0.0 or ::, a listener bound to every address)
// refuses that port on every address, since such a listener is reached
// through any of the host's addresses, the public address behind a 1:1 NAT
// included, and this package cannot enumerate them. Invalid addresses are
// ignored.
func (p *Policy) AddOwn(ap netip.AddrPort) {
	ip := Canonical(ap.Addr())
	if !ip.IsValid() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.copyOwn()
	if ip.IsUnspecified() {
		next.anyIP[ap.Port()] = struct{}{}
	} else {
		next.exact[netip.AddrPortFrom(ip, ap.Port())] = struct{}{}
	}
	p.own.Store(next)
}

// AddService records a port of this process that clients may reach through
// their relay on the server's relay addresses (see SetRelays), whatever
// range those are in: the SFU's ICE ports, UDP or (tcp) TCP, so that a
// client that can only relay reaches the SFU on the same host. Like a live
// relay port, such a port exists to be reached from outside; every other
// port on those addresses stays refused.
func (p *Policy) AddService(tcp bool, port uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.copyOwn()
	next.services[servicePort{tcp, port}] = struct{}{}
	p.own.Store(next)
}

// copyOwn returns a copy of the own addresses to modify. Under p.mu.
func (p *Policy) copyOwn() *policyOwn {
	next := &policyOwn{exact: map[netip.AddrPort]struct{}{}, anyIP: map[uint16]struct{}{}, services: map[servicePort]struct{}{}}
	if cur := p.own.Load(); cur != nil {
		for k := range cur.exact {
			next.exact[k] = struct{}{}
		}
		for k := range cur.anyIP {
			next.anyIP[k] = struct{}{}
		}
		for k := range cur.services {
			next.services[k] = struct{}{}
		}
	}
	return next
}

// service reports whether port is a service port (AddService).
func (p *Policy) service(tcp bool, port uint16) bool {
	own := p.own.Load()
	if own == nil {
		return false
	}
	_, ok := own.services[servicePort{tcp, port}]
	return ok
}

// SetRelays tells the policy the addresses the server's relay sockets are
// bound to or advertised at (the advertised relay address, the public IP
// behind a 1:1 NAT, the listen address, or with a wildcard listener every
// interface address), and where to ask which relay ports are live.
//
// From then on the relay address of a live allocation of this server is a
// peer whatever range it is in: two clients that both relay through the
// server must reach each other, and on a LAN deployment the server's
// address is private. That is safe because such a port is a TURN
// allocation, which forwards only to its own client, and only what that
// client permitted; it was reachable from outside by design. Every other
// port on those addresses is refused ("own_address") unless an allow range
// (--turn-allow-peers) holds the address, and the own listeners always
// are: a client must not reach another service on the TURN host through
// its relay. An explicit deny range still refuses.
func (p *Policy) SetRelays(ips []netip.Addr, live LiveRelays) {
	r := &policyRelays{live: live}
	for _, ip := range ips {
		if c := Canonical(ip); c.IsValid() && !c.IsUnspecified() && !r.has(c) {
			r.ips = append(r.ips, c)
		}
	}
	p.relays.Store(r)
}

// PeerIP is the check for CreatePermission and ChannelBind (pion's
// PermissionHandler sees only the IP; pion calls it for TCP Connect too).
// nil means allowed; a refusal is a *DeniedError. A permission for one of
// the server's relay addresses is allowed (see SetRelays): permissions are
// per IP, and the port of every packet is checked by PeerAddr.
func (p *Policy) PeerIP(ip netip.Addr) error {
	return p.check(ip, 0, false, false)
}

// PeerAddr is the check at the relay socket for every UDP datagram (Send,
// ChannelData, and what peers send): PeerIP, with the port: the relay
// ports of live allocations pass on the server's own addresses, and the
// own listeners never do.
func (p *Policy) PeerAddr(ap netip.AddrPort) error {
	return p.check(ap.Addr(), ap.Port(), false, true)
}

// PeerTCPAddr is PeerAddr for an RFC 6062 peer connection (Connect, or a
// connection a TCP relay listener accepts): a UDP allocation's relay port
// says nothing about the same TCP port.
func (p *Policy) PeerTCPAddr(ap netip.AddrPort) error {
	return p.check(ap.Addr(), ap.Port(), true, true)
}

func (p *Policy) check(ip netip.Addr, port uint16, tcp, withPort bool) error {
	if !ip.IsValid() {
		return &DeniedError{Addr: ip, Reason: "invalid"}
	}
	ip = ip.WithZone("")
	c := Canonical(ip)
	forms := [2]netip.Addr{ip, c}
	n := 2
	if c == ip {
		n = 1
	}
	var allow, deny []netip.Prefix
	var relays *policyRelays
	if p != nil {
		allow, deny, relays = p.allow, p.deny, p.relays.Load()
	}
	for _, f := range forms[:n] {
		if r, ok := peerMatch(deny, f); ok {
			return &DeniedError{Addr: ip, Range: r, Reason: "denied"}
		}
	}
	if relays != nil && relays.has(c) {
		if !withPort {
			return nil
		}
		if relays.live.Live(tcp, c.Is6(), port) || p.service(tcp, port) {
			return p.ownListener(ip, c, port)
		}
		if _, ok := peerMatch(allow, c); !ok {
			return &DeniedError{Addr: ip, Range: netip.PrefixFrom(c, c.BitLen()), Reason: "own_address"}
		}
	}
	for _, f := range forms[:n] {
		if d, ok := peerDefault(f); ok {
			if _, ok := peerMatch(allow, f); !ok {
				return &DeniedError{Addr: ip, Range: d.prefix, Reason: d.reason}
			}
		}
	}
	if !withPort {
		return nil
	}
	return p.ownListener(ip, c, port)
}

// ownListener refuses port on ip (canonical c) when one of the server's
// own listeners is there.
func (p *Policy) ownListener(ip, c netip.Addr, port uint16) error {
	if p == nil {
		return nil
	}
	own := p.own.Load()
	if own == nil {
		return nil
	}
	_, wild := own.anyIP[port]
	if _, exact := own.exact[netip.AddrPortFrom(c, port)]; exact || wild {
		return &DeniedError{Addr: ip, Range: netip.PrefixFrom(ip, ip.BitLen()), Reason: "own_listener"}
	}
	return nil
}

// peerDenyIndex holds defaultPeerDeny by family (0 IPv4, 1 IPv6) and first
// byte: PeerAddr runs for every relayed packet, and scanning the whole
// table took most of its time, while most peers fall in no entry at all.
var peerDenyIndex = indexPeerDeny(defaultPeerDeny)

func indexPeerDeny(table []peerRange) *[2][256][]peerRange {
	var idx [2][256][]peerRange
	for _, d := range table {
		fam := 0
		if d.prefix.Addr().Is6() {
			fam = 1
		}
		first, n := int(d.prefix.Addr().AsSlice()[0]), 1
		if bits := d.prefix.Bits(); bits < 8 {
			n = 1 << (8 - bits)
		}
		for b := first; b < first+n; b++ {
			idx[fam][b] = append(idx[fam][b], d)
		}
	}
	return &idx
}

// peerDefault returns the default entry holding ip; the entries do not
// overlap, so there is at most one.
func peerDefault(ip netip.Addr) (peerRange, bool) {
	fam, first := 1, ip.As16()[0]
	if ip.Is4() {
		fam, first = 0, ip.As4()[0]
	}
	for _, d := range peerDenyIndex[fam][first] {
		if d.prefix.Contains(ip) {
			return d, true
		}
	}
	return peerRange{}, false
}

func peerMatch(ranges []netip.Prefix, ip netip.Addr) (netip.Prefix, bool) {
	for _, r := range ranges {
		if r.Contains(ip) {
			return r, true
		}
	}
	return netip.Prefix{}, false
}

// Canonical returns the IPv4 address embedded in ip when ip is one of the
// IPv6 forms that a host, tunnel or translator on the server's path may
// deliver to that IPv4 address; else ip itself, unzoned (a zone says which
// link, not which host, and netip.Prefix never matches a zoned address).
//
//   - IPv4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): a dual-stack socket
//     sends it as IPv4.
//   - IPv4-compatible ::a.b.c.d (RFC 4291 §2.5.5.1, deprecated), except ::
//     and ::1: old stacks route ::/96 through an automatic IPv4 tunnel.
//   - NAT64 well-known prefix 64:ff9b::/96 (RFC 6052) and the local-use
//     64:ff9b:1::/48 (RFC 8215), IPv4 in the last 32 bits: a NAT64 gateway
//     on the server's network forwards them to IPv4. For 64:ff9b:1::/48
//     this is the layout of a /96 taken from it, the usual deployment; a
//     network translating a shorter prefix (RFC 6052 /48 to /64 layouts,
//     IPv4 split around bits 64..71) should deny 64:ff9b:1::/48 outright.
//   - 6to4 2002:AABB:CCDD::/48 (RFC 3056), IPv4 AA.BB.CC.DD in bits 16..48:
//     a 6to4 router encapsulates towards it.
//   - Teredo 2001:0::/32 (RFC 4380), client IPv4 in the last 32 bits XOR
//     0xffffffff: a Teredo relay forwards to that address.
func Canonical(ip netip.Addr) netip.Addr {
	ip = ip.WithZone("")
	if !ip.Is6() {
		return ip
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap()
	case peerCompat.Contains(ip):
		if ip == netip.IPv6Unspecified() || ip == netip.IPv6Loopback() {
			return ip
		}
		return netip.AddrFrom4([4]byte(b[12:16]))
	case peerNAT64.Contains(ip), peerNAT64Local.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case peer6to4.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6]))
	case peerTeredo.Contains(ip):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
	}
	return ip
}

// DeniedError says why a peer address is refused. Reason is a short stable
// word used as a Prometheus label value: "loopback", "private",
// "link_local", "multicast", "reserved", "unspecified", "shared", "denied"
// (from DenyPeers), "own_listener", "own_address" (a port of the server's
// own address that is no live allocation's relay port) or "invalid". Range
// is the range that refused Addr (the single address for "own_listener"
// and "own_address", none for "invalid"); it is an IPv4 range when Addr was refused for the IPv4
// address it embeds.
type DeniedError struct {
	Addr   netip.Addr
	Range  netip.Prefix
	Reason string
}

func (e *DeniedError) Error() string {
	s := "turn: relaying to " + e.Addr.String()
	if c := Canonical(e.Addr); c != e.Addr {
		s += " (" + c.String() + ")"
	}
	s += " is refused: " + e.Reason
	if e.Range.IsValid() && e.Reason != "own_listener" && e.Reason != "own_address" {
		s += " range " + e.Range.String()
	}
	return s
}
