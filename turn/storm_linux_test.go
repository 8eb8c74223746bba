//go:build linux && (amd64 || arm64)

package turn

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"golang.org/x/sys/unix"
)

// A storm is many TURN clients allocating at about the same time, as after
// a server restart: plain non-blocking UDP sockets, each a client with a
// user of its own, driven by a few goroutines through epoll (a goroutine
// per client would pass the race detector's goroutine limit beside the
// server's goroutine per allocation). Each client sends an Allocate, takes
// the nonce from the 401, and sends the authenticated Allocate; a request
// without an answer is sent again after 500 ms, then 1 s, 2 s, ... (RFC
// 8489 section 6.2.1), up to stormTries sends.

const (
	stormTries   = 7
	stormRTO     = 500 * time.Millisecond
	stormDrivers = 4
)

type stormClient struct {
	fd         int
	src        netip.AddrPort // its local address, bound at open
	user, pass string
	start      time.Time // when it sends its first request
	req        *stun.Message
	sends      int           // of req
	resent     int           // retransmissions, of both requests
	rto        time.Duration // before req is sent again
	next       time.Time     // when req is sent again
	authed     bool          // req is the authenticated Allocate
	done       bool
	relay      netip.AddrPort
	err        error
}

// stormResult is what a storm measured.
type stormResult struct {
	allocated, failed int
	retransmits       int           // requests sent again, over all clients
	mostRetransmits   int           // by one client, over its two requests
	elapsed           time.Duration // from the first request to the last answer
	errs              []error       // the first few failures
}

// openStormClients binds n UDP sockets, perIP clients on each of the
// source addresses 127.1.x.y, with users storm-0 ... storm-<n-1>.
func openStormClients(n, perIP int) ([]*stormClient, error) {
	cs := make([]*stormClient, 0, n)
	for i := range n {
		ipn := 1 + i/perIP
		ip := [4]byte{127, 1, byte(ipn >> 8), byte(ipn)}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrInet4{Addr: ip})
		}
		var sa unix.Sockaddr
		if err == nil {
			sa, err = unix.Getsockname(fd)
		}
		if err != nil {
			closeStormClients(cs)
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		u, p := Credentials(testSecret, fmt.Sprintf("storm-%d", i), time.Now().Add(time.Hour))
		cs = append(cs, &stormClient{fd: fd, user: u, pass: p,
			src: netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(sa.(*unix.SockaddrInet4).Port))}) //nolint:forcetypeassert,gosec // AF_INET
	}
	return cs, nil
}

func closeStormClients(cs []*stormClient) {
	for _, c := range cs {
		_ = unix.Close(c.fd)
	}
}

// storm makes every client allocate on the server at server, their first
// requests spread evenly over spread, and waits until each has an
// allocation or has given up.
func storm(cs []*stormClient, server netip.AddrPort, spread time.Duration) stormResult {
	t0 := time.Now()
	for i, c := range cs {
		*c = stormClient{fd: c.fd, src: c.src, user: c.user, pass: c.pass,
			start: t0.Add(spread * time.Duration(i) / time.Duration(len(cs)))}
	}
	var wg sync.WaitGroup
	for d := range stormDrivers {
		var mine []*stormClient
		for i := d; i < len(cs); i += stormDrivers {
			mine = append(mine, cs[i])
		}
		// A sockaddr each: Sendto writes into it.
		wg.Go(func() { drive(mine, &unix.SockaddrInet4{Addr: server.Addr().As4(), Port: int(server.Port())}) })
	}
	wg.Wait()
	r := stormResult{}
	var last time.Time
	for _, c := range cs {
		r.retransmits += c.resent
		r.mostRetransmits = max(r.mostRetransmits, c.resent)
		if c.done {
			r.allocated++
			if c.next.After(last) {
				last = c.next
			}
			continue
		}
		r.failed++
		if len(r.errs) < 5 {
			r.errs = append(r.errs, fmt.Errorf("client %v: %w", c.src, c.err))
		}
	}
	r.elapsed = last.Sub(t0)
	return r
}

