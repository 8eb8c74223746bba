package sfu_test

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// Signaling is handed the SFU as is.
var _ signaling.SFU = (*sfu.SFU)(nil)

// PeerConnections, track readers and the housekeeping loop must all end
// with the tests.
func TestMain(m *testing.M) { testutil.LeakCheckMain(m) }
