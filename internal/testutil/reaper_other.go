//go:build !linux

package testutil

import "testing"

// AdoptOrphans does nothing here: child subreapers are a Linux feature, and
// so are the network namespaces of the tests that need one.
func AdoptOrphans(t testing.TB) { t.Helper() }
