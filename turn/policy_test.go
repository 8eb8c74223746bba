package turn

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"testing"
)

// policyReasons are the values DeniedError.Reason may take; the metrics
// depend on the set staying small and fixed.
var policyReasons = map[string]bool{
	"loopback": true, "private": true, "link_local": true, "multicast": true,
	"reserved": true, "unspecified": true, "shared": true, "denied": true,
	"own_listener": true, "own_address": true, "invalid": true,
}

// policyReason returns the refusal reason of err, "" for nil, and fails the
// test when err is not a *DeniedError.
func policyReason(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("%v (%T) is not a *DeniedError", err, err)
	}
	return de.Reason
}

// policyForms are the IPv6 writings of an IPv4 address that Canonical undoes.
var policyForms = []struct {
	name  string
	embed func(v4 [4]byte) netip.Addr
}{
	{"mapped", func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
	{"compatible", func(v [4]byte) netip.Addr { return netip.AddrFrom16([16]byte{12: v[0], 13: v[1], 14: v[2], 15: v[3]}) }},
	{"nat64", func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
	{"nat64-local", func(v [4]byte) netip.Addr {
		// A /96 taken from 64:ff9b:1::/48, as a local NAT64 would use it.
		return netip.AddrFrom16([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 5: 0x01, 6: 0xab, 7: 0xcd, 12: v[0], 13: v[1], 14: v[2], 15: v[3]})
	}},
	{"6to4", func(v [4]byte) netip.Addr {
		return netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: v[0], 3: v[1], 4: v[2], 5: v[3], 15: 1})
	}},
	{"teredo", func(v [4]byte) netip.Addr {
		// Server 65.54.227.120, cone flag, obfuscated port 40000, as in RFC 4380.
		return netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 4: 0x41, 5: 0x36, 6: 0xe3, 7: 0x78, 8: 0x80, 10: 0x63, 11: 0xbf,
			12: ^v[0], 13: ^v[1], 14: ^v[2], 15: ^v[3]})
	}},
}

func TestPolicyCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"::ffff:127.0.0.1", "127.0.0.1"},
		{"::ffff:1.1.1.1%eth0", "1.1.1.1"},
		{"::127.0.0.1", "127.0.0.1"},
		{"::2", "0.0.0.2"},
		{"::", "::"},
		{"::1", "::1"},
		{"64:ff9b::192.0.2.33", "192.0.2.33"},     // RFC 6052 §2.4
		{"64:ff9b::a9fe:a9fe", "169.254.169.254"}, // the metadata service
		{"64:ff9b:1::a00:1", "10.0.0.1"},
		{"64:ff9b:1:ffff:ffff:ffff:a00:1", "10.0.0.1"},
		{"64:ff9b:2::a00:1", "64:ff9b:2::a00:1"}, // outside both NAT64 prefixes
		{"2002:c000:221::", "192.0.2.33"},
		{"2002:7f00:1::", "127.0.0.1"},
		{"2002:7f00:1:ffff:ffff:ffff:ffff:ffff", "127.0.0.1"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"}, // RFC 4380 §4
		{"2001:1::2", "2001:1::2"},                             // TURN anycast, not Teredo
		{"2606:4700::1111", "2606:4700::1111"},
		{"fe80::1%eth0", "fe80::1"},
		{"1.2.3.4", "1.2.3.4"},
	} {
		got := Canonical(netip.MustParseAddr(tc.in))
		if got != netip.MustParseAddr(tc.want) {
			t.Errorf("Canonical(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := Canonical(netip.Addr{}); got.IsValid() {
		t.Errorf("Canonical(zero) = %s, want the zero Addr", got)
	}
	for _, v4 := range []string{"0.0.0.0", "127.0.0.1", "169.254.169.254", "8.8.8.8", "255.255.255.255"} {
		v := netip.MustParseAddr(v4)
		for _, form := range policyForms {
			if form.name == "compatible" && v4 == "0.0.0.0" {
				continue // :: stays ::
			}
			if got := Canonical(form.embed(v.As4())); got != v {
				t.Errorf("Canonical(%s %s) = %s, want %s", form.name, form.embed(v.As4()), got, v)
			}
		}
	}
}

func TestPolicyDefaultRanges(t *testing.T) {
	p := NewPolicy(nil, nil)
	for _, tc := range []struct{ addr, reason string }{
		{"0.0.0.0", "unspecified"},
		{"0.255.255.255", "unspecified"},
		{"1.0.0.0", ""},
		{"9.255.255.255", ""},
		{"10.0.0.0", "private"},
		{"10.255.255.255", "private"},
		{"11.0.0.0", ""},
		{"100.63.255.255", ""},
		{"100.64.0.0", "shared"},
		{"100.127.255.255", "shared"},
		{"100.128.0.0", ""},
		{"126.255.255.255", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.255.255", "loopback"},
		{"128.0.0.0", ""},
		{"169.253.255.255", ""},
		{"169.254.0.0", "link_local"},
		{"169.254.169.254", "link_local"},
		{"169.255.0.0", ""},
		{"172.15.255.255", ""},
		{"172.16.0.0", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.0", ""},
		{"191.255.255.255", ""},
		{"192.0.0.0", "reserved"},
		{"192.0.0.255", "reserved"},
		{"192.0.1.0", ""},
		{"192.0.2.1", "reserved"},
		{"192.0.3.0", ""},
		{"192.88.98.255", ""},
		{"192.88.99.1", "reserved"},
		{"192.88.100.0", ""},
		{"192.167.255.255", ""},
		{"192.168.0.0", "private"},
		{"192.168.255.255", "private"},
		{"192.169.0.0", ""},
		{"198.17.255.255", ""},
		{"198.18.0.0", "reserved"},
		{"198.19.255.255", "reserved"},
		{"198.20.0.0", ""},
		{"198.51.99.255", ""},
		{"198.51.100.1", "reserved"},
		{"198.51.101.0", ""},
		{"203.0.112.255", ""},
		{"203.0.113.1", "reserved"},
		{"203.0.114.0", ""},
		{"223.255.255.255", ""},
		{"224.0.0.1", "multicast"},
		{"239.255.255.255", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "reserved"},

		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:0:7f00:1", "reserved"},
		{"100::1", "reserved"},
		{"100::ffff:ffff:ffff:ffff", "reserved"},
		{"2001:2::1", "reserved"},
		{"2001:2:0:ffff::", "reserved"},
		{"2001:2:1::", ""},
		{"2001:f:ffff::", ""},
		{"2001:10::1", "reserved"},
		{"2001:1f:ffff::", "reserved"},
		{"2001:20::1", "reserved"},
		{"2001:2f:ffff::", "reserved"},
		{"2001:30::1", ""},
		{"2001:db7:ffff::", ""},
		{"2001:db8::1", "reserved"},
		{"2001:db8:ffff::1", "reserved"},
		{"2001:db9::", ""},
		{"3ffe:ffff::", ""},
		{"3fff::1", "reserved"},
		{"3fff:fff::1", "reserved"},
		{"3fff:1000::", ""},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fe80::1", "link_local"},
		{"fe80::1%eth0", "link_local"},
		{"febf:ffff::", "link_local"},
		{"fec0::1", "private"},
		{"feff:ffff::", "private"},
		{"ff02::1", "multicast"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"},

		// Public addresses, in every writing.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"::ffff:1.1.1.1", ""},
		{"64:ff9b::8.8.8.8", ""},
		{"2002:808:808::1", ""},
		{"2606:4700::1111", ""},
		{"2606:4700::1111%eth0", ""},
		{"2001:4860:4860::8888", ""},
	} {
		if got := policyReason(t, p.PeerIP(netip.MustParseAddr(tc.addr))); got != tc.reason {
			t.Errorf("PeerIP(%s): reason %q, want %q", tc.addr, got, tc.reason)
		}
	}
}

// The table is what operators read to learn what is refused, and the
// reasons are metric labels: keep it well formed.
func TestPolicyDefaultTable(t *testing.T) {
	for i, d := range defaultPeerDeny {
		if !d.prefix.IsValid() || d.prefix != d.prefix.Masked() {
			t.Errorf("entry %d: %s is not a masked prefix", i, d.prefix)
		}
		if !policyReasons[d.reason] || d.reason == "denied" || d.reason == "own_listener" || d.reason == "invalid" {
			t.Errorf("entry %d (%s): reason %q is not a range reason", i, d.prefix, d.reason)
		}
		// Both ends of the range must be found through the index.
		last := d.prefix.Addr().AsSlice()
		for b := d.prefix.Bits(); b < len(last)*8; b++ {
			last[b/8] |= 0x80 >> (b % 8)
		}
		lastAddr, _ := netip.AddrFromSlice(last)
		for _, a := range []netip.Addr{d.prefix.Addr(), lastAddr} {
			if got, ok := peerDefault(a); !ok || got != d {
				t.Errorf("peerDefault(%s) = %v %v, want %v", a, got, ok, d)
			}
		}
		// peerDefault stops at the first entry that matches.
		for _, e := range defaultPeerDeny[i+1:] {
			if d.prefix.Overlaps(e.prefix) {
				t.Errorf("%s overlaps %s", d.prefix, e.prefix)
			}
		}
	}
}

func TestPolicyBypassForms(t *testing.T) {
	for _, tc := range []struct {
		v4, reason, allow string
	}{
		{"127.0.0.1", "loopback", "127.0.0.0/8"},
		{"169.254.169.254", "link_local", "169.254.0.0/16"},
		{"10.1.2.3", "private", "10.0.0.0/8"},
		{"100.64.1.1", "shared", "100.64.0.0/10"},
		{"0.0.0.0", "unspecified", "0.0.0.0/8"},
		{"224.0.0.251", "multicast", "224.0.0.0/4"},
	} {
		v4 := netip.MustParseAddr(tc.v4)
		allow := netip.MustParsePrefix(tc.allow)
		def, allowed := NewPolicy(nil, nil), NewPolicy([]netip.Prefix{allow}, nil)
		for _, form := range policyForms {
			ip := form.embed(v4.As4())
			if form.name == "compatible" && tc.v4 == "0.0.0.0" {
				continue // that is ::, refused as itself
			}
			err := def.PeerIP(ip)
			if got := policyReason(t, err); got != tc.reason {
				t.Errorf("default PeerIP(%s, %s form of %s): reason %q, want %q", ip, form.name, v4, got, tc.reason)
				continue
			}
			var de *DeniedError
			errors.As(err, &de)
			if de.Range != allow || de.Addr != ip {
				t.Errorf("default PeerIP(%s): %+v, want Addr %s and Range %s", ip, de, ip, allow)
			}
			if err := def.PeerAddr(netip.AddrPortFrom(ip, 3478)); policyReason(t, err) != tc.reason {
				t.Errorf("default PeerAddr(%s): %v, want reason %q", ip, err, tc.reason)
			}
			if err := allowed.PeerIP(ip); err != nil {
				t.Errorf("PeerIP(%s, %s form) with %s allowed: %v", ip, form.name, allow, err)
			}
			if err := allowed.PeerAddr(netip.AddrPortFrom(ip, 3478)); err != nil {
				t.Errorf("PeerAddr(%s, %s form) with %s allowed: %v", ip, form.name, allow, err)
			}
		}
	}

	// The literal forms from the issue.
	def := NewPolicy(nil, nil)
	for _, s := range []string{"::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:0001::", "::127.0.0.1", "64:ff9b:1::7f00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe"} {
		if err := def.PeerIP(netip.MustParseAddr(s)); err == nil {
			t.Errorf("PeerIP(%s) allowed by default", s)
		}
	}
}

func TestPolicyAllowDeny(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		allow, deny []netip.Prefix
		addr        string
		reason      string
		rng         string // Range of the refusal
	}{
		{"deny inside allow", pfx("10.0.0.0/8"), pfx("10.1.0.0/16"), "10.1.2.3", "denied", "10.1.0.0/16"},
		{"allow outside deny", pfx("10.0.0.0/8"), pfx("10.1.0.0/16"), "10.2.0.1", "", ""},
		{"deny mapped", pfx("10.0.0.0/8"), pfx("10.1.0.0/16"), "::ffff:10.1.2.3", "denied", "10.1.0.0/16"},
		{"deny nat64", pfx("10.0.0.0/8"), pfx("10.1.0.0/16"), "64:ff9b::a01:203", "denied", "10.1.0.0/16"},
		{"same range both", pfx("192.168.0.0/16"), pfx("192.168.0.0/16"), "192.168.1.1", "denied", "192.168.0.0/16"},
		{"deny public", nil, pfx("8.8.8.0/24"), "8.8.8.8", "denied", "8.8.8.0/24"},
		{"deny public via 6to4", nil, pfx("8.8.8.0/24"), "2002:808:808::", "denied", "8.8.8.0/24"},
		{"deny 6to4 itself", nil, pfx("2002::/16"), "2002:808:808::", "denied", "2002::/16"},
		{"deny given as mapped", nil, pfx("::ffff:8.8.4.0/120"), "8.8.4.4", "denied", "8.8.4.0/24"},
		{"deny unmasked", nil, pfx("8.8.4.4/24"), "8.8.4.1", "denied", "8.8.4.0/24"},
		{"deny ipv6", nil, pfx("2606:4700::/32"), "2606:4700::1111", "denied", "2606:4700::/32"},
		{"allow ipv6 ula", pfx("fc00::/7"), nil, "fd00::1", "", ""},
		{"allow ipv6 ula not link-local", pfx("fc00::/7"), nil, "fe80::1", "link_local", "fe80::/10"},
		{"allow given as mapped", pfx("::ffff:127.0.0.0/104"), nil, "127.0.0.1", "", ""},
		{"allow loopback mapped", pfx("127.0.0.0/8"), nil, "::ffff:127.0.0.1", "", ""},
		{"allow narrower than default", pfx("10.1.0.0/16"), nil, "10.2.0.1", "private", "10.0.0.0/8"},
		// Allowing the translator prefix does not open what is behind it.
		{"allow nat64 prefix only", pfx("64:ff9b::/96"), nil, "64:ff9b::7f00:1", "loopback", "127.0.0.0/8"},
		{"allow nat64 prefix public", pfx("64:ff9b::/96"), nil, "64:ff9b::808:808", "", ""},
		{"allow all ipv4", pfx("0.0.0.0/0"), nil, "127.0.0.1", "", ""},
		{"allow all ipv4 not ipv6", pfx("0.0.0.0/0"), nil, "::1", "loopback", "::1/128"},
		{"invalid prefixes ignored", []netip.Prefix{{}}, []netip.Prefix{{}}, "8.8.8.8", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewPolicy(tc.allow, tc.deny).PeerIP(netip.MustParseAddr(tc.addr))
			if got := policyReason(t, err); got != tc.reason {
				t.Fatalf("PeerIP(%s): %v, want reason %q", tc.addr, err, tc.reason)
			}
			if err == nil {
				return
			}
			var de *DeniedError
			errors.As(err, &de)
			if de.Range != netip.MustParsePrefix(tc.rng) {
				t.Errorf("PeerIP(%s): Range %s, want %s", tc.addr, de.Range, tc.rng)
			}
		})
	}
}

func TestPolicyOwnListener(t *testing.T) {
	ap := netip.MustParseAddrPort
	p := NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}, nil)
	for _, own := range []string{"127.0.0.1:3478", "127.0.0.1:5349", "1.2.3.4:3478", "[2606:4700::1111]:443", "[::ffff:5.6.7.8]:3478", "[fe80::1%eth0]:3478"} {
		p.AddOwn(ap(own))
	}
	p.AddOwn(netip.AddrPort{}) // ignored
	for _, tc := range []struct{ addr, reason string }{
		{"127.0.0.1:3478", "own_listener"},
		{"127.0.0.1:5349", "own_listener"},
		{"[::ffff:127.0.0.1]:3478", "own_listener"},
		{"[::127.0.0.1]:3478", "own_listener"},
		{"127.0.0.1:50000", ""}, // another allocation's relay port on the same IP
		{"127.0.0.1:3479", ""},
		{"127.0.0.2:3478", ""},
		{"1.2.3.4:3478", "own_listener"},
		{"[64:ff9b::102:304]:3478", "own_listener"},
		{"[2002:102:304::]:3478", "own_listener"},
		{"1.2.3.4:49200", ""},
		{"5.6.7.8:3478", "own_listener"},
		{"[2606:4700::1111]:443", "own_listener"},
		{"[2606:4700::1111%eth0]:443", "own_listener"},
		{"[2606:4700::1111]:444", ""},
		{"[fe80::1%eth1]:3478", "own_listener"},
		{"[fe80::1]:3479", ""},
		{"10.0.0.1:3478", "private"}, // PeerIP's reason comes first
		{"8.8.8.8:3478", ""},
	} {
		if got := policyReason(t, p.PeerAddr(ap(tc.addr))); got != tc.reason {
			t.Errorf("PeerAddr(%s): reason %q, want %q", tc.addr, got, tc.reason)
		}
	}
	// PeerIP has no port, so it cannot refuse the own listeners: the IP is
	// shared with the relay ports.
	if err := p.PeerIP(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("PeerIP(127.0.0.1) with 127.0.0.0/8 allowed: %v", err)
	}

	var de *DeniedError
	if !errors.As(p.PeerAddr(ap("[::ffff:127.0.0.1]:3478")), &de) || de.Range != netip.MustParsePrefix("::ffff:127.0.0.1/128") || de.Addr != netip.MustParseAddr("::ffff:127.0.0.1") {
		t.Errorf("own listener refusal %+v, want Addr ::ffff:127.0.0.1 Range ::ffff:127.0.0.1/128", de)
	}
}

