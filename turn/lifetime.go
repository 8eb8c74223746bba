package turn

import (
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// pionMaxLifetime is pion's own bound on a requested LIFETIME
// (internal/server/util.go): a request of an hour or more gets
// ServerConfig.AllocationLifetime (Config.DefaultLifetime); a shorter one
// is granted as asked, in an Allocate and in every Refresh. So pion alone
// enforces Config.MaxLifetime when it is an hour or more (the effective
// bound is then just under an hour) and lifetimeCap is not used.
const pionMaxLifetime = time.Hour

// lifetimeCap enforces a Config.MaxLifetime under an hour, which pion
// cannot be told: it watches the Allocate and Refresh success responses the
// server sends, and when one grants more than the maximum it
//
//   - rewrites the LIFETIME attribute to the maximum and signs the
//     response again (the key is the one the AuthHandler just derived for
//     that client), so the client refreshes in time; and
//   - arms a timer that ends the allocation at the maximum unless a later
//     Refresh comes first, since pion's own timer runs for what was asked.
type lifetimeCap struct {
	s       *Server
	max     time.Duration
	maxSecs uint32

	mu   sync.Mutex
	keys map[srcKey]signingKey // the last Allocate/Refresh key per client, until its response goes out
}

type signingKey struct {
	key []byte
	at  time.Time
}

// signingKeysMax bounds keys: a request that authenticated but got no
// response (a Refresh without an allocation) leaves its key behind.
const signingKeysMax = 4096

func newLifetimeCap(s *Server, maxLifetime time.Duration) *lifetimeCap {
	secs := max(uint32(maxLifetime/time.Second), 1) //nolint:gosec // under an hour
	return &lifetimeCap{s: s, max: maxLifetime, maxSecs: secs, keys: map[srcKey]signingKey{}}
}

func (l *lifetimeCap) rememberKey(src net.Addr, key []byte) {
	k, ok := clientAddr(src)
	if !ok {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if len(l.keys) >= signingKeysMax {
		for k, v := range l.keys {
			if now.Sub(v.at) > 10*time.Second {
				delete(l.keys, k)
			}
		}
		// Still full: a client is leaving keys behind on purpose. The key
		// of a real request is taken by its response microseconds later,
		// so make room by dropping arbitrary (map order) old ones rather
		// than refusing the new one.
		for k := range l.keys {
			if len(l.keys) < signingKeysMax {
				break
			}
			delete(l.keys, k)
		}
	}
	l.keys[k] = signingKey{key: key, at: now}
	l.mu.Unlock()
}

func (l *lifetimeCap) takeKey(dst net.Addr) []byte {
	k, ok := clientAddr(dst)
	if !ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.keys[k]
	if !ok {
		return nil
	}
	delete(l.keys, k)
	return v.key
}

// outgoing is applied to every message the server sends a client on its
// listener at port; it returns p or a rewritten copy.
func (l *lifetimeCap) outgoing(p []byte, dst net.Addr, port uint16) []byte {
	t, ok := stunType(p)
	if !ok {
		return p
	}
	switch t {
	case stunAllocateSuccess, stunRefreshSuccess:
	case stunAllocateError, stunRefreshError:
		l.takeKey(dst)
		return p
	default:
		return p
	}
	key := l.takeKey(dst)
	v, ok := stunAttr(p, stunAttrLifetime)
	if !ok || len(v) != 4 {
		return p
	}
	sk, ok := clientAddr(dst)
	if !ok {
		return p
	}
	ak := allocKey{tcp: sk.tcp, src: sk.src, port: port}
	if time.Duration(binary.BigEndian.Uint32(v))*time.Second <= l.max {
		l.s.q.setHardExpiry(ak, 0)
		return p
	}
	l.s.q.setHardExpiry(ak, l.max)
	if key == nil {
		return p // cannot sign: the client learns the maximum at its next Refresh
	}
	out, err := resign(p, l.maxSecs, key)
	if err != nil {
		l.s.log.Debug("TURN lifetime rewrite failed", "err", err)
		return p
	}
	return out
}

// resign returns p with its LIFETIME set to secs and MESSAGE-INTEGRITY
// computed again with key.
func resign(p []byte, secs uint32, key []byte) ([]byte, error) {
	in := &stun.Message{Raw: append([]byte(nil), p...)}
	if err := in.Decode(); err != nil {
		return nil, err
	}
	out := &stun.Message{Type: in.Type, TransactionID: in.TransactionID}
	out.WriteHeader()
	fingerprint := false
	for _, a := range in.Attributes {
		switch a.Type {
		case stun.AttrMessageIntegrity:
		case stun.AttrFingerprint:
			fingerprint = true
		case stun.AttrLifetime:
			var v [4]byte
			binary.BigEndian.PutUint32(v[:], secs)
			out.Add(a.Type, v[:])
		default:
			out.Add(a.Type, a.Value)
		}
	}
	if err := stun.MessageIntegrity(key).AddTo(out); err != nil {
		return nil, err
	}
	if fingerprint {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return nil, err
		}
	}
	return out.Raw, nil
}

// setHardExpiry arms (d > 0), re-arms or disarms (d == 0) the timer that
// ends allocation k after d.
func (q *quota) setHardExpiry(k allocKey, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	info := q.allocs[k]
	if info == nil {
		return
	}
	if d == 0 {
		if info.hardExpiry != nil {
			info.hardExpiry.Stop()
			info.hardExpiry = nil
		}
		return
	}
	info.hardDeadline = time.Now().Add(d)
	if info.hardExpiry != nil {
		info.hardExpiry.Reset(d)
		return
	}
	info.hardExpiry = time.AfterFunc(d, func() { q.expire(k) })
}

// expire ends allocation k by closing its relay socket (pion's relay loop
// then deletes the allocation), unless a Refresh moved the deadline while
// the timer was firing.
func (q *quota) expire(k allocKey) {
	q.mu.Lock()
	info := q.allocs[k]
	if info == nil || info.hardExpiry == nil || time.Now().Before(info.hardDeadline) {
		q.mu.Unlock()
		return
	}
	c, user := info.sock, info.user
	q.mu.Unlock()
	if c != nil {
		q.s.log.Debug("TURN allocation reached the maximum lifetime", "user", clip(user), "client", k.src.String())
		_ = c.Close()
	}
}
