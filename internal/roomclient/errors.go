package roomclient

import "errors"

// Errors of the package.
var (
	// ErrEnvelope: a data channel message that is not a valid envelope of
	// an auto room (docs/protocol.md, "Data across a switch").
	ErrEnvelope = errors.New("roomclient: bad envelope")
	// ErrClosed: the client is closed.
	ErrClosed = errors.New("roomclient: closed")
	// ErrJoin: the server refused the hello or the join.
	ErrJoin = errors.New("roomclient: join refused")
	// ErrSignaling: the signaling connection failed or sent something
	// this client cannot follow.
	ErrSignaling = errors.New("roomclient: signaling")
	// ErrNoPath: a message found no open path to its receiver and no
	// room to wait for one.
	ErrNoPath = errors.New("roomclient: no path to the receiver")
	// ErrConfig: a Config field is missing or out of range.
	ErrConfig = errors.New("roomclient: bad config")
)
