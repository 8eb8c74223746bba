package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling"
)

var errLimit = errors.New("sfu: limit reached")

// failSFU fails every call with err.
type failSFU struct{ err error }

func (f failSFU) Join(string, string, func([]byte) bool) error { return f.err }
func (f failSFU) Message(string, string, []byte) error         { return f.err }
func (f failSFU) Leave(string, string)                         {}

func TestSFULimits(t *testing.T) {
	limit := fmt.Errorf("%w: 100 participants in room x", errLimit)
	other := errors.New("bad sdp")
	already := fmt.Errorf("%w: full", signaling.ErrLimitExceeded)
	for _, tc := range []struct {
		err     error
		isLimit bool
	}{{limit, true}, {other, false}, {already, true}, {nil, false}} {
		s := sfuLimits{SFU: failSFU{tc.err}, limit: errLimit}
		for op, err := range map[string]error{
			"join":    s.Join("/x", "p", func([]byte) bool { return true }),
			"message": s.Message("/x", "p", []byte(`{}`)),
		} {
			if errors.Is(err, signaling.ErrLimitExceeded) != tc.isLimit {
				t.Errorf("%s: %v: limit_exceeded %v, want %v", op, err, !tc.isLimit, tc.isLimit)
			}
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("%s: %v does not wrap %v", op, err, tc.err)
			}
			if tc.err == limit && err.Error() != "limit_exceeded: sfu: limit reached: 100 participants in room x" {
				t.Errorf("%s: %q", op, err)
			}
		}
	}
}
