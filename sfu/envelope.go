package sfu

import "fmt"

// Envelope flags (byte 0 of a data channel message).
const (
	flagText     = 1
	flagDirected = 2
	// flagSeq and flagFence belong to auto rooms' data sequencing
	// (docs/protocol.md, Data across a switch): the payload starts with a
	// 4-byte sequence number; a fence is that number alone. The SFU relays
	// them unchanged.
	flagSeq   = 4
	flagFence = 8
	seqBytes  = 4
)

// envelope is a data channel message: flags, a peer id (the target from a
// client, the sender from the server), the payload.
type envelope struct {
	flags   byte
	peer    string
	payload []byte // aliases the input
}

// decodeEnvelope parses a client's envelope. maxPayload bounds the payload.
func decodeEnvelope(b []byte, maxPayload int) (envelope, error) {
	var e envelope
	if len(b) < 2 {
		return e, fmt.Errorf("%w: envelope of %d bytes", ErrBadMessage, len(b))
	}
	e.flags = b[0]
	if e.flags&^(flagText|flagDirected|flagSeq|flagFence) != 0 {
		return e, fmt.Errorf("%w: envelope flags %#x", ErrBadMessage, e.flags)
	}
	n := int(b[1])
	if len(b) < 2+n {
		return e, fmt.Errorf("%w: envelope peer id cut short", ErrBadMessage)
	}
	e.peer = string(b[2 : 2+n])
	e.payload = b[2+n:]
	if directed := e.flags&flagDirected != 0; directed != (n > 0) {
		return e, fmt.Errorf("%w: a directed envelope needs a target, a broadcast none", ErrBadMessage)
	}
	if e.flags&flagSeq != 0 && len(e.payload) < seqBytes {
		return e, fmt.Errorf("%w: a sequenced envelope's payload of %d bytes has no sequence number", ErrBadMessage, len(e.payload))
	}
	if e.flags&flagFence != 0 && (e.flags&flagSeq == 0 || len(e.payload) != seqBytes) {
		return e, fmt.Errorf("%w: a fence is a sequence number alone", ErrBadMessage)
	}
	limit := maxPayload
	if e.flags&flagSeq != 0 {
		limit += seqBytes // the number is not the app's
	}
	if len(e.payload) > limit {
		return e, fmt.Errorf("%w: payload of %d bytes, at most %d", ErrLimit, len(e.payload), maxPayload)
	}
	return e, nil
}

// encodeEnvelope builds the server's envelope: the sender's id in the
// header. The peer id must be at most 255 bytes.
func encodeEnvelope(flags byte, sender string, payload []byte) []byte {
	out := make([]byte, 2+len(sender)+len(payload))
	out[0] = flags
	out[1] = byte(len(sender))
	copy(out[2:], sender)
	copy(out[2+len(sender):], payload)
	return out
}