// drive runs one driver's clients until each is done or has failed. On
// success a client's next holds the time of its answer.
func drive(cs []*stormClient, to unix.Sockaddr) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		for _, c := range cs {
			c.err = err
		}
		return
	}
	defer unix.Close(epfd)
	for i, c := range cs {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)} //nolint:gosec // a few thousand
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			c.err = err
		}
	}
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 1500)
	for {
		now := time.Now()
		pending := 0
		for _, c := range cs {
			if c.done || c.err != nil {
				continue
			}
			pending++
			switch {
			case c.req == nil && !now.Before(c.start):
				c.req = stormAllocate(c, false)
				c.send(to, now)
			case c.req != nil && !now.Before(c.next):
				if c.sends == stormTries {
					c.err = fmt.Errorf("no answer after %d sends (authenticated: %v)", c.sends, c.authed)
					continue
				}
				c.send(to, now)
			}
		}
		if pending == 0 {
			return
		}
		n, err := unix.EpollWait(epfd, events, 5)
		if err != nil && !errors.Is(err, unix.EINTR) {
			for _, c := range cs {
				c.err = cmpOr(c.err, err)
			}
			return
		}
		for _, ev := range events[:max(n, 0)] {
			c := cs[ev.Fd]
			for {
				m, _, err := unix.Recvfrom(c.fd, buf, 0)
				if err != nil {
					break
				}
				c.answer(buf[:m], to)
			}
		}
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (c *stormClient) send(to unix.Sockaddr, now time.Time) {
	if c.sends == 0 {
		c.rto = stormRTO
	} else {
		c.rto *= 2
		c.resent++
	}
	c.sends++
	c.next = now.Add(c.rto)
	if err := unix.Sendto(c.fd, c.req.Raw, 0, to); err != nil && !errors.Is(err, unix.EAGAIN) {
		c.err = err
	}
}

// stormAllocate builds the client's next Allocate: the first without
// credentials, then one signed with the nonce and realm of the 401.
func stormAllocate(c *stormClient, authed bool, attrs ...stun.Setter) *stun.Message {
	c.authed, c.sends = authed, 0
	setters := append([]stun.Setter{stun.TransactionID, allocateRequest, requestedUDP{}}, attrs...)
	return stun.MustBuild(append(setters, stun.Fingerprint)...)
}

// answer handles a datagram from the server: a 401 or 438 brings the
// authenticated Allocate, sent at once; a success ends the client. Answers
// to an earlier request (a retransmission's) are passed over.
func (c *stormClient) answer(b []byte, to unix.Sockaddr) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if c.done || c.req == nil || m.Decode() != nil || m.TransactionID != c.req.TransactionID {
		return
	}
	now := time.Now()
	switch code := errCode(m); {
	case m.Type.Class == stun.ClassSuccessResponse && c.authed:
		var relay stun.XORMappedAddress
		if err := relay.GetFromAs(m, stun.AttrXORRelayedAddress); err != nil {
			c.err = fmt.Errorf("success without a relay address: %w", err)
			return
		}
		ip, _ := netip.AddrFromSlice(relay.IP)
		c.relay = netip.AddrPortFrom(ip.Unmap(), uint16(relay.Port)) //nolint:gosec // a port
		c.done, c.next = true, now
	case code == int(stun.CodeUnauthorized) && !c.authed, code == int(stun.CodeStaleNonce):
		var nonce stun.Nonce
		var realm stun.Realm
		if nonce.GetFrom(m) != nil || realm.GetFrom(m) != nil {
			c.err = fmt.Errorf("error %d without nonce and realm", code)
			return
		}
		c.req = stormAllocate(c, true, stun.NewUsername(c.user), realm, nonce,
			stun.NewLongTermIntegrity(c.user, realm.String(), c.pass))
		c.send(to, now)
	default:
		c.err = fmt.Errorf("answer %v (error %d) to the Allocate (authenticated: %v)", m.Type, code, c.authed)
	}
}
