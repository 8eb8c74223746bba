// Package server assembles Switchboard's HTTP server from its components:
// signaling at /ws, y-webrtc's signaling at /y-webrtc, health and metrics, the dev-mode token endpoint, and the
// embedded web SDK and demo pages. cmd/switchboard and the test fixture both
// build it from a Config, so tests run the same server users run.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/compat/ywebrtc"
	"github.com/switchboard-rtc/switchboard/turn"
	"github.com/switchboard-rtc/switchboard/web"
)

// Config configures the whole server.
type Config struct {
	Listen string // address to listen on (default ":8080")

	TLSCert, TLSKey string // serve HTTPS (and wss://) with this certificate and key

	// Dev enables development mode: /v1/dev/token hands out tokens for any
	// user and room to anyone who asks. Never on by default.
	Dev bool

	JWTSecret        string // HS256 secret; generated at start when empty and no public key is set
	JWTPublicKeyFile string // PEM public key (RSA: RS256, P-256: ES256) instead of a secret

	// Signaling carries limits, namespaces and origins; its Verifier, Logger,
	// Metrics and ICEServers are set by New, and so are its RoomModes and SFU
	// (from the fields below) unless Signaling.SFU is set already (tests
	// bring their own). NoSignaling switches the WebSocket endpoint off (a
	// TURN-only server).
	Signaling   signaling.Config
	NoSignaling bool

	// YWebRTC configures the y-webrtc endpoint at /y-webrtc (docs/compat.md),
	// which runs with signaling; New sets its Dev (from Dev) and Logger.
	YWebRTC ywebrtc.Config

	// RoomModes says which rooms are sfu rooms; the SFU runs only when
	// SFU.Enabled and some room can be one (see sfu.go). Without it every
	// room is a mesh.
	RoomModes signaling.RoomModes
	SFU       SFUConfig

	// TURN, when set, starts the embedded TURN server next to signaling; the
	// welcome frame and GET /v1/ice-servers then hand out its credentials.
	// Its Logger and Metrics are set by New.
	TURN *turn.Config

	Logger *slog.Logger // default slog.Default()
}

// Server is a running Switchboard HTTP server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	sig      *signaling.Server // nil with NoSignaling
	ywebrtc  http.Handler      // /y-webrtc; nil with NoSignaling
	turn     *turn.Server      // nil without TURN
	sfu      io.Closer         // nil when no SFU runs
	sfuAddrs SFUAddrs          // the SFU's sockets when it runs
	verify   *signaling.Verifier
	reg      *prometheus.Registry
	http     *http.Server
	secret   []byte // HS256 secret, nil with a public key
}

// New builds the server; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = ":8080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", signaling.ErrBadConfig)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var err error
	sc := cfg.Signaling
	switch {
	case cfg.JWTPublicKeyFile != "":
		pem, rerr := os.ReadFile(cfg.JWTPublicKeyFile)
		if rerr != nil {
			return nil, fmt.Errorf("%w: %w", signaling.ErrBadConfig, rerr)
		}
		sc.Verifier, err = signaling.NewPublicKeyVerifier(pem)
	default:
		s.secret = []byte(cfg.JWTSecret)
		if len(s.secret) == 0 {
			s.secret = []byte(rand.Text() + rand.Text()) // 256 bits
			s.log.Warn("no JWT secret configured: generated a random one for this run; only tokens from this process will work (set --jwt-secret or SWITCHBOARD_JWT_SECRET)")
		} else if len(s.secret) < 32 {
			s.log.Warn("JWT secret shorter than 32 bytes: tokens can be forged by guessing it; use at least 32 random bytes")
		}
		sc.Verifier, err = signaling.NewHMACVerifier(s.secret)
	}
	if err != nil {
		return nil, err
	}
	s.verify = sc.Verifier
	if cfg.TURN != nil {
		tc := *cfg.TURN
		tc.Logger = s.log.With("component", "turn")
		tc.Metrics = s.reg
		if s.turn, err = turn.New(tc); err != nil {
			return nil, err
		}
		sc.ICEServers = s.iceServersJSON
	}
	if !cfg.NoSignaling {
		if err := s.startSFU(&sc); err != nil {
			s.closeTURN()
			return nil, err
		}
		sc.Logger = s.log.With("component", "signaling")
		sc.Metrics = s.reg
		sc.MaxSessions = capSessions(sc.MaxSessions, s.log)
		if s.sig, err = signaling.New(sc); err != nil {
			s.closeSFU()
			s.closeTURN()
			return nil, err
		}
		yc := cfg.YWebRTC
		yc.Dev = cfg.Dev
		yc.Logger = s.log.With("component", "y-webrtc")
		if s.ywebrtc, err = ywebrtc.New(s.sig, yc); err != nil {
			s.closeSFU()
			s.closeTURN()
			return nil, err
		}
	}
	s.http = &http.Server{
		Addr:              cfg.Listen,
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// capSessions keeps the session limit below the process's open-file limit,
// with room left for listeners, logs and TURN.
func capSessions(want int, log *slog.Logger) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return want
	}
	ceiling := int(lim.Cur) - 256
	if want == 0 {
		want = 10000
	}
	log.Info("open-file limit", "rlimit_nofile", lim.Cur, "max_sessions", min(want, ceiling))
	if ceiling < want {
		log.Warn("session limit lowered to fit the open-file limit", "wanted", want, "max_sessions", ceiling)
		return max(ceiling, 1)
	}
	return want
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.sig != nil {
		mux.Handle("GET /ws", s.sig)
		mux.Handle("GET /y-webrtc", s.ywebrtc)
	} else {
		off := func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "signaling is switched off on this server"})
		}
		mux.HandleFunc("GET /ws", off)
		mux.HandleFunc("GET /y-webrtc", off)
	}
	mux.HandleFunc("GET /v1/ice-servers", s.iceServers)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/dev/token", s.devToken)
	mux.Handle("/", web.Handler())
	return mux
}

