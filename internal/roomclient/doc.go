// Package roomclient is a Go participant of one Switchboard room over the
// real WebSocket signaling, written to the auto-room contract of
// docs/protocol.md ("Auto rooms: switching between mesh and SFU"): a mesh
// peer connection per remote peer (perfect negotiation over signal
// frames, the SDK's two data channels, a synthetic VP8 track), a link to
// the SFU through sfu/sfuclient, and the per-peer make-before-break
// switch that mode frames start (sfu-join, sfu-leave, mode-ack, failed
// peers, superseding switches, peers joining and leaving meanwhile). Data
// is sequenced across a switch with SEQ/FENCE envelopes (seq.go).
//
// Tests and the switch benchmark use it; it exposes what they measure:
// the last media arrival and the longest media gap per remote peer, the
// data messages delivered, each peer's current paths, and the switch
// events with their times.
//
// Concurrency: one loop goroutine owns the room's state; the WebSocket
// reader, pion's callbacks and the public methods hand it work through an
// unbounded mailbox, so no callback ever blocks. Media packets bypass the
// loop: each track's reader goroutine records arrivals in its peer's
// counters under a small mutex. Writes to the WebSocket are serialized by
// a mutex (the SFU client writes from pion's goroutines). Close stops
// every goroutine the client started before it returns.
package roomclient
