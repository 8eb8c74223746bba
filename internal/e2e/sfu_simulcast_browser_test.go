package e2e

import (
	"crypto/rand"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// TestSFUSimulcastLow is the issue's "a tab publishing simulcast is seen
// at a lower layer by a tab that asks for low": ann publishes 1280 px
// video in three layers; ben asks for each layer in turn with the tile's
// layer menu (room.setQuality), gets it (the tile's layer, and at low, a quarter of the
// width), and keeps decoding across every switch. While ben watches low,
// ann's medium and high, which nobody watches, are paused at ann (the
// encodings inactive, no packet sent on them); asking for high resumes it.
func TestSFUSimulcastLow(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, RoomModes: sfuModes})
	room := "big-" + rand.Text()[:8]
	ann := openSFUCall(t, browser, srv, "ann", room, url.Values{"width": {"1280"}})
	ben := openSFUCall(t, browser, srv, "ben", room, url.Values{"width": {"1280"}})
	waitDecodingOver(t, ben, "ann", "sfu")
	checkRTX(t, ben, "ann")
	peer := callPeer("ann")
	for _, q := range []string{"high", "low", "high", "medium", "low"} {
		eval[bool](t, ben, `(() => { const s = document.querySelector('.tile[data-peer="' + `+peer+`.peer + '"] .tile-quality');
			s.value = `+jsString(q)+`; s.dispatchEvent(new Event('change')); return true; })()`)
		ben.waitFor(t, "the "+q+" layer", peer+`?.layer === `+jsString(q)+` && `+peer+`?.quality === `+jsString(q))
		n := eval[float64](t, ben, `(`+peer+`?.framesDecoded ?? 0)`)
		ben.waitFor(t, "ann's frames at "+q+" to keep coming", peer+`?.framesDecoded > `+jsNumber(n+30))
		if q == "low" {
			ben.waitFor(t, "low-layer frames (320 px wide at most)", peer+`?.frameWidth > 0 && `+peer+`?.frameWidth <= 320`)
		}
		switch q {
		case "low": // nobody watches ann's medium and high: paused at ann
			ann.waitForWithin(t, 20*time.Second, "ann asked to pause medium and high", sendingJS+` === 'low:true medium:false high:false'`)
			layerSent(t, ann, "no medium or high packet sent", func(n float64) bool { return n == 0 }, "medium", "high")
		case "high": // ben gets high, so it was resumed: ann sends it again
			ann.waitFor(t, "ann sending high", sendingJS+`.includes('high:true')`)
			layerSent(t, ann, "high packets sent", func(n float64) bool { return n > 10 }, "high")
		}
	}
	checkClean(t, ann, ben)
}

// sendingJS is the publishing tab's video encodings, "rid:active" each.
const sendingJS = `(() => { const pc = window.call.room?.getPublishConnection();
	const s = pc?.getSenders().find((x) => x.track?.kind === 'video');
	return s ? s.getParameters().encodings.map((e) => e.rid + ':' + (e.active ?? true)).join(' ') : ''; })()`

// layerSent waits until the packets p's publishing connection sends on
// the layers rids over a second (outbound-rtp packetsSent) satisfy ok.
func layerSent(t *testing.T, p page, what string, ok func(float64) bool, rids ...string) {
	t.Helper()
	list, _ := json.Marshal(rids)
	js := `(async () => {
		const pc = window.call.room?.getPublishConnection();
		if (!pc) return -1;
		const sent = async () => { let n = 0; (await pc.getStats()).forEach((s) => {
			if (s.type === 'outbound-rtp' && ` + string(list) + `.includes(s.rid)) n += s.packetsSent ?? 0; }); return n; };
		const a = await sent();
		await new Promise((r) => setTimeout(r, 1000));
		return (await sent()) - a; })()`
	var n float64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if n = eval[float64](t, p, js); n >= 0 && ok(n) {
			return
		}
	}
	t.Fatalf("%s: waiting for %s: %v packets in the last second on %v\nencodings: %s", p.name, what, n, rids, eval[string](t, p, sendingJS))
}
