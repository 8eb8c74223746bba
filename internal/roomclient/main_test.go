package roomclient_test

import (
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

func TestMain(m *testing.M) { testutil.LeakCheckMain(m) }
