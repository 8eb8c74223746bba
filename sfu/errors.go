package sfu

import "errors"

// Errors returned by the SFU. They are wrapped with the details; test them
// with errors.Is.
var (
	// ErrLimit: a configured limit refuses the request (rooms,
	// participants, publishers, tracks, message size or rate).
	ErrLimit = errors.New("sfu: limit exceeded")
	// ErrBadMessage: a client's message is not valid JSON, has an unknown
	// kind, misses a field, or comes out of turn.
	ErrBadMessage = errors.New("sfu: bad message")
	// ErrBadSDP: a client's offer or answer was refused by WebRTC.
	ErrBadSDP = errors.New("sfu: bad SDP")
	// ErrNotFound: no such room, participant or track.
	ErrNotFound = errors.New("sfu: not found")
	// ErrExists: the participant is already in the room.
	ErrExists = errors.New("sfu: already joined")
	// ErrClosed: the SFU is closed.
	ErrClosed = errors.New("sfu: closed")
	// ErrBadConfig: New refused its Config.
	ErrBadConfig = errors.New("sfu: bad config")
)
