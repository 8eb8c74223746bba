package e2e

import "testing"

// checkRTX checks that p's connections to the SFU negotiated RTX as
// Chromium does with the server: its subscriber PC was offered video/rtx
// with an RTX SSRC (ssrc-group FID) and answered with it, and its
// publisher PC (simulcast or not) got rtx and the repaired RID extension
// in the server's answer. Loopback loses nothing, so no RTX flows here;
// what RTX does is tested with pion peers (sfu/rtx_test.go).
func checkRTX(t *testing.T, p page, from string) {
	t.Helper()
	missing := eval[string](t, p, `(() => {
		const room = window.call.room, sub = room.getConnection(`+callPeer(from)+`?.peer), pub = room.getPublishConnection();
		const rtx = /a=rtpmap:\d+ rtx\/90000/;
		return [
			[sub?.remoteDescription?.sdp, rtx, 'rtx in the offer to the subscriber PC'],
			[sub?.remoteDescription?.sdp, /a=ssrc-group:FID \d+ \d+/, 'an RTX SSRC (ssrc-group FID) in that offer'],
			[sub?.localDescription?.sdp, rtx, "rtx in Chromium's answer"],
			[pub?.remoteDescription?.sdp, rtx, "rtx in the server's answer to the publisher PC"],
			[pub?.remoteDescription?.sdp, /urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id/, 'the repaired RID extension in that answer'],
		].filter(([sdp, re]) => !re.test(sdp ?? '')).map(([, , what]) => what).join('; ');
	})()`)
	if missing != "" {
		t.Errorf("%s: RTX not negotiated: missing %s", p.name, missing)
	}
}
