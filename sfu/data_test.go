package sfu_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

func (p *peer) received() []sfuclient.Data {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sfuclient.Data(nil), p.data...)
}

func labelled(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Broadcast and directed envelopes, on both channels, arrive once at the
// right peers with the sender's id; unknown targets, oversized payloads
// and floods are dropped and counted.
func TestDataRelay(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{MaxMessageBytes: 1000, MessageRate: 1, MessageBurst: 10})
	const room = "ns/data"
	a := newPeer(t, s, room, "a", peerOpts{})
	b := newPeer(t, s, room, "b", peerOpts{})
	c := newPeer(t, s, room, "c", peerOpts{})
	waitData(t, a, b, c)

	if err := a.c.SendData("", []byte(`{"hi":1}`), true, true); err != nil {
		t.Fatal(err)
	}
	if err := a.c.SendData("c", []byte{1, 2, 3}, false, false); err != nil {
		t.Fatal(err)
	}
	if err := b.c.SendData("a", []byte("to a"), true, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the messages", 20*time.Second, func() bool {
		return len(a.received()) >= 1 && len(b.received()) >= 1 && len(c.received()) >= 2
	})
	time.Sleep(300 * time.Millisecond) // nothing more may come
	check := func(p *peer, want ...sfuclient.Data) {
		t.Helper()
		got := p.received()
		if len(got) != len(want) {
			t.Fatalf("%s got %d messages %+v, want %d", p.id, len(got), got, len(want))
		}
		for _, w := range want {
			found := false
			for _, g := range got {
				if g.From == w.From && bytes.Equal(g.Payload, w.Payload) && g.Text == w.Text && g.Directed == w.Directed && g.Reliable == w.Reliable {
					found = true
				}
			}
			if !found {
				t.Fatalf("%s: %+v missing from %+v", p.id, w, got)
			}
		}
	}
	broadcast := sfuclient.Data{From: "a", Payload: []byte(`{"hi":1}`), Text: true, Reliable: true}
	check(a, sfuclient.Data{From: "b", Payload: []byte("to a"), Text: true, Directed: true, Reliable: true})
	check(b, broadcast)
	check(c, broadcast, sfuclient.Data{From: "a", Payload: []byte{1, 2, 3}, Directed: true})

	_ = a.c.SendData("nobody", []byte("x"), true, true)
	_ = a.c.SendData("", make([]byte, 2000), false, true)
	eventually(t, "drops counted", 10*time.Second, func() bool {
		return labelled(t, reg, "switchboard_sfu_data_messages_dropped_total", "target") == 1 &&
			labelled(t, reg, "switchboard_sfu_data_messages_dropped_total", "size") == 1
	})
	for range 40 {
		_ = c.c.SendData("a", []byte("flood"), false, true)
	}
	eventually(t, "the flood cut by the rate limit", 10*time.Second, func() bool {
		return labelled(t, reg, "switchboard_sfu_data_messages_dropped_total", "rate") >= 25
	})
	if n := len(a.received()); n > 1+12 {
		t.Fatalf("a got %d messages, the flood was not limited", n)
	}
}

// Reliable messages sent to a participant whose data channel has not
// opened yet (it joined a moment ago) reach it once it opens, in order:
// in an auto room another peer moves its data to the SFU as soon as it
// sees the newcomer's media, which can be before that.
func TestDataBeforeOpen(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{})
	const room = "ns/early"
	a := newPeer(t, s, room, "a", peerOpts{})
	waitData(t, a)

	// b's signaling is held back: its PCs cannot connect until released.
	b := newPeer(t, s, room, "b", peerOpts{noJoin: true})
	var mu sync.Mutex
	var held [][]byte
	released := false
	if err := s.Join(room, "b", func(m []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		if released {
			return b.in.push(m)
		}
		held = append(held, m)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if err := a.c.SendData("b", []byte{byte(i)}, false, true); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the messages at the server", 10*time.Second, func() bool {
		return counter(t, reg, "switchboard_sfu_data_messages_relayed_total") == n
	})
	mu.Lock()
	for _, m := range held {
		b.in.push(m)
	}
	released = true
	mu.Unlock()
	waitData(t, b)
	if err := a.c.SendData("b", []byte{n}, false, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the messages at b", 20*time.Second, func() bool { return len(b.received()) == n+1 })
	for i, d := range b.received() {
		if d.From != "a" || len(d.Payload) != 1 || int(d.Payload[0]) != i {
			t.Fatalf("message %d: %+v", i, d)
		}
	}
	if v := labelled(t, reg, "switchboard_sfu_data_messages_dropped_total", "full"); v != 0 {
		t.Fatalf("%v messages dropped as full", v)
	}
}

// A data channel the client opens itself is closed by the server at once;
// the server's two channels go on.
func TestClientDataChannelsClosed(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/dc"
	a := newPeer(t, s, room, "a", peerOpts{})
	b := newPeer(t, s, room, "b", peerOpts{})
	waitData(t, a, b)
	var closed []chan struct{}
	for i := range 5 {
		dc, err := a.c.SubPC().CreateDataChannel(fmt.Sprintf("mine-%d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan struct{})
		dc.OnClose(func() { close(ch) })
		closed = append(closed, ch)
	}
	for i, ch := range closed {
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			t.Fatalf("the client's channel %d is still open", i)
		}
	}
	if err := a.c.SendData("", []byte("hello"), true, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b gets a's message", 10*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.data) == 1
	})
}

// A participant's data is limited in bytes per second too, not only in
// messages: past the burst, messages are dropped (reason "bytes") until
// the rate lets more through.
func TestDataByteRate(t *testing.T) {
	s, reg := newSFU(t, sfu.Config{MaxMessageBytes: 60 << 10, DataBytesRate: 64 << 10, MessageRate: 1000, MessageBurst: 1000})
	const room = "ns/databytes"
	a := newPeer(t, s, room, "a", peerOpts{})
	b := newPeer(t, s, room, "b", peerOpts{})
	waitData(t, a, b)
	big := bytes.Repeat([]byte{7}, 60<<10)
	for range 10 {
		if err := a.c.SendData("b", big, false, true); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "drops for bytes", 20*time.Second, func() bool {
		return labelled(t, reg, "switchboard_sfu_data_messages_dropped_total", "bytes") >= 3
	})
	eventually(t, "the messages within the burst", 20*time.Second, func() bool { return len(b.received()) >= 2 })
	if n := len(b.received()); n > 7 {
		t.Fatalf("%d messages of 60 KiB relayed at 64 KiB/s (burst 128 KiB)", n)
	}
	n := len(b.received())
	eventually(t, "a message once the rate allows", 20*time.Second, func() bool {
		_ = a.c.SendData("b", []byte("small"), false, true)
		time.Sleep(200 * time.Millisecond)
		return len(b.received()) > n
	})
}
