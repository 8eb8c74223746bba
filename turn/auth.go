package turn

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
)

// authenticate is pion's AuthHandler for coturn's use-auth-secret (TURN
// REST API) scheme: username "<unix expiry>:<user>", password
// base64(HMAC-SHA1(secret, username)). It returns the long-term key and
// pion checks the request's MESSAGE-INTEGRITY against it with hmac.Equal,
// so no secret comparison happens here. userID, the part after the first
// colon, is what quotas and bandwidth caps count by.
//
// Unlike pion's LongTermTURNRESTAuthHandler it refuses a username without
// a colon or with a non-numeric expiry (pion takes the whole username as
// the user id), checks the realm, and counts refusals by reason.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (userID string, key []byte, ok bool) {
	user, reason := parseRESTUsername(ra.Username, time.Now())
	if reason == "" && ra.Realm != s.cfg.Realm {
		reason = "realm"
	}
	if reason != "" {
		if ra.Method == stun.MethodAllocate {
			s.m.allocsRefused.WithLabelValues(reason).Inc()
		}
		s.log.Debug("TURN request refused", "reason", reason, "method", ra.Method.String(),
			"client", addrString(ra.SrcAddr), "username", clip(ra.Username))
		return "", nil, false
	}
	key = pionturn.GenerateAuthKey(ra.Username, ra.Realm, password64(s.secret, ra.Username))
	if s.lifetime != nil && (ra.Method == stun.MethodAllocate || ra.Method == stun.MethodRefresh) {
		s.lifetime.rememberKey(ra.SrcAddr, key)
	}
	return user, key, true
}

// onAuth counts the refusals pion makes itself: the handler accepted the
// username but the MESSAGE-INTEGRITY did not match (a wrong password).
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	if verdict {
		// An RFC 6062 data connection makes no allocation: a signed
		// ConnectionBind lifts its allocate deadline instead.
		if method == stun.MethodConnectionBind.String() {
			if sk, ok := clientAddr(src); ok && sk.tcp {
				s.markAllocated(sk.src)
			}
		}
		return
	}
	if method == stun.MethodAllocate.String() {
		s.m.allocsRefused.WithLabelValues("auth").Inc()
	}
	s.log.Debug("TURN request refused", "reason", "auth", "method", method,
		"client", addrString(src), "username", clip(username))
}

// parseRESTUsername splits "<unix expiry>:<user>". reason is "" when the
// username is well formed and not expired, else "malformed" or "expired".
func parseRESTUsername(username string, now time.Time) (user, reason string) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || ts == "" || len(ts) > 19 {
		return "", "malformed"
	}
	for i := 0; i < len(ts); i++ { // ParseInt alone would take "+1" and "-1"
		if ts[i] < '0' || ts[i] > '9' {
			return "", "malformed"
		}
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", "malformed"
	}
	if exp < now.Unix() {
		return "", "expired"
	}
	return user, ""
}

// clip bounds client-chosen strings in log lines.
func clip(s string) string {
	const n = 96
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
