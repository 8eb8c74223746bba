package sfuclient_test

import (
	"log"
	"net"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/sfu"
	"github.com/switchboard-rtc/switchboard/sfu/sfuclient"
)

// Example wires a client straight to an SFU in the same process, as the
// SFU's own tests do; over signaling, Send would write an "sfu" frame and
// each "sfu" frame's data would go to Handle.
func Example() {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s, err := sfu.New(sfu.Config{UDP: udp})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	api, err := sfuclient.NewAPI(sfuclient.APIConfig{Loopback: true})
	if err != nil {
		log.Fatal(err)
	}
	inbox := make(chan []byte, 64) // messages from the SFU, in order
	c, err := sfuclient.New(sfuclient.Config{
		API:  api,
		Send: func(m []byte) error { return s.Message("ns/room", "alice", m) },
		OnTrack: func(t *sfuclient.Track) {
			log.Printf("%s sends %s %s", t.Info.Peer, t.Info.Kind, t.ID)
		},
		OnData: func(d sfuclient.Data) { log.Printf("%s says %q", d.From, d.Payload) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	go func() {
		for m := range inbox {
			if err := c.Handle(m); err != nil {
				log.Print(err)
			}
		}
	}()
	if err := s.Join("ns/room", "alice", func(m []byte) bool {
		select {
		case inbox <- m:
			return true
		default:
			return false // too slow: signaling would drop the session
		}
	}); err != nil {
		log.Fatal(err)
	}
	<-c.DataOpen()
	_ = c.SendData("", []byte(`{"hello":"room"}`), true, true)

	cam, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "alice")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Publish(cam); err != nil {
		log.Fatal(err)
	}
	// ... cam.WriteRTP(packets) ...
	s.Leave("ns/room", "alice") // inbox is not closed: send may still be called for a moment
}
