package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what Run measured.
type Result struct {
	Label   string
	Machine Machine
	Idle    Idle
	Phases  []Phase
	// FirstError is the first error seen (dial, read, write, error frame,
	// seq gap), "" if none.
	FirstError string
}

// Errors counts everything that went wrong after the warm-up.
func (r Result) Errors() int64 {
	n := int64(r.Idle.DialFailures) + r.Idle.ReadErrors
	for _, p := range r.Phases {
		n += p.ReadErrors + p.WriteErrors + p.ErrorFrames + p.SeqGaps
	}
	return n
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    // logical CPUs
	MemTotal   int64  // bytes
	Kernel     string // /proc/sys/kernel/osrelease
	GoVersion  string // of the generator
	FileLimit  uint64 // RLIMIT_NOFILE of the generator
	GenCPUs    string // CPUs the generator may run on (Cpus_allowed_list)
	ServerCPUs string // CPUs the server(s) may run on, "?" when unknown
}

// Idle is the idle-session measurement.
type Idle struct {
	Sessions     int           // asked for
	Held         int           // open and joined when memory was read
	DialFailures int           // sessions that could not be opened
	ReadErrors   int64         // sessions dropped while idle
	Connect      time.Duration // time to open them all
	Sources      int

	RSSSource                         string // "proc" (VmRSS of the PID) or "metrics" (process_resident_memory_bytes)
	RSSBefore, RSSAfter               int64  // bytes, summed over targets; -1 unknown
	HeapAt                            string // "post-gc" (first /metrics scrape after a GC cycle) or "settle-end"
	HeapBefore, HeapAfter             int64  // go_memstats_heap_inuse_bytes
	StackBefore, StackAfter           int64  // go_memstats_stack_inuse_bytes
	GoroutinesBefore, GoroutinesAfter int64
	OtherCPU                          float64 // % of one core other processes used while settling
}

// PerSession returns (after-before)/Held in KiB, or -1.
func (i Idle) PerSession(before, after int64) float64 {
	return perHeld(before, after, i.Held, 1024)
}

// GoroutinesPerSession is (after-before)/Held, or -1.
func (i Idle) GoroutinesPerSession() float64 {
	return perHeld(i.GoroutinesBefore, i.GoroutinesAfter, i.Held, 1)
}

// Phase is one relay measurement.
type Phase struct {
	Mode     string  // "relay-paced" or "relay-sat" (closed loop)
	Offered  float64 // signals/s offered in total (paced), 0 closed loop
	Window   int     // signals in flight per pair at most
	Payload  int     // bytes of signal data
	Sessions int     // sessions taking part (both of every live pair)
	Elapsed  time.Duration

	Sent, Delivered int64 // signals written / received and timed while measuring
	Skipped         int64 // paced sends skipped because the pair's window was full
	Behind          int64 // paced sends dropped because the generator fell over 50 ms behind
	P50, P99, P999  time.Duration
	Mean, Max       time.Duration
	ServerCPU       float64   // % of one core, -1 unknown
	GenCPU          float64   // % of one core
	OtherCPU        float64   // % of one core, every other process
	CoreBusy        []float64 // % busy per CPU (steal included)
	SoftIRQ, Steal  float64   // % of one core, summed over CPUs: softirq time (loopback TCP) and time the hypervisor took

	ReadErrors, WriteErrors, ErrorFrames, SeqGaps int64
	Held                                          int64 // sessions open at the end
	RSS                                           int64 // server RSS at the end, bytes
}

// SentPerSec and PerSec are rates over the measured time.
func (p Phase) SentPerSec() float64 { return float64(p.Sent) / p.Elapsed.Seconds() }

// PerSec is signals relayed (received) per second.
func (p Phase) PerSec() float64 { return float64(p.Delivered) / p.Elapsed.Seconds() }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func kib(b int64) int64 {
	if b < 0 {
		return -1
	}
	return b >> 10
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return strings.ReplaceAll(s, " ", "_")
}

