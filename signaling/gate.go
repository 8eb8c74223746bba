package signaling

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// GateConfig describes an endpoint that speaks another client library's
// wire protocol (the packages under signaling/compat): the namespace its
// rooms live in and the limits its connections get. Zero fields take the
// Server's values.
type GateConfig struct {
	Protocol  string // the protocol's name in metrics and logs ("y-webrtc")
	Namespace string // the namespace of its rooms; must not be one of the Server's declared Namespaces
	// InTypes are the client frame types counted by name in
	// switchboard_signaling_compat_frames_in_total; others count as "unknown".
	InTypes []string
	// OutTypes name the frames the endpoint queues, by kind, for
	// switchboard_signaling_compat_frames_out_total.
	OutTypes map[FrameKind]string

	Limits Limits  // rooms per connection and peers per room (zero fields: the default namespace's)
	Rate   float64 // client frames per second per connection (default: the Server's Rate)
	Burst  int     // token bucket size (default: the Server's Burst)
	// MaxConns caps this gate's connections at once, below the Server's
	// session cap (0: only that cap). MaxConnsPerUser caps one user's
	// (0: the Server's MaxSessionsPerUser, shared with its /ws sessions).
	MaxConns        int
	MaxConnsPerUser int
}

// A Gate admits the connections of one compat endpoint under the Server's
// rules, so that they count as sessions like any other: the origin check,
// the session caps, shutdown, the Bus, metrics. It is safe for concurrent use.
type Gate struct {
	s    *Server
	cfg  GateConfig
	in   map[string]prometheus.Counter
	out  [numKinds]prometheus.Counter
	open int // connections through this gate (guarded by s.mu)
}

// NewGate returns the gate of a compat endpoint.
func (s *Server) NewGate(cfg GateConfig) (*Gate, error) {
	if cfg.Protocol == "" || !namespaceName.MatchString(cfg.Namespace) {
		return nil, fmt.Errorf("%w: a gate needs a protocol and a namespace name, got %q", ErrBadConfig, cfg.Namespace)
	}
	if _, ok := s.ns[cfg.Namespace]; ok {
		return nil, fmt.Errorf("%w: namespace %q belongs to the %s endpoint; do not declare it in --namespaces", ErrBadConfig, cfg.Namespace, cfg.Protocol)
	}
	l := cfg.Limits
	def := s.cfg.Limits
	if l.RoomsPerSession == 0 {
		l.RoomsPerSession = def.RoomsPerSession
	}
	if l.PeersPerRoom == 0 {
		l.PeersPerRoom = def.PeersPerRoom
	}
	cfg.Limits = l
	if cfg.Rate == 0 && cfg.Burst == 0 {
		cfg.Rate, cfg.Burst = s.cfg.Rate, s.cfg.Burst
	}
	if cfg.Rate == 0 {
		cfg.Rate = s.cfg.Rate
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(2*cfg.Rate))
	}
	if cfg.MaxConnsPerUser == 0 {
		cfg.MaxConnsPerUser = s.cfg.MaxSessionsPerUser
	}
	g := &Gate{s: s, cfg: cfg, in: map[string]prometheus.Counter{}}
	for _, t := range append(cfg.InTypes, "unknown", "invalid") {
		g.in[t] = s.m.compatIn.WithLabelValues(cfg.Protocol, t)
	}
	for k, name := range cfg.OutTypes {
		g.out[k] = s.m.compatOut.WithLabelValues(cfg.Protocol, name)
	}
	return g, nil
}

// Config returns the gate's configuration, defaults filled in.
func (g *Gate) Config() GateConfig { return g.cfg }

// ServerConfig returns the Server's configuration (frame size, queue
// limits, ping and write timeouts), which the gate's connections share.
func (g *Gate) ServerConfig() Config { return g.s.cfg }

// Verify checks a token with the Server's Verifier.
func (g *Gate) Verify(token string) (*Identity, error) { return g.s.cfg.Verifier.Verify(token) }

