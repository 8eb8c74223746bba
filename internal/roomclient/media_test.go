package roomclient

import (
	"testing"
	"time"
)

// TestPeerMediaGap: the gap is measured on the path shown, across a
// change of that path, and never from a packet of the path not shown.
func TestPeerMediaGap(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	m := newPeerMedia(PathMesh)
	m.record(PathMesh, at(0))
	m.record(PathMesh, at(20))
	m.record(PathSFU, at(30)) // the new path flows; not shown yet
	m.record(PathMesh, at(40))
	m.show(PathSFU)
	m.record(PathSFU, at(90)) // 50 ms after the last mesh packet shown
	m.record(PathMesh, at(500))
	m.record(PathSFU, at(110))
	s := m.snapshot()
	if s.MaxGap != 50*time.Millisecond || s.Packets != 5 || s.Media != PathSFU || !s.LastMedia.Equal(at(110)) {
		t.Fatalf("got %+v", s)
	}
	m.resetGap()
	m.record(PathSFU, at(120))
	if g := m.snapshot().MaxGap; g != 10*time.Millisecond {
		t.Fatalf("after a reset: %v", g)
	}
}

func TestSDPSends(t *testing.T) {
	for sdp, want := range map[string]bool{
		"v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n":                   false,
		"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n":                       true,
		"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n":                       false,
		"v=0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\n":                                    false,
		"v=0\r\nm=application 9 X\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n": true,
	} {
		if got := sdpSends(sdp); got != want {
			t.Errorf("%q: %v, want %v", sdp, got, want)
		}
	}
	if fp := fingerprint("v=0\r\na=fingerprint:sha-256 AB:CD\r\nm=video"); fp != "sha-256 AB:CD" {
		t.Errorf("fingerprint %q", fp)
	}
}
