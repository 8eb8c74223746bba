//go:build linux && (amd64 || arm64)

// Package uring submits many socket operations, on as many different
// sockets, with one system call: a minimal io_uring (Linux 5.6 and later)
// for non-blocking sendmsg and recvmsg, completed before Submit returns.
// The TURN poller uses it to send to peers from the relay sockets of
// several allocations at once, where sendmmsg takes one socket only.
//
// A Ring is used by one goroutine at a time. Every operation is issued
// with MSG_DONTWAIT, so none waits for its socket: each completes (or
// fails with EAGAIN) inside Submit, and the buffers, message headers and
// addresses it points at are no longer the kernel's once Submit returns.
// A single operation, and every operation where io_uring is missing or
// forbidden (old kernels, seccomp, kernel.io_uring_disabled), is made with
// a system call of its own: on the machines measured, io_uring costs more
// than sendmsg for one datagram and less from two on.
package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	opSendmsg = 9
	opRecvmsg = 10

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	featSingleMmap = 1 << 0
	setupSubmitAll = 1 << 7
	enterGetEvents = 1 << 0
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	msgFlags uint32
	userData uint64
	_        [24]byte
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is an io_uring whose operations all complete within Submit.
type Ring struct {
	fd      int
	entries uint32
	sqRing  []byte
	cqRing  []byte
	sqeMem  []byte

	sqHead, sqTail, cqHead, cqTail *uint32
	sqMask, cqMask                 uint32
	sqArray                        []uint32
	sqes                           []sqe
	cqes                           []cqe

	ops []op    // queued since the last Submit
	res []int32 // their results, by position
}

// op is one queued operation.
type op struct {
	code uint8
	fd   int
	h    *unix.Msghdr
	tag  uint64
}

// ErrFull is returned by Sendmsg and Recvmsg when Size operations wait for
// Submit.
var ErrFull = errors.New("uring: submission queue full")

// New sets up a ring for up to entries operations per Submit (a power of
// two). Where io_uring cannot be set up it returns a ring that makes one
// system call per operation, and the reason.
func New(entries uint32) (*Ring, error) {
	var p params
	p.flags = setupSubmitAll
	p.cqEntries = entries
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return Direct(entries), fmt.Errorf("uring: setup: %w", e)
	}
	r := &Ring{fd: int(fd), entries: p.sqEntries, ops: make([]op, 0, p.sqEntries), res: make([]int32, p.sqEntries)}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return Direct(entries), err
	}
	return r, nil
}

// Direct returns a ring that makes one system call per operation.
func Direct(entries uint32) *Ring {
	return &Ring{fd: -1, entries: entries, ops: make([]op, 0, entries)}
}

// Kernel reports whether operations go through the kernel's io_uring.
func (r *Ring) Kernel() bool { return r.fd >= 0 }

func (r *Ring) mmap(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	if p.features&featSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqRing, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("uring: mmap: %w", err)
	}
	r.cqRing = r.sqRing
	if p.features&featSingleMmap == 0 {
		if r.cqRing, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			return fmt.Errorf("uring: mmap: %w", err)
		}
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(sqe{}))
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("uring: mmap: %w", err)
	}
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	r.sqHead, r.sqTail, r.sqMask = u32(r.sqRing, p.sqOff.head), u32(r.sqRing, p.sqOff.tail), *u32(r.sqRing, p.sqOff.ringMask)
	r.cqHead, r.cqTail, r.cqMask = u32(r.cqRing, p.cqOff.head), u32(r.cqRing, p.cqOff.tail), *u32(r.cqRing, p.cqOff.ringMask)
	r.sqArray = unsafe.Slice(u32(r.sqRing, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.cqRing[p.cqOff.cqes])), p.cqEntries)
	return nil
}

// Size is how many operations one Submit takes.
func (r *Ring) Size() int { return int(r.entries) }

// Queued is how many operations wait for Submit.
func (r *Ring) Queued() int { return len(r.ops) }

// Sendmsg queues sendmsg(fd, h, MSG_DONTWAIT); its result comes back with
// tag from Submit.
func (r *Ring) Sendmsg(fd int, h *unix.Msghdr, tag uint64) error {
	return r.put(opSendmsg, fd, h, tag)
}

