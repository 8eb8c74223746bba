package sfu

import (
	"encoding/json"
	"fmt"
	"strings"
)

// maxMessage is the largest SFU message accepted from a client (an SDP
// offer with many m-lines stays far below).
const maxMessage = 256 << 10

// maxID is the longest peer id (it must fit an envelope's header).
const maxID = 255

// quoted quotes a client's string for an error, cut to 64 bytes.
func quoted(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// clip bounds the text of an error for a client's message (an SDP error
// may quote the offending line of a 256 KiB message); errors.Is still
// sees what it wraps.
func clip(err error) error {
	if len(err.Error()) <= maxErrorText {
		return err
	}
	return clipped{err}
}

const maxErrorText = 512

type clipped struct{ err error }

func (c clipped) Error() string {
	return strings.ToValidUTF8(c.err.Error()[:maxErrorText], "") + "..."
}
func (c clipped) Unwrap() error { return c.err }

// PC names.
const (
	pcPub = "pub"
	pcSub = "sub"
)

// inMessage is a message from a client (the spec's client -> SFU table).
type inMessage struct {
	Kind      string          `json:"kind"`
	PC        string          `json:"pc,omitempty"`
	SDP       string          `json:"sdp,omitempty"`
	Candidate json.RawMessage `json:"candidate,omitempty"`
	Peer      string          `json:"peer,omitempty"`
	Quality   string          `json:"quality,omitempty"`
	Track     string          `json:"track,omitempty"`
	Width     int             `json:"width,omitempty"`
	Height    int             `json:"height,omitempty"`
}

// decodeMessage parses and checks a client's message.
func decodeMessage(b []byte) (inMessage, error) {
	var m inMessage
	if len(b) > maxMessage {
		return m, fmt.Errorf("%w: %d bytes, at most %d", ErrBadMessage, len(b), maxMessage)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	switch m.Kind {
	case "offer":
		if m.PC != pcPub || m.SDP == "" {
			return m, fmt.Errorf("%w: offer needs pc \"pub\" and sdp", ErrBadMessage)
		}
	case "answer":
		if m.PC != pcSub || m.SDP == "" {
			return m, fmt.Errorf("%w: answer needs pc \"sub\" and sdp", ErrBadMessage)
		}
	case "candidate":
		if m.PC != pcPub && m.PC != pcSub {
			return m, fmt.Errorf("%w: candidate needs pc \"pub\" or \"sub\"", ErrBadMessage)
		}
	case "quality":
		switch m.Quality {
		case "low", "medium", "high", "auto":
		default:
			return m, fmt.Errorf("%w: quality %s", ErrBadMessage, quoted(m.Quality))
		}
		if m.Peer == "" || len(m.Peer) > maxID {
			return m, fmt.Errorf("%w: quality needs peer, 1 to %d bytes", ErrBadMessage, maxID)
		}
	case "size":
		if m.Track == "" || m.Width < 0 || m.Height < 0 {
			return m, fmt.Errorf("%w: size needs track, width and height >= 0", ErrBadMessage)
		}
	default:
		return m, fmt.Errorf("%w: unknown kind %s", ErrBadMessage, quoted(m.Kind))
	}
	return m, nil
}

// TrackInfo describes a forwarded track in a subscriber offer.
type trackInfo struct {
	Peer   string `json:"peer"`
	Kind   string `json:"kind"`
	Stream string `json:"stream"`
}

type offerMessage struct {
	Kind   string               `json:"kind"`
	PC     string               `json:"pc"`
	SDP    string               `json:"sdp"`
	Tracks map[string]trackInfo `json:"tracks"`
}

type sdpMessage struct {
	Kind string `json:"kind"`
	PC   string `json:"pc"`
	SDP  string `json:"sdp"`
}

type candidateMessage struct {
	Kind      string          `json:"kind"`
	PC        string          `json:"pc"`
	Candidate json.RawMessage `json:"candidate"`
}

type layerMessage struct {
	Kind   string `json:"kind"`
	Track  string `json:"track"`
	Peer   string `json:"peer"`
	Layer  string `json:"layer"`
	Paused bool   `json:"paused"`
}

// layersMessage tells a publisher which layers of its simulcast track
// to send (dynacast.go).
type layersMessage struct {
	Kind     string   `json:"kind"`
	Track    string   `json:"track"`
	Active   []string `json:"active"`
	Inactive []string `json:"inactive"`
}

type speakersMessage struct {
	Kind  string   `json:"kind"`
	Peers []string `json:"peers"`
}

type errorMessage struct {
	Kind    string `json:"kind"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// encode marshals an outgoing message; they are all plain structs.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sfu: encoding an outgoing message: " + err.Error()) // unreachable: fixed types
	}
	return b
}
