package sfuclient

import "encoding/json"

// TrackInfo is what the server's offer says of a forwarded track.
type TrackInfo struct {
	Peer   string `json:"peer"`
	Kind   string `json:"kind"`
	Stream string `json:"stream"`
}

// message is any SFU message, both ways.
type message struct {
	Kind      string               `json:"kind"`
	PC        string               `json:"pc,omitempty"`
	SDP       string               `json:"sdp,omitempty"`
	Tracks    map[string]TrackInfo `json:"tracks,omitempty"`
	Candidate json.RawMessage      `json:"candidate,omitempty"`
	Peer      string               `json:"peer,omitempty"`
	Peers     []string             `json:"peers,omitempty"`
	Track     string               `json:"track,omitempty"`
	Layer     string               `json:"layer,omitempty"`
	Paused    bool                 `json:"paused,omitempty"`
	Quality   string               `json:"quality,omitempty"`
	Width     *int                 `json:"width,omitempty"`
	Height    *int                 `json:"height,omitempty"`
	Active    []string             `json:"active,omitempty"`
	Inactive  []string             `json:"inactive,omitempty"`
	Code      string               `json:"code,omitempty"`
	Message   string               `json:"message,omitempty"`
}

// Layer is a "layer" message: what the client now gets for a track.
type Layer struct {
	Track, Peer, Layer string
	Paused             bool
}

// Data is a data channel message received through the SFU.
type Data struct {
	From     string // the sender's peer id
	Payload  []byte
	Text     bool // sent as text (UTF-8)
	Directed bool // sent to this client only (sendTo), not broadcast
	Reliable bool // arrived on the reliable channel
	// Flags is the envelope's flags byte as it came, with the bits this
	// package does not read (an auto room's SEQ and FENCE).
	Flags byte
}

// Envelope flags.
const (
	flagText     = 1
	flagDirected = 2
)

func encodeEnvelope(to string, payload []byte, text bool) []byte {
	var flags byte
	if text {
		flags |= flagText
	}
	if to != "" {
		flags |= flagDirected
	}
	b := make([]byte, 2+len(to)+len(payload))
	b[0], b[1] = flags, byte(len(to))
	copy(b[2:], to)
	copy(b[2+len(to):], payload)
	return b
}

func decodeEnvelope(b []byte, reliable bool) (Data, bool) {
	if len(b) < 2 || len(b) < 2+int(b[1]) {
		return Data{}, false
	}
	n := int(b[1])
	return Data{From: string(b[2 : 2+n]), Payload: append([]byte(nil), b[2+n:]...),
		Text: b[0]&flagText != 0, Directed: b[0]&flagDirected != 0, Reliable: reliable, Flags: b[0]}, true
}
