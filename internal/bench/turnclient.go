package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"

	"github.com/switchboard-rtc/switchboard/turn"
)

// The generator speaks TURN itself, with pion/stun for the messages: an
// Allocate, one ChannelBind to the echo peer, Refreshes, and ChannelData
// written straight on the client's connected UDP socket. pion/turn's client
// would put a goroutine, a channel hand-off and a copy on every packet the
// generator sends and receives, and the generator shares the two cores with
// the server it measures.

// turnChannel is the channel number every allocation binds to the peer.
const turnChannel = 0x4000

// Transaction timing: a request is sent again after rtoFirst, doubling,
// up to rtoTries times.
const (
	rtoFirst = 500 * time.Millisecond
	rtoTries = 4
)

// turnAlloc is one allocation: a connected client socket and what the
// server gave it.
type turnAlloc struct {
	idx   int
	conn  *net.UDPConn
	user  string // REST username "<expiry>:<user>", from turn.Credentials
	pass  string
	relay netip.AddrPort

	// key is the long-term key for keyRealm (the refresher and the reader
	// may both build requests).
	keyMu    sync.Mutex
	key      stun.MessageIntegrity
	keyRealm string

	recv     atomic.Int64 // ChannelData received, all phases
	seen     int64        // recv at the last watchdog look (watchdog goroutine only)
	closing  atomic.Bool
	released atomic.Bool   // the server confirmed the deallocation
	done     chan struct{} // closed when its reader ends
}

// turnAuth is what authenticated requests need from the server's 401: the
// realm and a nonce. pion's nonces are valid for any client for an hour,
// so one 401 serves every allocation (and the server's limit on replies to
// unauthenticated requests, 20/s per source, does not pace the setup); a
// server whose nonces are per client answers 401 or 438 with a fresh one,
// which the request then retries with.
type turnAuth struct {
	mu           sync.Mutex
	realm, nonce string
}

func (a *turnAuth) get() (realm, nonce string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.realm, a.nonce
}

func (a *turnAuth) set(m *stun.Message) bool {
	var realm stun.Realm
	var nonce stun.Nonce
	if realm.GetFrom(m) != nil || nonce.GetFrom(m) != nil {
		return false
	}
	a.mu.Lock()
	a.realm, a.nonce = realm.String(), nonce.String()
	a.mu.Unlock()
	return true
}

// stunError is an error response.
type stunError struct {
	method stun.Method
	code   stun.ErrorCode
	reason string
}

func (e *stunError) Error() string {
	return fmt.Sprintf("%s: error %d %s", e.method, int(e.code), e.reason)
}

func errorOf(m *stun.Message) *stunError {
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(m); err != nil {
		return &stunError{method: m.Type.Method, code: 0, reason: "no ERROR-CODE"}
	}
	return &stunError{method: m.Type.Method, code: ec.Code, reason: string(ec.Reason)}
}

// lifetimeAttr, transportUDP and channelAttr are the TURN attributes pion/stun
// has no setter for.
type lifetimeAttr time.Duration

func (l lifetimeAttr) AddTo(m *stun.Message) error {
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, uint32(time.Duration(l)/time.Second)) //nolint:gosec // at most an hour
	m.Add(stun.AttrLifetime, v)
	return nil
}

var (
	transportUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	channelAttr  = stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{turnChannel >> 8, turnChannel & 0xff, 0, 0}}
)

// request builds an authenticated request of method for a.
func (r *turnRunner) request(a *turnAlloc, method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	realm, nonce := r.auth.get()
	s := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	s = append(s, attrs...)
	s = append(s, stun.NewUsername(a.user), stun.NewRealm(realm), stun.NewNonce(nonce))
	a.keyMu.Lock()
	if a.key == nil || a.keyRealm != realm {
		a.key, a.keyRealm = stun.NewLongTermIntegrity(a.user, realm, a.pass), realm
	}
	key := a.key
	a.keyMu.Unlock()
	s = append(s, key, stun.Fingerprint)
	return stun.Build(s...)
}

