// Package ywebrtc serves the signaling protocol of y-webrtc 10.x (Yjs's
// WebRTC provider) on a Switchboard server, so that an unmodified y-webrtc
// app can use it as its signaling server: `signaling:
// ['wss://host/y-webrtc?token=JWT']`. See docs/compat.md.
//
// The protocol is that of y-webrtc's bin/server.js: subscribe and
// unsubscribe to topics, publish to a topic (relayed to every subscriber,
// the sender included, with "clients" added), and an application ping
// answered with pong. Topics are rooms of the namespace "y-webrtc" on the
// server's Bus; a token must grant them there (its "ns" claim). The token
// comes in the URL and is checked once, when the connection opens.
//
// Concurrency: a Handler is safe for concurrent use; each connection's
// messages are handled in order by its own reader goroutine (compat.Conn).
package ywebrtc

import (
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/compat"
)

// Namespaces of the topics: token holders' and the public endpoint's.
const (
	Namespace       = "y-webrtc"
	PublicNamespace = "y-webrtc-public"
)

// Protocol is the protocol's name in metrics.
const Protocol = "y-webrtc"

// Config configures the endpoint.
type Config struct {
	// Dev lets a connection without a token in, granted every topic of
	// Namespace (the server's --dev). Never in production.
	Dev bool
	// Public lets a connection without a token in, as an anonymous user
	// (one per client address) granted every topic of PublicNamespace,
	// which token holders' topics are not part of, with the tighter
	// PublicLimits.
	Public       bool
	PublicLimits signaling.GateConfig // zero fields: DefaultPublicLimits'
	Logger       *slog.Logger         // default slog.Default()
}

// DefaultPublicLimits are the public endpoint's limits: at most 1,000
// anonymous connections, 4 per client address, 20 messages per second
// each (bursts of 60), 8 topics each and 20 subscribers per topic.
var DefaultPublicLimits = signaling.GateConfig{
	MaxConns: 1000, MaxConnsPerUser: 4, Rate: 20, Burst: 60,
	Limits: signaling.Limits{RoomsPerSession: 8, PeersPerRoom: 20},
}

var inTypes = []string{TypeSubscribe, TypeUnsubscribe, TypePublish, TypePing}

var outTypes = map[signaling.FrameKind]string{
	signaling.KindBroadcast: TypePublish, signaling.KindPong: TypePong, signaling.KindError: TypeError,
}

// Handler is the y-webrtc endpoint; mount it at GET /y-webrtc.
type Handler struct {
	auth   *signaling.Gate // token holders (and --dev)
	public *signaling.Gate // nil unless Config.Public
	dev    bool
	log    *slog.Logger
}

// New returns the endpoint, whose connections are sessions of srv.
func New(srv *signaling.Server, cfg Config) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{dev: cfg.Dev, log: cfg.Logger}
	var err error
	h.auth, err = srv.NewGate(signaling.GateConfig{Protocol: Protocol, Namespace: Namespace, InTypes: inTypes, OutTypes: outTypes})
	if err != nil {
		return nil, err
	}
	if cfg.Dev {
		h.log.Warn("y-webrtc: --dev lets connections without a token use every topic at /y-webrtc; never in production")
	}
	if cfg.Public {
		pc := withDefaults(cfg.PublicLimits)
		pc.Protocol, pc.Namespace, pc.InTypes, pc.OutTypes = Protocol, PublicNamespace, inTypes, outTypes
		if h.public, err = srv.NewGate(pc); err != nil {
			return nil, err
		}
		h.log.Warn("y-webrtc: PUBLIC ANONYMOUS ENDPOINT: anyone can use /y-webrtc without a token (their own topics, apart from token holders')",
			"max_conns", pc.MaxConns, "per_address", pc.MaxConnsPerUser, "rate", pc.Rate, "topics", pc.Limits.RoomsPerSession, "per_topic", pc.Limits.PeersPerRoom)
	}
	return h, nil
}

func withDefaults(c signaling.GateConfig) signaling.GateConfig {
	d := DefaultPublicLimits
	pick := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	pick(&c.MaxConns, d.MaxConns)
	pick(&c.MaxConnsPerUser, d.MaxConnsPerUser)
	pick(&c.Burst, d.Burst)
	pick(&c.Limits.RoomsPerSession, d.Limits.RoomsPerSession)
	pick(&c.Limits.PeersPerRoom, d.Limits.PeersPerRoom)
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	return c
}

// ServeHTTP upgrades the request and serves its connection until it ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gate := h.auth
	var ident *signaling.Identity
	var err error
	switch token := r.URL.Query().Get("token"); {
	case token != "":
		ident, err = gate.Verify(token)
	case h.dev:
		ident = anonymous(r, "dev", Namespace)
	case h.public != nil:
		gate = h.public
		ident = anonymous(r, "anonymous", PublicNamespace)
	default:
		err = &signaling.Error{Code: signaling.CodeUnauthorized, Message: "no token: connect to /y-webrtc?token=JWT"}
	}
	gc, ok := gate.Upgrade(w, r)
	if !ok {
		return
	}
	c := compat.New(gc)
	if err == nil {
		err = gc.Admit(ident, c)
	}
	if err != nil {
		h.refuse(c, err)
		c.Run(nil, nil)
		return
	}
	h.log.Debug("y-webrtc connection", "peer", gc.Peer, "user", ident.User, "remote", gc.Remote)
	s := &session{c: c, gate: gate}
	c.Run(s.handle, s.binary)
}

// refuse tells the client why and closes the connection: 4401 for a token
// problem, 4429 for too many sessions.
func (h *Handler) refuse(c *compat.Conn, err error) {
	var pe *signaling.Error
	if !errors.As(err, &pe) {
		pe = &signaling.Error{Code: signaling.CodeUnauthorized, Message: err.Error()}
	}
	c.Gate().ErrorOut(pe.Code)
	c.Deliver(encodeError(pe, ""), signaling.KindError)
	code := signaling.CloseUnauthorized
	if pe.Code == signaling.CodeLimitExceeded {
		code = signaling.CloseTooManySessions
	}
	c.Close(code, string(pe.Code))
	h.log.Debug("y-webrtc connection refused", "remote", c.Remote, "err", err)
}

// anonymous is the identity of a connection without a token: one user per
// client address (so the per-user limit is a per-address one), granted
// every topic of ns.
func anonymous(r *http.Request, kind, ns string) *signaling.Identity {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return &signaling.Identity{User: kind + ":" + host, Grants: signaling.Grants{NS: map[string][]string{ns: {"*"}}}}
}
