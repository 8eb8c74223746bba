package signaling

import (
	"math/rand/v2"
	"strconv"
	"time"
	"unicode/utf8"
)

// Frame types a client may send.
const (
	TypeHello     = "hello"
	TypeJoin      = "join"
	TypeLeave     = "leave"
	TypeSignal    = "signal"
	TypeBroadcast = "broadcast"
	TypePing      = "ping"
	// TypeICEServers asks for fresh ICE servers; the server also pushes them
	// unasked before the ones it handed out expire.
	TypeICEServers = "ice-servers"
	// TypeRefresh replaces the session's token with a fresh one of the
	// same user before the old one expires.
	TypeRefresh = "refresh"
	// TypeConfirm tells the server that the client's app has processed
	// every frame up to "lastSeq": the server need keep them no longer.
	TypeConfirm = "confirm"
	// TypeSFU carries a message between a client and the SFU of an sfu
	// room, both ways: "data" is a JSON object (docs/protocol.md, SFU rooms).
	TypeSFU = "sfu"
	// TypeSFUJoin and TypeSFULeave make the session an SFU participant of an
	// auto room, or end that, when the room switches (docs/protocol.md,
	// Auto rooms).
	TypeSFUJoin  = "sfu-join"
	TypeSFULeave = "sfu-leave"
	// TypeModeAck says that the client finished a switch of an auto room;
	// the server relays it to the room's other members.
	TypeModeAck = "mode-ack"
)

// Frame types the server sends (besides signal and broadcast, which go both ways).
const (
	TypeWelcome    = "welcome"
	TypeJoined     = "joined"
	TypePeerJoined = "peer-joined"
	TypePeerLeft   = "peer-left"
	TypePong       = "pong"
	TypeAck        = "ack"
	TypeError      = "error"
	// TypeTokenExpiring warns that the session's token expires soon: the
	// client should send a refresh, or the session ends with token_expired.
	TypeTokenExpiring = "token-expiring"
	// TypeReconnect tells a client that the server is draining: reconnect
	// after "delay" milliseconds.
	TypeReconnect = "reconnect"
	// TypeMode announces a switch of an auto room to its members.
	TypeMode = "mode"
)

// MaxFailedPeers bounds the "failed" list of a mode-ack.
const MaxFailedPeers = 1000

// Wire limits on the fields of a client frame.
const (
	MaxRoomNameBytes = 128 // a room name is 1 to 128 bytes of UTF-8 without control characters
	MaxIDBytes       = 128 // a request id is a JSON string or number of at most 128 bytes
	MaxPeerIDBytes   = 64
	MaxResumeBytes   = 64 // a hello's resume token (the server's are 22 bytes)
)

// Frame is a decoded client frame. Only the fields that its type uses are
// set. ID and Data are the raw JSON the client sent and alias the input of
// DecodeFrame: they are valid only as long as that buffer is.
type Frame struct {
	Type  string
	ID    []byte // a JSON string (quotes included) or number
	Room  string
	NS    string
	To    string
	Data  []byte // any JSON value
	Token string
	// Resume and LastSeq, in a hello, ask to resume a session (docs/protocol.md).
	Resume  string
	LastSeq uint64
	// Switch, Mode and Failed are a mode-ack's: Failed is the raw JSON
	// array, checked by the handler.
	Switch uint64
	Mode   string
	Failed []byte
}

// DecodeFrame parses one client text frame and checks every field its type
// requires. The error is always a *Error with code bad_request; the returned
// frame still carries the ID when the input had a usable one, so that the
// error reply can echo it. Keys are case-sensitive; unknown keys are ignored;
// a repeated key takes the last value.
func DecodeFrame(b []byte) (Frame, error) {
	var f Frame
	if !utf8.Valid(b) { // RFC 6455 text frames and RFC 8259 JSON are UTF-8
		return Frame{}, errorf(CodeBadRequest, "frame is not valid UTF-8")
	}
	if err := decodeFrame(b, &f); err != nil {
		return f, err
	}
	return f, f.validate()
}

// MaxNamespaceBytes bounds the "ns" field (namespace names are at most 32 bytes).
const MaxNamespaceBytes = 32