// devToken mints a short-lived token for any user, granting every room and
// namespace. It exists only in dev mode.
func (s *Server) devToken(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Dev || s.secret == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{
			"error": "dev tokens are off: start the server with --dev, or get a token from your app's backend"})
		return
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		user = "guest-" + rand.Text()[:6]
	}
	if len(user) > 64 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "user longer than 64 bytes"})
		return
	}
	const ttl = time.Hour
	ns := map[string][]string{ywebrtc.Namespace: {"*"}}
	for _, n := range s.cfg.Signaling.Namespaces {
		ns[n.Name] = []string{"*"}
	}
	tok, err := signaling.MintHS256(s.secret, signaling.TokenSpec{
		User: user, Name: r.URL.Query().Get("name"), Rooms: []string{"*"}, NS: ns, TTL: ttl,
	})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": user, "expires": time.Now().Add(ttl).Unix()})
}

// iceServers answers GET /v1/ice-servers for apps that do their own
// signaling: the caller proves who it is with the same JWT that signaling
// takes (Authorization: Bearer), and gets the iceServers a welcome would carry.
func (s *Server) iceServers(w http.ResponseWriter, r *http.Request) {
	if s.turn == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "TURN is switched off on this server"})
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "error": "send the JWT as Authorization: Bearer <token>"})
		return
	}
	id, err := s.verify.Verify(tok)
	if err != nil {
		var pe *signaling.Error
		code := "unauthorized"
		if errors.As(err, &pe) {
			code = string(pe.Code)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": code, "error": err.Error()})
		return
	}
	list := s.turn.ICEServers(id.User, r.Host, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"iceServers": list, "expires": credentialsExpire(list)})
}

// credentialsExpire is when the TURN credentials in list stop working
// (unix seconds; the STUN entry carries none).
func credentialsExpire(list []turn.ICEServer) int64 {
	var exp int64
	for _, l := range list {
		exp = max(exp, l.Expires)
	}
	return exp
}

// iceServersJSON is signaling's Config.ICEServers.
func (s *Server) iceServersJSON(user, host string) ([]byte, time.Time) {
	list := s.turn.ICEServers(user, host, time.Now())
	b, err := json.Marshal(list)
	if err != nil { // a []ICEServer always marshals
		panic(err)
	}
	var exp time.Time
	if e := credentialsExpire(list); e != 0 {
		exp = time.Unix(e, 0)
	}
	return b, exp
}

// TURN returns the embedded TURN server, or nil when it is off.
func (s *Server) TURN() *turn.Server { return s.turn }

func (s *Server) closeTURN() {
	if s.turn != nil {
		if err := s.turn.Close(); err != nil {
			s.log.Warn("closing TURN", "err", err)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Signaling returns the signaling service (for tests and metrics).
func (s *Server) Signaling() *signaling.Server { return s.sig }

// Secret returns the HS256 secret in use (nil with a public key).
func (s *Server) Secret() []byte { return s.secret }

// TLS reports whether the server serves HTTPS.
func (s *Server) TLS() bool { return s.cfg.TLSCert != "" }

// Listen opens the configured listening socket.
func (s *Server) Listen() (net.Listener, error) {
	return net.Listen("tcp", s.cfg.Listen)
}

// Serve serves on ln until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.Dev {
		s.log.Warn("DEVELOPMENT MODE: /v1/dev/token gives anyone a token for any room; never use --dev in production")
	}
	if s.turn != nil {
		s.turn.AddListener(ln.Addr()) // no relay may reach signaling either
	}
	var err error
	if s.TLS() {
		s.http.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		err = s.http.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
	} else {
		err = s.http.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, closes every signaling session with
// 1001 (clients reconnect) and waits for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	// Both at once: http.Shutdown may wait out a slow HTTP client until ctx
	// ends, and the WebSocket sessions must get their 1001 meanwhile.
	herr := make(chan error, 1)
	go func() { herr <- s.http.Shutdown(ctx) }()
	var serr error
	if s.sig != nil {
		serr = s.sig.Shutdown(ctx)
	}
	err := errors.Join(<-herr, serr)
	if s.sfu != nil { // after signaling: its sessions have left the SFU
		err = errors.Join(err, s.sfu.Close())
	}
	if s.turn != nil {
		err = errors.Join(err, s.turn.Close())
	}
	return err
}
