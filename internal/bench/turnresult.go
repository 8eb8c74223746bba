package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// TURNResult is what RunTURN measured.
type TURNResult struct {
	Label   string
	Machine Machine
	Idle    TURNIdle
	Phases  []TURNPhase
	// FirstError is the first error seen (allocation, read, write, error
	// response), "" if none.
	FirstError string
}

// Errors counts everything that went wrong after the warm-up.
func (r TURNResult) Errors() int64 {
	n := int64(r.Idle.Failures) + r.Idle.Errors
	for _, p := range r.Phases {
		n += p.WriteErrors + p.ReadErrors + p.BadPackets + p.ControlErrors
	}
	return n
}

// TURNIdle is the idle-allocation measurement.
type TURNIdle struct {
	Allocations int           // asked for
	Held        int           // allocated (with a channel to the peer) when memory was read
	Failures    int           // allocations that could not be made
	Errors      int64         // read errors and error responses while idle
	Connect     time.Duration // time to make them all
	Sources     int

	RSSSource                         string // "proc" (VmRSS of the PID) or "metrics"
	RSSBefore, RSSAfter               int64  // bytes; -1 unknown
	HeapAt                            string // "post-gc" or "settle-end"
	HeapBefore, HeapAfter             int64  // go_memstats_heap_inuse_bytes; -1 unknown
	GoroutinesBefore, GoroutinesAfter int64
	FDsBefore, FDsAfter               int // the server's open files; -1 unknown

	OtherCPU     float64       // % of one core other processes used while settling
	IdleWait     time.Duration // waited for an idle machine before the baseline
	WaitTimedOut bool
}

// PerAllocation returns (after-before)/Held in KiB, or -1.
func (i TURNIdle) PerAllocation(before, after int64) float64 {
	return perHeld(before, after, i.Held, 1024)
}

func (i TURNIdle) perAlloc(before, after int64) float64 {
	return perHeld(before, after, i.Held, 1)
}

// TURNPhase is one relay measurement.
type TURNPhase struct {
	Mode    string  // "relay-paced" or "relay-sat" (closed loop)
	Offered float64 // round trips/s offered in total (paced), 0 closed loop
	Window  int     // closed loop: packets in flight per allocation
	Payload int     // bytes of application data per packet (ChannelData adds 4)
	Active  int     // allocations sending
	Elapsed time.Duration

	// Packets whose send stamp fell in the measured time: sent by the
	// clients, arrived at the peer (relayed once), back at the clients
	// (relayed twice).
	Sent, AtPeer, Delivered int64
	Behind                  int64 // paced sends dropped because the generator fell over 50 ms behind
	Stalls                  int64 // closed loop: allocations restarted after losing every packet in flight

	P50, P99, P999, Mean, Max time.Duration // round trip client -> relay -> peer -> relay -> client

	ServerCPU, GenCPU, OtherCPU float64   // % of one core; ServerCPU -1 unknown
	CoreBusy                    []float64 // % busy per CPU
	SoftIRQ, Steal              float64   // % of one core, summed over CPUs

	Drops         udpDrops // receive-buffer drops on the sockets' own counters (/proc/net/udp)
	RcvbufErrors  int64    // host-wide UDP RcvbufErrors (/proc/net/snmp)
	ServerRelayed int64    // the server's relayed packet counter (both directions), -1 unknown
	ServerDropped int64    // the server's dropped packet counter, -1 unknown

	WriteErrors, ReadErrors, BadPackets, ControlErrors int64
	RSS                                                int64 // server RSS at the end, bytes

	IdleWait     time.Duration
	WaitTimedOut bool
}

// RoundTrips is echo round trips completed per second.
func (p TURNPhase) RoundTrips() float64 { return float64(p.Delivered) / p.Elapsed.Seconds() }

// RelayPPS is packets relayed by the server per second, both legs: those
// that reached the peer plus those that came back.
func (p TURNPhase) RelayPPS() float64 { return float64(p.AtPeer+p.Delivered) / p.Elapsed.Seconds() }

// Mbits is the relayed payload bit rate, RelayPPS x payload.
func (p TURNPhase) Mbits() float64 { return p.RelayPPS() * float64(p.Payload) * 8 / 1e6 }

// Loss is the share of packets sent in the window that did not come back,
// in %; LossOut of those that did not reach the peer, LossBack of those
// that reached it and did not come back.
func (p TURNPhase) Loss() float64 { return pct(p.Sent-p.Delivered, p.Sent) }

// LossOut is the % of sent packets that did not reach the peer.
func (p TURNPhase) LossOut() float64 { return pct(p.Sent-p.AtPeer, p.Sent) }

// LossBack is the % of packets at the peer that did not come back.
func (p TURNPhase) LossBack() float64 { return pct(p.AtPeer-p.Delivered, p.AtPeer) }

// ServerUsPerPacket is the server's CPU time per relayed packet in µs, -1 unknown.
func (p TURNPhase) ServerUsPerPacket() float64 {
	if p.ServerCPU < 0 || p.RelayPPS() == 0 {
		return -1
	}
	return p.ServerCPU / 100 * 1e6 / p.RelayPPS()
}

// GenUsPerPacket is the generator's CPU time (clients and echo peer) per relayed packet in µs.
func (p TURNPhase) GenUsPerPacket() float64 {
	if p.RelayPPS() == 0 {
		return -1
	}
	return p.GenCPU / 100 * 1e6 / p.RelayPPS()
}

