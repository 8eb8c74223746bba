package sfu

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
	"github.com/switchboard-rtc/switchboard/sfu/internal/udpbatch"
)

// metrics are the switchboard_sfu_* series.
type metrics struct {
	rooms, participants, tracks, paused prometheus.Gauge
	bwPaused                            prometheus.Gauge     // bandwidth.go
	layersPaused                        prometheus.Gauge     // dynacast.go
	estimate                            prometheus.Histogram // bandwidth.go
	packets, bytes                      prometheus.Counter
	nackRecv, nackAnswered, nackFwd     prometheus.Counter
	rtxSent, rtxRecv, pubNACKs, dupes   prometheus.Counter
	pliRecv, pliFwd, badRTP, badRTCP    prometheus.Counter
	dataRelayed                         prometheus.Counter
	dataDropped                         *prometheus.CounterVec
	badMessages                         prometheus.Counter
	layerSwitches, delayDecreases       prometheus.Counter
	fanout                              prometheus.Histogram // fanout.go
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_sfu_" + name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_sfu_" + name, Help: help})
	}
	m := &metrics{
		rooms:        g("rooms", "SFU rooms open."),
		participants: g("participants", "Participants in SFU rooms."),
		tracks:       g("tracks", "Incoming (published) tracks being forwarded."),
		paused:       g("subscribers_paused", "Forwarded tracks (per subscriber) paused because the publisher stopped sending."),
		bwPaused:     g("subscribers_paused_bandwidth", "Forwarded video tracks (per subscriber) paused because not even their lowest layer fits the subscriber's bandwidth estimate."),
		layersPaused: g("layers_paused", "Simulcast layers their publishers are asked to pause because no subscriber wants them."),
		estimate: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_sfu_estimated_bandwidth_bps",
			Help:    "Subscribers' bandwidth estimates (bits/s), observed per subscriber with an estimate at each housekeeping tick.",
			Buckets: prometheus.ExponentialBucketsRange(64_000, 20_000_000, 10),
		}),
		packets:      c("forwarded_packets_total", "RTP packets written to subscribers."),
		bytes:        c("forwarded_bytes_total", "RTP bytes written to subscribers (before SRTP)."),
		nackRecv:     c("nacks_received_total", "Packets asked for by subscribers' NACKs."),
		nackAnswered: c("nacks_answered_total", "NACKed packets resent from the server's cache."),
		nackFwd:      c("nacks_forwarded_total", "NACKed packets asked of the publisher (cache misses)."),
		rtxSent:      c("rtx_sent_total", "NACKed packets resent to subscribers as RTX (RFC 4588; also in nacks_answered_total)."),
		rtxRecv:      c("rtx_received_total", "Packets publishers resent as RTX that the server had lost (unwrapped and forwarded)."),
		pubNACKs:     c("publisher_nacks_total", "Packets the server asked publishers to resend for its own losses on the way in."),
		dupes:        c("duplicate_packets_total", "Packets from publishers dropped as copies of one already received (a retransmission after the original, RTX padding)."),
		pliRecv:      c("plis_received_total", "Keyframe requests (PLI, FIR) from subscribers."),
		pliFwd:       c("plis_forwarded_total", "Keyframe requests sent to publishers (rate-limited)."),
		badRTP:       c("bad_rtp_total", "Incoming RTP packets dropped as malformed or too large."),
		badRTCP:      c("bad_rtcp_total", "Incoming RTCP compounds dropped as malformed or too large."),
		dataRelayed:  c("data_messages_relayed_total", "Data channel messages delivered (one per recipient)."),
		dataDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_sfu_data_messages_dropped_total",
			Help: "Data channel messages dropped, by reason (bad, size, rate, bytes, target, full).",
		}, []string{"reason"}),
		badMessages:    c("bad_messages_total", "SFU messages from clients refused (bad JSON, kind, SDP, candidate)."),
		layerSwitches:  c("layer_switches_total", "Simulcast layer switches made for subscribers."),
		delayDecreases: c("delay_decreases_total", "Cuts of subscribers' delay-based bandwidth estimates: transport-cc feedback showed their queue growing."),
		fanout:         newFanoutHistogram(),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.rooms, m.participants, m.tracks, m.paused, m.bwPaused, m.layersPaused, m.estimate, m.packets, m.bytes,
		m.nackRecv, m.nackAnswered, m.nackFwd, m.rtxSent, m.rtxRecv, m.pubNACKs, m.dupes, m.pliRecv, m.pliFwd, m.badRTP, m.badRTCP, m.dataRelayed, m.dataDropped, m.badMessages, m.layerSwitches, m.delayDecreases, m.fanout} {
		if err := reg.Register(col); err != nil {
			return nil, errors.Join(ErrBadConfig, err)
		}
	}
	return m, nil
}

// registerUDP adds the UDP socket's batched-write counters, read from
// stats at each scrape.
func registerUDP(reg prometheus.Registerer, stats func() udpbatch.Stats) error {
	if reg == nil {
		return nil
	}
	for _, c := range []struct {
		name, help string
		get        func(udpbatch.Stats) uint64
	}{
		{"udp_batched_datagrams_total", "Datagrams the SFU sent in batches (sendmmsg): a packet's copies for its subscribers.", func(s udpbatch.Stats) uint64 { return s.Sent }},
		{"udp_batches_total", "sendmmsg calls that carried them (datagrams per call: the ratio of the two).", func(s udpbatch.Stats) uint64 { return s.Batches }},
		{"udp_send_dropped_total", "Batched datagrams the kernel refused (the error a single send would have returned).", func(s udpbatch.Stats) uint64 { return s.Dropped }},
	} {
		f := func() float64 { return float64(c.get(stats())) }
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "switchboard_sfu_" + c.name, Help: c.help}, f)); err != nil {
			return errors.Join(ErrBadConfig, err)
		}
	}
	return nil
}

func (m *metrics) counters() *rtc.Counters {
	return &rtc.Counters{
		ForwardedPackets: m.packets, ForwardedBytes: m.bytes,
		NACKsReceived: m.nackRecv, NACKsAnswered: m.nackAnswered, NACKsForwarded: m.nackFwd,
		RTXSent: m.rtxSent, RTXReceived: m.rtxRecv, PublisherNACKs: m.pubNACKs, DuplicatePackets: m.dupes,
		PLIsReceived: m.pliRecv, PLIsForwarded: m.pliFwd, BadPackets: m.badRTP, BadRTCP: m.badRTCP, Fanout: m.fanout,
		DelayDecreases: m.delayDecreases,
	}
}
