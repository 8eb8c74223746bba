package turn

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/transport/v5/stdnet"
	pionturn "github.com/pion/turn/v5"
)

// Server is a running TURN server. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	secret []byte
	policy *Policy
	m      *metrics
	q      *quota
	bw     *bandwidth
	relays relaySet
	unauth *unauthLimiter
	// lifetime is nil when pion's own lifetime bound is enough (see
	// pionMaxLifetime).
	lifetime *lifetimeCap

	relay4, relay6 netip.Addr // advertised relay addresses, invalid when none
	addrs          Addrs
	certs          *certReloader // nil without TLS

	pion *pionturn.Server
	udp  []*udpListener
	// poller relays for UDP clients on the host's network (poll.go); nil
	// on a virtual network and where it does not exist.
	poller   *relayPoller
	fast     sync.Map        // allocKey -> *polledRelay, the allocations poller loops relay for
	tcpConns []*connListener // the TCP and TLS listeners

	conns    atomic.Int64   // TCP and TLS connections being served
	perIP    ipCounter      // TCP and TLS connections per source address
	tcpBySrc sync.Map       // netip.AddrPort -> *serverConn, to mark the ones that allocate
	loops    sync.WaitGroup // pion's read and accept loops and TCP/TLS connections
	closing  atomic.Bool
	done     chan struct{} // closed by Close

	closeOnce sync.Once
	closeErr  error
}

// Addrs are the addresses a Server listens on; a field is zero when that
// listener is off.
type Addrs struct{ UDP, TCP, TLS netip.AddrPort }

// closeWait bounds how long Close waits for pion's goroutines to end.
const closeWait = 5 * time.Second

// New validates cfg, applies its defaults, binds every listener and starts
// serving. Errors say what is wrong: a *ListenError names the port that
// could not be bound.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkPorts(cfg); err != nil {
		return nil, err
	}
	cfg.ListenIP, cfg.PublicIP = cfg.ListenIP.Unmap(), cfg.PublicIP.Unmap()
	reusePort := cfg.Net == nil
	if cfg.Net == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, fmt.Errorf("turn: network: %w", err)
		}
		cfg.Net = n
	} else if _, ok := cfg.Net.(*stdnet.Net); ok {
		reusePort = true
	}
	cfg.MaxAllocations = capAllocations(cfg.MaxAllocations, cfg.Logger)

	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		policy: NewPolicy(cfg.AllowPeers, cfg.DenyPeers),
		bw:     &bandwidth{perSecond: cfg.UserBandwidth},
		unauth: newUnauthLimiter(cfg.UnauthRate),
		done:   make(chan struct{}),
	}
	s.secret = append([]byte(nil), cfg.Secret...)
	generated := len(s.secret) == 0
	if generated {
		s.secret = make([]byte, 32)
		_, _ = rand.Read(s.secret) // never fails (crypto/rand)
	}
	var err error
	if s.m, err = newMetrics(cfg.Metrics); err != nil {
		return nil, err
	}
	s.q = newQuota(s, cfg.MaxAllocations, cfg.MaxAllocationsPerUser, cfg.MaxPermissionsPerAllocation)
	if cfg.MaxLifetime < pionMaxLifetime {
		s.lifetime = newLifetimeCap(s, cfg.MaxLifetime)
	}
	s.chooseRelayAddrs()
	if cfg.TLSCertFile != "" {
		if s.certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, s.log); err != nil {
			return nil, err
		}
	}

	b, err := bind(cfg, reusePort)
	if err != nil {
		return nil, err
	}
	if err := s.serve(b, reusePort); err != nil {
		b.close()
		return nil, err
	}
	s.logStart(reusePort, generated)
	return s, nil
}

func checkPorts(c Config) error {
	var errs []error
	for _, p := range []struct {
		name string
		v    int
	}{{"port", c.Port}, {"TLS port", c.TLSPort}} {
		if p.v < -1 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("turn: %s %d is not within 1-65535 (or -1 for any free port)", p.name, p.v))
		}
	}
	if c.TLSCertFile != "" && !c.NoTCP && c.Port > 0 && c.Port == c.TLSPort {
		errs = append(errs, fmt.Errorf("turn: TCP and TLS cannot share port %d", c.Port))
	}
	if !(c.UnauthRate > 0) {
		errs = append(errs, fmt.Errorf("turn: unauthenticated reply rate must be positive (got %v)", c.UnauthRate))
	}
	return errors.Join(errs...)
}

