package e2e

import (
	"crypto/rand"
	"net/url"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
)

// TestSFUSimulcastLow is the issue's "a tab publishing simulcast is seen
// at a lower layer by a tab that asks for low": ann publishes 1280 px
// video in three layers; ben asks for each layer in turn with the tile's
// layer menu (room.setQuality), gets it (the tile's layer, and at low, a quarter of the
// width), and keeps decoding across every switch.
func TestSFUSimulcastLow(t *testing.T) {
	browser := testutil.NewBrowser(t)
	srv := testutil.StartServer(t, testutil.Options{Dev: true, RoomModes: sfuModes})
	room := "big-" + rand.Text()[:8]
	ann := openSFUCall(t, browser, srv, "ann", room, url.Values{"width": {"1280"}})
	ben := openSFUCall(t, browser, srv, "ben", room, url.Values{"width": {"1280"}})
	waitDecodingOver(t, ben, "ann", "sfu")
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
	}
	checkClean(t, ann, ben)
}
