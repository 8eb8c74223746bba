package signaling

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FrameKind tells what an outbound frame is, for metrics and for the writer
// (control frames carry no seq).
type FrameKind uint8

// Outbound frame kinds.
const (
	KindWelcome FrameKind = iota
	KindJoined
	KindPeerJoined
	KindPeerLeft
	KindSignal
	KindBroadcast
	KindPong
	KindAck
	KindError
	KindICEServers
	KindTokenExpiring
	KindReconnect
	KindSFU     // a message from the SFU of an sfu room
	KindMode    // a switch of an auto room
	KindModeAck // another member finished a switch
	kindPing    // WebSocket control ping
	kindClose   // WebSocket close frame, then the connection ends
	numKinds
)

var kindNames = [numKinds]string{"welcome", "joined", "peer-joined", "peer-left", "signal", "broadcast", "pong", "ack", "error", "ice-servers", "token-expiring", "reconnect", "sfu", "mode", "mode-ack", "ping", "close"}

// inbound frame types as metric labels; anything else counts as "unknown".
var inTypes = []string{TypeHello, TypeJoin, TypeLeave, TypeSignal, TypeBroadcast, TypePing, TypeICEServers, TypeRefresh, TypeConfirm, TypeSFU, TypeSFUJoin, TypeSFULeave, TypeModeAck, "unknown", "invalid"}

// metrics holds pre-resolved counters: the hot path never looks up labels.
type metrics struct {
	sessions    prometheus.Gauge
	connects    prometheus.Counter
	refused     *prometheus.CounterVec
	framesIn    map[string]prometheus.Counter
	framesOut   [numKinds]prometheus.Counter
	compatIn    *prometheus.CounterVec // frames of compat endpoints (gate.go), by protocol and type
	compatOut   *prometheus.CounterVec
	errors      map[Code]prometheus.Counter
	disconnects *prometheus.CounterVec
	detached    prometheus.Gauge
	resumes     map[string]prometheus.Counter // by result: "resumed" or a resumeError code

	byMode        *prometheus.GaugeVec
	switches      *prometheus.CounterVec
	switchSeconds *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, rooms func() int) *metrics {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_signaling_sessions", Help: "Authenticated signaling sessions open now.",
		}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_signaling_sessions_total", Help: "Signaling sessions authenticated since start.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_signaling_connections_refused_total", Help: "WebSocket connections refused before a session began, by reason.",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_signaling_disconnects_total", Help: "Sessions ended, by reason.",
		}, []string{"reason"}),
		detached: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_signaling_sessions_detached", Help: "Sessions whose connection dropped, kept for their client to resume (part of switchboard_signaling_sessions).",
		}),
		resumes:  map[string]prometheus.Counter{},
		framesIn: map[string]prometheus.Counter{},
		errors:   map[Code]prometheus.Counter{},
	}
	in := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_frames_in_total", Help: "Client frames received, by type.",
	}, []string{"type"})
	for _, t := range inTypes {
		m.framesIn[t] = in.WithLabelValues(t)
	}
	out := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_frames_out_total", Help: "Frames queued to clients, by type.",
	}, []string{"type"})
	for k := range numKinds {
		m.framesOut[k] = out.WithLabelValues(kindNames[k])
	}
	m.compatIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_compat_frames_in_total", Help: "Client frames received on the compat endpoints (y-webrtc), by protocol and type.",
	}, []string{"protocol", "type"})
	m.compatOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_compat_frames_out_total", Help: "Frames queued to clients of the compat endpoints, by protocol and type.",
	}, []string{"protocol", "type"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_errors_total", Help: "Error frames sent to clients, by code.",
	}, []string{"code"})
	for _, c := range allCodes {
		m.errors[c] = errs.WithLabelValues(string(c))
	}
	resumes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_signaling_resumes_total", Help: "Hellos that asked to resume a session, by result: resumed, or why not.",
	}, []string{"result"})
	for _, r := range []string{resumeOK, refusedUnknown, refusedOverflow, refusedSeq, refusedForbidden} {
		m.resumes[r] = resumes.WithLabelValues(r)
	}
	roomsGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_signaling_rooms", Help: "Rooms with at least one member.",
	}, func() float64 { return float64(rooms()) })
	m.byMode = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_rooms_by_mode", Help: "Rooms with at least one member, by mode now (an auto room counts as mesh or sfu).",
	}, []string{"mode"})
	m.switches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_room_switches_total", Help: "Switches of auto rooms, by direction (to_sfu, to_mesh) and outcome: ok, partial (a member could not move every peer), timeout (not every member acked in 30 s), superseded (another switch came first).",
	}, []string{"direction", "outcome"})
	m.switchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_room_switch_seconds",
		Help:    "Time from a switch's mode frame to the last member's mode-ack, by direction (switches that ended ok or partial).",
		Buckets: []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30},
	}, []string{"direction"})
	for _, mode := range []RoomMode{ModeMesh, ModeSFU} {
		m.byMode.WithLabelValues(string(mode))
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.connects, m.refused, m.disconnects, m.detached, resumes, in, out, m.compatIn, m.compatOut, errs, roomsGauge,
			m.byMode, m.switches, m.switchSeconds)
	}
	return m
}

func (m *metrics) roomsByMode(mode RoomMode) prometheus.Gauge {
	return m.byMode.WithLabelValues(string(mode))
}

// switchDone counts a switch that ended; the histogram takes only those that
// every member acked.
func (m *metrics) switchDone(direction, outcome string, took time.Duration) {
	m.switches.WithLabelValues(direction, outcome).Inc()
	if outcome == "ok" || outcome == "partial" {
		m.switchSeconds.WithLabelValues(direction).Observe(took.Seconds())
	}
}

func (m *metrics) frameIn(typ string) { countType(m.framesIn, typ) }

// countType counts a frame of type typ in byType, as "unknown" when
// byType has no counter for it.
func countType(byType map[string]prometheus.Counter, typ string) {
	c, ok := byType[typ]
	if !ok {
		c = byType["unknown"]
	}
	c.Inc()
}

func (m *metrics) errorOut(code Code) {
	if c, ok := m.errors[code]; ok {
		c.Inc()
	}
}
