package signaling

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Server is the WebSocket signaling service: mount it at /ws. It is safe for
// concurrent use; each connection gets its own Session.
type Server struct {
	cfg      Config
	log      *slog.Logger
	bus      Bus
	rooms    *roomTable // every room's mode, and the switches of auto rooms
	m        *metrics
	ns       map[string]*Namespace // "" is the default namespace
	upgrader websocket.Upgrader
	bufs     sync.Pool // read buffers, shared by all sessions

	resumeOn bool // cfg.ResumeGrace > 0
	// A session pings early, so that the pong confirms what it has sent,
	// once this many frames or bytes wait for confirmation.
	pingFrames, pingBytes int

	mu       sync.Mutex
	conns    map[*Session]struct{}  // every session (detached ones too) and connection in its handshake
	gated    map[*GateConn]struct{} // connections of compat endpoints (gate.go)
	perUser  map[string]int         // authenticated sessions per user id
	active   int                    // authenticated sessions
	pending  int                    // connections being upgraded
	resumes  map[string]*Session    // resume token -> the session it resumes
	tombs    map[string]tombstone   // resume tokens of sessions whose buffer overflowed while away
	draining bool
	wg       sync.WaitGroup // session goroutines (reader and writer)
}

// New checks cfg, fills its defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Verifier == nil {
		return nil, ErrNoSecret
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		bus:      cfg.Bus,
		ns:       map[string]*Namespace{"": {Limits: cfg.Limits}},
		conns:    map[*Session]struct{}{},
		gated:    map[*GateConn]struct{}{},
		perUser:  map[string]int{},
		resumes:  map[string]*Session{},
		tombs:    map[string]tombstone{},
		resumeOn: cfg.ResumeGrace > 0,
		// A quarter of the buffer, so that a healthy client never fills it.
		pingFrames: max(1, min(earlyPingFrames, cfg.SendQueueFrames/4)),
		pingBytes:  min(earlyPingBytes, cfg.SendQueueBytes/4),
	}
	for i := range cfg.Namespaces {
		s.ns[cfg.Namespaces[i].Name] = &cfg.Namespaces[i]
	}
	s.m = newMetrics(cfg.Metrics, s.bus.Rooms)
	s.rooms = newRoomTable(s)
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HelloTimeout,
		// Small read buffers and pooled write buffers: an idle session then
		// holds about 1 KiB of buffers instead of 8.
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
	}
	return s, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Sessions counts the authenticated sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: nothing to protect against
	}
	u, err := url.Parse(origin)
	if err == nil && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	s.m.refused.WithLabelValues("origin").Inc()
	s.log.Debug("websocket origin refused", "origin", origin, "host", r.Host)
	return false
}

// ServeHTTP upgrades the request to a WebSocket and runs a session on it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	switch {
	case s.draining:
		s.mu.Unlock()
		s.m.refused.WithLabelValues("draining").Inc()
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	case len(s.conns)+len(s.gated)+s.pending >= s.cfg.MaxSessions:
		s.mu.Unlock()
		s.m.refused.WithLabelValues("full").Inc()
		http.Error(w, "server is full", http.StatusServiceUnavailable)
		return
	}
	s.pending++
	s.wg.Add(1)
	s.mu.Unlock()

	hj := &hijacker{ResponseWriter: w}
	conn, err := s.upgrader.Upgrade(hj, r, nil) // on failure it has written the HTTP error
	// heard: a fresh session has no earlier resume token to retire.
	se := &Session{srv: s, link: &link{conn: conn, raw: hj.conn, remote: r.RemoteAddr, heard: true}}
	if s.cfg.ICEServers != nil {
		se.host = strings.Clone(r.Host) // not a reference into the request, which is garbage after this
	}
	s.mu.Lock()
	s.pending--
	draining := s.draining
	if err == nil && !draining {
		s.conns[se] = struct{}{}
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		s.wg.Done()
	case draining:
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway, "server shutting down"), s.deadline(time.Second))
		conn.Close()
		s.wg.Done()
	default:
		// A fresh goroutine, not this one: net/http's connection goroutine
		// has a stack grown by request parsing that an idle session need not keep.
		go se.run()
	}
}

// admit counts an authenticated session against the per-user limit and
// files its resume token (tok, "" with resume off).
func (s *Server) admit(se *Session, user, tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining || s.perUser[user] >= s.cfg.MaxSessionsPerUser {
		return false
	}
	if tok != "" {
		s.resumes[tok] = se
		se.resumeTok = tok
	}
	s.perUser[user]++
	s.active++
	s.m.sessions.Inc()
	s.m.connects.Inc()
	return true
}

func (s *Server) release(se *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, se)
	s.forgetTokens(se)
	if se.ident == nil {
		return
	}
	s.active--
	s.m.sessions.Dec()
	if n := s.perUser[se.ident.User] - 1; n > 0 {
		s.perUser[se.ident.User] = n
	} else {
		delete(s.perUser, se.ident.User)
	}
}

// Shutdown stops accepting sessions, asks every client to reconnect (a
// reconnect frame with a delay hint, then close 1001: reconnect, possibly
// to another node), ends detached sessions, and waits until every client
// has gone or ctx ends; then it closes whatever is left. It returns
// ctx.Err() if it had to force connections closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	list := make([]*Session, 0, len(s.conns))
	for se := range s.conns {
		list = append(list, se)
	}
	gated := make([]*GateConn, 0, len(s.gated))
	for c := range s.gated {
		gated = append(gated, c)
	}
	s.mu.Unlock()
	for _, c := range gated {
		c.goingAway()
	}
	for _, se := range list {
		if s.endDetached(se, "shutdown", false) {
			continue
		}
		se.mu.Lock()
		welcomed := se.welcomed
		se.mu.Unlock()
		if welcomed {
			se.Deliver(encodeReconnect(reconnectSpread), KindReconnect)
		}
		se.closeWith(CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for se := range s.conns {
		se.mu.Lock()
		if l := se.link; l != nil {
			l.conn.Close()
		}
		se.mu.Unlock()
	}
	for c := range s.gated {
		c.WS.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// randomID returns 128 bits from crypto/rand as 22 URL-safe characters.
func randomID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) deadline(d time.Duration) time.Time { return time.Now().Add(d) }
