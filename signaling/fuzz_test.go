package signaling

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The seeds below run as ordinary tests under `go test`; fuzz with e.g.
//
//	go test -run='^$' -fuzz=FuzzDecodeFrame -fuzztime=30s ./signaling/
//
// Crashers the fuzzer finds land in testdata/fuzz/<FuzzName>/ and stay there
// as regression seeds.

var fuzzFrameSeeds = []string{
	// Every client type, well formed.
	`{"type":"sfu-join","room":"call","id":1}`,
	`{"type":"sfu-leave","room":"call","ns":"chat"}`,
	`{"type":"mode-ack","room":"call","switch":3,"mode":"sfu","failed":["a","b"],"id":"m"}`,
	`{"type":"mode-ack","room":"call","switch":1,"mode":"mesh","failed":null}`,
	`{"type":"mode-ack","room":"call","switch":0,"mode":"mesh"}`,
	`{"type":"mode-ack","room":"call","switch":1.5,"mode":"sfu"}`,
	`{"type":"mode-ack","room":"call","switch":1,"mode":"p2p"}`,
	`{"type":"mode-ack","room":"call","switch":1,"mode":"sfu","failed":{"a":1}}`,
	`{"type":"mode-ack","room":"call","switch":9007199254740992,"mode":"sfu"}`,
	`{"type":"hello","token":"eyJhbGciOiJIUzI1NiJ9.e30.x"}`,
	`{"type":"hello","token":"t","id":1}`,
	`{"type":"join","room":"lobby","id":1}`,
	`{"type":"join","room":"lobby","ns":"chat","id":"j-1"}`,
	`{"type":"leave","room":"lobby","id":-3.5e2}`,
	`{"type":"signal","room":"lobby","to":"q3V0abcdefghijkl","data":{"description":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}}`,
	`{"type":"signal","room":"lobby","to":"p","data":{"candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}},"id":7}`,
	`{"type":"signal","room":"lobby","to":"p","data":null}`,
	`{"type":"broadcast","room":"lobby","data":{"cursor":[10,20]},"id":"b"}`,
	`{"type":"broadcast","room":"lobby","data":"text"}`,
	`{"type":"broadcast","room":"lobby","data":[1,2.5,true,false,null,{"a":{"b":{"c":[[[]]]}}}]}`,
	`{"type":"ping"}`,
	`{"type":"ping","id":"p1"}`,
	`{"type":"ice-servers","id":2}`,
	`{"type":"refresh","token":"eyJhbGciOiJIUzI1NiJ9.e30.x","id":"r"}`,
	`{"type":"refresh"}`,
	`{"type":"confirm","lastSeq":12}`,
	`{"type":"confirm","lastSeq":12,"id":"c"}`,
	`{"type":"confirm","lastSeq":-3}`,
	`{"type":"confirm"}`,
	`{"type":"hello","token":"t","resume":"Jgo-3j8zHVfnQLhIH0vk-A","lastSeq":41}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":0}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":9007199254740991}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":9007199254740992}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":18446744073709551616}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":-1}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":1.5}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":1e3}`,
	`{"type":"hello","token":"t","resume":"r","lastSeq":"7"}`,
	`{"type":"hello","token":"t","resume":7,"lastSeq":null}`,
	`{"type":"hello","token":"t","resume":"` + strings.Repeat("r", MaxResumeBytes+1) + `"}`,
	// sfu frames: the SDK's messages to the SFU (docs/protocol.md, SFU rooms).
	`{"type":"sfu","room":"big-1","data":{"kind":"offer","pc":"pub","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rid:h send\r\na=simulcast:send l;m;h\r\n"},"id":1}`,
	`{"type":"sfu","room":"big-1","ns":"chat","data":{"kind":"answer","pc":"sub","sdp":"v=0\r\n"}}`,
	`{"type":"sfu","room":"big-1","data":{"kind":"candidate","pc":"pub","candidate":{"candidate":"candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}},"id":"c1"}`,
	`{"type":"sfu","room":"big-1","data":{"kind":"candidate","pc":"sub","candidate":null}}`,
	`{"type":"sfu","room":"big-1","data":{"kind":"quality","peer":"q3V0abcdefghijkl","quality":"low"}}`,
	`{"type":"sfu","room":"big-1","data":{"kind":"size","track":"q3V0:video-1","width":640,"height":360}}`,
	`{"type":"sfu","room":"big-1","data": {"kind":"size","track":"t","width":0,"height":0} }`,
	`{"type":"sfu","room":"big-1","data":{}}`,
	`{"type":"sfu","room":"big-1","data":[{"kind":"offer"}]}`,
	`{"type":"sfu","room":"big-1","data":"offer"}`,
	`{"type":"sfu","room":"big-1","data":42}`,
	`{"type":"sfu","room":"big-1","data":null,"id":2}`,
	`{"type":"sfu","room":"big-1"}`,
	`{"type":"sfu","data":{"kind":"offer"}}`,
	`{"type":"sfu","room":"","data":{}}`,
	`{"type":"sfu","room":"big-1","data":{"kind":"offer","sdp":` + strings.Repeat("{\"a\":", 300) + `1` + strings.Repeat("}", 300) + `}}`,
	`{"type":"sfu","room":"big-1","data":{"kind":"offer"},"data":[]}`,
	`{"type":"sfu","room":"big-1","data":{"kind":"offer"}`,
	// Unicode and escapes in fields.
	`{"type":"join","room":"caf\u00e9 \ud83d\ude00 日本"}`,
	`{"type":"join","room":"\ud800"}`,
	`{"type":"join","room":"a\u0000b"}`,
	`{"type":"join","room":"a\u007fb"}`,
	`{"type":"join","room":"tab\there"}`,
	`{"type":"signal","room":"r","to":"p","data":{"s":"\u2028\u2029\"\\\/<>&"}}`,
	// Server types and unknown types sent by a client.
	`{"type":"welcome"}`,
	`{"type":"joined","room":"r"}`,
	`{"type":"JOIN","room":"r"}`,
	`{"TYPE":"join","ROOM":"r"}`,
	`{"type":""}`,
	`{}`,
	// Missing or wrongly typed fields.
	`{"type":"join"}`,
	`{"type":"signal","room":"r","data":{}}`,
	`{"type":"signal","room":"r","to":"p"}`,
	`{"type":"broadcast","room":"r"}`,
	`{"type":1}`,
	`{"type":"join","room":5,"id":"keep-me"}`,
	`{"type":"join","room":["a"],"id":1}`,
	`{"type":"signal","room":"r","to":{"x":1},"data":1,"id":[1]}`,
	`{"type":"hello","token":123}`,
	`{"type":"join","room":"r","id":null}`,
	`{"type":"join","room":"r","id":true}`,
	`{"type":"join","room":"r","id":{"a":1}}`,
	`{"type":"join","room":"r","id":"` + strings.Repeat("x", 200) + `"}`,
	`{"type":"join","room":"r","id":` + strings.Repeat("9", 127) + `}`,
	`{"type":"join","room":"r","id":` + strings.Repeat("9", 500) + `}`,
	`{"type":"join","room":"` + strings.Repeat("r", MaxRoomNameBytes) + `"}`,
	`{"type":"join","room":"` + strings.Repeat("r", MaxRoomNameBytes+1) + `"}`,
	`{"type":"signal","room":"r","to":"` + strings.Repeat("p", MaxPeerIDBytes+1) + `","data":1}`,
	`{"type":"join","type":"leave","room":"r"}`,
	`{"type":"signal","room":"r","to":"p","data":1,"data":{"x":2}}`,
	`{"type":"signal","room":"r","to":"p","data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	// Not an object, or not JSON.
	`[]`,
	`[{"type":"ping"}]`,
	`"ping"`,
	`42`,
	`-0.5e10`,
	`null`,
	`true`,
	``,
	` `,
	`{`,
	`{"type":"join","room":"lob`,
	`{"type":"join",}`,
	`{"type":"join","room":"r"}}`,
	`{"type":"join","room":"r"} {"type":"ping"}`,
	`{'type':'ping'}`,
	`{"type":"ping","id":01}`,
	`{"type":"ping","id":-}`,
	"{\"type\":\"join\",\"room\":\"\xff\xfe\"}",
	"{\"type\":\"ping\"}\x00",
	"\xef\xbb\xbf{\"type\":\"ping\"}",
}

var clientTypes = map[string]bool{
	TypeHello: true, TypeJoin: true, TypeLeave: true, TypeSignal: true, TypeBroadcast: true, TypePing: true,
	TypeICEServers: true, TypeRefresh: true, TypeConfirm: true, TypeSFU: true,
	TypeSFUJoin: true, TypeSFULeave: true, TypeModeAck: true,
}

// decodeAny decodes JSON keeping numbers as written.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

func checkID(t *testing.T, in []byte, id []byte) {
	t.Helper()
	if id == nil {
		return
	}
	if len(id) > MaxIDBytes {
		t.Fatalf("DecodeFrame(%q): id of %d bytes kept", in, len(id))
	}
	switch v := decodeAny(t, id).(type) {
	case string, json.Number:
	default:
		t.Fatalf("DecodeFrame(%q): id %s (%T) is neither a string nor a number", in, id, v)
	}
}

// refFrame decodes a client frame with encoding/json, following the rules
// DecodeFrame documents: keys are case-sensitive (after unescaping), unknown
// keys are ignored, a repeated key takes the last value, null leaves a string
// field empty and the id and data unset, an id longer than MaxIDBytes or of
// the wrong type is dropped and is an error, a field of the wrong type is an
// error. ok is false when DecodeFrame must fail.
func refFrame(in []byte) (f Frame, ok bool) {
	if !utf8.Valid(in) || !json.Valid(in) {
		return Frame{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Frame{}, false
	}
	wrong := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Frame{}, false
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Frame{}, false
		}
		raw = bytes.TrimSpace(raw)
		var dst *string
		switch key {
		case "type":
			dst = &f.Type
		case "room":
			dst = &f.Room
		case "ns":
			dst = &f.NS
		case "to":
			dst = &f.To
		case "token":
			dst = &f.Token
		case "resume":
			dst = &f.Resume
		case "mode":
			dst = &f.Mode
		case "lastSeq", "switch":
			// A whole number from 0 to 2^53-1 without fraction or exponent.
			n := uint64(0)
			if string(raw) != "null" {
				v, err := strconv.ParseUint(string(raw), 10, 64)
				if err != nil || v > 1<<53-1 {
					wrong = true
				} else {
					n = v
				}
			}
			if key == "switch" {
				f.Switch = n
			} else {
				f.LastSeq = n
			}
		case "failed":
			f.Failed = raw
			if string(raw) == "null" {
				f.Failed = nil
			}
		case "id":
			switch c := raw[0]; {
			case c == '"' || c == '-' || c >= '0' && c <= '9':
				f.ID = raw
			case string(raw) == "null":
				f.ID = nil
			default:
				f.ID, wrong = nil, true
			}
			if len(f.ID) > MaxIDBytes {
				f.ID, wrong = nil, true
			}
		case "data":
			f.Data = raw
			if string(raw) == "null" {
				f.Data = nil
			}
		}
		if dst == nil {
			continue
		}
		switch {
		case string(raw) == "null":
			*dst = ""
		case raw[0] == '"':
			if err := json.Unmarshal(raw, dst); err != nil {
				panic(err) // cannot happen: json.Valid said so
			}
		default:
			wrong = true
		}
	}
	if wrong {
		return f, false
	}
	return f, f.validate() == nil
}

// jsonDepth is the deepest nesting of arrays and objects in b.
func jsonDepth(b []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range fuzzFrameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, orig []byte) {
		in := bytes.Clone(orig) // the fuzzer's bytes must not be written to
		fr, err := DecodeFrame(in)
		if !bytes.Equal(in, orig) {
			t.Fatalf("DecodeFrame modified its input")
		}
		// The session echoes the ID of a bad frame in its error reply.
		checkID(t, in, fr.ID)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadRequest || pe.Message == "" {
				t.Fatalf("DecodeFrame(%q): error %#v, want a *Error with code bad_request", in, err)
			}
			reply := encodeError(pe, fr.ID)
			if !json.Valid(reply) || !utf8.Valid(reply) {
				t.Fatalf("DecodeFrame(%q): error reply %q is not valid JSON", in, reply)
			}
		}

		// Differential: encoding/json, under the same rules, agrees. (Past the
		// decoder's nesting limit only DecodeFrame refuses.)
		ref, refOK := refFrame(in)
		if jsonDepth(in) <= maxDepth {
			if refOK != (err == nil) {
				t.Fatalf("DecodeFrame(%q): error %v, but encoding/json decodes %+v (valid: %v)", in, err, ref, refOK)
			}
		} else if err == nil && !refOK {
			t.Fatalf("DecodeFrame(%q) accepted a frame encoding/json refuses", in)
		}
		if err != nil {
			return
		}
		if fr.Type != ref.Type || fr.Room != ref.Room || fr.NS != ref.NS || fr.To != ref.To || fr.Token != ref.Token ||
			fr.Resume != ref.Resume || fr.LastSeq != ref.LastSeq || fr.Switch != ref.Switch || fr.Mode != ref.Mode ||
			!bytes.Equal(fr.ID, ref.ID) || !bytes.Equal(fr.Data, ref.Data) || !bytes.Equal(fr.Failed, ref.Failed) {
			t.Fatalf("DecodeFrame(%q) = %+v,\nencoding/json:      %+v", in, fr, ref)
		}

		if !clientTypes[fr.Type] {
			t.Fatalf("DecodeFrame(%q) accepted type %q", in, fr.Type)
		}
		if !utf8.Valid(in) || !json.Valid(in) {
			t.Fatalf("DecodeFrame accepted %q, which is not valid UTF-8 JSON", in)
		}
		switch fr.Type {
		case TypeJoin, TypeLeave, TypeSignal, TypeBroadcast, TypeSFU, TypeSFUJoin, TypeSFULeave, TypeModeAck:
			if fr.Room == "" || len(fr.Room) > MaxRoomNameBytes || !utf8.ValidString(fr.Room) {
				t.Fatalf("DecodeFrame(%q) accepted room %q", in, fr.Room)
			}
			for _, c := range fr.Room {
				if c < 0x20 || c == 0x7f {
					t.Fatalf("DecodeFrame(%q) accepted room %q with a control character", in, fr.Room)
				}
			}
		}
		switch fr.Type {
		case TypeSignal:
			if fr.To == "" || len(fr.To) > MaxPeerIDBytes {
				t.Fatalf("DecodeFrame(%q) accepted to %q", in, fr.To)
			}
			if fr.Data == nil {
				t.Fatalf("DecodeFrame(%q) accepted a signal without data", in)
			}
		case TypeBroadcast:
			if fr.Data == nil {
				t.Fatalf("DecodeFrame(%q) accepted a broadcast without data", in)
			}
		case TypeSFU:
			if _, ok := decodeAny(t, fr.Data).(map[string]any); !ok {
				t.Fatalf("DecodeFrame(%q) accepted an sfu frame whose data %q is not an object", in, fr.Data)
			}
		case TypeRefresh:
			if fr.Token == "" {
				t.Fatalf("DecodeFrame(%q) accepted a refresh without a token", in)
			}
		}
		if fr.Data == nil {
			return
		}
		// The relayed frame is valid JSON and carries the data unchanged.
		k := RoomKey{NS: fr.NS, Room: fr.Room}
		relay := encodeRelay(TypeSignal, k, "peer", fr.Data)
		if !json.Valid(relay) {
			t.Fatalf("DecodeFrame(%q): relay %q is not valid JSON", in, relay)
		}
		var got struct {
			Type, Room, NS, From string
			Data                 json.RawMessage
		}
		if err := json.Unmarshal(relay, &got); err != nil {
			t.Fatalf("relay %q: %v", relay, err)
		}
		if got.Type != TypeSignal || got.Room != fr.Room || got.NS != fr.NS || got.From != "peer" {
			t.Fatalf("DecodeFrame(%q): relay %q decodes to %+v", in, relay, got)
		}
		if want, have := decodeAny(t, ref.Data), decodeAny(t, got.Data); !reflect.DeepEqual(want, have) {
			t.Fatalf("DecodeFrame(%q): relay data %#v, want %#v", in, have, want)
		}
		if withSeq := appendSeqSuffix(append([]byte(nil), relay[:len(relay)-1]...), 1<<63); !json.Valid(withSeq) {
			t.Fatalf("relay with seq %q is not valid JSON", withSeq)
		}
		if fr.Type != TypeSFU {
			return
		}
		// What the SFU sends back in an sfu frame is carried as it is, too.
		out := encodeSFU(k, fr.Data)
		var back struct {
			Type, Room, NS string
			Data           json.RawMessage
		}
		if err := json.Unmarshal(out, &back); err != nil || back.Type != TypeSFU || back.Room != fr.Room || back.NS != fr.NS || !bytes.Equal(back.Data, fr.Data) {
			t.Fatalf("encodeSFU(%q) = %q (%+v, %v)", fr.Data, out, back, err)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "lobby", `"quoted" \back\slash/`, "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		"<script>&amp;</script>", "\u2028\u2029", "café 日本 😀", "\ufffd",
		"\xff", "\xc3", "a\xc3(b", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "\xe2\x80\xa8\xe2\x80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("appendString(%q) = %q, not valid JSON", s, b)
		}
		if !utf8.Valid(b) {
			t.Fatalf("appendString(%q) = %q, not valid UTF-8", s, b)
		}
		if bytes.ContainsAny(b, "\u2028\u2029") {
			t.Fatalf("appendString(%q) = %q holds a raw line or paragraph separator", s, b)
		}
		for _, c := range b {
			if c < 0x20 {
				t.Fatalf("appendString(%q) = %q holds a raw control character", s, b)
			}
		}
		var got, want string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %q: %v", s, b, err)
		}
		std, _ := json.Marshal(s)
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("appendString(%q) = %q decodes to %q, encoding/json's %q to %q", s, b, got, std, want)
		}
		// It appends: what is in front stays.
		if pre := appendString([]byte("ab"), s); string(pre) != "ab"+string(b) {
			t.Fatalf("appendString after a prefix = %q", pre)
		}
	})
}

