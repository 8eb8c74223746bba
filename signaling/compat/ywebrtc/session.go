package ywebrtc

import (
	"errors"

	"github.com/switchboard-rtc/switchboard/signaling"
	"github.com/switchboard-rtc/switchboard/signaling/compat"
)

// session handles the messages of one connection, on its reader goroutine.
type session struct {
	c    *compat.Conn
	gate *signaling.Gate
}

func (s *session) handle(b []byte) {
	m, err := Decode(b)
	limited := s.c.Allow() // every message is charged, bad ones too
	if err != nil {
		s.gate.FrameIn("invalid")
		s.replyError(err, "")
		return
	}
	s.gate.FrameIn(m.Type)
	if limited != nil {
		s.replyError(limited, "")
		return
	}
	switch m.Type {
	case TypeSubscribe:
		// Each topic on its own: one SignalingConn carries every room of a
		// page, and a topic the token does not grant must not cost the others.
		for _, t := range m.Topics {
			if err := s.c.Join(t); err != nil {
				s.replyError(err, t)
			}
		}
	case TypeUnsubscribe:
		for _, t := range m.Topics {
			s.c.Leave(t) // not subscribed: nothing to do, as in y-webrtc's server
		}
	case TypePublish:
		frame := encodePublish(m.Raw, s.c.Members(m.Topic))
		if err := s.c.Publish(m.Topic, frame, signaling.KindBroadcast); err != nil {
			s.replyError(err, m.Topic)
		}
	case TypePing:
		s.c.Deliver(pong, signaling.KindPong)
	default:
		s.replyError(&signaling.Error{Code: signaling.CodeBadRequest, Message: "unknown message type"}, "")
	}
}

func (s *session) binary() {
	s.gate.FrameIn("invalid")
	if err := s.c.Allow(); err != nil {
		s.replyError(err, "")
		return
	}
	s.replyError(&signaling.Error{Code: signaling.CodeBadRequest, Message: "binary messages are not part of the protocol"}, "")
}

func (s *session) replyError(err error, topic string) {
	var pe *signaling.Error
	if !errors.As(err, &pe) {
		pe = &signaling.Error{Code: signaling.CodeBadRequest, Message: err.Error()}
	}
	s.gate.ErrorOut(pe.Code)
	s.c.Deliver(encodeError(pe, topic), signaling.KindError)
}
