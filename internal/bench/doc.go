// Package bench is Switchboard's signaling load generator: it drives a
// running server the way real clients do and measures it. Run opens N
// authenticated WebSocket sessions (hello with a JWT, then join) spread over
// several loopback source addresses, puts them in rooms of two, and then
//
//   - holds them idle and reads the server's memory per idle session: RSS
//     from /proc/PID/status (or process_resident_memory_bytes from the
//     server's /metrics when the PID is unknown), and Go heap and goroutine
//     stacks from go_memstats_heap_inuse_bytes and go_memstats_stack_inuse_bytes;
//   - relays signals between the two peers of every room, in phases: paced
//     (a fixed total rate spread evenly over the sessions, open loop) or
//     closed loop (a fixed window of signals in flight per pair), and reports
//     signals relayed per second and relay latency (a send timestamp travels
//     inside the signal's data; the receiver, in this same process, puts the
//     difference into a histogram).
//
// Everything it reports is also printed as "RESULT key=value ..." lines, one
// per measurement, in the format of the side-by-side harness in
// shared/bench/signaling so that docs/benchmarks.md can quote both.
//
// Only loopback addresses (127.0.0.0/8) may be targets or sources: Config
// refuses anything else.
//
// Concurrency: Run may be called from several goroutines with separate
// Configs. Within a run each session has one reader goroutine (it also
// answers in closed-loop phases); paced phases send from a few shard
// goroutines; a session's writes are serialized by its own mutex. Every
// goroutine Run starts has ended when it returns.
package bench
