// Package rtpmunge rewrites the RTP packets of one forwarded track for one
// subscriber, so that the subscriber sees one continuous stream (one SSRC,
// sequence numbers without gaps the SFU made, timestamps that keep pace with
// the wall clock) while the SFU pauses the track, drops packets, or switches
// between simulcast layers or publishers underneath.
//
// # Rules
//
// A Munger forwards one source at a time, chosen with Switch. Munge rewrites
// a packet's SSRC (to the subscriber's), sequence number and timestamp in
// place; Skip is told of a packet deliberately not forwarded.
//
//   - Switch: the first packet forwarded after it goes out with the sequence
//     number after the last one forwarded and with the last timestamp
//     forwarded plus the wall time elapsed since then, in the new source's
//     clock units, at least 1. From there, outgoing = source + offset, for
//     sequence numbers (16 bits) and timestamps (32 bits) alike, both wrapping.
//   - Skips close gaps at frame boundaries only. A frame is the run of
//     packets with one timestamp (every audio packet is one), ended by the
//     marker bit. Skip of a packet that starts a frame, or continues a frame
//     none of whose packets was forwarded, takes the packet's number away:
//     the next packet forwarded gets it. Once a frame's beginning is skipped,
//     Munge skips the rest of the frame too, so that the subscriber never
//     gets the tail of a frame without a gap that tells it the head is
//     missing. A packet skipped in the middle of a frame that was partly
//     forwarded keeps its number: the subscriber sees a loss (and may NACK
//     it). This is the rule for a first version: the caller should skip
//     whole frames (pause, a layer or temporal layer not chosen, padding
//     after a frame's end); cutting a frame short costs the subscriber a
//     retransmission or a keyframe, never a corrupt frame it cannot detect.
//   - Losses stay visible: source packets that never arrived leave the same
//     gap in the outgoing numbers, and map to their numbers if they come late.
//   - Reordering and retransmission: a packet older than the newest one
//     taken, but from after the last Switch and less than Window behind, gets
//     the number it had (or would have had); one that was skipped with its
//     number taken away, one from before the Switch, or one older than
//     Window is dropped. Mappings are remembered across the last 64 skips
//     that closed a gap; a late packet from before them is dropped too.
//   - At a Switch, numbers the old source left as holes at its head (a
//     frame cut short) are given to the new source's first packets.
//   - Retransmissions must arrive with the source's SSRC and sequence number
//     (RTX unwrapped by the caller); Reverse maps an outgoing number that a
//     NACK asks for back to them.
//
// A source sequence number is read as the one nearest to the newest taken:
// up to 2^15-1 ahead is newer (a jump leaves the same gap outgoing), anything
// else older, and so dropped unless within Window. A publisher that restarts
// its numbering far from where it was therefore needs a Switch.
//
// # Cost and concurrency
//
// A Munger is 1,640 bytes (mostly the 64 remembered mappings) and allocates
// nothing after New. It is not safe for concurrent use: the goroutine that
// writes the subscriber's packets owns it, and a NACK responder calls
// Reverse and Munge on that goroutine (or under the owner's lock).
package rtpmunge
