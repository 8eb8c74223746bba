package e2e

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

func TestMain(m *testing.M) { testutil.LeakCheckMain(m) }
