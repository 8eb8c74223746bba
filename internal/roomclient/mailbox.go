package roomclient

import "sync"

// mailbox is an unbounded queue of work for the loop: pushing never
// blocks, so pion's callbacks and the reader cannot stall on the loop.
type mailbox struct {
	mu   sync.Mutex
	q    []func()
	wake chan struct{} // one pending wake-up at most
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

func (m *mailbox) push(f func()) {
	m.mu.Lock()
	m.q = append(m.q, f)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// take returns what is queued and empties the queue.
func (m *mailbox) take(buf []func()) []func() {
	m.mu.Lock()
	buf = append(buf[:0], m.q...)
	clear(m.q)
	m.q = m.q[:0]
	m.mu.Unlock()
	return buf
}
