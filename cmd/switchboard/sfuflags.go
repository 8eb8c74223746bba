package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/server"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// sfuFlags are serve's room mode and --sfu-* flags.
type sfuFlags struct {
	on               bool
	modes, def       string
	udpPort, tcpPort int
	listenIP         string
	maxParticipants  int
	maxPublishers    int
	meshMax          int
	meshHold         time.Duration
}

func addSFUFlags(fs *flag.FlagSet) *sfuFlags {
	f := &sfuFlags{}
	fs.BoolVar(&f.on, "sfu", true, "run the SFU for sfu rooms (--sfu=false: every room is a mesh)")
	fs.StringVar(&f.modes, "room-modes", "", `room modes by room name, first match wins, e.g. "webinar-*=sfu,p2p-*=mesh" (patterns as in tokens: a name, a prefix*, or *)`)
	fs.StringVar(&f.def, "room-mode-default", "auto", "mode of a room that no --room-modes rule matches: mesh, sfu or auto (a mesh up to --mesh-max peers, the SFU beyond)")
	fs.IntVar(&f.meshMax, "mesh-max", signaling.DefaultMeshMax, "auto rooms: the most peers a mesh holds; one more moves the room to the SFU")
	fs.DurationVar(&f.meshHold, "mesh-hold", signaling.DefaultMeshHold, "auto rooms: how long a room on the SFU must hold --mesh-max - 1 peers or fewer before it moves back to a mesh")
	fs.IntVar(&f.udpPort, "sfu-udp-port", 7882, "the SFU's UDP port, for the ICE traffic of every participant (0: any free port)")
	fs.IntVar(&f.tcpPort, "sfu-tcp-port", 7881, "the SFU's ICE-TCP port, for clients that cannot use UDP (0: any free port; -1: no ICE-TCP)")
	fs.IntVar(&f.maxParticipants, "sfu-max-participants", 0, "participants in one sfu room (0: the SFU's default, 100); --peers-per-room also applies")
	fs.IntVar(&f.maxPublishers, "sfu-max-publishers", 0, "publishers in one sfu room (0: the SFU's default, 16)")
	fs.StringVar(&f.listenIP, "sfu-listen-ip", "", "bind the SFU's ports to this address only (default: every address); 127.0.0.1 keeps a benchmark on loopback, candidates included")
	return f
}

// apply checks the flags and sets cfg's RoomModes and SFU. cfg.Listen and
// cfg.TURN are set already (the SFU's ports must not clash with theirs);
// publicIP is --turn-public-ip, which the SFU advertises too.
func (f *sfuFlags) apply(cfg *server.Config, publicIP string) error {
	rules, err := signaling.ParseRoomModeRules(f.modes)
	if err != nil {
		return fmt.Errorf("--room-modes: %w", err)
	}
	def, err := signaling.ParseRoomMode(f.def)
	if err != nil {
		return fmt.Errorf("--room-mode-default: %w", err)
	}
	if f.udpPort < 0 || f.udpPort > 65535 {
		return fmt.Errorf("--sfu-udp-port %d: want a port from 1 to 65535, or 0 for any free port", f.udpPort)
	}
	if f.tcpPort < -1 || f.tcpPort > 65535 {
		return fmt.Errorf("--sfu-tcp-port %d: want a port from 1 to 65535, 0 for any free port, or -1 for no ICE-TCP", f.tcpPort)
	}
	if f.meshMax < 1 || f.meshMax > 1000 {
		return fmt.Errorf("--mesh-max %d: want 1 to 1000 peers", f.meshMax)
	}
	if f.meshHold <= 0 {
		return fmt.Errorf("--mesh-hold %v: want a positive duration", f.meshHold)
	}
	cfg.RoomModes = signaling.RoomModes{Rules: rules, Default: def, MeshMax: f.meshMax, MeshHold: f.meshHold}
	cfg.SFU = server.SFUConfig{Enabled: f.on, UDPPort: f.udpPort, TCPPort: f.tcpPort}
	if f.maxParticipants < 0 || f.maxPublishers < 0 {
		return fmt.Errorf("--sfu-max-participants %d, --sfu-max-publishers %d: want positive numbers, or 0 for the defaults",
			f.maxParticipants, f.maxPublishers)
	}
	cfg.SFU.Limits.MaxParticipantsPerRoom = f.maxParticipants
	cfg.SFU.Limits.MaxPublishersPerRoom = f.maxPublishers
	if f.listenIP != "" {
		if cfg.SFU.ListenIP, err = netip.ParseAddr(f.listenIP); err != nil {
			return fmt.Errorf("--sfu-listen-ip: %w", err)
		}
	}
	if publicIP != "" {
		if cfg.SFU.PublicIP, err = netip.ParseAddr(publicIP); err != nil {
			return fmt.Errorf("--turn-public-ip: %w", err)
		}
	}
	if f.on && !cfg.NoSignaling && cfg.RoomModes.Uses(signaling.ModeSFU) {
		return f.checkClashes(cfg)
	}
	return nil
}

// checkClashes refuses SFU ports that the server's other listeners use.
func (f *sfuFlags) checkClashes(cfg *server.Config) error {
	clash := func(flagName string, port int, otherFlag string, other int) error {
		if port > 0 && port == other {
			return fmt.Errorf("%s %d is %s's port too: give the SFU another one", flagName, port, otherFlag)
		}
		return nil
	}
	var errs []error
	if t := cfg.TURN; t != nil {
		if !t.NoUDP {
			errs = append(errs, clash("--sfu-udp-port", f.udpPort, "--turn-port", t.Port))
		}
		if !t.NoTCP {
			errs = append(errs, clash("--sfu-tcp-port", f.tcpPort, "--turn-port", t.Port))
		}
		if t.TLSCertFile != "" {
			errs = append(errs, clash("--sfu-tcp-port", f.tcpPort, "--turn-tls-port", t.TLSPort))
		}
	}
	if _, p, err := net.SplitHostPort(cfg.Listen); err == nil {
		listen, _ := strconv.Atoi(p)
		errs = append(errs, clash("--sfu-tcp-port", f.tcpPort, "--listen", listen))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
