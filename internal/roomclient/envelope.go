package roomclient

import (
	"encoding/binary"
	"fmt"
)

// Envelope flags (byte 0 of every data channel message of an auto room).
const (
	FlagText     = 1 // the payload is UTF-8 text
	FlagDirected = 2 // sent to one peer (sendTo)
	FlagSeq      = 4 // the payload starts with a 4-byte big-endian number
	FlagFence    = 8 // a marker with no app payload: the old path is done
)

const knownFlags = FlagText | FlagDirected | FlagSeq | FlagFence

// Envelope is one data channel message, parsed.
type Envelope struct {
	Flags byte
	// Peer is the header's peer id: the target from a client to the SFU,
	// the sender from the SFU to a client; empty on a mesh link.
	Peer    string
	Seq     uint32 // with FlagSeq
	Payload []byte // the app's payload (after the number); aliases the input
}

// Fence reports whether e is a FENCE marker.
func (e Envelope) Fence() bool { return e.Flags&FlagFence != 0 }

// Sequenced reports whether e carries a number.
func (e Envelope) Sequenced() bool { return e.Flags&FlagSeq != 0 }

// ParseEnvelope reads a whole envelope: flags, peer id, then the body.
func ParseEnvelope(b []byte) (Envelope, error) {
	if len(b) < 2 {
		return Envelope{}, fmt.Errorf("%w: %d bytes", ErrEnvelope, len(b))
	}
	n := int(b[1])
	if len(b) < 2+n {
		return Envelope{}, fmt.Errorf("%w: peer id cut short", ErrEnvelope)
	}
	e, err := parseBody(b[0], b[2+n:])
	e.Peer = string(b[2 : 2+n])
	return e, err
}

// parseBody reads what follows the peer id, given the flags: the number
// and the app's payload. The SFU client hands over its messages split
// this way.
func parseBody(flags byte, body []byte) (Envelope, error) {
	e := Envelope{Flags: flags}
	if flags&^knownFlags != 0 {
		return e, fmt.Errorf("%w: flags %#x", ErrEnvelope, flags)
	}
	if flags&FlagSeq == 0 {
		if flags&FlagFence != 0 {
			return e, fmt.Errorf("%w: FENCE without SEQ", ErrEnvelope)
		}
		e.Payload = body
		return e, nil
	}
	if len(body) < 4 {
		return e, fmt.Errorf("%w: SEQ with %d bytes", ErrEnvelope, len(body))
	}
	e.Seq = binary.BigEndian.Uint32(body)
	e.Payload = body[4:]
	if flags&FlagFence != 0 && len(e.Payload) > 0 {
		return e, fmt.Errorf("%w: FENCE with a payload", ErrEnvelope)
	}
	return e, nil
}

// AppendEnvelope appends an envelope to dst: flags (FlagSeq is added when
// seq is not 0 or the flags ask for a FENCE), the peer id (at most 255
// bytes), the number, the payload.
func AppendEnvelope(dst []byte, flags byte, peer string, seq uint32, payload []byte) []byte {
	if seq != 0 || flags&FlagFence != 0 {
		flags |= FlagSeq
	}
	dst = append(dst, flags, byte(len(peer)))
	dst = append(dst, peer...)
	if flags&FlagSeq != 0 {
		dst = binary.BigEndian.AppendUint32(dst, seq)
	}
	return append(dst, payload...)
}
