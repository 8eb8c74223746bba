package turn

import (
	"errors"
	"net/netip"
	"testing"
)

// FuzzPolicy takes a peer address as raw bytes (16 for IPv6, 4 for IPv4,
// anything shorter for the invalid address) and a port. The seeds hold
// every IPv6 form that embeds IPv4, so the plain test run covers them.
func FuzzPolicy(f *testing.F) {
	for _, v4 := range []string{"127.0.0.1", "169.254.169.254", "10.0.0.1", "0.0.0.0", "8.8.8.8", "255.255.255.255"} {
		v := netip.MustParseAddr(v4)
		f.Add(v.AsSlice(), uint16(3478))
		for _, form := range policyForms {
			f.Add(form.embed(v.As4()).AsSlice(), uint16(50000))
		}
	}
	for _, s := range []string{"::", "::1", "fe80::1", "fc00::1", "ff02::1", "2606:4700::1111", "2001:db8::1", "64:ff9b:1::a9fe:a9fe", "::ffff:0:7f00:1"} {
		f.Add(netip.MustParseAddr(s).AsSlice(), uint16(3478))
	}
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{127, 0, 0}, uint16(1))

	def := NewPolicy(nil, nil)
	allowAll := NewPolicy([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil)
	mixed := NewPolicy(
		[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fc00::/7")},
		[]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("8.8.8.0/24"), netip.MustParsePrefix("2002::/24")},
	)
	mixed.AddOwn(netip.MustParseAddrPort("127.0.0.1:3478"))
	mixed.AddOwn(netip.MustParseAddrPort("0.0.0.0:5349"))
	relays := NewPolicy(nil, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")})
	relays.AddOwn(netip.MustParseAddrPort("0.0.0.0:3478"))
	relays.SetRelays([]netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("fd00::1")},
		liveSet{{port: 50000}: true, {v6: true, port: 50000}: true, {port: 3478}: true})

	f.Fuzz(func(t *testing.T, raw []byte, port uint16) {
		var ip netip.Addr
		switch {
		case len(raw) >= 16:
			ip = netip.AddrFrom16([16]byte(raw))
		case len(raw) >= 4:
			ip = netip.AddrFrom4([4]byte(raw))
		}
		ap := netip.AddrPortFrom(ip, port)
		c := Canonical(ip)

		if c != ip && !c.Is4() {
			t.Fatalf("Canonical(%s) = %s: neither the address nor an IPv4 one", ip, c)
		}
		if cc := Canonical(c); cc != c {
			t.Fatalf("Canonical is not idempotent: %s -> %s -> %s", ip, c, cc)
		}

		for name, p := range map[string]*Policy{"default": def, "allow-all": allowAll, "mixed": mixed, "relays": relays} {
			ipErr, addrErr := p.PeerIP(ip), p.PeerAddr(ap)
			policyFuzzCheck(t, ip, ipErr)
			policyFuzzCheck(t, ip, addrErr)
			if ipErr != nil && addrErr == nil {
				t.Fatalf("%s: PeerIP(%s) refused (%v) but PeerAddr(%s) allowed", name, ip, ipErr, ap)
			}
			if ipErr != nil && policyReason(t, ipErr) != policyReason(t, addrErr) {
				t.Fatalf("%s: PeerIP(%s) says %v, PeerAddr(%s) says %v", name, ip, ipErr, ap, addrErr)
			}
			// Only the canonical form reaches the IPv4 network, so a refusal
			// of it must carry over to every writing of it.
			if cErr := p.PeerIP(c); cErr != nil && ipErr == nil {
				t.Fatalf("%s: PeerIP(%s) refused (%v) but PeerIP(%s) allowed", name, c, cErr, ip)
			}
			if ip.Is4In6() && (ipErr == nil) != (p.PeerIP(ip.Unmap()) == nil) {
				t.Fatalf("%s: %s and %s decided differently", name, ip, ip.Unmap())
			}
		}

		if !ip.IsValid() {
			return
		}
		// With everything allowed, only the explicit own listeners refuse.
		if err := allowAll.PeerIP(ip); err != nil {
			t.Fatalf("allow-all: PeerIP(%s): %v", ip, err)
		}
		own := NewPolicy(allowAll.allow, nil)
		own.AddOwn(ap)
		if got := policyReason(t, own.PeerAddr(ap)); got != "own_listener" {
			t.Fatalf("own %s: PeerAddr(%s) reason %q, want own_listener", ap, ap, got)
		}
		if got := policyReason(t, own.PeerAddr(netip.AddrPortFrom(c, port))); got != "own_listener" {
			t.Fatalf("own %s: PeerAddr(%s:%d) reason %q, want own_listener", ap, c, port, got)
		}
		if err := own.PeerAddr(netip.AddrPortFrom(ip, port^1)); err != nil {
			t.Fatalf("own %s: other port %d refused: %v", ap, port^1, err)
		}

		// Explicit deny wins over allow, in either form.
		for _, form := range []netip.Addr{ip, c} {
			pfx := netip.PrefixFrom(form, form.BitLen())
			p := NewPolicy([]netip.Prefix{pfx, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, []netip.Prefix{pfx})
			if got := policyReason(t, p.PeerIP(ip)); got != "denied" {
				t.Fatalf("deny and allow %s: PeerIP(%s) reason %q, want denied", pfx, ip, got)
			}
		}
	})
}

// policyFuzzCheck asserts the shape of a refusal: a *DeniedError with a
// known reason whose Range holds the address or its canonical form.
func policyFuzzCheck(t *testing.T, ip netip.Addr, err error) {
	t.Helper()
	if err == nil {
		if !ip.IsValid() {
			t.Fatalf("invalid address allowed")
		}
		return
	}
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("%v (%T) is not a *DeniedError", err, err)
	}
	if !policyReasons[de.Reason] {
		t.Fatalf("%s: unknown reason %q", ip, de.Reason)
	}
	switch {
	case de.Reason == "invalid":
		if ip.IsValid() {
			t.Fatalf("%s refused as invalid", ip)
		}
	case !de.Range.Contains(ip) && !de.Range.Contains(Canonical(ip)):
		t.Fatalf("%s refused (%s) by %s, which holds neither it nor %s", ip, de.Reason, de.Range, Canonical(ip))
	}
}
