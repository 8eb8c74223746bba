package rtc

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// reportsWithoutRTX wraps pion's sender-report interceptor so that it
// does not see the RTX packets a DownTrack writes. They go through the
// media stream's writer (the one pion binds per track, as its own NACK
// responder does), and pion's sender report would take one for a packet
// of the media stream: its sequence number (of the RTX stream) looks
// newer half the time, and its timestamp, the original's, would be
// mapped to the time of the retransmission, putting the sender report's
// RTP time behind by the retransmission's age (the subscriber's lip sync
// off by as much) until the next media packet it takes as newer.
type reportsWithoutRTX struct{ f interceptor.Factory }

func (r reportsWithoutRTX) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := r.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &rtxBypass{Interceptor: i}, nil
}

type rtxBypass struct{ interceptor.Interceptor }

// BindLocalStream passes the packets of the stream's RTX SSRC (when it
// has one) straight to w, the rest through the wrapped interceptor.
func (i *rtxBypass) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	inner := i.Interceptor.BindLocalStream(info, w)
	rtx := info.SSRCRetransmission
	if rtx == 0 {
		return inner
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == rtx {
			return w.Write(h, payload, a)
		}
		return inner.Write(h, payload, a)
	})
}
