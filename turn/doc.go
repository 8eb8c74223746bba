// Package turn is Switchboard's embedded TURN server (RFC 5766/8656, with
// RFC 6062 TCP relaying and RFC 6156 IPv6 from pion/turn/v5).
//
// It is safe by default: credentials are coturn's time-limited TURN REST API
// scheme (use-auth-secret), and the peer policy refuses to relay into
// loopback, private, link-local, metadata, multicast and reserved addresses,
// or into the server's own listeners, unless a range is allowed explicitly.
// Every resource has a limit: allocations in total and per user, permissions
// per allocation, allocation lifetime, and optionally bandwidth per user.
//
// The server runs on its own (switchboard serve with signaling switched off)
// or next to signaling, which hands out ICEServers in its welcome frame.
// Sockets come from Config.Net, so the same server runs on loopback, in
// pion's virtual network and inside a network namespace.
package turn
