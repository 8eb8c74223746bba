package turn

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// unauthLimiter bounds, per source IP, the replies the server sends to
// requests that carried no valid credentials: 401 challenges, other error
// responses without MESSAGE-INTEGRITY, and Binding responses. A UDP source
// address can be forged, so without it the server would answer a flood of
// forged requests at a victim (a reflector). Over TCP and TLS the source is
// real, so only UDP replies go through it.
//
// The map is bounded: an entry idle long enough to have refilled is the
// same as a fresh one and is swept; when a flood from more distinct
// sources than the bound fills it anyway, new sources get no reply until a
// sweep makes room (failing closed, which is the point of the limit).
type unauthLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // time to refill a bucket from empty

	mu        sync.Mutex
	m         map[netip.Addr]*unauthEntry
	lastSweep time.Time
}

type unauthEntry struct {
	lim  *rate.Limiter
	last time.Time
}

const unauthMaxSources = 1 << 16

func newUnauthLimiter(perSecond float64) *unauthLimiter {
	burst := max(int(2*perSecond), 1)
	return &unauthLimiter{
		limit: rate.Limit(perSecond),
		burst: burst,
		idle:  time.Duration(float64(burst) / perSecond * float64(time.Second)),
		m:     map[netip.Addr]*unauthEntry{},
	}
}

func (u *unauthLimiter) allow(ip netip.Addr, now time.Time) bool {
	ip = ip.Unmap()
	u.mu.Lock()
	defer u.mu.Unlock()
	if now.Sub(u.lastSweep) > u.idle {
		u.sweepLocked(now)
	}
	e := u.m[ip]
	if e == nil {
		if len(u.m) >= unauthMaxSources {
			u.sweepLocked(now)
			if len(u.m) >= unauthMaxSources {
				return false
			}
		}
		e = &unauthEntry{lim: rate.NewLimiter(u.limit, u.burst)}
		u.m[ip] = e
	}
	e.last = now
	return e.lim.AllowN(now, 1)
}

func (u *unauthLimiter) sweepLocked(now time.Time) {
	u.lastSweep = now
	for ip, e := range u.m {
		if now.Sub(e.last) > u.idle {
			delete(u.m, ip)
		}
	}
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
