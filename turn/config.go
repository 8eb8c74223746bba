package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/pion/transport/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. Every zero field takes the default written
// next to it; Secret is the only field without one (New generates a secret
// when it is empty and logs that it did).
type Config struct {
	// Secret is the TURN REST API shared secret (coturn's
	// static-auth-secret). Credentials are Credentials(Secret, user, expiry).
	Secret []byte
	Realm  string // default "switchboard"

	// ListenIP is the address the listeners bind (default 0.0.0.0).
	ListenIP netip.Addr
	// Port is the UDP and TCP listening port (default 3478; -1 picks a free
	// port, for tests: read the result from Server.Addrs).
	Port int
	// NoUDP and NoTCP switch a listener off.
	NoUDP, NoTCP bool
	// TLSPort is the TURN-over-TLS (turns:) port; TLS is on only when
	// TLSCertFile and TLSKeyFile are set (default 5349; -1 picks a free port).
	// The files are re-read when they change, without a restart.
	TLSPort                 int
	TLSCertFile, TLSKeyFile string

	// PublicIP is the address advertised in relay candidates and TURN URLs.
	// When it is unset the relay address is ListenIP, and New warns when that
	// is a private or unspecified address: remote clients cannot reach it.
	PublicIP netip.Addr
	// PublicHost is the host name put in TURN URLs (default: PublicIP, else
	// the host the client used to reach signaling).
	PublicHost string

	// RelayPortMin and RelayPortMax bound the relay ports (default 49152 to
	// 65535, as coturn).
	RelayPortMin, RelayPortMax int

	// ReadLoops is the number of SO_REUSEPORT UDP sockets, each with its own
	// read loop (default runtime.NumCPU()).
	ReadLoops int

	// AllowPeers lists peer ranges that may be relayed to although the
	// default policy denies them (for example 10.0.0.0/8 inside a private
	// deployment, or 127.0.0.0/8 in tests). DenyPeers adds ranges to deny.
	AllowPeers, DenyPeers []netip.Prefix
	// TCPRelay enables RFC 6062 TCP allocations (default off).
	TCPRelay bool

	MaxAllocations              int           // allocations on this server (default 10,000; capped below RLIMIT_NOFILE)
	MaxAllocationsPerUser       int           // allocations of one user id (default 10)
	MaxPermissionsPerAllocation int           // distinct peer addresses one allocation may reach (default 32)
	MaxLifetime                 time.Duration // longest allocation lifetime a client may request (default 1 h)
	DefaultLifetime             time.Duration // lifetime when the client asks for none (default 10 min)
	UserBandwidth               int           // relayed bytes per second per user, both ways (default 0: no cap)
	// PermissionLifetime is how long a permission lives unless a
	// CreatePermission or ChannelBind refreshes it (default 5 min, RFC 8656
	// section 9; pion's own default is the same although its doc says 10).
	// Without a live permission nothing is relayed to or from that peer's
	// IP, on a bound channel either (channels live 10 min).
	PermissionLifetime time.Duration
	// UnauthRate bounds replies to unauthenticated requests per source IP
	// (per second, default 20, burst 2x), so the server is a poor reflector.
	UnauthRate float64

	// CredentialTTL is how long credentials from ICEServers stay valid
	// (default 12 h).
	CredentialTTL time.Duration

	Net     transport.Net         // sockets (default: the host's network; pion vnet in tests)
	Logger  *slog.Logger          // default slog.Default()
	Metrics prometheus.Registerer // where the TURN metrics go (default: none)
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Realm == "" {
		c.Realm = "switchboard"
	}
	if !c.ListenIP.IsValid() {
		c.ListenIP = netip.IPv4Unspecified()
	}
	def(&c.Port, 3478)
	def(&c.TLSPort, 5349)
	def(&c.RelayPortMin, 49152)
	def(&c.RelayPortMax, 65535)
	def(&c.ReadLoops, runtime.NumCPU())
	def(&c.MaxAllocations, 10000)
	def(&c.MaxAllocationsPerUser, 10)
	def(&c.MaxPermissionsPerAllocation, 32)
	if c.MaxLifetime == 0 {
		c.MaxLifetime = time.Hour
	}
	if c.DefaultLifetime == 0 {
		c.DefaultLifetime = 10 * time.Minute
	}
	if c.PermissionLifetime == 0 {
		c.PermissionLifetime = 5 * time.Minute
	}
	if c.UnauthRate == 0 {
		c.UnauthRate = 20
	}
	if c.CredentialTTL == 0 {
		c.CredentialTTL = 12 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.NoUDP && c.NoTCP && c.TLSCertFile == "" {
		errs = append(errs, errors.New("turn: every listener is switched off"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("turn: TLS needs both a certificate and a key file"))
	}
	if c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax {
		errs = append(errs, fmt.Errorf("turn: relay port range %d-%d is not within 1-65535 and ordered", c.RelayPortMin, c.RelayPortMax))
	}
	if c.DefaultLifetime > c.MaxLifetime {
		errs = append(errs, fmt.Errorf("turn: default lifetime %v exceeds the maximum %v", c.DefaultLifetime, c.MaxLifetime))
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"max allocations", c.MaxAllocations}, {"max allocations per user", c.MaxAllocationsPerUser}, {"max permissions per allocation", c.MaxPermissionsPerAllocation}, {"read loops", c.ReadLoops}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("turn: %s must not be negative (got %d)", n.name, n.v))
		}
	}
	if c.PermissionLifetime < 0 {
		errs = append(errs, fmt.Errorf("turn: permission lifetime must not be negative (got %v)", c.PermissionLifetime))
	}
	if c.UserBandwidth < 0 {
		errs = append(errs, fmt.Errorf("turn: user bandwidth must not be negative (got %d)", c.UserBandwidth))
	}
	return errors.Join(errs...)
}
