package rtc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// MaxLayers is the most simulcast layers (RIDs) of one track.
const MaxLayers = 3

// ErrTooManyLayers: an offer's media section has more than MaxLayers RIDs.
var ErrTooManyLayers = errors.New("rtc: too many simulcast layers")

// SendTracks counts the audio and video sections of a publisher's offer,
// whatever their port (a bundle-only section has port 0 and is live) or
// direction: each one is a transceiver at the server; sending counts
// those that send media (sendrecv or sendonly, not rejected with port 0).
// An application section (data channels go on the subscriber PC), a
// section with more than MaxLayers RIDs (ErrTooManyLayers) or with one RID
// twice is refused.
func SendTracks(offer string) (sections, sending int, err error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	for i, m := range d.MediaDescriptions {
		if m.MediaName.Media == "application" {
			return 0, 0, fmt.Errorf("%w: media section %d: no data channels on the publisher PC", ErrBadSDP, i)
		}
		sections++
		_, bundleOnly := m.Attribute("bundle-only")
		_, recvonly := m.Attribute("recvonly")
		_, inactive := m.Attribute("inactive")
		if (m.MediaName.Port.Value != 0 || bundleOnly) && !recvonly && !inactive {
			sending++
		}
		rids := map[string]bool{}
		for _, a := range m.Attributes {
			if a.Key != "rid" {
				continue
			}
			id, _, _ := strings.Cut(a.Value, " ")
			if rids[id] {
				return 0, 0, fmt.Errorf("%w: media section %d: rid %.64q twice", ErrBadSDP, i, id)
			}
			rids[id] = true
			if len(rids) > MaxLayers {
				return 0, 0, fmt.Errorf("%w: media section %d: more than %d rids", ErrTooManyLayers, i, MaxLayers)
			}
		}
	}
	return sections, sending, nil
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

// withoutCandidates returns the description without the candidates drop.
func withoutCandidates(s string, drop map[string]bool) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	for _, m := range d.MediaDescriptions {
		kept := m.Attributes[:0]
		for _, a := range m.Attributes {
			if a.Key != "candidate" || !drop[a.Value] {
				kept = append(kept, a)
			}
		}
		m.Attributes = kept
	}
	b, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return string(b), nil
}
