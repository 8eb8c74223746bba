// Package signaling is Switchboard's WebSocket signaling service: it
// authenticates clients with a JWT in their first frame (hello), keeps rooms
// within namespaces, and relays opaque signals (SDP offers and answers, ICE
// candidates, anything) and broadcasts between the peers of a room. The wire
// protocol is docs/protocol.md.
//
// Concurrency: a Server is safe for concurrent use. Each connection has one
// reader goroutine that handles the client's frames in order, and a writer
// goroutine that exists only while the session's outbox holds frames. Rooms
// and delivery sit behind the Bus interface; MemoryBus is the single-node
// implementation. Frames for one client are delivered in the order they were
// queued, each numbered with a per-session "seq".
//
// Endpoints that speak other client libraries' protocols (signaling/compat:
// y-webrtc) run their connections through a Gate (gate.go), which gives
// them this Server's origin check, session caps, per-user limit, shutdown,
// Bus rooms in a namespace of their own and metrics.
package signaling
