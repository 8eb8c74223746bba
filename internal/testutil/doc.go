// Package testutil holds what tests across packages share: a fixture that
// runs the real server on loopback, a WebSocket protocol client, a Chromium
// launcher, a pion/webrtc peer that meets another through signaling
// (StartPionPeer), coturn's tools as reference TURN client, echo peer and
// server (coturn.go), a network-namespace lab (NewNetnsLab), processes
// stopped by PID when a test ends (StartProcess), a TCP proxy that cuts
// connections on demand or at random (StartFaultProxy), and the
// goroutine-leak check. Nothing here is imported by production code.
package testutil
