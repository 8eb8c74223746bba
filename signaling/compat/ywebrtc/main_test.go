package ywebrtc_test

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// Connections start reader, writer and timer goroutines: none may outlive the tests.
func TestMain(m *testing.M) { testutil.LeakCheckMain(m) }
