package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API scheme is HMAC-SHA1 by definition
	"encoding/base64"
	"strconv"
	"time"
)

// Credentials returns a TURN REST API username and password for user, valid
// until expiry: username "<unix expiry>:<user>", password
// base64(HMAC-SHA1(secret, username)). This is coturn's use-auth-secret
// scheme, so credentials made here work against coturn with the same secret
// and the other way round.
func Credentials(secret []byte, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, password64(secret, username)
}

func password64(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ICEServer is one entry of RTCConfiguration.iceServers, as browsers and
// pion/webrtc take it. Expires (unix seconds) is Switchboard's addition: the
// time the credential stops working, so a client knows when to refresh.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
	Expires    int64    `json:"expires,omitempty"`
}
