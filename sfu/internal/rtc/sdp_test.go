package rtc

import (
	"errors"
	"strings"
	"testing"
)

func offerWith(sections ...string) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + strings.Join(sections, "")
}

const (
	video         = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\n"
	bundleOnly    = "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\na=sendonly\r\n"
	recvonlyAudio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n"
	rejected      = "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\n"
	application   = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
)

func rids(ids ...string) string {
	s := "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\n"
	for _, id := range ids {
		s += "a=rid:" + id + " send\r\n"
	}
	return s
}

// Every audio/video section counts, bundle-only (port 0) and recvonly ones
// too; more than 3 RIDs, a RID twice or a data channel section is refused.
func TestSendTracks(t *testing.T) {
	for _, c := range []struct {
		name       string
		sdp        string
		n, sending int
		err        error
	}{
		{"one", offerWith(video), 1, 1, nil},
		{"bundle-only sections count", offerWith(video, bundleOnly, bundleOnly, bundleOnly, bundleOnly), 5, 5, nil},
		{"recvonly counts, does not send", offerWith(video, recvonlyAudio), 2, 1, nil},
		{"rejected", offerWith(rejected), 1, 0, nil},
		{"three rids", offerWith(rids("low", "medium", "high")), 1, 1, nil},
		{"four rids", offerWith(rids("a", "b", "c", "d")), 0, 0, ErrTooManyLayers},
		{"a rid twice", offerWith(rids("low", "low")), 0, 0, ErrBadSDP},
		{"data channels", offerWith(video, application), 0, 0, ErrBadSDP},
		{"not SDP", "v=0\r\nnope", 0, 0, ErrBadSDP},
	} {
		n, sending, err := SendTracks(c.sdp)
		if n != c.n || sending != c.sending || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: %d, %d, %v; want %d, %d, %v", c.name, n, sending, err, c.n, c.sending, c.err)
		}
	}
}
