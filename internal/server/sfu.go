package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/signaling"
)

// SFUConfig configures the SFU, which forwards the media of sfu rooms
// (Config.RoomModes). It runs only when Enabled and some room can be an sfu
// room (sfu or auto); otherwise it opens no port and every room is a mesh.
type SFUConfig struct {
	Enabled bool
	UDPPort int // the one UDP port of all ICE traffic (default flag 7882; 0: a free port)
	TCPPort int // the ICE-TCP port (default flag 7881; 0: a free port; -1: no ICE-TCP)
	// PublicIP, when set, is the address put in the SFU's host candidates
	// (NAT 1:1): the server's public address (--turn-public-ip).
	PublicIP netip.Addr
	// ListenIP is the address the SFU's sockets are bound to (default:
	// every address). Tests bind 127.0.0.1.
	ListenIP netip.Addr
	// Limits of the SFU (zero fields: sfu's defaults). Its sockets, NAT
	// address, logger and metrics are set from the fields above.
	Limits sfu.Config
}

// newSFU builds the SFU that signaling hands the sfu rooms to, from
// cfg.SFU, with its logger and metrics; the io.Closer stops it after
// signaling has shut down. New calls it only when the SFU must run. When
// the embedded TURN server runs, the SFU's ports are made reachable through
// its relays on the server's own addresses (turn.Server.AddService): a
// client that can only relay still reaches the SFU.
func (s *Server) newSFU(cfg Config, log *slog.Logger, reg prometheus.Registerer) (signaling.SFU, io.Closer, error) {
	host := ""
	if cfg.SFU.ListenIP.IsValid() {
		host = cfg.SFU.ListenIP.String()
	}
	udp, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(cfg.SFU.UDPPort)))
	if err != nil {
		return nil, nil, fmt.Errorf("--sfu-udp-port: %w", err)
	}
	var tcp net.Listener
	if cfg.SFU.TCPPort >= 0 {
		if tcp, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(cfg.SFU.TCPPort))); err != nil {
			udp.Close()
			return nil, nil, fmt.Errorf("--sfu-tcp-port: %w", err)
		}
	}
	sc := cfg.SFU.Limits
	sc.UDP, sc.TCP, sc.Logger, sc.Metrics = udp, tcp, log, reg
	if cfg.SFU.PublicIP.IsValid() {
		sc.NAT1To1IPs = []string{cfg.SFU.PublicIP.String()}
	}
	f, err := sfu.New(sc)
	if err != nil {
		udp.Close()
		if tcp != nil {
			tcp.Close()
		}
		return nil, nil, err
	}
	if s.turn != nil {
		s.turn.AddService(udp.LocalAddr())
		if tcp != nil {
			s.turn.AddService(tcp.Addr())
		}
	}
	attrs := []any{"udp", udp.LocalAddr().String()}
	if tcp != nil {
		attrs = append(attrs, "tcp", tcp.Addr().String())
	}
	log.Info("SFU listening", attrs...)
	s.sfuAddrs = SFUAddrs{UDP: udp.LocalAddr()}
	if tcp != nil {
		s.sfuAddrs.TCP = tcp.Addr()
	}
	return sfuLimits{SFU: f, limit: sfu.ErrLimit}, f, nil
}

// SFUAddrs are the SFU's bound sockets (nil when it does not run or has no
// ICE-TCP).
type SFUAddrs struct {
	UDP, TCP net.Addr
}

// SFUAddrs returns the addresses the SFU listens on, with the ports bound
// for port 0.
func (s *Server) SFUAddrs() SFUAddrs { return s.sfuAddrs }

// startSFU fills sc's RoomModes and SFU: the SFU starts when it is enabled
// and some room can be an sfu room, so that a server without sfu rooms opens
// no port for it. An SFU the caller set in sc stays, with sc's modes.
func (s *Server) startSFU(sc *signaling.Config) error {
	if sc.SFU != nil {
		return nil
	}
	cfg := s.cfg
	sc.RoomModes = cfg.RoomModes
	if !cfg.RoomModes.Uses(signaling.ModeSFU) {
		return nil
	}
	if !cfg.SFU.Enabled {
		s.log.Warn("the SFU is off (--sfu=false): every room is a mesh, whatever the room modes say")
		return nil
	}
	f, closer, err := s.newSFU(cfg, s.log.With("component", "sfu"), s.reg)
	if err != nil {
		return fmt.Errorf("sfu: %w", err)
	}
	sc.SFU, s.sfu = f, closer
	return nil
}

func (s *Server) closeSFU() {
	if s.sfu != nil {
		if err := s.sfu.Close(); err != nil {
			s.log.Warn("closing the SFU", "err", err)
		}
	}
}

// sfuLimits makes the limit refusals of an SFU signaling's: an error that is
// limit (errors.Is) comes out wrapping signaling.ErrLimitExceeded, so the
// client gets limit_exceeded with the SFU's words. Wrap an SFU whose errors
// are its own (sfu.ErrLimit) in it.
type sfuLimits struct {
	signaling.SFU
	limit error
}

func (s sfuLimits) Join(room, peer string, send func(msg []byte) bool) error {
	return s.wrap(s.SFU.Join(room, peer, send))
}

func (s sfuLimits) Message(room, peer string, msg []byte) error {
	return s.wrap(s.SFU.Message(room, peer, msg))
}

func (s sfuLimits) wrap(err error) error {
	if err == nil || !errors.Is(err, s.limit) || errors.Is(err, signaling.ErrLimitExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", signaling.ErrLimitExceeded, err)
}
