package signaling_test

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/bustest"
)

// MemoryBus passes the Bus contract suite (a shared backend must pass it too).
func TestMemoryBus(t *testing.T) {
	bustest.Run(t, func(*testing.T) signaling.Bus { return signaling.NewMemoryBus() })
}