// capAllocations keeps the allocation limit below the open-file limit:
// each UDP allocation holds one socket.
func capAllocations(want int, log *slog.Logger) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return want
	}
	ceiling := int(min(lim.Cur, 1<<30)) - 256 // room for listeners, signaling's own sockets, logs
	if ceiling < want {
		ceiling = max(ceiling, 1)
		log.Warn("TURN allocation limit lowered to fit the open-file limit",
			"wanted", want, "max_allocations", ceiling, "rlimit_nofile", lim.Cur)
		return ceiling
	}
	return want
}

// chooseRelayAddrs picks the relay addresses put in XOR-RELAYED-ADDRESS:
// PublicIP; else ListenIP; else, listening on every address, the first
// interface address that is not loopback or link-local (127.0.0.1 when
// there is none), and for :: an IPv6 one as well.
func (s *Server) chooseRelayAddrs() {
	set := func(ip netip.Addr) {
		if ip.Is4() {
			s.relay4 = ip
		} else {
			s.relay6 = ip
		}
	}
	switch ip := s.cfg.ListenIP; {
	case s.cfg.PublicIP.IsValid():
		set(s.cfg.PublicIP)
	case !ip.IsUnspecified():
		set(ip)
	default:
		for _, a := range interfaceAddrs(s.cfg.Net) {
			if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
				continue
			}
			if a.Is4() && !s.relay4.IsValid() {
				s.relay4 = a
			}
			if a.Is6() && ip.Is6() && !s.relay6.IsValid() {
				s.relay6 = a
			}
		}
		if !s.relay4.IsValid() {
			s.relay4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
}

// advertised is the relay address clients will mostly see (IPv4 first).
func (s *Server) advertised() netip.Addr {
	if s.relay4.IsValid() {
		return s.relay4
	}
	return s.relay6
}

// serve wraps the bound sockets, records them as the server's own
// addresses in the policy and starts pion.
func (s *Server) serve(b *listeners, hostNet bool) error {
	gen := &relayGen{s: s}
	// Relay sockets bind the listen address when it is of their family,
	// else that family's wildcard.
	bindAddr := func(wildcard netip.Addr, family func(netip.Addr) bool) string {
		if family(s.cfg.ListenIP) {
			return s.cfg.ListenIP.String()
		}
		return wildcard.String()
	}
	if s.relay4.IsValid() {
		gen.v4 = s.portRange(s.relay4, bindAddr(netip.IPv4Unspecified(), netip.Addr.Is4))
	}
	if s.relay6.IsValid() {
		gen.v6 = s.portRange(s.relay6, bindAddr(netip.IPv6Unspecified(), netip.Addr.Is6))
	}
	if err := gen.Validate(); err != nil {
		return err
	}

	pc := pionturn.ServerConfig{
		LoggerFactory:      pionLogs{s.log},
		Realm:              s.cfg.Realm,
		AuthHandler:        s.authenticate,
		QuotaHandler:       s.q.allow,
		AllocationLifetime: s.cfg.DefaultLifetime,
		PermissionTimeout:  s.cfg.PermissionLifetime,
		EventHandler: pionturn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.q.created,
			OnAllocationDeleted: s.q.deleted,
			OnAllocationError:   s.q.allocError,
			OnPermissionCreated: s.q.permCreated,
			OnPermissionDeleted: s.q.permDeleted,
			OnChannelCreated:    s.channelCreated,
			OnChannelDeleted:    s.channelDeleted,
		},
	}
	own := map[uint16]bool{} // the listening ports
	for _, c := range b.udp {
		port := portOf(c.LocalAddr())
		u := &udpListener{PacketConn: c, s: s, port: port, fd: -1}
		u.udp, _ = c.(*net.UDPConn)
		s.udp = append(s.udp, u)
		udpGen := *gen
		udpGen.udpControl, udpGen.lis = true, u
		pc.PacketConnConfigs = append(pc.PacketConnConfigs, pionturn.PacketConnConfig{
			PacketConn: u, RelayAddressGenerator: &udpGen, PermissionHandler: s.permissionHandler(port)})
		s.addrs.UDP = localAddrPort(c.LocalAddr())
		own[port] = true
	}
	if hostNet && len(s.udp) > 0 {
		var err error
		if s.poller, err = newRelayPoller(s); err != nil {
			return err
		}
	}
	for _, u := range s.udp {
		if u.udp != nil && u.loop == nil {
			u.batch = newBatchReader(u.udp)
		}
	}
	idle := min(s.cfg.MaxLifetime, pionMaxLifetime) + time.Minute
	addListener := func(ln net.Listener) {
		port := portOf(ln.Addr())
		cl := &connListener{Listener: ln, s: s, port: port, idleTimeout: idle, conns: map[*serverConn]struct{}{}}
		cl.firstTimeout.Store(int64(firstReadTimeout))
		cl.allocTimeout.Store(int64(allocateTimeout))
		s.tcpConns = append(s.tcpConns, cl)
		pc.ListenerConfigs = append(pc.ListenerConfigs, pionturn.ListenerConfig{
			Listener: cl, RelayAddressGenerator: gen, PermissionHandler: s.permissionHandler(port)})
		own[port] = true
	}
	if b.tcp != nil {
		addListener(b.tcp)
		s.addrs.TCP = localAddrPort(b.tcp.Addr())
	}
	if b.tls != nil {
		s.addrs.TLS = localAddrPort(b.tls.Addr())
		addListener(tls.NewListener(b.tls, &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.certs.GetCertificate,
		}))
	}

	// Relaying to the server's own listeners is refused at every address
	// they are reached at. A listener bound to every address is reached at
	// every local address, including 127.0.0.2, 0.0.0.0 and addresses added
	// after start: its ports are refused on every address (peers'
	// candidates are on ephemeral ports, relays on the relay range, so
	// nothing legitimate uses them).
	ips := []netip.Addr{s.cfg.ListenIP}
	if s.cfg.ListenIP.IsUnspecified() {
		ips = append(interfaceAddrs(s.cfg.Net), netip.IPv4Unspecified(), netip.IPv6Unspecified())
	}
	if s.cfg.PublicIP.IsValid() {
		ips = append(ips, s.cfg.PublicIP)
	}
	for _, ip := range ips {
		for port := range own {
			s.policy.AddOwn(netip.AddrPortFrom(ip, port))
		}
	}
	// The relay sockets are on the same addresses (bound to the listen
	// address or its family's wildcard) and at the advertised ones: there,
	// the relay ports of live allocations are peers like any other.
	s.policy.SetRelays(append(ips, s.relay4, s.relay6), &s.relays)

	// Every loop pion starts is counted before it starts, for Close.
	s.loops.Add(len(s.udp) + len(s.tcpConns))
	p, err := pionturn.NewServer(pc)
	if err != nil {
		// pion may have started some read loops before it failed: closing
		// the sockets (New does) and the listeners' queues ends them. The
		// loop count is left as it is: nobody waits on a server New did
		// not return, and the loops that did start count themselves out.
		if s.poller != nil {
			s.poller.stop()
			s.poller.close()
		}
		for _, u := range s.udp {
			_ = u.Close()
		}
		return fmt.Errorf("turn: start: %w", err)
	}
	s.pion = p
	return nil
}

