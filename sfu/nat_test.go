package sfu_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/sfu"
)

// NAT1To1IPs replaces the address of the server's host candidates.
func TestNAT1To1IPsInCandidates(t *testing.T) {
	s, _ := newSFU(t, sfu.Config{NAT1To1IPs: []string{"192.0.2.99"}})
	var mu sync.Mutex
	var msgs []string
	if err := s.Join("ns/nat", "a", func(m []byte) bool {
		mu.Lock()
		msgs = append(msgs, string(m))
		mu.Unlock()
		return true
	}); err != nil {
		t.Fatal(err)
	}
	defer s.Leave("ns/nat", "a")
	eventually(t, "a candidate with the public address", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if strings.Contains(m, `"kind":"candidate"`) && strings.Contains(m, "192.0.2.99") {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if strings.Contains(m, `"kind":"candidate"`) && strings.Contains(m, "127.0.0.1") {
			t.Fatalf("a candidate with the local address: %s", m)
		}
	}
}
