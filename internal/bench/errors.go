package bench

import "errors"

var (
	// ErrNotLoopback is returned for a target or source address outside 127.0.0.0/8.
	ErrNotLoopback = errors.New("bench: only loopback addresses (127.0.0.0/8) may be used")
	// ErrBadConfig is returned for a Config that cannot run.
	ErrBadConfig = errors.New("bench: bad config")
	// ErrFileLimit is returned when the sessions would not fit under this
	// process's open-file limit (run several generator processes instead).
	ErrFileLimit = errors.New("bench: too many sessions for the open-file limit")
	// ErrNoSessions is returned when not a single session could be opened.
	ErrNoSessions = errors.New("bench: no session could be opened")
	// ErrNotSFU is returned when the server makes the benchmark's rooms
	// mesh rooms (serve needs --room-modes 'bench-*=sfu').
	ErrNotSFU = errors.New("bench: not an sfu room")
	// ErrNotAuto is returned when the server makes the switch benchmark's
	// rooms anything but auto rooms, or they never switch.
	ErrNotAuto = errors.New("bench: not an auto room")
)
