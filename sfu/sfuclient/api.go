package sfuclient

import (
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtc"
)

// APIConfig configures NewAPI.
type APIConfig struct {
	// Loopback gathers only 127.0.0.1 candidates over UDP (tests on one
	// host that must not send anything off the machine).
	Loopback bool
	// Before are interceptors placed nearest the network, before the
	// standard ones (NACK generator and responder, RTCP reports): a test
	// can drop packets there so that the NACK generator sees a loss.
	Before []interceptor.Factory
	// NoReplayProtection turns SRTP replay protection off. Interceptors
	// see packets after decryption, so a test that drops one there must
	// set it, or the SFU's retransmission of that packet is refused as a
	// replay.
	NoReplayProtection bool
	// NetworkTypes, when set, restricts the candidates gathered (e.g.
	// TCP4 alone to test ICE-TCP).
	NetworkTypes []webrtc.NetworkType
	// Net, when set, is the network pion gathers and listens on (a test
	// puts a client in a network namespace with it).
	Net transport.Net
	// NoRTX leaves video/rtx out of the codecs: retransmissions then go
	// both ways on the media SSRC, as with a client that has no RTX.
	NoRTX bool
}

// NewAPI returns a pion API with the codecs and header extensions the SFU
// forwards (Opus, VP8, H.264, audio level), NACK with RTX (pion sends its
// retransmissions on the RTX SSRC and unwraps those it receives), RTCP reports and
// transport-wide congestion control as Chromium does it: what it sends
// carries transport-wide sequence numbers, and it sends transport-cc
// feedback for what it receives (every 100 ms).
func NewAPI(cfg APIConfig) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := rtc.RegisterCodecsWith(m, rtc.CodecOptions{NoRTX: cfg.NoRTX}); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	for _, f := range cfg.Before {
		reg.Add(f)
	}
	// NACK each lost packet at most 10 times, as Chromium does: pion's
	// default asks again every 100 ms for as long as the packet is in its
	// window, and hundreds of clients asking for packets the server can no
	// longer resend (older than a layer switch) flooded it in the
	// benchmark (docs/benchmarks-log-2026-12.md, "SFU beside LiveKit").
	if err := webrtc.ConfigureNackWithOptions(m, reg, []nack.GeneratorOption{nack.GeneratorMaxNacksPerPacket(10)}); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	stamp, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, err
	}
	feedback, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(stamp)
	reg.Add(feedback)
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.NoReplayProtection {
		se.DisableSRTPReplayProtection(true)
	}
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	}
	if len(cfg.NetworkTypes) > 0 {
		se.SetNetworkTypes(cfg.NetworkTypes)
	}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}