// FrameIn counts a client frame of type typ ("invalid": one that did not decode).
func (g *Gate) FrameIn(typ string) { countType(g.in, typ) }

// FrameOut counts a frame queued to a client.
func (g *Gate) FrameOut(kind FrameKind) {
	if c := g.out[kind]; c != nil {
		c.Inc()
	}
}

// ErrorOut counts an error sent to a client, with the /ws error counter.
func (g *Gate) ErrorOut(code Code) { g.s.m.errorOut(code) }

// Upgrade makes the request a WebSocket connection of this gate, refusing
// it as /ws would (server draining or full, origin not allowed); on
// failure it has answered the request. The caller must end the returned
// GateConn with Done.
func (g *Gate) Upgrade(w http.ResponseWriter, r *http.Request) (*GateConn, bool) {
	s := g.s
	s.mu.Lock()
	reason, msg := "", ""
	switch {
	case s.draining:
		reason, msg = "draining", "server is shutting down"
	case len(s.conns)+len(s.gated)+s.pending >= s.cfg.MaxSessions,
		g.cfg.MaxConns > 0 && g.open >= g.cfg.MaxConns:
		reason, msg = "full", "server is full"
	}
	if reason != "" {
		s.mu.Unlock()
		s.m.refused.WithLabelValues(reason).Inc()
		http.Error(w, msg, http.StatusServiceUnavailable)
		return nil, false
	}
	s.pending++
	g.open++
	s.wg.Add(1)
	s.mu.Unlock()

	conn, err := s.upgrader.Upgrade(w, r, nil)
	c := &GateConn{g: g, WS: conn, Remote: r.RemoteAddr}
	s.mu.Lock()
	s.pending--
	draining := s.draining
	if err == nil && !draining {
		s.gated[c] = struct{}{}
	}
	s.mu.Unlock()
	if err == nil && draining {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway, "server shutting down"), s.deadline(time.Second))
		conn.Close()
	}
	if err != nil || draining {
		s.mu.Lock()
		g.open--
		s.mu.Unlock()
		s.wg.Done()
		return nil, false
	}
	conn.SetReadLimit(int64(s.cfg.MaxFrameBytes))
	return c, true
}

// GateConn is one connection admitted by a Gate: a member of rooms of the
// gate's namespace on the Server's Bus. Its methods other than Done and
// Member are for the connection's reader goroutine only.
type GateConn struct {
	g      *Gate
	WS     *websocket.Conn
	Remote string // the client's address
	Peer   string // the connection's member id on the Bus, set by Admit
	Ident  *Identity

	limiter *rate.Limiter
	rooms   []string
	mb      Mailbox
	user    string // counted in the Server's per-user sessions ("" until Admit)
}

// Gate returns the gate that admitted the connection.
func (c *GateConn) Gate() *Gate { return c.g }

// DisconnectReason names why a read from a client's connection failed, as
// switchboard_signaling_disconnects_total labels it.
func DisconnectReason(err error) string {
	reason, _ := readErrReason(err)
	return reason
}

// Admit counts the connection as a session of ident's user, to be delivered
// to through mb; ErrLimitExceeded when the user has as many as allowed.
func (c *GateConn) Admit(ident *Identity, mb Mailbox) error {
	s := c.g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[ident.User] >= c.g.cfg.MaxConnsPerUser {
		return errorf(CodeLimitExceeded, "user %q has %d sessions already", ident.User, c.g.cfg.MaxConnsPerUser)
	}
	s.perUser[ident.User]++
	s.active++
	s.m.sessions.Inc()
	s.m.connects.Inc()
	c.user = ident.User
	c.Ident = ident
	c.Peer = randomID()
	c.mb = mb
	c.limiter = rate.NewLimiter(rate.Limit(c.g.cfg.Rate), c.g.cfg.Burst)
	return nil
}