func TestPolicyOwnWildcard(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, own := range []string{"0.0.0.0:3478", "[::]:3478", "[::ffff:0.0.0.0]:3478"} {
		p := NewPolicy(nil, nil)
		p.AddOwn(ap(own))
		for _, tc := range []struct{ addr, reason string }{
			{"8.8.8.8:3478", "own_listener"},
			{"[2606:4700::1111]:3478", "own_listener"},
			{"8.8.8.8:3479", ""},
			{"[2606:4700::1111]:50000", ""},
		} {
			if got := policyReason(t, p.PeerAddr(ap(tc.addr))); got != tc.reason {
				t.Errorf("own %s: PeerAddr(%s): reason %q, want %q", own, tc.addr, got, tc.reason)
			}
		}
	}
}

func TestPolicyInvalid(t *testing.T) {
	p := NewPolicy(nil, nil)
	for _, err := range []error{p.PeerIP(netip.Addr{}), p.PeerAddr(netip.AddrPort{})} {
		if got := policyReason(t, err); got != "invalid" {
			t.Errorf("%v: reason %q, want invalid", err, got)
		}
		if err.Error() == "" {
			t.Error("empty error text")
		}
	}
}

func TestPolicyZeroAndNil(t *testing.T) {
	var nilPolicy *Policy
	var zero Policy
	zero.AddOwn(netip.MustParseAddrPort("8.8.8.8:3478"))
	for name, p := range map[string]*Policy{"nil": nilPolicy, "zero": &zero} {
		if got := policyReason(t, p.PeerIP(netip.MustParseAddr("::ffff:127.0.0.1"))); got != "loopback" {
			t.Errorf("%s policy: ::ffff:127.0.0.1 reason %q, want loopback", name, got)
		}
		if err := p.PeerAddr(netip.MustParseAddrPort("8.8.8.8:53")); err != nil {
			t.Errorf("%s policy: 8.8.8.8:53: %v", name, err)
		}
	}
	if got := policyReason(t, zero.PeerAddr(netip.MustParseAddrPort("8.8.8.8:3478"))); got != "own_listener" {
		t.Errorf("zero policy: own listener reason %q", got)
	}
}