func pct(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func waitNote(d time.Duration, timedOut bool) string {
	s := fmt.Sprintf("%.0f", d.Seconds())
	if timedOut {
		s += "_timeout"
	}
	return s
}

func (r *TURNResult) idleLine() string {
	i := r.Idle
	fds := perHeld(int64(i.FDsBefore), int64(i.FDsAfter), i.Held, 1)
	return fmt.Sprintf("RESULT server=%s mode=idle allocations=%d held=%d alloc_fails=%d connect_s=%.1f allocs_per_s=%.0f"+
		" rss_before_kib=%d rss_after_kib=%d kib_per_allocation=%.2f rss_source=%s"+
		" heap_before_kib=%d heap_after_kib=%d heap_kib_per_allocation=%.2f heap_at=%s goroutines_per_allocation=%.2f"+
		" server_fds_per_allocation=%.2f srcs=%d idle_wait_s=%s other_procs_cpu_pct=%.0f errors=%d %s",
		r.Label, i.Allocations, i.Held, i.Failures, i.Connect.Seconds(), float64(i.Allocations-i.Failures)/max(i.Connect.Seconds(), 1e-9),
		kib(i.RSSBefore), kib(i.RSSAfter), i.PerAllocation(i.RSSBefore, i.RSSAfter), orNone(i.RSSSource),
		kib(i.HeapBefore), kib(i.HeapAfter), i.PerAllocation(i.HeapBefore, i.HeapAfter), orNone(i.HeapAt),
		i.perAlloc(i.GoroutinesBefore, i.GoroutinesAfter), fds, i.Sources, waitNote(i.IdleWait, i.WaitTimedOut), i.OtherCPU, i.Errors,
		resultTail(r.Machine, r.FirstError))
}

func (r *TURNResult) phaseLine(p TURNPhase) string {
	extra := fmt.Sprintf("window_per_allocation=%d stalls=%d", p.Window, p.Stalls)
	if p.Mode == "relay-paced" {
		extra = fmt.Sprintf("offered_rt_per_s=%.0f offered_per_allocation=%.0f behind=%d", p.Offered, p.Offered/float64(max(p.Active, 1)), p.Behind)
	}
	return fmt.Sprintf("RESULT server=%s mode=%s payload_bytes=%d allocations=%d %s secs=%.1f sent_per_s=%.0f rt_per_s=%.0f relay_pps=%.0f mbit_s=%.1f"+
		" loss_pct=%.3f loss_to_peer_pct=%.3f loss_from_peer_pct=%.3f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f"+
		" server_cpu_pct=%.0f server_us_per_pkt=%.2f gen_cpu_pct=%.0f gen_us_per_pkt=%.2f core_busy_pct=%s softirq_pct=%.0f steal_pct=%.0f other_procs_cpu_pct=%.0f"+
		" drops_peer=%d drops_server=%d drops_clients=%d drops_other=%d rcvbuf_errs=%d server_relayed_pps=%s server_dropped=%d"+
		" write_errs=%d read_errs=%d bad_pkts=%d ctl_errs=%d rss_kib=%d idle_wait_s=%s %s",
		r.Label, p.Mode, p.Payload, p.Active, extra, p.Elapsed.Seconds(), float64(p.Sent)/p.Elapsed.Seconds(), p.RoundTrips(), p.RelayPPS(), p.Mbits(),
		p.Loss(), p.LossOut(), p.LossBack(), ms(p.P50), ms(p.P99), ms(p.P999), ms(p.Max),
		p.ServerCPU, p.ServerUsPerPacket(), p.GenCPU, p.GenUsPerPacket(), pcts(p.CoreBusy), p.SoftIRQ, p.Steal, p.OtherCPU,
		p.Drops.peer, p.Drops.server, p.Drops.clients, p.Drops.other, p.RcvbufErrors, serverPPS(p), p.ServerDropped,
		p.WriteErrors, p.ReadErrors, p.BadPackets, p.ControlErrors, kib(p.RSS), waitNote(p.IdleWait, p.WaitTimedOut),
		resultTail(r.Machine, r.FirstError))
}

func serverPPS(p TURNPhase) string {
	if p.ServerRelayed < 0 {
		return "-1"
	}
	return fmt.Sprintf("%.0f", float64(p.ServerRelayed)/p.Elapsed.Seconds())
}

// WriteSummary writes a human-readable summary of r.
func (r *TURNResult) WriteSummary(w io.Writer) {
	m, i := r.Machine, r.Idle
	fmt.Fprintf(w, "\n%s: %d allocations held of %d (%d failed), made in %.1f s\n", r.Label, i.Held, i.Allocations, i.Failures, i.Connect.Seconds())
	fmt.Fprintf(w, "  memory per idle allocation: %.2f KiB RSS (%s), %.2f KiB Go heap in use (%s)\n",
		i.PerAllocation(i.RSSBefore, i.RSSAfter), orNone(i.RSSSource), i.PerAllocation(i.HeapBefore, i.HeapAfter), orNone(i.HeapAt))
	if len(r.Phases) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  phase\tpayload\tallocs\toffered rt/s\trt/s\trelayed pkt/s\tMbit/s\tloss %\tp50 ms\tp99 ms\tserver CPU %\tµs/pkt\tgen CPU %\tkernel drops\t")
		for _, p := range r.Phases {
			off := offeredCell(p.Mode, p.Offered)
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%.0f\t%.0f\t%.1f\t%.2f\t%.2f\t%.2f\t%.0f\t%.2f\t%.0f\t%d\t\n", p.Mode, p.Payload, p.Active, off,
				p.RoundTrips(), p.RelayPPS(), p.Mbits(), p.Loss(), ms(p.P50), ms(p.P99), p.ServerCPU, p.ServerUsPerPacket(), p.GenCPU,
				p.Drops.peer+p.Drops.server+p.Drops.clients+p.Drops.other)
		}
		tw.Flush()
	}
	writeSummaryTail(w, m, r.Errors(), r.FirstError)
}
