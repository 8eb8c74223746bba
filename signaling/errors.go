package signaling

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code carried in an error frame's
// "code" field. Clients switch on it; the message next to it is for humans.
type Code string

// The error codes of the protocol (docs/protocol.md). They never change meaning.
const (
	CodeUnauthorized  Code = "unauthorized"   // no, bad or malformed token, or a frame before hello
	CodeTokenExpired  Code = "token_expired"  // the token's exp has passed
	CodeForbidden     Code = "forbidden"      // the token does not grant that room or namespace
	CodeNotFound      Code = "not_found"      // no such peer in that room, or no such namespace
	CodeBadRequest    Code = "bad_request"    // bad JSON, unknown type, missing or wrongly typed field
	CodeRateLimited   Code = "rate_limited"   // the session sends faster than its token bucket allows
	CodeLimitExceeded Code = "limit_exceeded" // rooms per session, peers per room, sessions per user
	codeInternal      Code = "internal"       // never expected; logged
)

var allCodes = []Code{CodeUnauthorized, CodeTokenExpired, CodeForbidden, CodeNotFound,
	CodeBadRequest, CodeRateLimited, CodeLimitExceeded, codeInternal}

// Close codes the server uses when it ends a connection. 4000-4999 are
// application codes (RFC 6455 section 7.4.2); the rest are the standard ones.
const (
	CloseGoingAway       = 1001 // server shutting down: reconnect, possibly elsewhere
	ClosePolicyViolation = 1008 // the client cannot keep up with its outbound queue
	CloseMessageTooBig   = 1009 // a frame larger than the frame limit
	CloseUnauthorized    = 4401 // unauthorized or token_expired: get a new token before reconnecting
	CloseHelloTimeout    = 4408 // no hello within the handshake timeout
	CloseReplaced        = 4409 // the session was resumed on another connection
	CloseTooManySessions = 4429 // sessions per user or the server's session limit reached
)

// Error is a protocol error: it becomes exactly one error frame on the wire.
// Handlers return it; the session turns it into a frame in one place.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" { // a sentinel: fmt.Errorf("%w: why", ErrLimitExceeded) reads "limit_exceeded: why"
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Is makes errors.Is(err, ErrForbidden) true for any *Error with that code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code && t.Message == ""
}

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is: each matches any *Error with the same code.
var (
	ErrUnauthorized  = &Error{Code: CodeUnauthorized}
	ErrTokenExpired  = &Error{Code: CodeTokenExpired}
	ErrForbidden     = &Error{Code: CodeForbidden}
	ErrNotFound      = &Error{Code: CodeNotFound}
	ErrBadRequest    = &Error{Code: CodeBadRequest}
	ErrRateLimited   = &Error{Code: CodeRateLimited}
	ErrLimitExceeded = &Error{Code: CodeLimitExceeded}
)

// Configuration errors returned by New.
var (
	ErrNoSecret     = errors.New("signaling: no JWT secret or public key configured")
	ErrBadConfig    = errors.New("signaling: invalid configuration")
	ErrServerClosed = errors.New("signaling: server closed")
)
