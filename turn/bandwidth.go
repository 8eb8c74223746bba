package turn

import (
	"sync"

	"golang.org/x/time/rate"
)

// bandwidth holds one token bucket per user with a live relay socket,
// shared by all of that user's allocations and both directions.
type bandwidth struct {
	perSecond int // 0: no cap
	mu        sync.Mutex
	users     map[string]*userBandwidth
}

type userBandwidth struct {
	lim  *rate.Limiter
	refs int
}

// minBandwidthBurst lets one full-size datagram through even under a tiny
// cap: a bucket smaller than a packet would pass nothing at all.
const minBandwidthBurst = 4096

func (b *bandwidth) acquire(user string) *userBandwidth {
	if b.perSecond <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.users[user]
	if u == nil {
		u = &userBandwidth{lim: rate.NewLimiter(rate.Limit(b.perSecond), max(b.perSecond, minBandwidthBurst))}
		if b.users == nil {
			b.users = map[string]*userBandwidth{}
		}
		b.users[user] = u
	}
	u.refs++
	return u
}

func (b *bandwidth) release(user string, u *userBandwidth) {
	if u == nil {
		return
	}
	b.mu.Lock()
	if u.refs--; u.refs == 0 && b.users[user] == u {
		delete(b.users, user)
	}
	b.mu.Unlock()
}