func (r *Result) idleLine() string {
	i := r.Idle
	return fmt.Sprintf("RESULT server=%s mode=idle sessions=%d held=%d dial_fails=%d connect_s=%.1f connect_per_s=%.0f"+
		" rss_before_kib=%d rss_after_kib=%d kib_per_idle_session=%.2f rss_source=%s"+
		" heap_before_kib=%d heap_after_kib=%d heap_kib_per_idle_session=%.2f heap_at=%s"+
		" stack_kib_per_idle_session=%.2f goroutines_per_session=%.2f srcs=%d other_procs_cpu_pct=%.0f"+
		" %s",
		r.Label, i.Sessions, i.Held, i.DialFailures, i.Connect.Seconds(), float64(i.Sessions-i.DialFailures)/max(i.Connect.Seconds(), 1e-9),
		kib(i.RSSBefore), kib(i.RSSAfter), i.PerSession(i.RSSBefore, i.RSSAfter), orNone(i.RSSSource),
		kib(i.HeapBefore), kib(i.HeapAfter), i.PerSession(i.HeapBefore, i.HeapAfter), orNone(i.HeapAt),
		i.PerSession(i.StackBefore, i.StackAfter), i.GoroutinesPerSession(),
		i.Sources, i.OtherCPU, resultTail(r.Machine, r.FirstError))
}

func (r *Result) phaseLine(p Phase) string {
	extra := fmt.Sprintf("window_per_pair=%d", p.Window)
	if p.Mode == "relay-paced" {
		extra = fmt.Sprintf("offered_per_s=%.0f window_per_pair=%d skipped=%d behind=%d", p.Offered, p.Window, p.Skipped, p.Behind)
	}
	return fmt.Sprintf("RESULT server=%s mode=%s sessions=%d %s payload_bytes=%d secs=%.1f sent_per_s=%.0f signals_per_s=%.0f"+
		" p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f server_cpu_pct=%.0f gen_cpu_pct=%.0f core_busy_pct=%s"+
		" softirq_pct=%.0f steal_pct=%.0f other_procs_cpu_pct=%.0f read_errs=%d write_errs=%d error_frames=%d seq_gaps=%d held=%d rss_kib=%d"+
		" %s",
		r.Label, p.Mode, p.Sessions, extra, p.Payload, p.Elapsed.Seconds(), p.SentPerSec(), p.PerSec(),
		ms(p.P50), ms(p.P99), ms(p.P999), ms(p.Max), p.ServerCPU, p.GenCPU, pcts(p.CoreBusy),
		p.SoftIRQ, p.Steal, p.OtherCPU, p.ReadErrors, p.WriteErrors, p.ErrorFrames, p.SeqGaps, p.Held, kib(p.RSS),
		resultTail(r.Machine, r.FirstError))
}

// WriteSummary writes a human-readable summary of r.
func (r *Result) WriteSummary(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "\n%s: %d idle sessions held of %d (%d dial failures), opened in %.1f s\n",
		r.Label, r.Idle.Held, r.Idle.Sessions, r.Idle.DialFailures, r.Idle.Connect.Seconds())
	i := r.Idle
	fmt.Fprintf(w, "  memory per idle session: %.2f KiB RSS (%s), %.2f KiB Go heap in use (%s), %.2f KiB goroutine stacks, %.2f goroutines\n",
		i.PerSession(i.RSSBefore, i.RSSAfter), orNone(i.RSSSource), i.PerSession(i.HeapBefore, i.HeapAfter), orNone(i.HeapAt),
		i.PerSession(i.StackBefore, i.StackAfter), i.GoroutinesPerSession())
	if len(r.Phases) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  phase\toffered/s\tsent/s\trelayed/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tserver CPU %\tgen CPU %\terrors\t")
		for _, p := range r.Phases {
			off := offeredCell(p.Mode, p.Offered)
			fmt.Fprintf(tw, "  %s\t%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t%d\t\n", p.Mode, off,
				p.SentPerSec(), p.PerSec(), ms(p.P50), ms(p.P99), ms(p.P999), ms(p.Max), p.ServerCPU, p.GenCPU,
				p.ReadErrors+p.WriteErrors+p.ErrorFrames+p.SeqGaps)
		}
		tw.Flush()
	}
	writeSummaryTail(w, m, r.Errors(), r.FirstError)
}