func (f *Frame) validate() error {
	if len(f.NS) > MaxNamespaceBytes {
		return errorf(CodeBadRequest, "namespace name longer than %d bytes", MaxNamespaceBytes)
	}
	switch f.Type {
	case "":
		return errorf(CodeBadRequest, `missing "type"`)
	case TypeHello:
		if len(f.Resume) > MaxResumeBytes {
			return errorf(CodeBadRequest, "resume token longer than %d bytes", MaxResumeBytes)
		}
		return nil // the token is checked by the verifier
	case TypePing, TypeICEServers, TypeConfirm:
		return nil
	case TypeRefresh:
		if f.Token == "" {
			return errorf(CodeBadRequest, `refresh needs "token"`)
		}
		return nil
	case TypeJoin, TypeLeave, TypeSFUJoin, TypeSFULeave:
		return validRoom(f.Room)
	case TypeModeAck:
		if err := validRoom(f.Room); err != nil {
			return err
		}
		if f.Switch == 0 {
			return errorf(CodeBadRequest, `mode-ack needs "switch", the id of a switch`)
		}
		if f.Mode != string(ModeMesh) && f.Mode != string(ModeSFU) {
			return errorf(CodeBadRequest, `mode-ack needs "mode", mesh or sfu`)
		}
		if f.Failed != nil && f.Failed[0] != '[' {
			return errorf(CodeBadRequest, `mode-ack "failed" must be an array of peer ids`)
		}
		return nil
	case TypeSignal:
		if err := validRoom(f.Room); err != nil {
			return err
		}
		if f.To == "" || len(f.To) > MaxPeerIDBytes {
			return errorf(CodeBadRequest, `signal needs "to", a peer id`)
		}
		return needData(f.Data)
	case TypeBroadcast:
		if err := validRoom(f.Room); err != nil {
			return err
		}
		return needData(f.Data)
	case TypeSFU:
		if err := validRoom(f.Room); err != nil {
			return err
		}
		if err := needData(f.Data); err != nil {
			return err
		}
		if f.Data[0] != '{' { // Data starts at its value: white space is skipped
			return errorf(CodeBadRequest, `sfu "data" must be a JSON object`)
		}
		return nil
	}
	return errorf(CodeBadRequest, "unknown frame type %.40q", f.Type)
}

func needData(d []byte) error {
	if d == nil {
		return errorf(CodeBadRequest, `missing "data"`)
	}
	return nil
}

func validRoom(r string) error {
	if r == "" {
		return errorf(CodeBadRequest, `missing "room"`)
	}
	if len(r) > MaxRoomNameBytes {
		return errorf(CodeBadRequest, "room name longer than %d bytes", MaxRoomNameBytes)
	}
	if !utf8.ValidString(r) {
		return errorf(CodeBadRequest, "room name is not valid UTF-8")
	}
	for _, c := range r {
		if c < 0x20 || c == 0x7f {
			return errorf(CodeBadRequest, "room name contains a control character")
		}
	}
	return nil
}

// ---------------------------------------------------------------- encoding

// Outbound frames are built by appending, not by reflection: they are on the
// hot path. Every frame ends in '}' so that the writer can add "seq" in front
// of it without parsing (see Session.writeFrame).

func appendHead(b []byte, typ string) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	return append(b, '"')
}

func appendField(b []byte, key, val string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, val)
}

func appendRoom(b []byte, k RoomKey) []byte {
	b = appendField(b, "room", k.Room)
	if k.NS != "" {
		b = appendField(b, "ns", k.NS)
	}
	return b
}

func appendID(b []byte, id []byte) []byte {
	if id == nil {
		return b
	}
	b = append(b, `,"id":`...)
	return append(b, id...)
}

func appendMember(b []byte, m Member) []byte {
	b = appendField(b, "peer", m.Peer)
	b = appendField(b, "user", m.User)
	if m.Name != "" {
		b = appendField(b, "name", m.Name)
	}
	return b
}

