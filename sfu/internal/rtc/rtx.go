package rtc

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/internal/packetcache"
)

// RTX (RFC 4588) to subscribers: when a subscriber's PC negotiated
// video/rtx for the codec it gets, a NACKed packet is resent on the RTX
// SSRC pion gave the track (ssrc-group FID in the offer), with the RTX
// payload type, the RTX stream's own sequence numbers, and the original
// sequence number (the one the subscriber knows) as the first two bytes
// of the payload. Without RTX it is resent on the media SSRC, as before.
// From publishers, pion unwraps RTX itself (TrackRemote.Read returns the
// original packet; UpTrack counts and dedupes it).

// rtxPayloadType returns the payload type of the video/rtx codec among
// codecs whose apt is pt.
func rtxPayloadType(codecs []webrtc.RTPCodecParameters, pt webrtc.PayloadType) (webrtc.PayloadType, bool) {
	want := strconv.Itoa(int(pt))
	for _, c := range codecs {
		if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			continue
		}
		for _, f := range strings.Split(c.SDPFmtpLine, ";") {
			if k, v, _ := strings.Cut(strings.TrimSpace(f), "="); strings.EqualFold(k, "apt") && v == want {
				return c.PayloadType, true
			}
		}
	}
	return 0, false
}

// wrapRTX makes hdr and payload, a retransmission stamped for the media
// SSRC (hdr's sequence number is the subscriber's), an RTX packet of b's
// RTX stream, and returns its payload. The RTCP reader's only: the RTX
// sequence numbers and the buffer (made at the first RTX resend) are its.
func (d *DownTrack) wrapRTX(hdr *rtp.Header, payload []byte, b *binding) []byte {
	if d.rtxBuf == nil {
		d.rtxBuf = make([]byte, 2+packetcache.DefaultMaxPacketSize)
	}
	binary.BigEndian.PutUint16(d.rtxBuf, hdr.SequenceNumber)
	n := copy(d.rtxBuf[2:], payload)
	hdr.SSRC, hdr.PayloadType, hdr.SequenceNumber = b.rtxSSRC, b.rtxPT, d.rtxSeq
	d.rtxSeq++
	return d.rtxBuf[:2+n]
}
