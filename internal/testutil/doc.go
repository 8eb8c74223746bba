// Package testutil holds what tests across packages share: a fixture that
// runs the real server on loopback, a WebSocket protocol client, a Chromium
// launcher, and the goroutine-leak check. Nothing here is imported by
// production code.
package testutil
