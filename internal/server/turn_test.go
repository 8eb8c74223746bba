package server_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	pionturn "github.com/pion/turn/v5"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/turn"
)

type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
	Expires    int64    `json:"expires"`
}

// The welcome hands out TURN credentials that the embedded TURN server takes:
// coturn's REST scheme, with the URLs of the host the client dialled.
func TestWelcomeICEServersAllocate(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{TURN: &turn.Config{CredentialTTL: time.Hour}})
	turnAddr := srv.App.TURN().Addrs().UDP
	c := testutil.Dial(t, srv.WSURL, nil)
	w := c.Hello(srv.Token(t, "alice", "*"))
	raw, _ := json.Marshal(w["iceServers"])
	var list []iceServer
	if err := json.Unmarshal(raw, &list); err != nil || len(list) != 2 {
		t.Fatalf("welcome iceServers = %s (%v)", raw, err)
	}
	port := strconv.Itoa(int(turnAddr.Port()))
	if want := "stun:127.0.0.1:" + port; list[0].URLs[0] != want {
		t.Errorf("stun URL %v, want %s", list[0].URLs, want)
	}
	tr := list[1]
	if tr.URLs[0] != "turn:127.0.0.1:"+port+"?transport=udp" || tr.URLs[1] != "turn:127.0.0.1:"+port+"?transport=tcp" {
		t.Errorf("turn URLs %v", tr.URLs)
	}
	exp, user, _ := strings.Cut(tr.Username, ":")
	if user != "alice" || exp != strconv.FormatInt(tr.Expires, 10) || w.Num("iceServersExpire") != float64(tr.Expires) {
		t.Errorf("username %q, expires %d, iceServersExpire %v", tr.Username, tr.Expires, w["iceServersExpire"])
	}
	if d := time.Until(time.Unix(tr.Expires, 0)); d < 59*time.Minute || d > time.Hour {
		t.Errorf("credentials expire in %v, want the configured hour", d)
	}
	mac := hmac.New(sha1.New, []byte(testutil.TestTURNSecret))
	mac.Write([]byte(tr.Username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); tr.Credential != want {
		t.Errorf("credential is not base64(HMAC-SHA1(secret, username))")
	}

	// The credentials allocate a relay on the server's TURN.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: turnAddr.String(), TURNServerAddr: turnAddr.String(),
		Conn: conn, Username: tr.Username, Password: tr.Credential, Realm: "switchboard",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := tc.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := tc.Allocate()
	if err != nil {
		t.Fatalf("allocate with the welcome's credentials: %v", err)
	}
	relay.Close()

	_, metrics, _ := get(t, srv.URL+"/metrics")
	if !strings.Contains(metrics, `switchboard_turn_allocations_created_total{transport="udp"} 1`) {
		t.Errorf("/metrics lacks the TURN allocation:\n%s", grepLines(metrics, "switchboard_turn_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// GET /v1/ice-servers: the same list for apps with their own signaling, for
// a caller with a valid JWT only.
func TestICEServersEndpoint(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{TURN: &turn.Config{}})
	do := func(auth string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/ice-servers", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		c := &http.Client{Timeout: 5 * time.Second}
		defer c.CloseIdleConnections()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	code, body := do("Bearer " + srv.Token(t, "bob", "*"))
	list, _ := body["iceServers"].([]any)
	if code != 200 || len(list) != 2 || body["expires"].(float64) < float64(time.Now().Unix()) {
		t.Fatalf("GET /v1/ice-servers: %d %v", code, body)
	}
	if u := list[1].(map[string]any)["username"].(string); !strings.HasSuffix(u, ":bob") {
		t.Errorf("username %q is not bob's", u)
	}
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(-time.Minute).Unix()}).SignedString([]byte(testutil.TestSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ auth, code string }{
		{"", "unauthorized"},
		{"Bearer ", "unauthorized"},
		{"Basic Ym9iOng=", "unauthorized"},
		{"Bearer not-a-jwt", "unauthorized"},
		{"Bearer " + expired, "token_expired"},
	} {
		if code, body := do(tc.auth); code != 401 || body["code"] != tc.code {
			t.Errorf("Authorization %.20q: %d %v, want 401 %s", tc.auth, code, body, tc.code)
		}
	}
	// Without TURN there is nothing to hand out.
	plain := testutil.StartServer(t, testutil.Options{})
	if code, body, _ := get(t, plain.URL+"/v1/ice-servers"); code != 404 || !strings.Contains(body, "TURN is switched off") {
		t.Errorf("without TURN: %d %s", code, body)
	}
	c := testutil.Dial(t, plain.WSURL, nil)
	if w := c.Hello(plain.Token(t, "a", "*")); w["iceServers"] != nil {
		t.Errorf("welcome without TURN carries iceServers: %v", w["iceServers"])
	}
}
