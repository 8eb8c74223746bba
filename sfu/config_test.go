package sfu_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// New closes the UDP socket it opened itself when it fails after opening
// it: the port is free again.
func TestNewReleasesItsPortOnError(t *testing.T) {
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	_, err = sfu.New(sfu.Config{UDPPort: port, NAT1To1IPs: []string{"not-an-address"}})
	if !errors.Is(err, sfu.ErrBadConfig) {
		t.Fatalf("New with a bad NAT address: %v, want ErrBadConfig", err)
	}
	again, err := net.ListenPacket("udp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the port New opened is still held: %v", err)
	}
	again.Close()
}

// Errors quote a client's strings cut short, and an error's text is
// bounded whatever the message held.
func TestErrorsQuoteShort(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{})
	const room = "ns/quote"
	newPeer(t, s, room, "a", peerOpts{})
	long := strings.Repeat("k", 100_000)
	for _, msg := range []string{
		`{"kind":"` + long + `"}`,
		`{"kind":"size","track":"` + long + `","width":1,"height":1}`,
		`{"kind":"offer","pc":"pub","sdp":"v=0\r\n` + long + `"}`,
	} {
		err := s.Message(room, "a", []byte(msg))
		if err == nil {
			t.Fatal("accepted")
		}
		if n := len(err.Error()); n > 600 {
			t.Fatalf("an error of %d bytes: %.100s...", n, err)
		}
	}
	if err := s.Message(room, "a", []byte(`{"kind":"offer","pc":"pub","sdp":"v=0\r\n`+long+`"}`)); !errors.Is(err, sfu.ErrBadSDP) {
		t.Fatalf("a clipped error lost its kind: %v", err)
	}
}
