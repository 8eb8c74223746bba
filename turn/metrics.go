package turn

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the TURN server's Prometheus collectors. No label carries a
// user id or an address, so cardinality stays fixed whatever clients do.
type metrics struct {
	allocs        *prometheus.GaugeVec   // transport: udp, tcp, tls (client to server)
	allocsCreated *prometheus.CounterVec // transport
	allocsRefused *prometheus.CounterVec // reason
	permsRefused  *prometheus.CounterVec // reason: a policy reason word, or "quota"
	dropped       *prometheus.CounterVec // reason

	// The per-packet counters, resolved once so that the relay path does
	// only an atomic add. transport is the relay side: udp or tcp.
	udpBytesTo, udpBytesFrom, udpPktsTo, udpPktsFrom prometheus.Counter
	tcpBytesTo, tcpBytesFrom                         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var errs []error
	reg1 := func(c prometheus.Collector) prometheus.Collector {
		got, err := register(reg, c)
		errs = append(errs, err)
		return got
	}
	m := &metrics{
		allocs: reg1(prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_turn_allocations",
			Help: "TURN allocations now, by the client's transport to the server (udp, tcp, tls).",
		}, []string{"transport"})).(*prometheus.GaugeVec),
		allocsCreated: reg1(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_allocations_created_total",
			Help: "TURN allocations created, by the client's transport to the server (udp, tcp, tls).",
		}, []string{"transport"})).(*prometheus.CounterVec),
		allocsRefused: reg1(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_allocations_refused_total",
			Help: "Allocate requests refused, by reason: auth, expired, malformed, realm, quota_user, quota_total, tcp_relay_disabled, relay_socket.",
		}, []string{"reason"})).(*prometheus.CounterVec),
		permsRefused: reg1(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_permissions_refused_total",
			Help: "CreatePermission, ChannelBind and Connect refusals, by reason: the peer policy's reason word, or quota.",
		}, []string{"reason"})).(*prometheus.CounterVec),
		dropped: reg1(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_dropped_packets_total",
			Help: "Packets (and relay TCP connections) dropped, by reason: a peer policy reason word such as own_listener, bandwidth, no_permission, unauth_rate, tcp_conn_limit, control_queue (requests the poller could not queue for pion).",
		}, []string{"reason"})).(*prometheus.CounterVec),
	}
	bytes := reg1(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_relayed_bytes_total",
		Help: "Payload bytes relayed, by relay transport (udp, tcp) and direction (to_peer, from_peer).",
	}, []string{"transport", "direction"})).(*prometheus.CounterVec)
	packets := reg1(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_turn_relayed_packets_total",
		Help: "UDP datagrams relayed, by direction (to_peer, from_peer); TCP relaying is counted in bytes only.",
	}, []string{"transport", "direction"})).(*prometheus.CounterVec)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.udpBytesTo = bytes.WithLabelValues("udp", "to_peer")
	m.udpBytesFrom = bytes.WithLabelValues("udp", "from_peer")
	m.tcpBytesTo = bytes.WithLabelValues("tcp", "to_peer")
	m.tcpBytesFrom = bytes.WithLabelValues("tcp", "from_peer")
	m.udpPktsTo = packets.WithLabelValues("udp", "to_peer")
	m.udpPktsFrom = packets.WithLabelValues("udp", "from_peer")
	for _, t := range []string{"udp", "tcp", "tls"} {
		m.allocs.WithLabelValues(t) // present at 0 from the start, for dashboards
		m.allocsCreated.WithLabelValues(t)
	}
	// The drops an overloaded server shows first, also present at 0: a
	// burst of requests overflowing the queue to pion's read loops, and
	// the unauthenticated replies held back.
	for _, r := range []string{"control_queue", "unauth_rate"} {
		m.dropped.WithLabelValues(r)
	}
	return m, nil
}

// register adds c to reg. When an identical collector is there already
// (a second Server on the same registry), that one is used, so both
// servers add to the same series instead of failing.
func register(reg prometheus.Registerer, c prometheus.Collector) (prometheus.Collector, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		return are.ExistingCollector, nil
	}
	if err != nil {
		return c, fmt.Errorf("turn: register metrics: %w", err)
	}
	return c, nil
}