// transact sends m on a's socket and waits for the response with its
// transaction id, sending again on timeout. Only used before a's reader
// starts (the reader owns the socket afterwards).
func transact(a *turnAlloc, m *stun.Message) (*stun.Message, error) {
	buf := make([]byte, 1500)
	rto := rtoFirst
	for try := 0; try < rtoTries; try++ {
		if _, err := a.conn.Write(m.Raw); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(rto)
		_ = a.conn.SetReadDeadline(deadline)
		for {
			n, err := a.conn.Read(buf)
			if err != nil {
				if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
					break
				}
				return nil, err
			}
			if !stun.IsMessage(buf[:n]) {
				continue
			}
			resp := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if err := resp.Decode(); err != nil || resp.TransactionID != m.TransactionID {
				continue
			}
			_ = a.conn.SetReadDeadline(time.Time{})
			return resp, nil
		}
		rto *= 2
	}
	_ = a.conn.SetReadDeadline(time.Time{})
	return nil, fmt.Errorf("%s: no response after %d tries", m.Type.Method, rtoTries)
}

// authedTransact sends an authenticated request of method, taking a fresh
// nonce and retrying when the server answers 401 or 438 with one.
func (r *turnRunner) authedTransact(a *turnAlloc, method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	for try := 0; ; try++ {
		if realm, nonce := r.auth.get(); realm == "" || nonce == "" {
			// No challenge yet: an unauthenticated request gets one.
			m, err := stun.Build(stun.TransactionID, stun.NewType(method, stun.ClassRequest), transportUDP, stun.Fingerprint)
			if err != nil {
				return nil, err
			}
			resp, err := transact(a, m)
			if err != nil {
				return nil, err
			}
			if resp.Type.Class != stun.ClassErrorResponse || !r.auth.set(resp) {
				return nil, fmt.Errorf("%s without credentials: want a 401 with realm and nonce, got %s", method, resp.Type)
			}
		}
		m, err := r.request(a, method, attrs...)
		if err != nil {
			return nil, err
		}
		resp, err := transact(a, m)
		if err != nil {
			return nil, err
		}
		if resp.Type.Class == stun.ClassSuccessResponse {
			return resp, nil
		}
		e := errorOf(resp)
		if (e.code == stun.CodeUnauthorized || e.code == stun.CodeStaleNonce) && try < 2 && r.auth.set(resp) {
			continue
		}
		return nil, e
	}
}

// allocate sets up allocation idx: a client socket from its source
// address, Allocate, and a ChannelBind to the echo peer.
func (r *turnRunner) allocate(idx int) (*turnAlloc, error) {
	src := r.cfg.Sources[idx%len(r.cfg.Sources)]
	conn, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(r.cfg.Server))
	if err != nil {
		return nil, fmt.Errorf("socket from %s: %w", src, err)
	}
	_ = conn.SetReadBuffer(1 << 20)
	// One user per allocation, so the server's per-user quota does not bite.
	user, pass := turn.Credentials([]byte(r.cfg.Secret), fmt.Sprintf("bench-%s-%d", r.runID, idx), time.Now().Add(r.credTTL))
	a := &turnAlloc{idx: idx, conn: conn, user: user, pass: pass, done: make(chan struct{})}
	resp, err := r.authedTransact(a, stun.MethodAllocate, transportUDP, lifetimeAttr(r.cfg.Lifetime))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("allocate from %s: %w", conn.LocalAddr(), err)
	}
	var relay stun.XORMappedAddress
	if err := relay.GetFromAs(resp, stun.AttrXORRelayedAddress); err != nil {
		conn.Close()
		return nil, fmt.Errorf("allocate: no XOR-RELAYED-ADDRESS: %w", err)
	}
	ra, _ := netip.AddrFromSlice(relay.IP)
	a.relay = netip.AddrPortFrom(ra.Unmap(), uint16(relay.Port)) //nolint:gosec // a port
	if _, err := r.authedTransact(a, stun.MethodChannelBind, channelAttr, r.peerAttr()); err != nil {
		r.deallocate(a)
		conn.Close()
		return nil, fmt.Errorf("channel bind to %s: %w", r.peer.addr, err)
	}
	return a, nil
}

