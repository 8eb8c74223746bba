package ywebrtc

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-rtc/switchboard/signaling"
)

// FuzzDecode feeds the decoder arbitrary client messages: it never panics,
// refuses only with bad_request, and a publish it accepts relays as a JSON
// object that keeps every field and carries the subscriber count. The seeds
// are messages y-webrtc 10.x sends, and bad ones; they run as an ordinary
// test (go test), and `go test -fuzz FuzzDecode` explores from them.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","topics":["my-doc"]}`,
		`{"type":"subscribe","topics":[]}`,
		`{"type":"unsubscribe","topics":["my-doc"]}`,
		`{"type":"publish","topic":"my-doc","data":{"type":"announce","from":"6a1f2c1e-3b6a-4c55-9b5e-0d1f0f3a7c11"}}`,
		`{"type":"publish","topic":"my-doc","data":{"to":"b","from":"a","type":"signal","token":0.42,"signal":{"type":"offer","sdp":"v=0\r\n"}}}`,
		`{"type":"publish","topic":"my-doc","data":"AAECAwQFBgcICQ=="}`,
		`{"type":"ping"}`,
		`{"type":"publish","topic":"t","clients":3} `,
		`{"type":"subscribe","topics":[1]}`, `{"type":7}`, `[]`, `null`, `{"type":"publish","topic":""}`, `{`, "\xff", "{\"type\":\"publish\",\"topic\":\"t\",\"data\":\"\xc3\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, signaling.ErrBadRequest) {
				t.Fatalf("%q: error %v is not bad_request", b, err)
			}
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("%q: invalid UTF-8 accepted", b)
		}
		if m.Type != TypePublish {
			return
		}
		var in, out map[string]json.RawMessage
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatalf("%q decoded but is no object: %v", b, err)
		}
		relayed := encodePublish(m.Raw, 3)
		if err := json.Unmarshal(relayed, &out); err != nil {
			t.Fatalf("relay of %q is not JSON: %q: %v", b, relayed, err)
		}
		if string(out["clients"]) != "3" || len(out) != len(in)+boolInt(in["clients"] == nil) {
			t.Fatalf("relay of %q: %q", b, relayed)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
