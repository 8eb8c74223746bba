package sfu_test

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// newSFUWithTCP starts an SFU on loopback UDP and ICE-TCP ports.
func newSFUWithTCP(t *testing.T) *sfu.SFU {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sfu.New(sfu.Config{UDP: udp, TCP: tcp, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Clients that cannot use UDP reach the SFU over ICE-TCP on its one TCP
// port, media and data alike.
func TestICETCP(t *testing.T) {
	s := newSFUWithTCP(t)
	const room = "ns/tcp"
	sub := newPeer(t, s, room, "sub", peerOpts{tcp: true})
	pub := newPeer(t, s, room, "pub", peerOpts{tcp: true})
	waitData(t, sub, pub)
	video := publish(t, pub, "video", "cam")
	stop := make(chan struct{})
	done := pump(20*time.Millisecond, stop, video)
	defer func() { close(stop); <-done }()
	eventually(t, "video over TCP", 30*time.Second, hasPackets(sub, "pub:cam", 10))
}
