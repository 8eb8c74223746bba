package bench

// sfuDrops counts, over a measurement window, the datagrams the kernel
// dropped because a receive queue was full, at the server's UDP sockets
// and at the generator's own (the sockets' drops counters, as the TURN
// benchmark reads them: turnproc.go). Drops at the generator's sockets
// are the generator falling behind its own reading, not the server.
type sfuDrops struct {
	socks turnSockets
	from  udpDrops
}

// startSFUDrops takes the sockets each process holds now (the
// participants have joined) and their counters.
func startSFUDrops(serverPID int) sfuDrops {
	s := turnSockets{server: procSocketInodes(serverPID), gen: procSocketInodes(pidSelf())}
	return sfuDrops{socks: s, from: s.drops()}
}

// stop returns the drops since start (a socket closed meanwhile takes its
// count with it).
func (w sfuDrops) stop() (server, gen int64) {
	d := w.socks.drops().minus(w.from)
	return d.server, d.clients
}
