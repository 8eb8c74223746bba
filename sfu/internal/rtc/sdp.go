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

// remoteICE returns the ICE ufrag of a remote description (of its session
// or first media section) and its candidates.
func remoteICE(s string) (ufrag string, cands []string, err error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	ufrag, _ = d.Attribute("ice-ufrag")
	for _, m := range d.MediaDescriptions {
		if u, ok := m.Attribute("ice-ufrag"); ok && ufrag == "" {
			ufrag = u
		}
		for _, a := range m.Attributes {
			if a.Key == "candidate" {
				cands = append(cands, a.Value)
			}
		}
	}
	return ufrag, cands, nil
}
