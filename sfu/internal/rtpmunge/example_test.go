package rtpmunge_test

import (
	"fmt"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-rtc/switchboard/sfu/internal/rtpmunge"
)

// ExampleMunger forwards two frames of one simulcast layer, skips a frame,
// then switches to another layer 100 ms after the last frame went out.
func ExampleMunger() {
	m := rtpmunge.New(0x1234)
	start := time.Now()
	send := func(ssrc uint32, seq uint16, ts uint32, ms int) {
		hdr := rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, Marker: true}
		if m.Munge(&hdr, start.Add(time.Duration(ms)*time.Millisecond)) {
			fmt.Printf("%#x/%d ts %d -> %#x/%d ts %d\n", ssrc, seq, ts, hdr.SSRC, hdr.SequenceNumber, hdr.Timestamp)
		}
	}
	_ = m.Switch(0xa, 90000) // the low layer
	send(0xa, 100, 3000, 0)
	send(0xa, 101, 6000, 33)
	m.Skip(&rtp.Header{SSRC: 0xa, SequenceNumber: 102, Timestamp: 9000, Marker: true})
	_ = m.Switch(0xb, 90000) // the high layer, at its keyframe
	send(0xb, 7000, 500, 133)
	send(0xb, 7001, 3500, 166)
	ssrc, seq, ok := m.Reverse(102) // a NACK for the first packet after the switch
	fmt.Printf("NACK 102 -> %#x/%d %v\n", ssrc, seq, ok)
	// Output:
	// 0xa/100 ts 3000 -> 0x1234/100 ts 3000
	// 0xa/101 ts 6000 -> 0x1234/101 ts 6000
	// 0xb/7000 ts 500 -> 0x1234/102 ts 15000
	// 0xb/7001 ts 3500 -> 0x1234/103 ts 18000
	// NACK 102 -> 0xb/7000 true
}
