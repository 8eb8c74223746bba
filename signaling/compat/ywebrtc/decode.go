package ywebrtc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// The message types of the protocol (y-webrtc's bin/server.js).
const (
	TypeSubscribe   = "subscribe"   // {"type":"subscribe","topics":["room",...]}
	TypeUnsubscribe = "unsubscribe" // {"type":"unsubscribe","topics":["room",...]}
	TypePublish     = "publish"     // {"type":"publish","topic":"room","data":...}, relayed with "clients"
	TypePing        = "ping"        // {"type":"ping"}, answered {"type":"pong"}
	TypePong        = "pong"
	TypeError       = "error" // Switchboard's own; y-webrtc clients ignore types they do not know
)

// Message is a decoded client message.
type Message struct {
	Type   string
	Topics []string // subscribe, unsubscribe
	Topic  string   // publish
	Raw    []byte   // the message as it came (publish relays it)
}

// Decode parses one client message. Keys are matched exactly, as
// JavaScript reads them (a repeated key: the last one wins); fields other
// than these are not looked at, but the whole message must be valid JSON
// in valid UTF-8. Errors are *signaling.Error with code
// bad_request.
func Decode(b []byte) (Message, error) {
	// A publish is relayed as it came: invalid UTF-8 in a text frame would
	// make every subscriber's browser fail its connection.
	if !utf8.Valid(b) {
		return Message{}, badRequest("a message must be valid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return Message{}, badRequest("a message must be a JSON object")
	}
	m := Message{Raw: b}
	raw, ok := obj["type"]
	if !ok {
		return m, badRequest(`missing "type"`)
	}
	if err := json.Unmarshal(raw, &m.Type); err != nil || raw[0] != '"' {
		return m, badRequest(`"type" must be a string`)
	}
	switch m.Type {
	case TypeSubscribe, TypeUnsubscribe:
		// y-webrtc's server reads a missing list as an empty one.
		raw, ok := obj["topics"]
		if !ok || string(raw) == "null" {
			return m, nil
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return m, badRequest(`"topics" must be an array of strings`)
		}
		m.Topics = make([]string, len(list))
		for i, t := range list {
			if err := json.Unmarshal(t, &m.Topics[i]); err != nil || t[0] != '"' {
				return m, badRequest(`"topics" must be an array of strings`)
			}
		}
	case TypePublish:
		raw, ok := obj["topic"]
		if !ok || json.Unmarshal(raw, &m.Topic) != nil || raw[0] != '"' || m.Topic == "" {
			return m, badRequest(`a publish needs a "topic" string`)
		}
	}
	return m, nil
}

func badRequest(msg string) error {
	return &signaling.Error{Code: signaling.CodeBadRequest, Message: msg}
}

// encodePublish is the publish message relayed to the subscribers: the
// message as it came with "clients" (the number of subscribers) added at
// the end, where JavaScript's JSON.parse takes it over any earlier one.
func encodePublish(raw []byte, clients int) []byte {
	raw = bytes.TrimRight(raw, " \t\r\n")
	out := make([]byte, 0, len(raw)+24)
	out = append(out, raw[:len(raw)-1]...) // without its closing brace
	out = append(out, `,"clients":`...)
	out = strconv.AppendInt(out, int64(clients), 10)
	return append(out, '}')
}

var pong = []byte(`{"type":"pong"}`)

// errorMessage is Switchboard's error message; topic names the topic it
// concerns, if any.
type errorMessage struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Topic   string `json:"topic,omitempty"`
}

func encodeError(e *signaling.Error, topic string) []byte {
	b, _ := json.Marshal(errorMessage{Type: TypeError, Code: string(e.Code), Message: e.Message, Topic: topic})
	return b
}
