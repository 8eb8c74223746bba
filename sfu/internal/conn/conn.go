// Package conn is the seam between the SFU's room logic (package sfu) and
// the code that moves media (package rtc, on pion/webrtc): two small
// interfaces, after Galene's conn package. Rooms hold UpTracks and
// DownTracks and never touch a PeerConnection; a second transport (a
// recorder, WHIP) would implement the same interfaces.
package conn

import (
	"time"

	"github.com/pion/rtp"
)

// UpTrack is one incoming track of a publisher.
//
// Implementations are safe for concurrent use.
type UpTrack interface {
	// ID is the publisher's track id (its MediaStreamTrack id).
	ID() string
	// Kind is "audio" or "video".
	Kind() string
	// MimeType and ClockRate describe the codec, so a DownTrack can offer
	// the same one.
	MimeType() string
	ClockRate() uint32
	// SSRC of the incoming stream (the source a DownTrack's munger follows).
	SSRC() uint32
	// RID is the simulcast layer's RTP stream id, "" without simulcast.
	// The layers of one track are UpTracks with the same ID.
	RID() string
	// AddDown makes the track forward every packet to d from now on;
	// RemoveDown stops that. Neither blocks the forwarding path.
	AddDown(d DownTrack)
	RemoveDown(d DownTrack)
	// Packet copies the cached packet with source sequence number seq
	// into buf and returns its length, 0 if it is not cached.
	Packet(seq uint16, buf []byte) int
	// NACK asks the publisher to retransmit seqs (cache misses).
	NACK(seqs []uint16)
	// RequestKeyframe asks the publisher for a keyframe (PLI), at most one
	// per rate-limit interval; it reports whether one was sent.
	RequestKeyframe() bool
	// LastPacket is when the last RTP packet arrived (zero: none yet).
	LastPacket() time.Time
	// LimitBitrate tells the publisher to send at most bps bits/s on this
	// track (REMB); a no-op for audio.
	LimitBitrate(bps uint64)
	// Bitrate is the bits per second received over about the last second:
	// what forwarding this track (this layer) costs a subscriber, which
	// the room weighs against the subscriber's bandwidth estimate.
	Bitrate() uint64
	// AudioLevel is the last audio level (0 loudest .. 127 silence, as in
	// RFC 6464) and when it was read; ok is false without one.
	AudioLevel() (level uint8, at time.Time, ok bool)
}

// DownTrack is one forwarded track towards one subscriber.
//
// WriteRTP is called by the UpTrack's reader only (one goroutine); the
// other methods may be called from anywhere.
type DownTrack interface {
	// WriteRTP forwards p (source numbering) to the subscriber, rewriting
	// a copy of its header; p is neither kept nor changed (the same packet
	// goes to every DownTrack in turn).
	WriteRTP(p *rtp.Packet, now time.Time) error
	// SetPaused stops (true) or resumes forwarding, at frame boundaries.
	SetPaused(paused bool)
	// Paused reports whether forwarding is paused.
	Paused() bool
	// AddLayer adds another simulcast layer of the forwarded track (whose
	// UpTrack must also AddDown this DownTrack); SetLayer asks to forward
	// the layer with that RID from its next keyframe on.
	AddLayer(up UpTrack)
	SetLayer(rid string)
}
