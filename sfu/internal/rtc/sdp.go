package rtc

import (
	"fmt"

	"github.com/pion/sdp/v3"
)

// SendTracks counts the audio and video sections of an offer that send
// media (sendrecv or sendonly, port not 0): the tracks a publisher offers.
func SendTracks(offer string) (int, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	n := 0
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		sending := true
		for _, a := range m.Attributes {
			if a.Key == "recvonly" || a.Key == "inactive" {
				sending = false
			}
		}
		if sending {
			n++
		}
	}
	return n, nil
}
