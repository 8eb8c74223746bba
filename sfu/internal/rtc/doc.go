// Package rtc is the SFU's pion/webrtc side: the API shared by every
// PeerConnection (codecs, header extensions, interceptors, one UDP mux and
// one ICE-TCP mux), the publisher's incoming tracks (UpTrack: read, drop
// copies, cache, NACK its own losses, fan out) and the subscribers'
// outgoing tracks (DownTrack: rewrite, write, answer NACKs, as RTX where
// negotiated, pass keyframe requests up). Rooms see these only through
// the interfaces of package conn.
//
// Concurrency: an UpTrack has one reader goroutine that writes to every
// DownTrack in turn (the subscriber list is copy-on-write, read without a
// lock) and alone owns the track's loss log (losses.go); each DownTrack
// has one RTCP reader goroutine, which alone owns its RTX sequence numbers
// and buffer (rtx.go). A DownTrack's munger
// is shared by both under a mutex that the forwarding path holds only for
// the header rewrite. A subscriber PC's transport-wide sequence numbers
// and send history (twcc.go) are shared by all its down tracks' writers
// and readers: one atomic counter and one atomic word per packet, no
// lock; its estimate has a leaf mutex of its own, taken off the
// forwarding path only (bandwidth.go).
package rtc
