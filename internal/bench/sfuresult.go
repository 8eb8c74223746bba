package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// SFUResult is what RunSFU measured.
type SFUResult struct {
	Label      string
	Machine    Machine
	IdleRSS    int64 // server RSS before the first phase, bytes; -1 unknown
	Phases     []SFUPhase
	FirstError string // "" if none
}

// Errors counts what went wrong in the phases.
func (r SFUResult) Errors() int64 {
	var n int64
	for _, p := range r.Phases {
		n += int64(p.JoinFailures) + p.WriteErrors + p.BadPackets
	}
	return n
}

// SFUPhase is one room measured.
type SFUPhase struct {
	Mode       string // "video-fanout" or "audio"
	N          int    // subscribers (video) or talkers (audio)
	Publishers int
	Streams    int // RTP streams sent (simulcast layers count one each)

	Joined, JoinFailures int
	Ready                int // receivers that got every track before the warm-up
	JoinTime             time.Duration
	Elapsed              time.Duration

	// Over the window (packets whose send stamp is in it): sent by the
	// publishers, expected and received by the receivers (distinct).
	Sent, Expected, Received int64
	Dups                     int64
	Lossless                 int       // receivers that got every packet expected
	Forwarded                int       // tracks forwarded, summed over the receivers that joined
	OnTop                    int       // receivers that got the top simulcast layer (all without simulcast)
	Keyframes                int64     // keyframe requests the publishers answered
	SubLoss                  []float64 // per receiver, % lost

	// Publisher write to receiver read: of every copy, and of the last
	// copy of each packet (the fan-out to the last receiver).
	CopyP50, CopyP99            time.Duration
	LastP50, LastP99, LastMax   time.Duration
	Server                      sfuCounters // counters over the window
	ServerCPU, GenCPU, OtherCPU float64     // % of one core
	CoreBusy                    []float64
	SoftIRQ, Steal              float64
	RSS, IdleRSS                int64 // largest server RSS in the window; before the first phase
	// Datagrams the kernel dropped over the window because a socket's
	// receive queue was full, at the server's sockets and at the
	// generator's (udpdrops.go; 0 where /proc cannot tell).
	ServerUDPDrops, GenUDPDrops int64

	Behind, WriteErrors, BadPackets int64
	NotSFU                          bool // the server made the room a mesh: nothing measured
}

// Loss is the % of expected packets not received.
func (p SFUPhase) Loss() float64 { return pct(p.Expected-p.Received, p.Expected) }

// SubLossQ is the q-quantile of the per-receiver loss, %.
func (p SFUPhase) SubLossQ(q float64) float64 {
	if len(p.SubLoss) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(p.SubLoss))
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

func (p SFUPhase) perSec(n int64) float64 {
	if n < 0 {
		return -1
	}
	return float64(n) / p.Elapsed.Seconds()
}

// OutPPS is the server's forwarded packets per second, -1 unknown.
func (p SFUPhase) OutPPS() float64 { return p.perSec(p.Server.fwdPackets) }

// UsPerPacket is server CPU per forwarded packet, µs; -1 unknown.
func (p SFUPhase) UsPerPacket() float64 {
	if p.ServerCPU < 0 || p.Server.fwdPackets <= 0 {
		return -1
	}
	return p.ServerCPU / 100 * p.Elapsed.Seconds() / float64(p.Server.fwdPackets) * 1e6
}

// CPUPerStream is the server's CPU per forwarded track, % of a core
// (the anchor's audio figure), -1 unknown.
func (p SFUPhase) CPUPerStream() float64 {
	if p.ServerCPU < 0 || p.Forwarded == 0 {
		return -1
	}
	return p.ServerCPU / float64(p.Forwarded)
}

// RSSPerReceiver is (RSS - idle RSS) / N in MiB, -1 unknown.
func (p SFUPhase) RSSPerReceiver() float64 { return perHeld(p.IdleRSS, p.RSS, p.N, 1<<20) }

// serverFanout is the in-server fan-out histogram's p50 and p99 in ms
// (switchboard_sfu_fanout_seconds), -1 when the server has none.
func (p SFUPhase) serverFanout() (p50, p99 float64, n int64) {
	h := p.Server.fanout
	if h.count <= 0 {
		return -1, -1, 0
	}
	return h.quantile(0.5) * 1e3, h.quantile(0.99) * 1e3, int64(h.count)
}

