// Package udpbatch lets the SFU send a packet's copies for all its
// subscribers with a few sendmmsg calls instead of one sendto each.
//
// Every subscriber's ICE traffic leaves through one UDP socket (pion's UDP
// mux), and pion writes each SRTP packet to it as soon as it is encrypted.
// Conn wraps that socket: between Hold and Release, what is written to it
// is copied into a queue instead, and Release sends the queue with
// sendmmsg, up to MaxBatch datagrams per call. The track reader that fans
// one packet out to N subscribers holds the socket across its loop, so N
// system calls become N/MaxBatch. Writes while nobody holds the socket go
// out at once, as before.
//
// Order: batches are sent in the order they were queued, and a write that
// goes out at once waits for the batch being sent, so one goroutine's
// datagrams leave in the order it wrote them. A datagram queued while
// another goroutine holds the socket leaves when that holder (or any
// later one) releases it: at most one fan-out later.
//
// Where sendmmsg is missing (other systems, a socket that is not a
// *net.UDPConn such as a virtual network's) Wrap returns the socket as it
// is and a Batcher whose Hold and Release do nothing.
package udpbatch

// MaxBatch is how many datagrams one sendmmsg carries at most, and how
// many are queued before the queue is sent without waiting for Release.
const MaxBatch = 128

// maxDatagram is the largest datagram queued; a longer one is sent at
// once, after the queue.
const maxDatagram = 2048

// Batcher delays a socket's writes between Hold and Release. Holds nest
// and may overlap across goroutines; every Hold needs its Release.
type Batcher interface {
	Hold()
	Release()
	Stats() Stats
}

// Stats count a Conn's batched writes.
type Stats struct {
	Sent    uint64 // datagrams sent through the queue
	Batches uint64 // the sendmmsg calls that carried them
	Dropped uint64 // queued datagrams the kernel refused (or the socket was closed)
}

type nop struct{}

func (nop) Hold()        {}
func (nop) Release()     {}
func (nop) Stats() Stats { return Stats{} }

// None is a Batcher that does nothing.
var None Batcher = nop{}
