package turn

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a log sink pion's goroutines may write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// New warns about a generated secret and a private relay address, logs
// one startup line with the URLs, and at Debug logs allocations and
// refusals, but never a password, the secret or a key.
func TestLogs(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := startServer(t, func(c *Config) {
		c.Secret = nil
		c.Logger = log
	})
	good := secretCreds(ts.Secret(), "alice")
	allocate(t, udpClient(t, ts, good))
	bad := cred{good.user, "wrong"}
	if _, err := udpClient(t, ts, bad).Allocate(); err == nil {
		t.Fatal("wrong password allocated")
	}
	waitFor(t, "the refusal log", func() bool { return strings.Contains(buf.String(), "reason=auth") })
	out := buf.String()
	for _, want := range []string{
		"TURN secret generated at random",
		"TURN advertises 127.0.0.1, a private address: clients outside this network cannot reach the relay; set --turn-public-ip for them (clients on this network need nothing more)",
		`msg="TURN server listening" urls="[stun:127.0.0.1:`,
		`msg="TURN allocation created" user=alice transport=udp`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	for _, secret := range []string{good.pass, bad.pass, base64.StdEncoding.EncodeToString(ts.Secret()), string(ts.Secret())} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
}

// An IPv6 listener relays over IPv6 (RFC 6156), when the host has ::1.
func TestIPv6(t *testing.T) {
	requireIPv6Loopback(t)
	ts := startServer(t, func(c *Config) {
		c.ListenIP = netip.IPv6Loopback()
		c.AllowPeers = []netip.Prefix{netip.MustParsePrefix("::1/128")}
	})
	peer, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	relay := allocate(t, newClient(t, conn, ts.udpAddr(), creds("six")))
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv6loopback) {
		t.Fatalf("relay address %v", relay.LocalAddr())
	}
	if _, err := relay.WriteTo([]byte("v6"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, from := readFrom(t, peer); string(got) != "v6" || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer got %q from %v", got, from)
	}
	if u := ts.URLs("")[0]; !strings.HasPrefix(u, "stun:[::1]:") {
		t.Fatalf("URL %s", u)
	}
}