// serverFanoutMean is the histogram's mean in ms (LiveKit's
// fwd_latency_ms_mean is a mean), -1 when the server has none.
func (p SFUPhase) serverFanoutMean() float64 {
	if h := p.Server.fanout; h.count > 0 {
		return h.sum / h.count * 1e3
	}
	return -1
}

func (r *SFUResult) phaseLine(p SFUPhase) string {
	busy := 0.0
	for _, b := range p.CoreBusy {
		busy += b
	}
	mbit := -1.0
	if p.Server.fwdBytes >= 0 {
		mbit = p.perSec(p.Server.fwdBytes) * 8 / 1e6
	}
	s50, s99, sn := p.serverFanout()
	return fmt.Sprintf("RESULT server=%s mode=%s n=%d server_cpu_pct=%.1f gen_cpu_pct=%.1f server_rss_mib=%.0f"+
		" out_pkts_per_s=%.0f out_mbit_per_s=%.1f us_per_pkt=%.2f loss_pct=%.3f lossless=%d"+
		" fwd_latency_ms_p50=%.2f fwd_latency_ms_p99=%.2f fwd_latency_ms_max=%.2f copy_latency_ms_p50=%.2f copy_latency_ms_p99=%.2f"+
		" server_fanout_ms_p50=%.3f server_fanout_ms_p99=%.3f server_fanout_ms_mean=%.3f server_fanout_samples=%d"+
		" sub_loss_pct_p50=%.2f sub_loss_pct_p99=%.2f sub_loss_pct_max=%.2f rss_per_sub_mib=%.3f server_idle_rss_mib=%.0f"+
		" server_cpu_pct_per_stream=%.4f forwarded_tracks=%d on_top_layer=%d keyframes_asked=%d publishers=%d streams=%d in_pkts_per_s=%.0f nacks=%d plis=%d dups=%d joined=%d ready=%d join_s=%.1f window_s=%.1f"+
		" box_busy_pct=%.0f other_cpu_pct=%.0f softirq_pct=%.0f steal_pct=%.0f behind=%d write_errs=%d bad_pkts=%d server_udp_drops=%d gen_udp_drops=%d %s",
		r.Label, p.Mode, p.N, p.ServerCPU, p.GenCPU, float64(p.RSS)/(1<<20),
		p.OutPPS(), mbit, p.UsPerPacket(), p.Loss(), p.Lossless,
		ms(p.LastP50), ms(p.LastP99), ms(p.LastMax), ms(p.CopyP50), ms(p.CopyP99),
		s50, s99, p.serverFanoutMean(), sn,
		p.SubLossQ(0.5), p.SubLossQ(0.99), p.SubLossQ(1), p.RSSPerReceiver(), float64(p.IdleRSS)/(1<<20),
		p.CPUPerStream(), p.Forwarded, p.OnTop, p.Keyframes, p.Publishers, p.Streams, p.perSec(p.Sent), p.Server.nacks, p.Server.plis, p.Dups, p.Joined, p.Ready, p.JoinTime.Seconds(), p.Elapsed.Seconds(),
		busy, p.OtherCPU, p.SoftIRQ, p.Steal, p.Behind, p.WriteErrors, p.BadPackets, p.ServerUDPDrops, p.GenUDPDrops, resultTail(r.Machine, r.FirstError))
}

// WriteSummary writes a human-readable summary of r.
func (r *SFUResult) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "\n%s SFU: idle RSS %.0f MiB\n", r.Label, float64(r.IdleRSS)/(1<<20))
	if len(r.Phases) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  mode\tn\tlossless\tloss %\tout pkt/s\tserver CPU %\tµs/pkt\tMiB/sub\tfan-out p50 ms\tp99 ms\tgen CPU %\t")
		for _, p := range r.Phases {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%.3f\t%.0f\t%.1f\t%.2f\t%.3f\t%.2f\t%.2f\t%.1f\t\n", p.Mode, p.N, p.Lossless, p.Loss(),
				p.OutPPS(), p.ServerCPU, p.UsPerPacket(), p.RSSPerReceiver(), ms(p.LastP50), ms(p.LastP99), p.GenCPU)
		}
		tw.Flush()
	}
	writeSummaryTail(w, r.Machine, r.Errors(), r.FirstError)
}
