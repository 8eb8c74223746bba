package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/server"
	"github.com/switchboard-rtc/switchboard/signaling"
)

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		cfg      server.Config
		sc       = &cfg.Signaling
		origins  listFlag
		nsSpec   string
		logLevel = fs.String("log-level", "info", "log level: debug, info, warn, error")
		logJSON  = fs.Bool("log-json", false, "log JSON lines instead of text")
		drain    = fs.Duration("shutdown-timeout", 10*time.Second, "on SIGTERM, how long to wait for clients to leave")
	)
	fs.StringVar(&cfg.Listen, "listen", ":8080", "HTTP listen address")
	fs.BoolVar(&cfg.Dev, "dev", false, "development mode: /v1/dev/token hands out tokens to anyone (never in production)")
	fs.StringVar(&cfg.JWTSecret, "jwt-secret", "", "HS256 secret that signs client tokens (generated at start when unset)")
	fs.StringVar(&cfg.JWTPublicKeyFile, "jwt-public-key", "", "PEM public key file for RS256 or ES256 tokens, instead of a secret")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (serve HTTPS and wss://)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file")
	fs.Var(&origins, "allowed-origins", "comma-separated browser origins allowed besides the server's own (* for any)")
	fs.StringVar(&nsSpec, "namespaces", "", `extra namespaces with optional limits, e.g. "chat,notifications:peers=8:rooms=4:rate=20"`)
	fs.IntVar(&sc.MaxFrameBytes, "max-frame-bytes", 64<<10, "largest client frame in bytes; larger closes the connection with 1009")
	fs.Float64Var(&sc.Rate, "rate", 100, "client frames per second per session, sustained")
	fs.IntVar(&sc.Burst, "burst", 300, "client frames a session may send in a burst")
	fs.IntVar(&sc.MaxSessions, "max-sessions", 10000, "sessions on this server (capped below the open-file limit)")
	fs.IntVar(&sc.MaxSessionsPerUser, "max-sessions-per-user", 16, "concurrent sessions of one user")
	fs.IntVar(&sc.Limits.RoomsPerSession, "rooms-per-session", 32, "rooms one session may be in (default namespace)")
	fs.IntVar(&sc.Limits.PeersPerRoom, "peers-per-room", 50, "peers in one room (default namespace)")
	fs.IntVar(&sc.SendQueueFrames, "send-queue", 1024, "frames queued for a client (or kept for it while away) before it is disconnected as too slow")
	fs.DurationVar(&sc.ResumeGrace, "resume-grace", 30*time.Second, "how long a session whose connection dropped waits for its client to resume it (0: no resume)")
	fs.BoolVar(&cfg.YWebRTC.Public, "y-webrtc-public", false, "let y-webrtc clients use /y-webrtc without a token: a public anonymous signaling server with tighter limits, topics apart from token holders' (docs/compat.md)")
	sigOn := fs.Bool("signaling", true, "run the WebSocket signaling service (--signaling=false: TURN only)")
	tf := addTURNFlags(fs)
	sf := addSFUFlags(fs)
	withEnvUsage(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := applyEnv(fs); err != nil {
		return err
	}
	sc.AllowedOrigins = origins
	if sc.ResumeGrace <= 0 {
		sc.ResumeGrace = -1 // the flag's 0 is "off"; the config's 0 is "default"
	}
	ns, err := parseNamespaces(nsSpec)
	if err != nil {
		return err
	}
	sc.Namespaces = ns
	cfg.NoSignaling = !*sigOn
	if cfg.TURN, err = tf.config(); err != nil {
		return err
	}
	if cfg.NoSignaling && cfg.TURN == nil {
		return errors.New("--signaling=false and --turn=false leave nothing to run")
	}
	if err := sf.apply(&cfg, tf.publicIP); err != nil {
		return err
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if *logJSON {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(h)
	cfg.Logger = log

	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	scheme := "http"
	if srv.TLS() {
		scheme = "https"
	}
	if t := srv.TURN(); t != nil {
		log.Info("TURN URLs for clients on this host", "urls", strings.Join(t.URLs(hostOf(ln.Addr())), " "))
	}
	// Last: tests and scripts wait for this line.
	if cfg.NoSignaling {
		log.Info("switchboard listening (TURN only: no signaling)", "addr", ln.Addr().String(), "metrics", demoURL(scheme, ln.Addr())+"metrics")
	} else {
		log.Info("switchboard listening", "addr", ln.Addr().String(), "websocket", wsURL(scheme, ln.Addr()), "demo", demoURL(scheme, ln.Addr()))
	}
	if cfg.Dev {
		log.Warn("dev mode: JWT secret for `switchboard token --secret`", "secret", string(srv.Secret()))
		u := demoURL(scheme, ln.Addr())
		fmt.Fprintf(os.Stderr, "\n  Open %s in two browser tabs to try the demos:\n"+
			"    %s             chat over data channels\n"+
			"    %scall.html    video call\n"+
			"    %snotes.html   shared notepad\n"+
			"    %scheck.html   connectivity check (direct UDP, TURN/UDP, TURN/TCP, TURN/TLS)\n"+
			"    %sexamples/react/   the React example\n\n", u, u, u, u, u, u)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: closing sessions with 1001", "timeout", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown forced", "err", err)
	}
	return <-errc
}

// hostOf is the host a local user reaches a listener at.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		return ta.IP.String()
	}
	return "localhost"
}

func demoURL(scheme string, a net.Addr) string {
	host := hostOf(a)
	return fmt.Sprintf("%s://%s/", scheme, net.JoinHostPort(host, strconv.Itoa(a.(*net.TCPAddr).Port)))
}

func wsURL(scheme string, a net.Addr) string {
	return strings.Replace(demoURL(scheme, a), "http", "ws", 1) + "ws"
}

// parseNamespaces reads "chat,notifications:peers=8:rooms=4:rate=20:burst=40".
func parseNamespaces(spec string) ([]signaling.Namespace, error) {
	var out []signaling.Namespace
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		n := signaling.Namespace{Name: parts[0]}
		for _, kv := range parts[1:] {
			k, v, ok := strings.Cut(kv, "=")
			num, err := strconv.ParseFloat(v, 64)
			if !ok || err != nil || num < 0 {
				return nil, fmt.Errorf("--namespaces %q: want key=number, got %q", item, kv)
			}
			switch k {
			case "peers":
				n.Limits.PeersPerRoom = int(num)
			case "rooms":
				n.Limits.RoomsPerSession = int(num)
			case "rate":
				n.Limits.Rate = num
			case "burst":
				n.Limits.Burst = int(num)
			default:
				return nil, fmt.Errorf("--namespaces %q: unknown limit %q (peers, rooms, rate, burst)", item, k)
			}
		}
		out = append(out, n)
	}
	return out, nil
}
