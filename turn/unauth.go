package turn

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// unauthLimiter bounds, per source, the replies the server sends to
// requests that carried no valid credentials: 401 challenges, other error
// responses without MESSAGE-INTEGRITY, and Binding responses. A UDP source
// address can be forged, so without it the server would answer a flood of
// forged requests at a victim (a reflector). Over TCP and TLS the source is
// real, so only UDP replies go through it.
//
// It is a fixed table of token buckets indexed by a keyed hash of the
// source (an IPv4 address, or an IPv6 /64, which one host usually holds
// whole): constant memory and constant time whatever a flood of forged
// sources does, where a map of sources would need sweeping and either grow
// or fail closed for newcomers. Sources that collide share a budget; with
// 65,536 buckets a forged flood must reach about 65,536 x the rate (1.3
// million packets/s at the default 20/s) before it drains the bucket of a
// source it does not know.
type unauthLimiter struct {
	rate, burst float64 // tokens per second, bucket size
	seed        maphash.Seed
	stripes     [64]sync.Mutex // bucket i is guarded by stripes[i%64]
	buckets     []unauthBucket
}

type unauthBucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill; 0: never used (full)
}

const unauthBuckets = 1 << 16

func newUnauthLimiter(perSecond float64) *unauthLimiter {
	return &unauthLimiter{
		rate:    perSecond,
		burst:   max(2*perSecond, 1),
		seed:    maphash.MakeSeed(),
		buckets: make([]unauthBucket, unauthBuckets),
	}
}

func (u *unauthLimiter) allow(ip netip.Addr, now time.Time) bool {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	i := maphash.Comparable(u.seed, ip) % unauthBuckets
	mu := &u.stripes[i%uint64(len(u.stripes))]
	mu.Lock()
	defer mu.Unlock()
	b := &u.buckets[i]
	t := now.UnixNano()
	if b.last == 0 {
		b.tokens = u.burst
	} else if t > b.last {
		b.tokens = min(u.burst, b.tokens+float64(t-b.last)/1e9*u.rate)
	}
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// STUN wire constants (RFC 8489).
const (
	stunHeaderLen        = 20
	stunMagicCookie      = 0x2112A442
	stunBindingSuccess   = 0x0101
	stunClassMask        = 0x0110 // the C1 and C0 bits of the message type
	stunClassError       = 0x0110
	stunAttrIntegrity    = 0x0008
	stunAttrLifetime     = 0x000D
	stunAllocateSuccess  = 0x0103
	stunRefreshSuccess   = 0x0104
	stunAllocateError    = 0x0113
	stunRefreshError     = 0x0114
	stunAttrHeaderLength = 4
)

// stunType returns the message type of a STUN message, ok false for
// anything else (ChannelData, garbage).
func stunType(p []byte) (uint16, bool) {
	if len(p) < stunHeaderLen || p[0]&0xC0 != 0 || binary.BigEndian.Uint32(p[4:8]) != stunMagicCookie {
		return 0, false
	}
	return binary.BigEndian.Uint16(p[0:2]), true
}

// stunAttr returns the value of the first attribute of type t.
func stunAttr(p []byte, t uint16) ([]byte, bool) {
	end := min(stunHeaderLen+int(binary.BigEndian.Uint16(p[2:4])), len(p))
	for off := stunHeaderLen; off+stunAttrHeaderLength <= end; {
		at := binary.BigEndian.Uint16(p[off:])
		l := int(binary.BigEndian.Uint16(p[off+2:]))
		v := off + stunAttrHeaderLength
		if v+l > end {
			return nil, false
		}
		if at == t {
			return p[v : v+l], true
		}
		off = v + (l+3)&^3
	}
	return nil, false
}

// isUnauthReply reports whether p is a reply the unauthenticated limit
// applies to: a Binding success, or an error response without
// MESSAGE-INTEGRITY (one that answers a request without valid credentials).
func isUnauthReply(p []byte) bool {
	t, ok := stunType(p)
	if !ok {
		return false
	}
	if t == stunBindingSuccess {
		return true
	}
	if t&stunClassMask != stunClassError {
		return false
	}
	_, signed := stunAttr(p, stunAttrIntegrity)
	return !signed
}