// peerAttr is the XOR-PEER-ADDRESS of the echo peer.
func (r *turnRunner) peerAttr() stun.Setter {
	return peerAddrAttr{stun.XORMappedAddress{IP: r.peer.addr.Addr().AsSlice(), Port: int(r.peer.addr.Port())}}
}

type peerAddrAttr struct{ a stun.XORMappedAddress }

func (p peerAddrAttr) AddTo(m *stun.Message) error { return p.a.AddToAs(m, stun.AttrXORPeerAddress) }

// sendRequest writes an authenticated request without waiting: the
// allocation's reader counts the response (refreshes, deallocation).
func (r *turnRunner) sendRequest(a *turnAlloc, method stun.Method, attrs ...stun.Setter) {
	m, err := r.request(a, method, attrs...)
	if err == nil {
		_, err = a.conn.Write(m.Raw)
	}
	if err != nil {
		r.noteErr(fmt.Errorf("allocation %d: %s: %w", a.idx, method, err))
		r.ctlErrs.Add(1)
	}
}

// refresh renews a's allocation and its channel (and so the permission).
func (r *turnRunner) refresh(a *turnAlloc) {
	r.sendRequest(a, stun.MethodRefresh, lifetimeAttr(r.cfg.Lifetime))
	r.sendRequest(a, stun.MethodChannelBind, channelAttr, r.peerAttr())
}

// deallocate asks the server to end a's allocation (Refresh, LIFETIME 0).
func (r *turnRunner) deallocate(a *turnAlloc) {
	r.sendRequest(a, stun.MethodRefresh, lifetimeAttr(0))
}

// read is a's reader goroutine: ChannelData from the peer's echo, and the
// responses to refreshes.
func (r *turnRunner) read(a *turnAlloc) {
	defer close(a.done)
	buf := make([]byte, 2048)
	errs := 0
	for {
		n, err := a.conn.Read(buf)
		if err != nil {
			if a.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// ECONNREFUSED from an ICMP error: the server's port is gone.
			r.readErrs.Add(1)
			r.noteErr(fmt.Errorf("allocation %d: read: %w", a.idx, err))
			if errs++; errs > 100 {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		errs = 0
		if n >= 4 && buf[0]&0xC0 == 0x40 {
			l := int(binary.BigEndian.Uint16(buf[2:4]))
			if 4+l > n || l < turnMinPayload {
				r.badPackets.Add(1)
				continue
			}
			r.onEcho(a, buf[:4+l])
			continue
		}
		r.onControl(a, buf[:n])
	}
}

// onControl counts a response to a refresh, channel refresh or
// deallocation; a stale nonce is taken and the request sent again.
func (r *turnRunner) onControl(a *turnAlloc, p []byte) {
	if !stun.IsMessage(p) {
		r.badPackets.Add(1)
		return
	}
	m := &stun.Message{Raw: append([]byte(nil), p...)}
	if err := m.Decode(); err != nil {
		r.badPackets.Add(1)
		return
	}
	if m.Type.Class == stun.ClassSuccessResponse {
		if m.Type.Method == stun.MethodRefresh {
			if lt, err := m.Get(stun.AttrLifetime); err == nil && len(lt) == 4 && binary.BigEndian.Uint32(lt) == 0 {
				a.released.Store(true) // the answer to deallocate
				return
			}
		}
		r.ctlOK.Add(1)
		return
	}
	e := errorOf(m)
	if e.code == stun.CodeStaleNonce && r.auth.set(m) {
		if m.Type.Method == stun.MethodChannelBind {
			r.sendRequest(a, stun.MethodChannelBind, channelAttr, r.peerAttr())
		} else if a.closing.Load() {
			r.deallocate(a)
		} else {
			r.sendRequest(a, stun.MethodRefresh, lifetimeAttr(r.cfg.Lifetime))
		}
		return
	}
	if a.closing.Load() && e.code == stun.CodeAllocMismatch {
		a.released.Store(true) // already gone
		return
	}
	r.ctlErrs.Add(1)
	r.noteErr(fmt.Errorf("allocation %d: %w", a.idx, e))
}