func TestPolicyDeniedError(t *testing.T) {
	p := NewPolicy(nil, []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24")})
	p.AddOwn(netip.MustParseAddrPort("1.2.3.4:3478"))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{p.PeerIP(netip.MustParseAddr("::ffff:127.0.0.1")), "turn: relaying to ::ffff:127.0.0.1 (127.0.0.1) is refused: loopback range 127.0.0.0/8"},
		{p.PeerIP(netip.MustParseAddr("fe80::1%eth0")), "turn: relaying to fe80::1 is refused: link_local range fe80::/10"},
		{p.PeerIP(netip.MustParseAddr("8.8.8.8")), "turn: relaying to 8.8.8.8 is refused: denied range 8.8.8.0/24"},
		{p.PeerAddr(netip.MustParseAddrPort("1.2.3.4:3478")), "turn: relaying to 1.2.3.4 is refused: own_listener"},
		{p.PeerIP(netip.Addr{}), "turn: relaying to invalid IP is refused: invalid"},
	} {
		wrapped := fmt.Errorf("permission: %w", tc.err)
		var de *DeniedError
		if !errors.As(wrapped, &de) {
			t.Fatalf("errors.As(%v) found no *DeniedError", wrapped)
		}
		if got := de.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// PeerAddr runs on every relayed packet while AddOwn may still be adding
// listeners; run with -race.
func TestPolicyConcurrent(t *testing.T) {
	p := NewPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				port := uint16(1000 + g*1000 + i)
				p.AddOwn(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
				if got := policyReason(t, p.PeerAddr(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))); got != "own_listener" {
					t.Errorf("port %d just added: reason %q", port, got)
				}
				_ = p.PeerIP(netip.MustParseAddr("10.0.0." + strconv.Itoa(i%256)))
			}
		})
	}
	wg.Wait()
	if got := policyReason(t, p.PeerAddr(netip.MustParseAddrPort("127.0.0.1:1000"))); got != "own_listener" {
		t.Errorf("first port lost: reason %q", got)
	}
}

// The relay calls PeerAddr per packet; an allowed packet must not allocate.
func TestPolicyPeerAddrAllocs(t *testing.T) {
	p := NewPolicy([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	p.AddOwn(netip.MustParseAddrPort("1.2.3.4:3478"))
	peer := netip.MustParseAddrPort("[::ffff:8.8.8.8]:50000")
	if n := testing.AllocsPerRun(100, func() { _ = p.PeerAddr(peer) }); n != 0 {
		t.Errorf("PeerAddr allocates %v times per call", n)
	}
}

func BenchmarkPolicyPeerAddr(b *testing.B) {
	p := NewPolicy([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	p.AddOwn(netip.MustParseAddrPort("1.2.3.4:3478"))
	for _, peer := range []string{"8.8.8.8:50000", "[::ffff:8.8.8.8]:50000", "[2606:4700::1111]:50000"} {
		ap := netip.MustParseAddrPort(peer)
		b.Run(peer, func(b *testing.B) {
			for b.Loop() {
				if err := p.PeerAddr(ap); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