// Recvmsg queues recvmsg(fd, h, MSG_DONTWAIT); h.Namelen and h.Flags are
// written as recvmsg writes them.
func (r *Ring) Recvmsg(fd int, h *unix.Msghdr, tag uint64) error {
	return r.put(opRecvmsg, fd, h, tag)
}

func (r *Ring) put(code uint8, fd int, h *unix.Msghdr, tag uint64) error {
	if len(r.ops) == int(r.entries) {
		return ErrFull
	}
	r.ops = append(r.ops, op{code, fd, h, tag})
	return nil
}

// Submit issues the queued operations and waits until all of them have
// completed, calling done with each one's tag and result, in the order
// they were queued: the byte count, or a negative errno. Without queued
// operations it does nothing.
func (r *Ring) Submit(done func(tag uint64, res int32)) error {
	defer func() { r.ops = r.ops[:0] }()
	if len(r.ops) == 1 || r.fd < 0 {
		for _, o := range r.ops {
			done(o.tag, o.direct())
		}
		return nil
	}
	if len(r.ops) == 0 {
		return nil
	}
	tail := *r.sqTail
	for k, o := range r.ops {
		i := (tail + uint32(k)) & r.sqMask                                                                                                                     //nolint:gosec // k < entries
		r.sqes[i] = sqe{opcode: o.code, fd: int32(o.fd), addr: uint64(uintptr(unsafe.Pointer(o.h))), len: 1, msgFlags: unix.MSG_DONTWAIT, userData: uint64(k)} //nolint:gosec // fds are small
		r.sqArray[i] = i
	}
	n := uint32(len(r.ops)) //nolint:gosec // at most entries
	atomic.StoreUint32(r.sqTail, tail+n)
	var got uint32
	for toSubmit := n; ; {
		m, _, e := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(n-got), enterGetEvents, 0, 0) //nolint:gosec // fd is small
		if e == 0 {
			toSubmit -= min(toSubmit, uint32(m)) //nolint:gosec // at most toSubmit
		} else if e != unix.EINTR && e != unix.EAGAIN && e != unix.EBUSY {
			// Not expected. What the kernel has not taken must not be taken
			// later, when the buffers hold other data: the ring goes, and
			// the operations are made one by one (some may be made twice).
			r.Close()
			for _, o := range r.ops {
				done(o.tag, o.direct())
			}
			return fmt.Errorf("uring: enter: %w", e)
		}
		if got += r.reap(); got >= n {
			break
		}
	}
	for k, o := range r.ops {
		done(o.tag, r.res[k])
	}
	return nil
}

// direct makes o with a system call of its own.
func (o op) direct() int32 {
	nr := uintptr(unix.SYS_SENDMSG)
	if o.code == opRecvmsg {
		nr = unix.SYS_RECVMSG
	}
	for {
		n, _, e := unix.RawSyscall(nr, uintptr(o.fd), uintptr(unsafe.Pointer(o.h)), unix.MSG_DONTWAIT) //nolint:gosec // fd is small
		switch e {
		case 0:
			return int32(n) //nolint:gosec // a datagram's length
		case unix.EINTR:
			continue
		}
		return -int32(e) //nolint:gosec // an errno
	}
}

// reap moves the completions into res by tag and returns how many.
func (r *Ring) reap() uint32 {
	head, tail := *r.cqHead, atomic.LoadUint32(r.cqTail)
	for h := head; h != tail; h++ {
		c := &r.cqes[h&r.cqMask]
		if c.userData < uint64(len(r.res)) {
			r.res[c.userData] = c.res
		}
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}

// Close releases the ring.
func (r *Ring) Close() {
	if r.fd < 0 {
		return
	}
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.cqRing != nil && &r.cqRing[0] != &r.sqRing[0] {
		_ = unix.Munmap(r.cqRing)
	}
	if r.sqRing != nil {
		_ = unix.Munmap(r.sqRing)
	}
	_ = unix.Close(r.fd)
	r.fd = -1
	r.sqeMem, r.cqRing, r.sqRing, r.sqes, r.cqes, r.sqArray = nil, nil, nil, nil, nil, nil
}
