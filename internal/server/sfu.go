package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// SFUConfig configures the SFU, which forwards the media of sfu rooms
// (Config.RoomModes). It runs only when Enabled and some room can be an sfu
// room; otherwise it opens no port and every room is a mesh.
type SFUConfig struct {
	Enabled bool
	UDPPort int // the one UDP port of all ICE traffic (default flag 7882; 0: a free port)
	TCPPort int // the ICE-TCP port (default flag 7881; 0: a free port; -1: no ICE-TCP)
	// PublicIP, when set, is the address put in the SFU's host candidates
	// (NAT 1:1): the server's public address (--turn-public-ip).
	PublicIP netip.Addr
}

// errNoSFU says that this build has no SFU to run.
var errNoSFU = errors.New("the SFU is not built into this binary yet: sfu rooms (--room-modes ...=sfu, --room-mode-default sfu) need it; use mesh rooms or --sfu=false")

// newSFU builds the SFU that signaling hands the sfu rooms to, from cfg.SFU
// (and cfg.TURN, whose public address the SFU advertises too), with its
// logger and metrics; the io.Closer stops it after signaling has shut down.
// New calls it only when the SFU must run.
func newSFU(cfg Config, log *slog.Logger, reg prometheus.Registerer) (signaling.SFU, io.Closer, error) {
	return nil, nil, errNoSFU
}

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
	sfu, closer, err := newSFU(cfg, s.log.With("component", "sfu"), s.reg)
	if err != nil {
		return fmt.Errorf("sfu: %w", err)
	}
	sc.SFU, s.sfu = sfu, closer
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