const fuzzSecret = "fuzz-secret-0123456789abcdef"

func fuzzToken(f *testing.F, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	f.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

func FuzzVerifyToken(f *testing.F) {
	secret := []byte(fuzzSecret)
	enc := base64.RawURLEncoding.EncodeToString
	mint := func(spec TokenSpec) string {
		s, err := MintHS256(secret, spec)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	now := time.Now()
	valid := mint(TokenSpec{User: "alice", Name: "Alice", Rooms: []string{"team-*"}, NS: map[string][]string{"chat": {"*"}}, TTL: time.Hour})
	seeds := []string{
		valid,
		mint(TokenSpec{User: "bob", TTL: time.Minute}),
		mint(TokenSpec{User: strings.Repeat("u", maxUserBytes), Name: strings.Repeat("é", 100), Rooms: []string{"*"}, TTL: 24 * time.Hour}),
		mint(TokenSpec{User: strings.Repeat("u", maxUserBytes+1), TTL: time.Hour}),
		mint(TokenSpec{User: "many", Rooms: make([]string, MaxRoomPatterns+1), TTL: time.Hour}),
		mint(TokenSpec{User: "ns", NS: map[string][]string{"": {"x"}, "chat": make([]string, MaxRoomPatterns+1)}, TTL: time.Hour}),
		// Expired (beyond the leeway), not yet valid, no exp, no sub.
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Hour).Unix()}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice"}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": 5, "exp": now.Add(time.Hour).Unix()}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": "tomorrow"}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": 1e300}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": -1e300}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "rooms": "lobby"}),
		fuzzToken(f, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "ns": []string{"chat"}}),
		// Right claims, wrong key or algorithm.
		fuzzToken(f, jwt.SigningMethodHS256, []byte("another secret"), jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}),
		fuzzToken(f, jwt.SigningMethodHS384, secret, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}),
		fuzzToken(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}),
	}
	parts := strings.Split(valid, ".")
	sig := []byte(parts[2])
	sig[0] ^= 1
	seeds = append(seeds,
		parts[0]+"."+parts[1]+"."+string(sig),   // tampered signature
		parts[0]+"."+parts[1]+".",               // no signature
		parts[0]+"."+parts[1],                   // two parts
		parts[0]+"."+parts[1]+"."+parts[2]+".x", // four parts
		enc([]byte(`{"alg":"RS256","typ":"JWT"}`))+"."+parts[1]+"."+parts[2],
		enc([]byte(`{"alg":"none"}`))+"."+parts[1]+".",
		enc([]byte(`{"alg":"HS256"}`))+"."+enc([]byte(`{"sub":"a","exp":9999999999}`))+"."+parts[2],
		enc([]byte(`{"alg":"HS256"`))+"."+parts[1]+"."+parts[2],
		enc([]byte(`[]`))+"."+enc([]byte(`null`))+"."+parts[2],
		"", ".", "..", "a.b.c", "Bearer "+valid, valid+" ", "\x00\xff.\xfe.\x01",
		strings.Repeat("A", MaxTokenBytes+1),
	)
	for _, s := range seeds {
		f.Add(s)
	}
	v, err := NewHMACVerifier(secret)
	if err != nil {
		f.Fatal(err)
	}
	// The valid seeds do verify: the properties below are not vacuous.
	if id, err := v.Verify(valid); err != nil || id.User != "alice" {
		f.Fatalf("Verify(valid seed) = %+v, %v", id, err)
	}
	signedOnly := jwt.NewParser(jwt.WithoutClaimsValidation(), jwt.WithValidMethods([]string{"HS256"}))
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify(tok)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || (pe.Code != CodeUnauthorized && pe.Code != CodeTokenExpired) || pe.Message == "" {
				t.Fatalf("Verify(%q): error %#v, want a *Error with code unauthorized or token_expired", tok, err)
			}
			if id != nil {
				t.Fatalf("Verify(%q) returned an identity with error %v", tok, err)
			}
			// Only a token signed with the key is reported as expired.
			if pe.Code == CodeTokenExpired {
				if _, err := signedOnly.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil }); err != nil {
					t.Fatalf("Verify(%q) says token_expired, but its signature does not verify: %v", tok, err)
				}
			}
			return
		}
		if id == nil || id.User == "" || id.Expires.IsZero() {
			t.Fatalf("Verify(%q) = %+v: no user or expiry", tok, id)
		}
		if len(tok) > MaxTokenBytes || len(id.User) > maxUserBytes || len(id.Name) > maxNameBytes || !utf8.ValidString(id.Name) {
			t.Fatalf("Verify(%q) = %+v: beyond the limits", tok, id)
		}
		if time.Until(id.Expires) < -time.Minute {
			t.Fatalf("Verify(%q) accepted a token that expired at %v", tok, id.Expires)
		}
	})
}
