package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/turn"
)

// turnFlags are serve's --turn-* flags.
type turnFlags struct {
	on                   bool
	cfg                  turn.Config
	listenIP, publicIP   string
	secret, relayPorts   string
	allowPeers, denyPeer listFlag
}

func addTURNFlags(fs *flag.FlagSet) *turnFlags {
	f := &turnFlags{}
	c := &f.cfg
	fs.BoolVar(&f.on, "turn", true, "run the embedded TURN server (--turn=false: signaling only)")
	fs.StringVar(&f.secret, "turn-secret", "", "TURN REST API shared secret, as coturn's static-auth-secret (generated at start when unset)")
	fs.StringVar(&c.Realm, "turn-realm", "switchboard", "TURN realm")
	fs.StringVar(&f.listenIP, "turn-listen-ip", "", "address the TURN listeners bind (default all)")
	fs.IntVar(&c.Port, "turn-port", 3478, "TURN port for UDP and TCP (-1: any free port)")
	fs.BoolVar(&c.NoUDP, "turn-no-udp", false, "no TURN over UDP")
	fs.BoolVar(&c.NoTCP, "turn-no-tcp", false, "no TURN over TCP")
	fs.IntVar(&c.TLSPort, "turn-tls-port", 5349, "TURN over TLS (turns:) port, used with --turn-tls-cert and --turn-tls-key")
	fs.StringVar(&c.TLSCertFile, "turn-tls-cert", "", "certificate file for turns: (re-read when it changes)")
	fs.StringVar(&c.TLSKeyFile, "turn-tls-key", "", "private key file for turns:")
	fs.StringVar(&f.publicIP, "turn-public-ip", "", "public address advertised in relay candidates (set it when the server sits behind NAT or listens on a private address)")
	fs.StringVar(&c.PublicHost, "turn-public-host", "", "host name put in TURN URLs (default: the public IP, else the host clients use for signaling)")
	fs.StringVar(&f.relayPorts, "turn-relay-ports", "49152-65535", "relay port range MIN-MAX")
	fs.Var(&f.allowPeers, "turn-allow-peers", "CIDR ranges TURN may relay to although they are private or reserved (e.g. 10.0.0.0/8)")
	fs.Var(&f.denyPeer, "turn-deny-peers", "further CIDR ranges TURN never relays to")
	fs.BoolVar(&c.TCPRelay, "turn-tcp-relay", false, "allow RFC 6062 TCP allocations (relay to TCP peers)")
	fs.IntVar(&c.MaxAllocations, "turn-max-allocations", 10000, "TURN allocations on this server (capped below the open-file limit)")
	fs.IntVar(&c.MaxAllocationsPerUser, "turn-max-allocations-per-user", 10, "TURN allocations of one user")
	fs.IntVar(&c.MaxPermissionsPerAllocation, "turn-max-permissions", 32, "peer addresses one allocation may reach")
	fs.DurationVar(&c.MaxLifetime, "turn-max-lifetime", time.Hour, "longest allocation lifetime a client may ask for")
	fs.IntVar(&c.UserBandwidth, "turn-user-bandwidth", 0, "relayed bytes per second per user (0: no cap)")
	fs.DurationVar(&c.CredentialTTL, "turn-credential-ttl", 12*time.Hour, "lifetime of the TURN credentials handed out")
	fs.IntVar(&c.ReadLoops, "turn-read-loops", 0, "UDP sockets with their own read loop (default: one per core)")
	return f
}

// config returns the TURN configuration, or nil when TURN is off.
func (f *turnFlags) config() (*turn.Config, error) {
	if !f.on {
		return nil, nil
	}
	c := f.cfg
	c.Secret = []byte(f.secret)
	var err error
	if f.listenIP != "" {
		if c.ListenIP, err = netip.ParseAddr(f.listenIP); err != nil {
			return nil, fmt.Errorf("--turn-listen-ip: %w", err)
		}
	}
	if f.publicIP != "" {
		if c.PublicIP, err = netip.ParseAddr(f.publicIP); err != nil {
			return nil, fmt.Errorf("--turn-public-ip: %w", err)
		}
	}
	lo, hi, ok := strings.Cut(f.relayPorts, "-")
	if c.RelayPortMin, err = strconv.Atoi(lo); err != nil || !ok {
		return nil, fmt.Errorf("--turn-relay-ports %q: want MIN-MAX", f.relayPorts)
	}
	if c.RelayPortMax, err = strconv.Atoi(hi); err != nil {
		return nil, fmt.Errorf("--turn-relay-ports %q: want MIN-MAX", f.relayPorts)
	}
	if c.AllowPeers, err = parsePrefixes("--turn-allow-peers", f.allowPeers); err != nil {
		return nil, err
	}
	if c.DenyPeers, err = parsePrefixes("--turn-deny-peers", f.denyPeer); err != nil {
		return nil, err
	}
	return &c, nil
}

// parsePrefixes reads CIDRs; a bare address means just that address.
func parsePrefixes(flagName string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR range or an address", flagName, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
