package rtpmunge

import "errors"

// ErrBadClockRate is returned by Switch for a clock rate of zero: the
// timestamp of the first packet after the switch is computed from it.
var ErrBadClockRate = errors.New("rtpmunge: clock rate must not be zero")
