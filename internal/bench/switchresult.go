package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// SwitchResult is what RunSwitch measured.
type SwitchResult struct {
	Label   string
	Machine Machine
	MeshMax int
	ToSFU   SwitchDir // MeshMax+1 participants move to the SFU
	ToMesh  SwitchDir // MeshMax-1 move back to a mesh
	// Noted: errors the run noted besides failed or unsettled switches
	// (a client's error event, a settle that timed out), FirstError the
	// first of all. A signal racing its target's leave is one (the
	// server answers not_found), so they are reported, not failed on.
	Noted      int64
	FirstError string
}

// SwitchDir is the switches of one direction.
type SwitchDir struct {
	Direction string // "to_sfu" or "to_mesh"
	Size      int    // participants in the room during the switch
	// Times: from the first participant's mode frame to the last
	// participant's media from every other on the new path, per switch.
	Times []time.Duration
	// Gaps: per switch, the longest media gap any subscriber saw from any
	// publisher (packets come every PacketEvery).
	Gaps    []time.Duration
	Failed  int // participants that named a peer failed in their mode-ack
	Settled int // switches after which every pair was on the new path
}

// quantile is the nearest-rank q-quantile of ds (0 when empty).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Errors counts what went wrong.
func (r SwitchResult) Errors() int64 {
	n := int64(r.ToSFU.Failed + r.ToMesh.Failed)
	n += int64(len(r.ToSFU.Times) - r.ToSFU.Settled + len(r.ToMesh.Times) - r.ToMesh.Settled)
	return n
}

func (r *SwitchResult) line(d SwitchDir) string {
	return fmt.Sprintf("RESULT server=%s bench=switch direction=%s size=%d switches=%d settled=%d"+
		" switch_ms_p50=%.0f switch_ms_p99=%.0f switch_ms_max=%.0f gap_ms_p50=%.0f gap_ms_p99=%.0f gap_ms_max=%.0f failed=%d noted=%d %s",
		r.Label, d.Direction, d.Size, len(d.Times), d.Settled,
		ms(quantile(d.Times, 0.5)), ms(quantile(d.Times, 0.99)), ms(quantile(d.Times, 1)),
		ms(quantile(d.Gaps, 0.5)), ms(quantile(d.Gaps, 0.99)), ms(quantile(d.Gaps, 1)), d.Failed, r.Noted,
		resultTail(r.Machine, r.FirstError))
}

// WriteSummary writes a human-readable summary of r.
func (r *SwitchResult) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "\n%s switches, --mesh-max %d:\n", r.Label, r.MeshMax)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  direction\tsize\tswitches\tswitch p50 ms\tp99 ms\tlongest gap p50 ms\tmax ms\tfailed\t")
	for _, d := range []SwitchDir{r.ToSFU, r.ToMesh} {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t\n", d.Direction, d.Size, len(d.Times),
			ms(quantile(d.Times, 0.5)), ms(quantile(d.Times, 0.99)), ms(quantile(d.Gaps, 0.5)), ms(quantile(d.Gaps, 1)), d.Failed)
	}
	tw.Flush()
	writeSummaryTail(w, r.Machine, r.Errors()+r.Noted, r.FirstError)
}