func (s *Server) portRange(relay netip.Addr, bindAddr string) *pionturn.RelayAddressGeneratorPortRange {
	return &pionturn.RelayAddressGeneratorPortRange{
		RelayAddress: relay.AsSlice(),
		Address:      bindAddr,
		MinPort:      uint16(s.cfg.RelayPortMin), //nolint:gosec // validated 1..65535
		MaxPort:      uint16(s.cfg.RelayPortMax), //nolint:gosec // validated 1..65535
		// pion picks ports at random and gives up after MaxRetries taken
		// ones; its default of 10 fails too soon in a busy range.
		MaxRetries: 64,
		Net:        s.cfg.Net,
	}
}

func localAddrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (s *Server) logStart(reusePort, generatedSecret bool) {
	adv := s.advertised()
	attrs := []any{"urls", s.URLs(""), "relay_address", adv.String(),
		"relay_ports", fmt.Sprintf("%d-%d", s.cfg.RelayPortMin, s.cfg.RelayPortMax),
		"udp_sockets", len(s.udp), "max_allocations", s.cfg.MaxAllocations}
	for _, a := range []struct {
		name string
		ap   netip.AddrPort
	}{{"udp", s.addrs.UDP}, {"tcp", s.addrs.TCP}, {"tls", s.addrs.TLS}} {
		if a.ap.IsValid() {
			attrs = append(attrs, a.name, a.ap.String())
		}
	}
	if s.relay6.IsValid() && s.relay4.IsValid() {
		attrs = append(attrs, "relay_address_ipv6", s.relay6.String())
	}
	if !reusePort {
		attrs = append(attrs, "network", "virtual")
	}
	s.log.Info("TURN server listening", attrs...)
	if generatedSecret {
		s.log.Warn("TURN secret generated at random: TURN credentials will not survive a restart, and no other server shares them; set --turn-secret")
	}
	// The default ranges, not s.policy: allowing 10.0.0.0/8 as peers does
	// not make a 10.x relay address reachable from outside.
	defaults := NewPolicy(nil, nil)
	for _, a := range []netip.Addr{s.relay4, s.relay6} {
		if a.IsValid() && defaults.PeerIP(a) != nil {
			s.log.Warn(fmt.Sprintf("TURN advertises %s, a private address: clients outside this network cannot reach the relay; set --turn-public-ip for them (clients on this network need nothing more)", a))
		}
	}
}

