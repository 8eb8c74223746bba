package rtc

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/switchboard-rtc/switchboard/sfu/internal/bwe"
)

// TransportCCURI is the transport-wide sequence number header extension
// (draft-holmer-rmcat-transport-wide-cc-extensions-01).
const TransportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// historySize is how many packets a subscriber PC's send history holds
// (a power of two): 2,048 slots of 8 bytes, 16 KiB per subscriber; at
// 1,000 packets a second (some 8 Mbit/s) that is 2 s of sending, against
// a feedback every 50 to 250 ms.
const historySize = 2048

// sendHistory is one subscriber PC's transport-wide sequence numbers and,
// for each, when the packet was sent and its size. Several down tracks
// write to it concurrently (from the publishers' reader goroutines and
// their own RTCP goroutines), the RTCP readers read it: each slot is one
// atomic word, seq<<48 | size<<36 | microseconds since base, so neither
// side takes a lock. Send times wrap after 2^36 µs, about 19 hours (a
// wrap looks like a gap to the estimator, which starts its trend again).
type sendHistory struct {
	next  atomic.Uint32
	base  time.Time
	slots [historySize]atomic.Uint64
}

func newSendHistory(base time.Time) *sendHistory { return &sendHistory{base: base} }

const (
	timeBits = 36
	timeMask = 1<<timeBits - 1
	sizeMask = 1<<12 - 1
)

// record takes the next sequence number for a packet of size bytes sent
// at now.
func (h *sendHistory) record(now time.Time, size int) uint16 {
	seq := uint16(h.next.Add(1) - 1)
	us := uint64(now.Sub(h.base)/time.Microsecond) & timeMask
	h.slots[seq&(historySize-1)].Store(uint64(seq)<<48 | uint64(min(size, sizeMask))<<timeBits | us)
	return seq
}

// lookup returns what record kept of seq, if its slot still holds it.
func (h *sendHistory) lookup(seq uint16) (sent time.Duration, size int, ok bool) {
	v := h.slots[seq&(historySize-1)].Load()
	if v == 0 || uint16(v>>48) != seq {
		return 0, 0, false
	}
	return time.Duration(v&timeMask) * time.Microsecond, int(v >> timeBits & sizeMask), true
}

// stamp gives hdr, about to be written with payload to the subscriber,
// the next transport-wide sequence number in extension id, with ext and
// buf as its storage (so that nothing is allocated), and records it.
func (h *sendHistory) stamp(hdr *rtp.Header, id uint8, ext *[1]rtp.Extension, buf *[2]byte, payload []byte, now time.Time) {
	hdr.Extensions = ext[:0]
	// +8: the one-byte extension block (4), this element (3), padding (1).
	seq := h.record(now, hdr.MarshalSize()+8+len(payload))
	binary.BigEndian.PutUint16(buf[:], seq)
	_ = hdr.SetExtension(id, buf[:]) // one-byte form: id is 1 to 14 when negotiated
}

// acks appends to out the packets p acknowledges that h still knows, in
// p's order, with their arrival times on the receiver's clock.
func (h *sendHistory) acks(out []bwe.Ack, p *rtcp.TransportLayerCC) []bwe.Ack {
	arrived := time.Duration(p.ReferenceTime) * 64 * time.Millisecond
	seq, left, di := p.BaseSequenceNumber, int(p.PacketStatusCount), 0
	status := func(sym uint16) {
		if left == 0 {
			return
		}
		left--
		s := seq
		seq++
		if (sym != rtcp.TypeTCCPacketReceivedSmallDelta && sym != rtcp.TypeTCCPacketReceivedLargeDelta) || di >= len(p.RecvDeltas) {
			return
		}
		arrived += time.Duration(p.RecvDeltas[di].Delta) * time.Microsecond
		di++
		if sent, size, ok := h.lookup(s); ok {
			out = append(out, bwe.Ack{Sent: sent, Arrived: arrived, Size: size})
		}
	}
	for _, c := range p.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for i := 0; i < int(c.RunLength) && left > 0; i++ {
				status(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				status(sym)
			}
		}
	}
	return out
}