// Allow charges one client frame to the connection's rate limit;
// ErrRateLimited when it is spent.
func (c *GateConn) Allow() error {
	if !c.limiter.Allow() {
		return errorf(CodeRateLimited, "more than %v frames per second", c.g.cfg.Rate)
	}
	return nil
}

// In reports whether the connection is in room.
func (c *GateConn) In(room string) bool {
	for _, r := range c.rooms {
		if r == room {
			return true
		}
	}
	return false
}

// Join puts the connection in room, if its token grants the room in the
// gate's namespace and the limits allow; joining a room it is in is a
// no-op. Nobody is told: the protocol says what its clients hear.
func (c *GateConn) Join(room string) error {
	if c.In(room) {
		return nil
	}
	ns := c.g.cfg.Namespace
	if err := validRoom(room); err != nil {
		return err
	}
	if !c.Ident.Grants.Allows(ns, room) {
		return errorf(CodeForbidden, "token does not grant room %q in namespace %q", room, ns)
	}
	if len(c.rooms) >= c.g.cfg.Limits.RoomsPerSession {
		return errorf(CodeLimitExceeded, "at most %d rooms per connection", c.g.cfg.Limits.RoomsPerSession)
	}
	m := Member{Peer: c.Peer, User: c.Ident.User, Name: c.Ident.Name}
	err := c.g.s.bus.Join(RoomKey{NS: ns, Room: room}, m, c.mb, c.g.cfg.Limits.PeersPerRoom,
		func([]Member) []byte { return nil }, nil)
	if err != nil {
		return err
	}
	c.rooms = append(c.rooms, room)
	return nil
}

// Leave takes the connection out of room; ErrNotFound if it was not in it.
func (c *GateConn) Leave(room string) error {
	for i, r := range c.rooms {
		if r == room {
			c.rooms = append(c.rooms[:i], c.rooms[i+1:]...)
			c.g.s.bus.Leave(RoomKey{NS: c.g.cfg.Namespace, Room: room}, c.Peer, nil)
			return nil
		}
	}
	return errorf(CodeNotFound, "not in room %q", room)
}

// Members counts the members of room.
func (c *GateConn) Members(room string) int {
	return len(c.g.s.bus.Members(RoomKey{NS: c.g.cfg.Namespace, Room: room}))
}

// Publish delivers frame to every member of room, the connection itself
// included; ErrNotFound unless the connection is in the room.
func (c *GateConn) Publish(room string, frame []byte, kind FrameKind) error {
	if !c.In(room) {
		return errorf(CodeNotFound, "not in room %q", room)
	}
	return c.g.s.bus.Broadcast(RoomKey{NS: c.g.cfg.Namespace, Room: room}, "", frame, kind)
}

// Done ends the connection: it leaves its rooms, stops counting as a
// session and closes the socket. reason labels
// switchboard_signaling_disconnects_total.
func (c *GateConn) Done(reason string) {
	for _, r := range c.rooms {
		c.g.s.bus.Leave(RoomKey{NS: c.g.cfg.Namespace, Room: r}, c.Peer, nil)
	}
	c.rooms = nil
	c.WS.Close()
	s := c.g.s
	s.mu.Lock()
	delete(s.gated, c)
	c.g.open--
	if c.user != "" {
		s.active--
		s.m.sessions.Dec()
		if n := s.perUser[c.user] - 1; n > 0 {
			s.perUser[c.user] = n
		} else {
			delete(s.perUser, c.user)
		}
		s.m.disconnects.WithLabelValues(reason).Inc()
	}
	s.mu.Unlock()
	s.wg.Done()
}

// goingAway asks the client to go (close 1001) when the server shuts down;
// the connection's reader sees the client's close reply and ends it.
func (c *GateConn) goingAway() {
	c.WS.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway, "server shutting down"), c.g.s.deadline(time.Second))
	c.WS.SetReadDeadline(c.g.s.deadline(closeGrace))
}
