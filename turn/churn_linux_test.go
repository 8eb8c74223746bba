//go:build linux && (amd64 || arm64)

package turn

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// Churn under traffic: goroutines allocate, refresh, bind channels or make
// permissions, relay through an echo peer and release, a few hundred
// allocations in all, while other allocations keep relaying. Some are left
// open for Close. Afterwards the server holds nothing: allocation gauges
// at 0, no fast-path entry, poller slot or relay socket left, and (TestMain)
// no goroutine.
func TestChurnUnderTraffic(t *testing.T) {
	const (
		cyclers, cycles = 12, 25 // 300 allocations made and released
		streams         = 4      // allocations relaying all along
	)
	ts := startServer(t, allowLoopback)
	peer := echoPeer(t).AddrPort()

	var (
		stop     atomic.Bool
		relayed  atomic.Int64 // echoes received by the streams
		errMu    sync.Mutex
		errs     []error
		failed   atomic.Bool
		wg       sync.WaitGroup
		left     atomic.Int64 // allocations not released, for Close
		streamUp sync.WaitGroup
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
		failed.Store(true)
	}
	streamUp.Add(streams)
	for i := range streams {
		c := newRawClient(t, ts, creds(fmt.Sprintf("stream-%d", i)))
		wg.Go(func() {
			ok := false
			defer func() {
				if !ok {
					streamUp.Done()
				}
			}()
			if _, err := churnAllocate(c); err != nil {
				fail(fmt.Errorf("stream %d: %w", i, err))
				return
			}
			left.Add(1)
			if err := expectClass(c, channelBindReq, channelAttr(0x4001), peerAttr{ip: peer.Addr(), port: peer.Port()}); err != nil {
				fail(fmt.Errorf("stream %d: %w", i, err))
				return
			}
			ok = true
			streamUp.Done()
			for n := 0; !stop.Load(); n++ {
				if err := echoRoundTrip(c, peer, 0x4001, fmt.Sprintf("stream-%d-%d", i, n)); err != nil {
					fail(fmt.Errorf("stream %d: %w", i, err))
					return
				}
				relayed.Add(1)
			}
		})
	}
	streamUp.Wait()

	var cyclersWG sync.WaitGroup
	for w := range cyclers {
		cyclersWG.Go(func() {
			for i := range cycles {
				// A socket per allocation, as clients do: pion cannot take
				// a new allocation on the 5-tuple of one just released (its
				// old relay goroutine, ending late, deletes it by 5-tuple).
				c := newRawClient(t, ts, creds(fmt.Sprintf("cycler-%d", w)))
				keep := i == cycles-1 && w%4 == 0 // left for Close
				if err := churnCycle(c, peer, i, keep); err != nil {
					fail(fmt.Errorf("cycler %d, cycle %d: %w", w, i, err))
					return
				}
				if keep {
					left.Add(1)
				}
			}
		})
	}
	cyclersWG.Wait()
	before := relayed.Load()
	waitFor(t, "the streams to relay on after the churn", func() bool { return relayed.Load() > before+10 || failed.Load() })
	stop.Store(true)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	want := float64(left.Load())
	ts.waitMetric(t, want, "switchboard_turn_allocations", "transport", "udp")
	if got := ts.metric(t, "switchboard_turn_allocations_created_total", "transport", "udp"); got != cyclers*cycles+streams {
		t.Fatalf("%v allocations created, want %d", got, cyclers*cycles+streams)
	}
	ts.closeEmpty(t, "udp")
	checkPollerEmpty(t, ts.Server)
	t.Logf("%d echoes relayed by the streams, %v allocations left for Close", relayed.Load(), want)
}

// churnCycle is one allocation's life: allocate, refresh, then by i a
// channel, a permission or nothing, each with an echo through the peer,
// and a release unless keep.
func churnCycle(c *rawClient, peer netip.AddrPort, i int, keep bool) error {
	if _, err := churnAllocate(c); err != nil {
		return err
	}
	if err := expectClass(c, refreshRequest, lifetimeAttr(300)); err != nil {
		return err
	}
	switch i % 3 {
	case 0:
		if err := expectClass(c, channelBindReq, channelAttr(0x4000+uint16(i)), peerAttr{ip: peer.Addr(), port: peer.Port()}); err != nil {
			return err
		}
		if err := echoRoundTrip(c, peer, 0x4000+uint16(i), fmt.Sprintf("cycle-%d", i)); err != nil {
			return err
		}
	case 1:
		if err := expectClass(c, permissionRequest, peerAttr{ip: peer.Addr(), port: peer.Port()}); err != nil {
			return err
		}
		if err := echoRoundTrip(c, peer, 0, fmt.Sprintf("cycle-%d", i)); err != nil {
			return err
		}
	}
	if keep {
		return nil
	}
	return expectClass(c, refreshRequest, lifetimeAttr(0))
}

func churnAllocate(c *rawClient) (*stun.Message, error) {
	res, err := c.tryRequest(allocateRequest, requestedUDP{})
	if err != nil {
		return nil, err
	}
	if res.Type.Class != stun.ClassSuccessResponse {
		return nil, fmt.Errorf("Allocate: error %d", errCode(res))
	}
	return res, nil
}

func expectClass(c *rawClient, typ stun.MessageType, attrs ...stun.Setter) error {
	res, err := c.tryRequest(typ, attrs...)
	if err != nil {
		return err
	}
	if res.Type.Class != stun.ClassSuccessResponse {
		return fmt.Errorf("%v: error %d", typ, errCode(res))
	}
	return nil
}

// echoRoundTrip sends payload through the echo peer, as ChannelData on
// channel or, when it is 0, as a Send indication to peer, and waits for it
// to come back. A lost datagram is sent again; echoes of earlier payloads
// (duplicates of what was sent again) are passed over.
func echoRoundTrip(c *rawClient, peer netip.AddrPort, channel uint16, payload string) error {
	out := sendIndication(peer, payload)
	if channel != 0 {
		out = channelDataMsg(channel, payload)
	}
	buf := make([]byte, 1600)
	for range 3 {
		if _, err := c.conn.WriteTo(out, c.server); err != nil {
			return err
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, _, err := c.conn.ReadFrom(buf)
			if isTimeout(err) {
				break
			}
			if err != nil {
				return err
			}
			if got, ok := relayedPayload(buf[:n], channel); ok && got == payload {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo of %q", payload)
}

// relayedPayload returns what a peer sent, from ChannelData on channel or,
// when it is 0, from a Data indication.
func relayedPayload(b []byte, channel uint16) (string, bool) {
	if channel != 0 {
		num, data, ok := parseChannelData(b)
		return string(data), ok && num == channel
	}
	m := &stun.Message{Raw: b}
	if m.Decode() != nil || m.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
		return "", false
	}
	data, err := m.Get(stun.AttrData)
	return string(data), err == nil
}