// encodeRelay builds a signal or broadcast as the recipient sees it.
func encodeRelay(typ string, k RoomKey, from string, data []byte) []byte {
	b := make([]byte, 0, 64+len(k.Room)+len(k.NS)+len(from)+len(data))
	b = appendHead(b, typ)
	b = appendRoom(b, k)
	b = appendField(b, "from", from)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// roomView is what a joined frame says of a room's mode: its mode now and,
// for an auto room, the id of its latest switch.
type roomView struct {
	mode     RoomMode
	auto     bool
	switchID uint64
}

func encodeJoined(k RoomKey, v roomView, peers []Member, id []byte) []byte {
	b := make([]byte, 0, 100+len(peers)*96)
	b = appendHead(b, TypeJoined)
	b = appendRoom(b, k)
	b = appendField(b, "mode", string(v.mode))
	if v.auto {
		b = append(b, `,"auto":true,"switch":`...)
		b = strconv.AppendUint(b, v.switchID, 10)
	}
	b = append(b, `,"peers":[`...)
	for i, m := range peers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"peer":`...)
		b = appendString(b, m.Peer)
		b = appendField(b, "user", m.User)
		if m.Name != "" {
			b = appendField(b, "name", m.Name)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	b = appendID(b, id)
	return append(b, '}')
}

// encodeSFU builds an sfu frame carrying msg, a JSON object from the SFU,
// inserted as it is (copied: the SFU may reuse msg).
func encodeSFU(k RoomKey, msg []byte) []byte {
	b := make([]byte, 0, 48+len(k.Room)+len(k.NS)+len(msg))
	b = appendHead(b, TypeSFU)
	b = appendRoom(b, k)
	b = append(b, `,"data":`...)
	b = append(b, msg...)
	return append(b, '}')
}

// encodeMode announces switch id of room k to mode.
func encodeMode(k RoomKey, mode RoomMode, id uint64) []byte {
	b := appendHead(make([]byte, 0, 96+len(k.Room)), TypeMode)
	b = appendRoom(b, k)
	b = appendField(b, "mode", string(mode))
	b = append(b, `,"switch":`...)
	b = strconv.AppendUint(b, id, 10)
	return append(b, '}')
}

// encodeModeAck relays a member's mode-ack to the others.
func encodeModeAck(k RoomKey, from string, id uint64, mode RoomMode, failed []string) []byte {
	b := appendHead(make([]byte, 0, 128+len(k.Room)+len(failed)*24), TypeModeAck)
	b = appendRoom(b, k)
	b = appendField(b, "from", from)
	b = append(b, `,"switch":`...)
	b = strconv.AppendUint(b, id, 10)
	b = appendField(b, "mode", string(mode))
	if len(failed) > 0 {
		b = append(b, `,"failed":[`...)
		for i, p := range failed {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, p)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func encodePeerJoined(k RoomKey, m Member) []byte {
	b := appendHead(make([]byte, 0, 160), TypePeerJoined)
	b = appendRoom(b, k)
	b = appendMember(b, m)
	return append(b, '}')
}

func encodePeerLeft(k RoomKey, peer string) []byte {
	b := appendHead(make([]byte, 0, 128), TypePeerLeft)
	b = appendRoom(b, k)
	b = appendField(b, "peer", peer)
	return append(b, '}')
}

func encodeReply(typ string, id []byte) []byte {
	b := appendHead(make([]byte, 0, 32+len(id)), typ)
	b = appendID(b, id)
	return append(b, '}')
}

func encodeError(e *Error, id []byte) []byte {
	b := appendHead(make([]byte, 0, 64+len(e.Message)+len(id)), TypeError)
	b = appendField(b, "code", string(e.Code))
	b = appendField(b, "message", e.Message)
	b = appendID(b, id)
	return append(b, '}')
}

// encodeExpires builds a frame of type typ that says when the session's
// token expires: the refresh's ack and the expiry warning.
func encodeExpires(typ string, expires time.Time, id []byte) []byte {
	b := appendHead(make([]byte, 0, 64+len(id)), typ)
	b = append(b, `,"expires":`...)
	b = appendInt(b, expires.Unix())
	b = appendID(b, id)
	return append(b, '}')
}

// reconnectSpread bounds the delay a draining server suggests to each
// client, so that they do not all come back at the same moment.
const reconnectSpread = 2 * time.Second

// encodeReconnect builds the drain's reconnect frame with a delay hint
// drawn from [0, spread).
func encodeReconnect(spread time.Duration) []byte {
	b := appendHead(make([]byte, 0, 48), TypeReconnect)
	b = append(b, `,"delay":`...)
	b = appendInt(b, rand.Int64N(int64(spread/time.Millisecond)))
	return append(b, '}')
}

// appendSeqSuffix appends what replaces a frame's closing brace: ,"seq":N}
func appendSeqSuffix(dst []byte, seq uint64) []byte {
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (invalid UTF-8 becomes U+FFFD, <, > and & stay literal).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }
