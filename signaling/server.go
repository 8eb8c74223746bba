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
	m        *metrics
	ns       map[string]*Namespace // "" is the default namespace
	upgrader websocket.Upgrader
	bufs     sync.Pool // read buffers, shared by all sessions

	mu       sync.Mutex
	conns    map[*Session]struct{} // every connection, authenticated or not
	perUser  map[string]int        // authenticated sessions per user id
	active   int                   // authenticated sessions
	pending  int                   // connections being upgraded
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
		cfg:     cfg,
		log:     cfg.Logger,
		bus:     cfg.Bus,
		ns:      map[string]*Namespace{"": {Limits: cfg.Limits}},
		conns:   map[*Session]struct{}{},
		perUser: map[string]int{},
	}
	for i := range cfg.Namespaces {
		s.ns[cfg.Namespaces[i].Name] = &cfg.Namespaces[i]
	}
	s.m = newMetrics(cfg.Metrics, s.bus.Rooms)
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
	case len(s.conns)+s.pending >= s.cfg.MaxSessions:
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
	se := &Session{srv: s, conn: conn, raw: hj.conn, remote: r.RemoteAddr}
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

// admit counts an authenticated session against the per-user limit.
func (s *Server) admit(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining || s.perUser[user] >= s.cfg.MaxSessionsPerUser {
		return false
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

// Shutdown stops accepting sessions, asks every client to go away (close
// 1001: reconnect, possibly to another node) and waits until they have gone
// or ctx ends; then it closes whatever is left. It returns ctx.Err() if it
// had to force connections closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	list := make([]*Session, 0, len(s.conns))
	for se := range s.conns {
		list = append(list, se)
	}
	s.mu.Unlock()
	for _, se := range list {
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
		se.conn.Close()
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
