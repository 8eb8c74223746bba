package rtc

import (
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// Limits of what a reliable channel keeps before it opens.
const (
	maxEarlyMessages = 256
	maxEarlyBytes    = 1 << 20
)

// reliableChannel is the subscriber PC's reliable data channel with the
// messages sent to it before it opened. A participant's SFU data channel
// opens a few round trips after its media starts to flow (SCTP, then
// DCEP), and another peer that sees that media may already send to it:
// dropping those messages would lose them on a channel the app was told
// is reliable (a switch of an auto room moves a pair's data right then).
// So the first ones wait, bounded, and go in order once it opens.
type reliableChannel struct {
	dc   *webrtc.DataChannel
	open atomic.Bool // set once early is flushed: sends go straight out

	mu    sync.Mutex
	early [][]byte
	bytes int
}

func newReliableChannel(dc *webrtc.DataChannel) *reliableChannel {
	ch := &reliableChannel{dc: dc}
	dc.OnOpen(ch.opened)
	return ch
}

// opened: pion reports the channel open (for a channel this side made,
// when the other side acknowledged it).
func (ch *reliableChannel) opened() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.flush()
}

// flush sends what waited, in order, and lets later sends go straight
// out (under mu).
func (ch *reliableChannel) flush() {
	for _, m := range ch.early {
		if ch.dc.Send(m) != nil {
			break // closed again: the rest would fail too
		}
	}
	ch.early, ch.bytes = nil, 0
	ch.open.Store(true)
}

// send sends msg, or keeps it until the channel opens; ErrNotOpen when
// it is closed, too far behind, or holds too much unopened.
func (ch *reliableChannel) send(msg []byte) error {
	if !ch.open.Load() {
		if held, err := ch.hold(msg); held || err != nil {
			return err
		}
	}
	if ch.dc.ReadyState() != webrtc.DataChannelStateOpen || ch.dc.BufferedAmount() > maxBuffered {
		return ErrNotOpen
	}
	return ch.dc.Send(msg)
}

// hold keeps msg while the channel is still connecting (held); once pion
// says open, before its OnOpen (which waits for the other side's
// acknowledgement of a channel this side made), it sends what waited
// first and lets msg go out.
func (ch *reliableChannel) hold(msg []byte) (held bool, err error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.open.Load() {
		return false, nil
	}
	switch ch.dc.ReadyState() {
	case webrtc.DataChannelStateConnecting:
		if len(ch.early) >= maxEarlyMessages || ch.bytes+len(msg) > maxEarlyBytes {
			return false, ErrNotOpen
		}
		ch.early = append(ch.early, append([]byte(nil), msg...))
		ch.bytes += len(msg)
		return true, nil
	case webrtc.DataChannelStateOpen:
		ch.flush()
		return false, nil
	}
	return false, ErrNotOpen
}
