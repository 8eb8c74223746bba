package sfu_test

import "github.com/pion/rtcp"

type rtcpPacket = rtcp.Packet

func countPLIs(pkts []rtcp.Packet) int {
	n := 0
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			n++
		}
	}
	return n
}

func lastREMB(pkts []rtcp.Packet) (float32, bool) {
	var b float32
	ok := false
	for _, p := range pkts {
		if r, is := p.(*rtcp.ReceiverEstimatedMaximumBitrate); is {
			b, ok = r.Bitrate, true
		}
	}
	return b, ok
}