// Close stops the listeners and every allocation, and waits for pion's
// goroutines to end. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	s.closing.Store(true)
	close(s.done)
	var errs []error
	if s.poller != nil {
		// Before pion closes the sockets the loops read.
		s.poller.stop()
		defer s.poller.close()
	}
	if err := s.pion.Close(); err != nil {
		errs = append(errs, fmt.Errorf("turn: close: %w", err))
	}
	// pion's Close leaves accepted connections open: end them so their
	// goroutines, and the allocations made over them, end too.
	for _, l := range s.tcpConns {
		l.closeConns()
	}
	ended := make(chan struct{})
	go func() { s.loops.Wait(); close(ended) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-ended:
	case <-t.C:
		errs = append(errs, fmt.Errorf("turn: close: pion's read loops still running after %v", closeWait))
	}
	// The relay sockets close after the read loops end (pion's manager
	// closes them), and each allocation's loop then deletes it.
	if !s.q.waitEmpty(closeWait) {
		errs = append(errs, fmt.Errorf("turn: close: %d allocations still open after %v", s.q.count(), closeWait))
	}
	return errors.Join(errs...)
}

// AddListener records another listener of this process, such as
// signaling's HTTP listener, as one of the server's own: no relay may reach
// it, on its address or, for a wildcard listener, on any, nor at the public
// IP. Safe to call while serving.
func (s *Server) AddListener(a net.Addr) {
	ap := localAddrPort(a)
	if !ap.IsValid() {
		return
	}
	s.policy.AddOwn(ap)
	if s.cfg.PublicIP.IsValid() {
		s.policy.AddOwn(netip.AddrPortFrom(s.cfg.PublicIP, ap.Port()))
	}
}

// AddService records a media port of this process, such as the SFU's ICE
// UDP or TCP port, that clients may reach through their relay on the
// server's own addresses (Policy.AddService). Safe to call while serving.
func (s *Server) AddService(a net.Addr) {
	ap := localAddrPort(a)
	if !ap.IsValid() {
		return
	}
	_, tcp := a.(*net.TCPAddr)
	s.policy.AddService(tcp, ap.Port())
}

// Addrs returns the addresses the server listens on, with the ports bound
// for Port or TLSPort -1.
func (s *Server) Addrs() Addrs { return s.addrs }

// Secret returns the TURN REST API secret in use: Config.Secret, or the one
// New generated.
func (s *Server) Secret() []byte { return append([]byte(nil), s.secret...) }

// transportOf names the client's transport of allocation k for metrics.
func (s *Server) transportOf(k allocKey) string {
	switch {
	case !k.tcp:
		return "udp"
	case k.port == s.addrs.TLS.Port():
		return "tls"
	}
	return "tcp"
}
