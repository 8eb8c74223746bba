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
