// Package sfuclient is a participant of Switchboard's SFU written with
// pion/webrtc: the second implementation of the SFU messages (docs/sfu.md)
// used by the SFU's tests, end-to-end tests through signaling, and
// benchmarks.
//
// A Client speaks the messages only; the caller carries them. Give it a
// Send function that delivers a message to the SFU (for example in an
// "sfu" signaling frame, or straight to sfu.SFU.Message in tests) and feed
// every message from the SFU to Handle, in order, one at a time.
//
//	c, _ := sfuclient.New(sfuclient.Config{
//		Send:    func(m []byte) error { return s.Message(room, "alice", m) },
//		OnTrack: func(t *sfuclient.Track) { go read(t.Remote) },
//	})
//	_ = s.Join(room, "alice", func(m []byte) bool { inbox <- m; return true })
//	go func() { for m := range inbox { _ = c.Handle(m) } }()
//	_, _ = c.Publish(myTrack)                     // pub PC: the client offers
//	_ = c.SendData("", []byte("hi"), true, true) // broadcast on the reliable channel
//
// Like the browser SDK, the client answers the server's offers on the
// subscriber PC (made when the first offer arrives, with the two data
// channels the server created) and is the only offerer on the publisher PC
// (made at the first Publish), one offer outstanding at a time.
//
// The SFU may ask a publisher to pause the simulcast layers nobody
// watches (a "layers" message): the layers of PublishSimulcast then drop
// what is written to them until they are asked to send again (layers.go).
//
// Callbacks run on pion's goroutines or inside Handle: they must not block
// and must not call Handle.
package sfuclient
