package signaling_test

import (
	"math"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// endingSoon returns a token for user that the server still accepts (its
// exp is within the leeway) and that ends a session 1 to 2 s from now, and
// its exp.
func endingSoon(t *testing.T, user string, rooms ...any) (string, int64) {
	t.Helper()
	exp := time.Now().Add(-signaling.TokenLeeway).Unix() + 2
	return hs256(t, jwt.MapClaims{"sub": user, "exp": exp, "rooms": rooms}, testutil.TestSecret), exp
}

// A session whose token runs out is warned first, then closed with
// token_expired (4401).
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	srv := start(t, signaling.Config{TokenWarning: 500 * time.Millisecond})
	c := testutil.Dial(t, srv.WSURL, nil)
	tok, exp := endingSoon(t, "ann", "*")
	c.Hello(tok)
	w := c.Expect("token-expiring")
	if int64(w.Num("expires")) != exp {
		t.Errorf("token-expiring expires = %v, want the token's exp %d", w["expires"], exp)
	}
	if _, ok := w["seq"]; !ok {
		t.Errorf("token-expiring has no seq: %v", w)
	}
	c.ExpectError("token_expired")
	if code := c.Closed(); code != signaling.CloseUnauthorized {
		t.Fatalf("close code %d, want %d", code, signaling.CloseUnauthorized)
	}
}

// A refresh before expiry keeps the session: the ack carries the new
// expiry, and the session outlives the old token.
func TestTokenRefresh(t *testing.T) {
	t.Parallel()
	srv := start(t, signaling.Config{TokenWarning: 500 * time.Millisecond})
	c := testutil.Dial(t, srv.WSURL, nil)
	tok, _ := endingSoon(t, "ann", "*")
	c.Hello(tok)
	c.Join("r")
	c.Expect("token-expiring")
	fresh := srv.Token(t, "ann", "*")
	c.Send(map[string]any{"type": "refresh", "token": fresh, "id": "r1"})
	ack := c.Expect("ack")
	if ack.Str("id") != "r1" || math.Abs(ack.Num("expires")-float64(time.Now().Add(time.Hour).Unix())) > 60 {
		t.Fatalf("refresh ack %v, want id r1 and expires in an hour", ack)
	}
	c.Quiet(2500 * time.Millisecond) // past the old token's end: no warning, no error, no close
	c.Send(map[string]any{"type": "ping", "id": "p"})
	c.Expect("pong")
}

// A refresh that is refused leaves the session as it was.
func TestTokenRefreshRefused(t *testing.T) {
	t.Parallel()
	srv := start(t, signaling.Config{})
	c := testutil.Dial(t, srv.WSURL, nil)
	c.Hello(srv.Token(t, "ann", "*"))
	c.Join("team-a")
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name, token, code string
	}{
		{"another user", srv.Token(t, "bob", "*"), "forbidden"},
		{"a joined room not granted", srv.Token(t, "ann", "team-b*"), "forbidden"},
		{"bad signature", hs256(t, jwt.MapClaims{"sub": "ann", "exp": exp, "rooms": []string{"*"}}, "wrong"), "unauthorized"},
		{"expired", hs256(t, jwt.MapClaims{"sub": "ann", "exp": time.Now().Add(-time.Minute).Unix()}, testutil.TestSecret), "token_expired"},
		{"garbage", "not.a.jwt", "unauthorized"},
		{"missing", "", "bad_request"},
	} {
		frame := map[string]any{"type": "refresh", "id": tc.name}
		if tc.token != "" {
			frame["token"] = tc.token
		}
		c.Send(frame)
		if e := c.ExpectError(tc.code); e.Str("id") != tc.name {
			t.Errorf("%s: error %v does not echo the id", tc.name, e)
		}
	}
	c.Send(map[string]any{"type": "broadcast", "room": "team-a", "data": 1, "id": "b"})
	if a := c.Expect("ack"); a.Str("id") != "b" {
		t.Fatalf("after refused refreshes: %v", a)
	}
}
