package turn

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// ICEServers returns RTCIceServer entries for user: a STUN URL (when UDP is
// on), and the TURN URLs with credentials valid for Config.CredentialTTL
// from now. host is the host the client used to reach signaling (a port in
// it is ignored); the URLs name Config.PublicHost or PublicIP instead when
// set.
func (s *Server) ICEServers(user, host string, now time.Time) []ICEServer {
	var out []ICEServer
	urls := s.URLs(host)
	if len(urls) > 0 && strings.HasPrefix(urls[0], "stun:") {
		out = append(out, ICEServer{URLs: urls[:1]})
		urls = urls[1:]
	}
	if len(urls) == 0 {
		return out
	}
	expiry := now.Add(s.cfg.CredentialTTL).Truncate(time.Second)
	name, pass := Credentials(s.secret, user, expiry)
	return append(out, ICEServer{URLs: urls, Username: name, Credential: pass, Expires: expiry.Unix()})
}

// URLs returns the server's stun:, turn: and turns: URLs as clients reached
// through host would use them.
func (s *Server) URLs(host string) []string {
	h := s.urlHost(host)
	var out []string
	if p := s.addrs.UDP.Port(); p != 0 {
		out = append(out, "stun:"+h+":"+strconv.Itoa(int(p)), "turn:"+h+":"+strconv.Itoa(int(p))+"?transport=udp")
	}
	if p := s.addrs.TCP.Port(); p != 0 {
		out = append(out, "turn:"+h+":"+strconv.Itoa(int(p))+"?transport=tcp")
	}
	if p := s.addrs.TLS.Port(); p != 0 {
		out = append(out, "turns:"+h+":"+strconv.Itoa(int(p))+"?transport=tcp")
	}
	return out
}

// urlHost is the host part of the URLs: PublicHost, PublicIP, the host the
// client used, or the relay address; without a port, IPv6 in brackets.
func (s *Server) urlHost(host string) string {
	h := s.cfg.PublicHost
	if h == "" && s.cfg.PublicIP.IsValid() {
		h = s.cfg.PublicIP.String()
	}
	if h == "" {
		h = host
	}
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "" {
		h = s.advertised().String()
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h
}
