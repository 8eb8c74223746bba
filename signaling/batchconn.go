package signaling

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// batchConn sits between gorilla/websocket and the TCP connection so that
// the session's writer can send everything it has queued in one write
// system call instead of one per frame: between begin and flush, writes are
// collected. Outside a batch (the handshake response, control frames gorilla
// writes itself) writes go straight through. gorilla serializes its own
// writes; mu orders them against flush.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      *[]byte
}

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

const maxBatchBytes = 64 << 10 // flush early past this

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batching {
		*b.buf = append(*b.buf, p...)
		return len(p), nil
	}
	return b.Conn.Write(p)
}

// SetWriteDeadline applies gorilla's deadlines to direct writes only: a
// control frame written from another goroutine (gorilla answers pings with a
// 1 s deadline) must not shorten the deadline of a flush in progress.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batching {
		return nil // the flush sets its own
	}
	return b.Conn.SetWriteDeadline(t)
}

// flushPending writes what has been collected without ending the batch.
func (b *batchConn) flushPending(deadline time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf != nil && len(*b.buf) > 0 {
		b.Conn.SetWriteDeadline(deadline)
		b.Conn.Write(*b.buf)
		*b.buf = (*b.buf)[:0]
	}
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.batching = true
	if b.buf == nil {
		b.buf = batchBufs.Get().(*[]byte)
	}
	b.mu.Unlock()
}

// pending reports how many bytes wait for flush.
func (b *batchConn) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}

// flush writes what was collected and ends the batch (keep: start another at once).
func (b *batchConn) flush(deadline time.Time, keep bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = keep
	if b.buf == nil {
		return nil
	}
	var err error
	if len(*b.buf) > 0 {
		b.Conn.SetWriteDeadline(deadline)
		_, err = b.Conn.Write(*b.buf)
	}
	*b.buf = (*b.buf)[:0]
	if !keep {
		if cap(*b.buf) <= maxBatchBytes*2 {
			batchBufs.Put(b.buf)
		}
		b.buf = nil
	}
	return err
}

// hijacker hands gorilla a batchConn in place of the hijacked connection.
type hijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	return h.conn, brw, nil
}
