package rtc

import (
	"net"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// Clients' candidates may name LAN and public addresses, never the server's
// own loopback (unless allowed), its link (metadata services), unspecified,
// broadcast or multicast addresses.
func TestRemoteIPAllowed(t *testing.T) {
	for _, c := range []struct {
		ip             string
		want, loopback bool
	}{
		{"10.0.0.5", true, false},
		{"192.168.1.20", true, false},
		{"172.16.3.4", true, false},
		{"100.64.0.1", true, false},
		{"8.8.8.8", true, false},
		{"fd00::1", true, false},
		{"2001:db8::1", true, false},
		{"127.0.0.1", false, false},
		{"127.0.0.1", true, true},
		{"127.9.9.9", false, false},
		{"::1", false, false},
		{"::1", true, true},
		{"::ffff:127.0.0.1", false, false},
		{"169.254.169.254", false, true},
		{"169.254.0.1", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fe80::1", false, true},
		{"0.0.0.0", false, true},
		{"0.1.2.3", false, true},
		{"::", false, true},
		{"255.255.255.255", false, true},
		{"224.0.0.251", false, true},
		{"239.1.2.3", false, true},
		{"ff02::fb", false, true},
		{"64:ff9b::a9fe:a9fe", false, true}, // NAT64 of the metadata address
		{"64:ff9b::7f00:1", false, false},   // NAT64 of loopback
		{"2002:a9fe:a9fe::1", false, true},  // 6to4
		{"64:ff9b::a00:5", true, false},     // NAT64 of 10.0.0.5
		{"fe80::1%eth0", false, true},
	} {
		if got := RemoteIPAllowed(net.ParseIP(c.ip), c.loopback); got != c.want {
			t.Errorf("RemoteIPAllowed(%s, loopback %v) = %v, want %v", c.ip, c.loopback, got, c.want)
		}
	}
	if RemoteIPAllowed(nil, true) || RemoteIPAllowed(net.IP{1, 2, 3}, true) {
		t.Error("a malformed IP allowed")
	}
}

// RegisterCodecs offers RTX for VP8 and H.264 (Chromium's payload type
// pairs) and the repaired RID extension; NoRTX leaves RTX out.
func TestRegisterCodecsRTX(t *testing.T) {
	offer := func(o CodecOptions) string {
		m := &webrtc.MediaEngine{}
		if err := RegisterCodecsWith(m, o); err != nil {
			t.Fatal(err)
		}
		pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		sd, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return sd.SDP
	}
	sdp := offer(CodecOptions{})
	for _, want := range []string{"a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", "a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=102", "repaired-rtp-stream-id"} {
		if !strings.Contains(sdp, want) {
			t.Errorf("offer without %q:\n%s", want, sdp)
		}
	}
	if sdp := offer(CodecOptions{NoRTX: true}); strings.Contains(sdp, "rtx") {
		t.Errorf("NoRTX offers rtx:\n%s", sdp)
	}
}
